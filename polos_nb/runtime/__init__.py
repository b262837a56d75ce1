"""Upstream Polos's ``polos.runtime`` paths: ``runtime.client`` and ``runtime.worker``."""

from . import client, worker

__all__ = ["client", "worker"]

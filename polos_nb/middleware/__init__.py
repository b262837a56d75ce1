"""Upstream Polos's ``polos.middleware`` paths: ``middleware.hook`` and ``middleware.guardrail``."""

from . import guardrail, hook

__all__ = ["guardrail", "hook"]

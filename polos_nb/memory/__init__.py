"""Upstream Polos's ``polos.memory`` path: ``from polos_nb.memory.types import CompactionConfig``."""

from .types import CompactionConfig

__all__ = ["CompactionConfig"]

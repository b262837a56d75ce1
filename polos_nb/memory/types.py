"""``polos.memory.types`` under its upstream path."""

from polos_nb.agents import CompactionConfig

__all__ = ["CompactionConfig"]

"""``polos.runtime.worker`` under its upstream path."""

from polos_nb.engine import Worker

__all__ = ["Worker"]

"""``polos.runtime.client`` under its upstream path."""

from polos_nb.engine import ExecutionHandle, PolosClient

__all__ = ["ExecutionHandle", "PolosClient"]

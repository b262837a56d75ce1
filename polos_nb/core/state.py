"""``polos.core.state`` under its upstream path."""

from polos_nb.engine import WorkflowState

__all__ = ["WorkflowState"]

"""``polos.core.step`` under its upstream path: ``ctx.step``'s class and its errors."""

from polos_nb.engine import Step
from polos_nb.errors import ExecutionCancelledError, StepExecutionError

__all__ = ["ExecutionCancelledError", "Step", "StepExecutionError"]

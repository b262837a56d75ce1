"""``polos.core.workflow`` under its upstream path."""

from polos_nb.engine import Workflow, get_all_workflows, get_workflow, workflow
from polos_nb.errors import StepExecutionError, WorkflowTimeoutError

__all__ = [
    "StepExecutionError",
    "Workflow",
    "WorkflowTimeoutError",
    "get_all_workflows",
    "get_workflow",
    "workflow",
]

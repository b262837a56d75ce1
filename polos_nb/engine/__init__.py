"""The durable workflow engine: workflows, steps, the journal, the client.

It knows nothing of LLMs, agents, tools or Jupyter: an agent run is just a workflow here.
"""

from . import events
from ._client import PolosClient, Worker
from ._context import Step, WorkflowContext, WorkflowState
from ._signals import Park
from ._types import (
    BatchStepResult,
    BatchWorkflowInput,
    EventData,
    EventPayload,
    ExecutionHandle,
    ExecutionInfo,
    StreamEvent,
)
from ._workflow import Workflow, get_all_workflows, get_workflow, workflow

__all__ = [
    "BatchStepResult",
    "BatchWorkflowInput",
    "EventData",
    "EventPayload",
    "ExecutionHandle",
    "ExecutionInfo",
    "Park",
    "PolosClient",
    "Step",
    "StreamEvent",
    "Worker",
    "Workflow",
    "WorkflowContext",
    "WorkflowState",
    "events",
    "get_all_workflows",
    "get_workflow",
    "workflow",
]

"""The durable workflow engine: workflows, steps, the journal, the client.

It knows nothing of LLMs, agents, tools or Jupyter: an agent run is just a workflow here.
"""

from . import events, schedules
from ._admission import QueueStatus
from ._approval_url import approval_url, set_approval_base_url
from ._client import PolosClient, Worker
from ._context import Step, WorkflowContext, WorkflowState
from ._extensions import add_runtime_extension
from ._inbox import forward_resume
from ._journal_tools import ReplayReport, StepComparison
from ._policy import Queue, RetryPolicy, queue
from ._polos import Polos
from ._run_record import PendingSuspension, QueryResult, RunReader, RunRecord, StepInfo, read_runs
from ._schedules import ScheduleInfo, SchedulePayload
from ._signals import Park
from ._triggers import BatchEventPayload
from ._types import (
    BatchStepResult,
    BatchWorkflowInput,
    EventData,
    EventPayload,
    ExecutionHandle,
    ExecutionInfo,
    StreamEvent,
)
from ._workflow import (
    Workflow,
    get_all_workflows,
    get_workflow,
    set_workflow_hook_runner,
    workflow,
)
from ._workflow import register as register_workflow
from ._workflow import unregister as unregister_workflow

__all__ = [
    "BatchEventPayload",
    "BatchStepResult",
    "BatchWorkflowInput",
    "EventData",
    "EventPayload",
    "ExecutionHandle",
    "ExecutionInfo",
    "Park",
    "PendingSuspension",
    "Polos",
    "PolosClient",
    "QueryResult",
    "Queue",
    "QueueStatus",
    "ReplayReport",
    "RetryPolicy",
    "RunReader",
    "RunRecord",
    "ScheduleInfo",
    "SchedulePayload",
    "Step",
    "StepComparison",
    "StepInfo",
    "StreamEvent",
    "Worker",
    "Workflow",
    "WorkflowContext",
    "WorkflowState",
    "add_runtime_extension",
    "approval_url",
    "events",
    "forward_resume",
    "get_all_workflows",
    "get_workflow",
    "queue",
    "read_runs",
    "register_workflow",
    "schedules",
    "set_approval_base_url",
    "set_workflow_hook_runner",
    "unregister_workflow",
    "workflow",
]

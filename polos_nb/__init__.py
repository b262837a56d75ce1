"""polos_nb: durable AI agents and workflows, journaled to DuckDB, inside your notebook.

```python
from polos_nb import PolosClient, workflow, WorkflowContext

@workflow
async def greet(ctx: WorkflowContext, payload: dict) -> str:
    name = await ctx.step.run("lookup", lambda: payload["name"].title())
    return f"Hello, {name}!"

client = PolosClient()
print(await greet.run(client, {"name": "ada"}))
```
"""

from polos_nb.engine import (
    BatchEventPayload,
    BatchStepResult,
    BatchWorkflowInput,
    EventData,
    EventPayload,
    ExecutionHandle,
    ExecutionInfo,
    PolosClient,
    Queue,
    QueueStatus,
    RetryPolicy,
    ScheduleInfo,
    SchedulePayload,
    StreamEvent,
    Worker,
    Workflow,
    WorkflowContext,
    WorkflowState,
    events,
    get_all_workflows,
    get_workflow,
    queue,
    schedules,
    workflow,
)
from polos_nb.errors import (
    ChildWorkflowError,
    DuplicateStepKeyError,
    ExecutionCancelledError,
    ExecutionFailedError,
    ExecutionNotFoundError,
    JournalCorruptError,
    JournalError,
    JournalLockedError,
    JournalVersionError,
    NonDeterminismError,
    PayloadValidationError,
    PolosError,
    ResumeError,
    SerializationError,
    StepExecutionError,
    StepTimeoutError,
    UserError,
    WaitTimeoutError,
    WorkflowNotFoundError,
    WorkflowTimeoutError,
)

__version__ = "0.1.0"

__all__ = [
    "BatchEventPayload",
    "BatchStepResult",
    "BatchWorkflowInput",
    "ChildWorkflowError",
    "DuplicateStepKeyError",
    "EventData",
    "EventPayload",
    "ExecutionCancelledError",
    "ExecutionFailedError",
    "ExecutionHandle",
    "ExecutionInfo",
    "ExecutionNotFoundError",
    "JournalCorruptError",
    "JournalError",
    "JournalLockedError",
    "JournalVersionError",
    "NonDeterminismError",
    "PayloadValidationError",
    "PolosClient",
    "PolosError",
    "Queue",
    "QueueStatus",
    "ResumeError",
    "RetryPolicy",
    "ScheduleInfo",
    "SchedulePayload",
    "SerializationError",
    "StepExecutionError",
    "StepTimeoutError",
    "StreamEvent",
    "UserError",
    "WaitTimeoutError",
    "Worker",
    "Workflow",
    "WorkflowContext",
    "WorkflowState",
    "WorkflowTimeoutError",
    "__version__",
    "events",
    "get_all_workflows",
    "get_workflow",
    "queue",
    "schedules",
    "workflow",
]

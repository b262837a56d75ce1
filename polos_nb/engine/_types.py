"""Value types users see: handles, execution snapshots, events, batch inputs and results."""

from __future__ import annotations

import datetime as dt
from collections.abc import Generator
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

if TYPE_CHECKING:
    from ._client import PolosClient

__all__ = [
    "TERMINAL_STATUSES",
    "BatchStepResult",
    "BatchWorkflowInput",
    "EventData",
    "EventPayload",
    "ExecutionHandle",
    "ExecutionInfo",
    "ExecutionStatus",
    "StreamEvent",
]

ExecutionStatus = Literal["queued", "running", "waiting", "completed", "failed", "cancelled"]
TERMINAL_STATUSES = frozenset({"completed", "failed", "cancelled"})


class _DictAccess:
    """Lets a model be read like the dicts upstream Polos returns (``x["data"]``, ``x.get("data")``)."""

    def __getitem__(self, key: str) -> Any:
        try:
            return getattr(self, key)
        except AttributeError:
            raise KeyError(key) from None

    def get(self, key: str, default: Any = None) -> Any:
        return getattr(self, key, default)

    def keys(self) -> list[str]:
        return list(type(self).model_fields)  # type: ignore[attr-defined]


class EventData(BaseModel):
    """An event to publish: ``events.publish(client, topic, EventData(event_type=..., data=...))``."""

    event_type: str | None = None
    data: Any = Field(default_factory=dict)


class EventPayload(_DictAccess, BaseModel):
    """An event as delivered to a workflow: by ``wait_for_event``, a resume, or a trigger.

    ``data`` holds what was published (or the resume payload); read it as
    ``payload.data`` or, as in upstream Polos, ``payload["data"]``.
    """

    id: str
    sequence_id: int
    topic: str
    event_type: str | None = None
    data: Any = None
    created_at: dt.datetime


class StreamEvent(_DictAccess, BaseModel):
    """One event of an execution stream or a topic.

    ``sequence_id`` is ``None`` for live-only events (``step_start``); persisted events
    carry the journal sequence, which orders them.
    """

    id: str
    sequence_id: int | None
    topic: str
    event_type: str | None
    data: Any = None
    created_at: dt.datetime

    _journal_seq: int | None = PrivateAttr(default=None)


class BatchWorkflowInput(BaseModel):
    """One child of a batch: the workflow (id or object) and its payload."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    id: Any
    payload: Any = None
    initial_state: Any = None
    run_timeout_seconds: float | None = None


class BatchStepResult(_DictAccess, BaseModel):
    """Outcome of one child of ``batch_invoke_and_wait``, in submission order.

    A failed child does not raise: ``success`` is ``False`` and ``error`` says why.
    """

    workflow_id: str
    execution_id: str
    success: bool
    result: Any = None
    error: str | None = None


class ExecutionInfo(_DictAccess, BaseModel):
    """A snapshot of one execution (``client.get_execution(id)``)."""

    id: str
    workflow_id: str
    workflow_type: str = "workflow"
    status: ExecutionStatus
    payload: Any = None
    result: Any = None
    error: Any = None
    state: Any = None
    parent_execution_id: str | None = None
    root_execution_id: str
    root_workflow_id: str
    step_key: str | None = None
    queue_name: str | None = None
    concurrency_key: str | None = None
    session_id: str | None = None
    user_id: str | None = None
    created_at: dt.datetime
    started_at: dt.datetime | None = None
    completed_at: dt.datetime | None = None

    @property
    def done(self) -> bool:
        return self.status in TERMINAL_STATUSES


class ExecutionHandle(BaseModel):
    """A started execution. ``await handle`` waits for its result.

    The upstream-compatible methods take the client explicitly:
    ``await handle.get(client)`` and ``await handle.cancel(client)``.
    """

    id: str
    workflow_id: str
    created_at: dt.datetime
    parent_execution_id: str | None = None
    root_workflow_id: str
    root_execution_id: str
    session_id: str | None = None
    user_id: str | None = None
    step_key: str | None = None

    _client: PolosClient | None = PrivateAttr(default=None)

    def _bind(self, client: PolosClient) -> ExecutionHandle:
        self._client = client
        return self

    def _require_client(self, client: PolosClient | None) -> PolosClient:
        chosen = client or self._client
        if chosen is None:
            from polos_nb.errors import UserError

            raise UserError(
                "This handle is not bound to a client (it was read back from the journal). "
                "Pass one: await handle.result(client)."
            )
        return chosen

    async def get(self, client: PolosClient | None = None) -> ExecutionInfo:
        """The execution's current status, result and error."""
        return await self._require_client(client).get_execution(self.id)

    async def cancel(self, client: PolosClient | None = None) -> bool:
        """Cancel the execution and its children. Returns False if it had already ended."""
        return await self._require_client(client).cancel(self.id)

    async def result(
        self, client: PolosClient | None = None, *, timeout: float | None = None
    ) -> Any:
        """Wait for the execution to end; return its result or raise its error."""
        return await self._require_client(client).wait_for_result(self.id, timeout=timeout)

    def result_sync(
        self, client: PolosClient | None = None, *, timeout: float | None = None
    ) -> Any:
        """Blocking twin of :meth:`result`, for scripts."""
        return self._require_client(client).wait_for_result_sync(self.id, timeout=timeout)

    def __await__(self) -> Generator[Any, None, Any]:
        return self.result().__await__()

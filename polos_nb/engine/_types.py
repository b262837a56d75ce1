"""Value types users see: handles, execution snapshots, events, batch inputs and results."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    PrivateAttr,
    field_validator,
)
from pydantic_core import core_schema

from polos_nb import _serde

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
    """Lets a model be read like the dicts upstream Polos returns.

    ``x["result"]`` and ``x.get("result")`` give JSON data, as upstream's plain dicts do
    (a Pydantic result becomes a :class:`polos_nb._serde.ModelView`: its JSON, which
    still answers ``.field``); ``x.result`` stays the typed value.
    """

    def __getitem__(self, key: str) -> Any:
        if key not in type(self).model_fields:  # type: ignore[attr-defined]
            raise KeyError(key)
        return _serde.view(getattr(self, key))

    def get(self, key: str, default: Any = None) -> Any:
        try:
            return self[key]
        except KeyError:
            return default

    def __contains__(self, key: object) -> bool:
        return key in type(self).model_fields  # type: ignore[attr-defined]

    def keys(self) -> list[str]:
        return list(type(self).model_fields)  # type: ignore[attr-defined]

    def to_dict(self) -> dict[str, Any]:
        """The whole object as upstream's JSON dict."""
        return {key: self[key] for key in self.keys()}


class EventData(BaseModel):
    """An event to publish: ``events.publish(client, topic, EventData(event_type=..., data=...))``."""

    event_type: str | None = None
    data: Any = Field(default_factory=dict)


_EVENT_KEYS = ("id", "sequence_id", "topic", "event_type", "data", "created_at")


class EventPayload(dict[str, Any]):
    """An event as delivered to a workflow: by ``wait_for_event``, a resume, or a trigger.

    It is the dict upstream Polos hands out, ``{"id", "sequence_id", "topic",
    "event_type", "data", "created_at"}``, JSON data all through (``json.dumps`` works,
    ``isinstance(x, dict)`` holds), with attribute access on top: ``payload.data``,
    ``payload.topic``, ``payload.created_at`` (a ``datetime``). ``data`` holds what was
    published, or the resume payload: ``resp.data["approved"]``, ``resp["data"]`` and
    ``resp.get("data", {})`` all work.
    """

    __serde_model__ = True  # journaled with its class, so a replay gets an EventPayload back

    def __init__(
        self,
        id: Any = "",
        sequence_id: int | None = 0,
        topic: str = "",
        event_type: str | None = None,
        data: Any = None,
        created_at: Any = None,
        **extra: Any,
    ) -> None:
        created: str | None
        if isinstance(created_at, dt.datetime):
            created = created_at.isoformat()
        elif isinstance(created_at, str) or created_at is None:
            created = created_at
        else:
            raise TypeError(f"created_at must be a datetime or ISO text, got {created_at!r}")
        super().__init__(
            id=str(id),
            sequence_id=int(sequence_id or 0),
            topic=str(topic),
            event_type=event_type,
            data=_serde.view(data),
            created_at=created,
            **extra,
        )

    # ------------------------------------------------------------------ typed access
    @property
    def id(self) -> str:
        return str(self["id"])

    @property
    def sequence_id(self) -> int:
        return int(self.get("sequence_id") or 0)

    @property
    def topic(self) -> str:
        return str(self["topic"])

    @property
    def event_type(self) -> str | None:
        return self.get("event_type")

    @property
    def data(self) -> Any:
        return self.get("data")

    @property
    def created_at(self) -> dt.datetime | None:
        value = self.get("created_at")
        return dt.datetime.fromisoformat(value) if isinstance(value, str) else value

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        try:
            return self[name]
        except KeyError:
            raise AttributeError(
                f"'EventPayload' has no attribute {name!r} (keys: {sorted(self)})"
            ) from None

    def __repr__(self) -> str:
        return f"EventPayload({dict.__repr__(self)})"

    # ------------------------------------------------------------------ model-like API
    @classmethod
    def model_validate(cls, value: Any) -> EventPayload:
        """An ``EventPayload`` from a dict (or an ``EventPayload``, a ``StreamEvent``)."""
        if isinstance(value, cls):
            return value
        if isinstance(value, BaseModel):
            value = {k: getattr(value, k, None) for k in _EVENT_KEYS}
        if not isinstance(value, dict):
            raise TypeError(f"An EventPayload is built from a dict, got {type(value).__name__}.")
        return cls(**value)

    def model_dump(self, *, mode: str = "python", **_: Any) -> dict[str, Any]:
        out = dict(self)
        if mode != "json" and isinstance(out.get("created_at"), str):
            out["created_at"] = self.created_at
        return out

    def model_dump_json(self, **_: Any) -> str:
        return json.dumps(self)

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_plain_validator_function(
            cls.model_validate,
            serialization=core_schema.plain_serializer_function_ser_schema(dict),
        )


class StreamEvent(_DictAccess, BaseModel):
    """One event of an execution stream or a topic.

    ``sequence_id`` is ``None`` for live-only events (``step_start``); persisted events
    carry the journal sequence, which orders them. An event built by hand (a test
    double) without ``created_at`` is dated when it is built.
    """

    id: str
    sequence_id: int | None
    topic: str
    event_type: str | None
    data: Any = None
    created_at: dt.datetime = Field(default_factory=lambda: dt.datetime.now(dt.UTC))

    _journal_seq: int | None = PrivateAttr(default=None)

    @property
    def journal_seq(self) -> int | None:
        """The journal sequence of a journaled event (topic events and step records), which
        orders a run's events; None for live-only ones (``step_start``, streamed text)."""
        return self._journal_seq

    @field_validator("data", mode="after")
    @classmethod
    def _json_data(cls, value: Any) -> Any:
        # Upstream hands out JSON event data (user code json.dumps it); a model in it
        # becomes a ModelView, which still answers its attributes.
        return _serde.view(value)


CatchUp = Callable[[], list[tuple[str, dict[str, Any]]]]
"""What a running step gives a stream that begins while it runs (``ctx.catch_up``): the
live events it missed of the step, as ``(event_type, data)`` pairs (``Live.catch_up``)."""

MakeEvent = Callable[[bool], StreamEvent]
"""Makes a committed event when it is delivered (``Live.emit_lazy``): ``make(True)`` with all
its data, ``make(False)`` without the run's payload or result a start or finish event
carries (for subscribers that never read them)."""


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
    """A snapshot of one execution (``client.get_execution(id)``).

    Beside upstream's fields, two say why an unfinished run does not move:
    ``waiting_for_worker`` is True while it waits for a worker, its journal being shared
    by several workers (PostgreSQL) none of which that is alive defines its workflow;
    ``note`` then says so in a sentence (and suggests a close workflow id, for a typo).
    The run starts when a worker that defines the workflow joins. Both are False / None
    otherwise, and in a journal one process owns.
    """

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
    waiting_for_worker: bool = False
    note: str | None = None

    @property
    def done(self) -> bool:
        return self.status in TERMINAL_STATUSES


class ExecutionHandle(BaseModel):
    """A started execution. ``await handle`` waits for its result.

    The upstream-compatible methods take the client explicitly:
    ``await handle.get(client)`` and ``await handle.cancel(client)``. A handle can be
    made from a stored id, ``ExecutionHandle(id=execution_id)``, as upstream allows; the
    fields not given are then empty (the roots default to the execution itself).
    """

    id: str
    workflow_id: str = ""
    created_at: dt.datetime | None = None
    parent_execution_id: str | None = None
    root_workflow_id: str = ""
    root_execution_id: str = ""
    session_id: str | None = None
    user_id: str | None = None
    step_key: str | None = None

    _client: PolosClient | None = PrivateAttr(default=None)

    @field_validator("workflow_id", "root_workflow_id", "root_execution_id", mode="before")
    @classmethod
    def _none_is_empty(cls, value: Any) -> Any:
        # Upstream types these Optional: ``root_execution_id=None`` means "the execution itself".
        return "" if value is None else value

    def model_post_init(self, context: Any, /) -> None:
        self.root_execution_id = self.root_execution_id or self.id
        self.root_workflow_id = self.root_workflow_id or self.workflow_id

    def to_dict(self) -> dict[str, Any]:
        """The handle as JSON data (``created_at`` as ISO text)."""
        return self.model_dump(mode="json")

    def _bind(self, client: PolosClient) -> ExecutionHandle:
        self._client = client
        return self

    def _known_status(self, client: PolosClient | None = None) -> str | None:
        """The execution's status if this process's engine drives it now (queued, running,
        waiting), read from memory: no journal read, no wait. None otherwise (it ended, it
        runs elsewhere, or the handle has no client)."""
        client = client or getattr(self, "_client", None)
        if client is None:
            return None
        try:
            runtime = client.runtime
            if runtime.closed:
                return None
            ex = runtime.execs.get(self.id)  # one dict read: safe from any thread
        except Exception:  # a client of a journal another process owns has no engine here
            return None
        status = getattr(ex, "status", None)
        return status if isinstance(status, str) else None

    def __repr__(self) -> str:
        # Upstream's shape (the fields as keywords), without the empty ones and without
        # the roots when they are the execution itself; the status when known at no cost.
        fields: list[tuple[str, Any]] = [("id", self.id)]
        if self.workflow_id:
            fields.append(("workflow_id", self.workflow_id))
        if self.parent_execution_id:
            fields.append(("parent_execution_id", self.parent_execution_id))
        if self.root_execution_id and self.root_execution_id != self.id:
            fields.append(("root_workflow_id", self.root_workflow_id))
            fields.append(("root_execution_id", self.root_execution_id))
        for name in ("step_key", "session_id", "user_id"):
            value = getattr(self, name)
            if value:
                fields.append((name, value))
        status = self._known_status()
        if status:
            fields.append(("status", status))
        return f"ExecutionHandle({', '.join(f'{k}={v!r}' for k, v in fields)})"

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

"""What each part of the runtime needs from the runtime that holds it, declared as protocols.

:class:`Runtime` is composed of parts (``rt.waits``, ``rt.children``, ``rt.reads``), each a
class that receives its host explicitly and reaches it only through ``self.rt``. Each part's
host type below names exactly what that part uses, with its type; ``Runtime`` satisfies
each of them structurally (mypy checks it where the parts are built), and a part can be built
on anything else that provides the same names. The protocols exist only for the type
checker: nothing here runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, TypeVar

if TYPE_CHECKING:
    import asyncio
    import concurrent.futures
    import datetime as dt
    from collections.abc import Callable

    from polos_nb._clock import Clock

    from ._admission import Admission
    from ._blocking import Blocking
    from ._context import WorkflowContext
    from ._records import Exec, Wait
    from ._types import MakeEvent, StreamEvent
    from ._workers import Workers
    from ._workflow import Workflow
    from .journal import Insert, Journal, Update

__all__ = [
    "ChildrenHost",
    "ChildrenOfParts",
    "ChildrenOfWaits",
    "EndingsHost",
    "EventRowsHost",
    "LiveHost",
    "LiveOfParts",
    "ReadsHost",
    "StartsHost",
    "StartsOfParts",
    "WaitsHost",
    "WaitsOfChildren",
    "WaitsOfParts",
]

_T = TypeVar("_T")


class _Journaling(Protocol):
    """What every part uses: the journal's reads, the engine loop, the live runs."""

    journal: Journal
    loop: asyncio.AbstractEventLoop
    execs: dict[str, Exec]
    blocking: Blocking

    async def read(self, future: concurrent.futures.Future[_T]) -> _T: ...


class _Stepping(_Journaling, Protocol):
    """Writing (commits, a run's step records and status) and scheduling a run to go on."""

    clock: Clock

    async def commit(self, ops: list[Any]) -> None: ...

    def step_insert(
        self,
        ex: Exec,
        key: str,
        position: int | None,
        kind: str,
        attempt: int,
        status: str,
        input_hash: str | None,
        output: str | None,
        error: str | None,
        state: str | None,
        started: dt.datetime | None,
        ended: dt.datetime,
    ) -> Insert: ...

    def _status_op(self, ex: Exec, status: str, **extra: Any) -> Update: ...

    def schedule(self, ex: Exec) -> bool: ...


class ChildrenOfWaits(Protocol):
    """What ``Waits`` uses of the children part: is a child or batch wait over?"""

    async def check_children_done(self, parent: Exec, wait: Wait) -> None: ...


class WaitsOfChildren(Protocol):
    """What ``Children`` uses of the waits part: journal a wait, resolve it."""

    def wait_insert(self, ex: Exec, wait: Wait, now: dt.datetime) -> Insert: ...

    def resolve_ops(
        self,
        ex: Exec,
        wait: Wait,
        ops: list[Any],
        *,
        output: str | None = None,
        error: str | None = None,
    ) -> None: ...


class ChildrenOfParts(ChildrenOfWaits, Protocol):
    """What ``Endings`` (and ``Waits``) use of the children part: a child's outcome in its
    parent's journal, and whether a batch is over."""

    def notify_parent_ops(
        self, ex: Exec, status: str, result: str | None, error: str | None, ops: list[Any]
    ) -> Exec | None: ...


class WaitsOfParts(WaitsOfChildren, Protocol):
    """What ``Endings`` (and ``Children``) use of the waits part: journal a wait, resolve it,
    and fire a timer."""

    def timer_fired(self, exec_id: str, key: str) -> None: ...


class EndingsHost(Protocol):
    """What :class:`~polos_nb.engine._endings.Endings` uses of its runtime."""

    admission: Admission
    blocking: Blocking
    clock: Clock
    execs: dict[str, Exec]
    loop: asyncio.AbstractEventLoop
    workers: Workers

    @property
    def children(self) -> ChildrenOfParts: ...

    @property
    def waits(self) -> WaitsOfParts: ...

    @property
    def live(self) -> LiveOfParts: ...

    async def commit(self, ops: list[Any]) -> None: ...

    def _status_op(self, ex: Exec, status: str, **extra: Any) -> Update: ...

    def _lifecycle_event(
        self,
        ex: Exec,
        event_type: str,
        data: dict[str, Any],
        *,
        encoded: dict[str, str | None] | None = None,
    ) -> tuple[Insert, StreamEvent]: ...

    def _lifecycle_row(
        self,
        ex: Exec,
        event_type: str,
        data: dict[str, Any],
        *,
        encoded: dict[str, str | None] | None = None,
    ) -> tuple[Insert, MakeEvent]: ...

    def schedule(self, ex: Exec) -> bool: ...

    def _forget(self, ex: Exec) -> None: ...


class StartsOfParts(Protocol):
    """What ``Children`` (and triggers, schedules) use of the starts part."""

    def new_exec(
        self,
        wf_id: str,
        workflow_type: str,
        payload_json: str | None,
        *,
        parent: Exec | None = None,
        parent_step_key: str | None = None,
        batch_index: int | None = None,
        initial_state_json: str | None = None,
        queue_name: str | None = None,
        concurrency_key: str | None = None,
        session_id: str | None = None,
        user_id: str | None = None,
        run_timeout_seconds: float | None = None,
    ) -> tuple[Exec, Insert]: ...

    def prepare(
        self, workflow: Any, payload: Any, initial_state: Any
    ) -> tuple[Workflow, str | None, str | None]: ...

    def start_ops(self, ex: Exec, insert: Insert) -> tuple[list[Any], MakeEvent | None]: ...

    def started(self, ex: Exec, event: MakeEvent | None) -> None: ...

    def not_started(self, ex: Exec, event: MakeEvent | None) -> None: ...


class WaitsHost(_Stepping, Protocol):
    """What :class:`~polos_nb.engine._waits.Waits` uses of its runtime."""

    _topic_seq: dict[str, int]
    _topic_waits: dict[str, set[tuple[str, str]]]

    @property
    def children(self) -> ChildrenOfWaits: ...

    async def _topic_next(self, topic: str) -> int: ...

    def _lifecycle_event(
        self,
        ex: Exec,
        event_type: str,
        data: dict[str, Any],
        *,
        encoded: dict[str, str | None] | None = None,
    ) -> tuple[Insert, StreamEvent]: ...

    @property
    def live(self) -> LiveOfParts: ...

    async def _load(self, ex: Exec) -> None: ...


class ChildrenHost(_Stepping, Protocol):
    """What :class:`~polos_nb.engine._children.Children` uses of its runtime."""

    _batches_done: set[tuple[str, str]]
    default_client: Any

    @property
    def waits(self) -> WaitsOfChildren: ...

    async def _finish(
        self,
        ex: Exec,
        status: str,
        *,
        result: str | None = None,
        error: str | None = None,
        ctx: WorkflowContext | None = None,
    ) -> None: ...

    @property
    def starts(self) -> StartsOfParts: ...


class ReadsHost(_Journaling, Protocol):
    """What :class:`~polos_nb.engine._reads.Reads` uses of its runtime."""

    admission: Admission
    workers: Workers

    async def commit_publish(self, topic: str, event: StreamEvent, ops: list[Any]) -> None: ...

    async def event_insert(
        self, topic: str, event_type: str | None, data_json: str, execution_id: str | None
    ) -> tuple[Insert, StreamEvent]: ...

    def after_publish(self, topic: str, event: StreamEvent) -> None: ...


class StartsHost(Protocol):
    """What :class:`~polos_nb.engine._starts.Starts` uses of its runtime."""

    journal: Journal
    clock: Clock
    admission: Admission
    workers: Workers
    closed: bool
    _topic_seq: dict[str, int]
    _start_key_lock: asyncio.Lock

    @property
    def live(self) -> LiveOfParts: ...

    def next_seq(self) -> int: ...

    def _lifecycle_row(
        self,
        ex: Exec,
        event_type: str,
        data: dict[str, Any],
        *,
        encoded: dict[str, str | None] | None = None,
    ) -> tuple[Insert, MakeEvent]: ...

    def _schedule_id(self, exec_id: str) -> bool: ...

    async def read(self, future: concurrent.futures.Future[_T]) -> _T: ...

    async def commit(self, ops: list[Any]) -> None: ...

    def adopt(self, ex: Exec) -> None: ...


class EventRowsHost(Protocol):
    """What the event rows of ``_lifecycle_events`` use of the runtime: its journal
    sequence, its topics' counters and its clock."""

    clock: Clock
    _topic_seq: dict[str, int]

    def next_seq(self) -> int: ...


class LiveOfParts(Protocol):
    """What the other parts use of the live event bus: deliver a committed event."""

    def emit(self, event: StreamEvent) -> None: ...

    def emit_lazy(self, topic: str, make: MakeEvent) -> None: ...


class LiveHost(Protocol):
    """What :class:`~polos_nb.engine._live.Live` uses of its runtime."""

    clock: Clock
    loop: asyncio.AbstractEventLoop
    execs: dict[str, Exec]
    _subscribers: dict[str, list[Callable[[StreamEvent], None]]]
    _all_subscribers: list[Callable[[StreamEvent], None]]
    _light_subscribers: list[Callable[[StreamEvent], None]]

    def on_engine_thread(self) -> bool: ...

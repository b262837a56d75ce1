"""The runtime: one engine thread with its own event loop, driving executions.

A process has one runtime per journal file. Everything that changes an execution's
state is decided on the engine loop (so there are no races between deciders) and
written through the journal's single writer thread. Cells and scripts talk to the
runtime from their own threads through ``PolosClient``; nothing here blocks them.

Lifecycle of an execution: ``queued`` → ``running`` → (``waiting`` → ``queued`` →
``running``)* → ``completed`` | ``failed`` | ``cancelled``. Waiting executions hold no
task: the workflow function unwinds with ``Park`` and re-runs from the top when the wait
is resolved (a resume, an event, a timer, or a child finishing).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime as dt
import logging
import sys
import threading
import weakref
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from polos_nb import _serde
from polos_nb._clock import Clock, TimerHandle
from polos_nb._ids import new_id
from polos_nb.errors import (
    ExecutionCancelledError,
    ExecutionFailedError,
    ExecutionNotFoundError,
    NonDeterminismError,
    ResumeError,
    StepExecutionError,
    UserError,
    WaitTimeoutError,
    WorkflowNotFoundError,
    WorkflowTimeoutError,
)

from . import _workflow as registry
from ._context import CURRENT, WorkflowContext, _error_json
from ._admission import Admission, QueueStatus
from ._scheduler import Scheduler
from ._triggers import Triggers
from ._policy import Queue, RetryPolicy
from ._signals import Park
from ._types import (
    TERMINAL_STATUSES,
    BatchWorkflowInput,
    EventPayload,
    ExecutionHandle,
    ExecutionInfo,
    StreamEvent,
)
from ._topics import validate_topic
from .journal import DuckDBJournal, Insert, Sql, Update

__all__ = ["Exec", "Runtime", "StepRecord", "validate_topic"]

log = logging.getLogger("polos_nb.engine")

_STEP_COLUMNS = (
    "seq", "execution_id", "root_execution_id", "position", "step_key", "kind", "attempt",
    "status", "input_hash", "output", "error", "state", "started_at", "ended_at", "run_attempt",
)
_EXEC_COLUMNS = (
    "id", "workflow_id", "workflow_type", "status", "payload", "initial_state", "state",
    "parent_execution_id", "root_execution_id", "root_workflow_id", "parent_step_key",
    "batch_index", "queue_name", "concurrency_key", "session_id", "user_id",
    "run_timeout_seconds", "deadline", "created_at", "updated_at", "seq",
)
_EVENT_COLUMNS = ("seq", "topic", "topic_seq", "event_type", "data", "execution_id", "created_at")
_WAIT_COLUMNS = (
    "execution_id", "step_key", "kind", "position", "topic", "after_topic_seq", "wake_at",
    "expires_at", "detail", "created_at",
)
@dataclass(slots=True)
class StepRecord:
    """The latest journaled attempt of one step."""

    key: str
    position: int | None
    kind: str
    attempt: int
    status: str
    output: str | None
    error: str | None
    state: str | None


@dataclass(slots=True)
class Wait:
    key: str
    kind: str  # suspend | event | sleep | child | batch
    position: int | None
    topic: str | None = None
    after_topic_seq: int | None = None
    wake_at: dt.datetime | None = None
    expires_at: dt.datetime | None = None
    detail: Any = None  # child ids for child/batch waits
    timer: TimerHandle | None = None


@dataclass(eq=False)
class Exec:
    """In-memory state of one execution (engine loop only)."""

    id: str
    workflow_id: str
    workflow_type: str
    status: str
    payload_json: str | None
    initial_state_json: str | None
    state_json: str | None
    parent_id: str | None
    root_id: str
    root_workflow_id: str
    parent_step_key: str | None
    batch_index: int | None
    queue_name: str | None
    concurrency_key: str | None
    session_id: str | None
    user_id: str | None
    created_at: dt.datetime
    started_at: dt.datetime | None = None
    deadline: dt.datetime | None = None
    run_attempt: int = 1
    replay_only: bool = False  # a read-only replay of a finished run (journal tools)
    steps: dict[str, StepRecord] = field(default_factory=dict)
    positions: dict[int, str] = field(default_factory=dict)
    attempts: dict[str, int] = field(default_factory=dict)
    waits: dict[str, Wait] = field(default_factory=dict)
    mailbox: dict[str, tuple[str | None, int | None, dt.datetime]] = field(default_factory=dict)
    children: dict[str, list[str]] = field(default_factory=dict)
    loaded: bool = False
    task: asyncio.Task[Any] | None = None
    rerun: bool = False
    cancel_requested: bool = False
    stop_reason: tuple[str, str] | None = None  # (final status, error JSON) when stopped from outside
    deadline_timer: TimerHandle | None = None
    done: asyncio.Future[None] | None = None

    @property
    def topic(self) -> str:
        return f"workflow/{self.root_workflow_id}/{self.root_id}"

    def handle(self) -> ExecutionHandle:
        return ExecutionHandle(
            id=self.id,
            workflow_id=self.workflow_id,
            created_at=self.created_at,
            parent_execution_id=self.parent_id,
            root_workflow_id=self.root_workflow_id,
            root_execution_id=self.root_id,
            session_id=self.session_id,
            user_id=self.user_id,
            step_key=self.parent_step_key,
        )


class Runtime:
    """Owns one journal and the engine thread. Get it through ``PolosClient``."""

    def __init__(self, path: str, clock: Clock) -> None:
        self.path = path
        self.clock = clock
        self.journal = DuckDBJournal(path)
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run_loop, name="polos-engine", daemon=True)
        self._thread.start()
        self.execs: dict[str, Exec] = {}
        self._seq = 0
        self._topic_seq: dict[str, int] = {}
        self._topic_waits: dict[str, set[tuple[str, str]]] = {}
        self._unregistered: dict[str, set[str]] = {}
        self._subscribers: dict[str, list[Callable[[StreamEvent], None]]] = {}
        self._batches_done: set[tuple[str, str]] = set()
        self.closed = False
        self.clients = 0
        self.admission = Admission()
        self.triggers = Triggers(self)
        self.scheduler = Scheduler(self)
        for wf in registry.get_all_workflows().values():
            self.admission.set_limit(wf.queue.name, wf.queue.concurrency_limit)
        try:
            self.call(self._recover())
            for wf in registry.get_all_workflows().values():
                self.call(self._register_flow(wf))
        except BaseException:
            self._stop_loop()
            self.journal.close()
            raise
        listener = _WeakListener(self)
        self._listener = listener
        registry.add_listener(listener)

    # ================================================================== threading glue
    def _run_loop(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def _stop_loop(self) -> None:
        if self._thread.is_alive():
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout=10)
        if not self._thread.is_alive() and not self.loop.is_closed():
            self.loop.close()

    def submit(self, coro: Coroutine[Any, Any, Any]) -> concurrent.futures.Future[Any]:
        """Schedule ``coro`` on the engine loop from any thread."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def call(self, coro: Coroutine[Any, Any, Any]) -> Any:
        """Run ``coro`` on the engine loop and block for its result (not from the engine thread)."""
        if threading.current_thread() is self._thread:
            coro.close()
            raise UserError("A blocking polos_nb call was made from inside a workflow; use await instead.")
        return self.submit(coro).result()

    def close(self) -> None:
        """Stop driving executions and release the journal. Running ones resume on next open."""
        if self.closed:
            return
        self.closed = True
        registry.remove_listener(self._listener)

        async def shutdown() -> None:
            tasks = [ex.task for ex in self.execs.values() if ex.task is not None and not ex.task.done()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        try:
            self.submit(shutdown()).result(timeout=10)
        except Exception:
            pass
        self._stop_loop()
        self.journal.close()

    # ================================================================== journal helpers
    def next_seq(self) -> int:
        self._seq += 1
        return self._seq

    async def commit(self, ops: list[Any]) -> None:
        """Write ``ops`` in one transaction and wait for the commit."""
        await asyncio.wrap_future(self.journal.submit(ops))

    def commit_nowait(self, ops: list[Any]) -> None:
        future = self.journal.submit(ops)
        future.add_done_callback(_log_failure)

    async def read(self, reader: Callable[[Any], Any]) -> Any:
        return await asyncio.wrap_future(self.journal.read(reader))

    def step_insert(
        self, ex: Exec, key: str, position: int | None, kind: str, attempt: int, status: str,
        input_hash: str | None, output: str | None, error: str | None, state: str | None,
        started: dt.datetime | None, ended: dt.datetime,
    ) -> Insert:
        """Build the journal row for one step attempt, and remember it in memory."""
        seq = self.next_seq()
        if status != "retrying":
            ex.steps[key] = StepRecord(key, position, kind, attempt, status, output, error, state)
            if position is not None:
                ex.positions[position] = key
        if status in ("completed", "failed"):
            self._emit_step_finish(ex, key, kind, attempt, status, output, error, seq, started, ended)
        return Insert(
            "steps",
            _STEP_COLUMNS,
            (seq, ex.id, ex.root_id, position, key, kind, attempt, status, input_hash, output, error,
             state, started, ended, ex.run_attempt),
        )

    def _status_op(self, ex: Exec, status: str, **extra: Any) -> Update:
        ex.status = status
        columns = ("status", "updated_at", "seq", *extra)
        values = (status, self.clock.now(), self.next_seq(), *extra.values())
        return Update("executions", "id", ex.id, columns, values)

    async def _topic_next(self, topic: str) -> int:
        if topic not in self._topic_seq:
            row = await self.read(
                lambda con: con.execute("SELECT max(topic_seq) FROM events WHERE topic = ?", [topic]).fetchone()
            )
            self._topic_seq.setdefault(topic, row[0] or 0)
        self._topic_seq[topic] += 1
        return self._topic_seq[topic]

    async def event_insert(
        self, topic: str, event_type: str | None, data_json: str, execution_id: str | None
    ) -> tuple[Insert, StreamEvent]:
        """Build an event row (with its per-topic sequence); publish it with :meth:`after_publish`."""
        validate_topic(topic)
        topic_seq = await self._topic_next(topic)
        seq = self.next_seq()
        now = self.clock.now()
        event = StreamEvent(
            id=str(seq), sequence_id=topic_seq, topic=topic, event_type=event_type,
            data=_serde.loads(data_json, strict=False), created_at=now,
        )
        event._journal_seq = seq  # type: ignore[attr-defined]
        return Insert("events", _EVENT_COLUMNS, (seq, topic, topic_seq, event_type, data_json, execution_id, now)), event

    def _lifecycle_event(self, ex: Exec, event_type: str, data: dict[str, Any]) -> tuple[Insert, StreamEvent]:
        """An event on the execution tree's topic; the topic's counter is known (created with the root)."""
        topic = ex.topic
        if topic not in self._topic_seq:
            self._topic_seq[topic] = 0
        self._topic_seq[topic] += 1
        seq = self.next_seq()
        now = self.clock.now()
        data = dict(data)
        data["_metadata"] = {"execution_id": ex.id, "workflow_id": ex.workflow_id}
        data_json = _serde.dumps(data)
        event = StreamEvent(
            id=str(seq), sequence_id=self._topic_seq[topic], topic=topic, event_type=event_type,
            data=_serde.loads(data_json, strict=False), created_at=now,
        )
        event._journal_seq = seq  # type: ignore[attr-defined]
        return (
            Insert("events", _EVENT_COLUMNS, (seq, topic, self._topic_seq[topic], event_type, data_json, ex.id, now)),
            event,
        )

    # ================================================================== live event bus
    def subscribe(self, topic: str, callback: Callable[[StreamEvent], None]) -> Callable[[], None]:
        self._subscribers.setdefault(topic, []).append(callback)

        def unsubscribe() -> None:
            subs = self._subscribers.get(topic, [])
            if callback in subs:
                subs.remove(callback)

        return unsubscribe

    def _emit(self, event: StreamEvent) -> None:
        for callback in list(self._subscribers.get(event.topic, ())):
            try:
                callback(event)
            except Exception:
                log.exception("event subscriber failed")

    def emit_live(self, ex: Exec, event_type: str, data: dict[str, Any]) -> None:
        if not self._subscribers.get(ex.topic):
            return
        payload = dict(data)
        payload["_metadata"] = {"execution_id": ex.id, "workflow_id": ex.workflow_id}
        event = StreamEvent(id=f"live:{new_id()}", sequence_id=None, topic=ex.topic, event_type=event_type,
                            data=payload, created_at=self.clock.now())
        if threading.current_thread() is self._thread:
            self._emit(event)
        else:  # e.g. from a sync step function running in a worker thread
            self.loop.call_soon_threadsafe(self._emit, event)

    def emit_step_start(self, ex: Exec, key: str, kind: str, attempt: int, started: dt.datetime) -> None:
        if not self._subscribers.get(ex.topic):
            return
        self._emit(
            StreamEvent(
                id=f"{ex.id}:{key}:{attempt}:start", sequence_id=None, topic=ex.topic, event_type="step_start",
                data={"step_key": key, "step_type": kind, "attempt": attempt,
                      "_metadata": {"execution_id": ex.id, "workflow_id": ex.workflow_id}},
                created_at=started,
            )
        )

    def _emit_step_finish(
        self, ex: Exec, key: str, kind: str, attempt: int, status: str, output: str | None,
        error: str | None, seq: int, started: dt.datetime | None, ended: dt.datetime,
    ) -> None:
        if not self._subscribers.get(ex.topic):
            return
        self.loop.call_soon(self._emit, _step_event(ex.id, ex.workflow_id, ex.topic, key, kind, attempt, status,
                                                    output, error, seq, started, ended))

    def after_publish(self, topic: str, event: StreamEvent) -> None:
        """Deliver a committed event to live subscribers and to executions waiting on its topic."""
        self._emit(event)
        self.triggers.on_event(topic)
        for exec_id, key in list(self._topic_waits.get(topic, ())):
            ex = self.execs.get(exec_id)
            wait = ex.waits.get(key) if ex else None
            if ex is None or wait is None:
                continue
            if (wait.after_topic_seq or 0) < (event.sequence_id or 0):
                self._topic_waits[topic].discard((exec_id, key))
                self.loop.create_task(self._resolve(ex, key, output=_serde.dumps(_payload_of(event))))

    async def publish(self, topic: str, event_type: str | None, data: Any) -> StreamEvent:
        """Publish one event from outside a workflow; returns it with its per-topic sequence."""
        validate_topic(topic)
        data_json = _serde.dumps(data if data is not None else {})
        insert, event = await self.event_insert(topic, event_type, data_json, None)
        await self.commit([insert])
        self.after_publish(topic, event)
        return event

    async def read_topic(self, topic: str, after_sequence_id: int = 0, limit: int | None = None) -> list[StreamEvent]:
        validate_topic(topic)
        rows = await self.read(
            lambda con: con.execute(
                "SELECT seq, topic_seq, event_type, data, created_at FROM events WHERE topic = ? AND topic_seq > ?"
                " ORDER BY topic_seq" + (" LIMIT ?" if limit is not None else ""),
                [topic, after_sequence_id] + ([limit] if limit is not None else []),
            ).fetchall()
        )
        out = []
        for seq, topic_seq, event_type, data, created in rows:
            event = StreamEvent(id=str(seq), sequence_id=topic_seq, topic=topic, event_type=event_type,
                                data=_serde.loads(data, strict=False), created_at=_aware(created))
            event._journal_seq = seq
            out.append(event)
        return out

    # ================================================================== recovery
    async def _recover(self) -> None:
        def load(con: Any) -> Any:
            seq = con.execute(
                "SELECT greatest(coalesce((SELECT max(seq) FROM executions), 0),"
                " coalesce((SELECT max(seq) FROM steps), 0), coalesce((SELECT max(seq) FROM events), 0))"
            ).fetchone()[0]
            execs = con.execute(
                f"SELECT id, workflow_id, workflow_type, status, payload, initial_state, state, parent_execution_id,"
                f" root_execution_id, root_workflow_id, parent_step_key, batch_index, queue_name, concurrency_key,"
                f" session_id, user_id, created_at, started_at, deadline, run_attempt FROM executions"
                f" WHERE status IN ('queued', 'running', 'waiting') ORDER BY created_at"
            ).fetchall()
            waits = con.execute(
                "SELECT w.execution_id, w.step_key, w.kind, w.position, w.topic, w.after_topic_seq, w.wake_at,"
                " w.expires_at, w.detail FROM waits w JOIN executions e ON e.id = w.execution_id"
                " WHERE w.resolved_at IS NULL AND e.status IN ('queued', 'running', 'waiting')"
            ).fetchall()
            return seq, execs, waits

        seq, rows, waits = await self.read(load)
        self._seq = seq
        # Lifecycle events continue their tree topic's sequence (no duplicate topic_seq after a restart).
        tops = await self.read(lambda con: con.execute(
            "SELECT topic, max(topic_seq) FROM events WHERE topic IN (SELECT 'workflow/' || root_workflow_id || '/'"
            " || root_execution_id FROM executions WHERE status IN ('queued', 'running', 'waiting')) GROUP BY topic"
        ).fetchall())
        self._topic_seq.update({topic: top for topic, top in tops})
        limits = await self.read(lambda con: con.execute(
            "SELECT queue_name, queue_concurrency_limit FROM executions WHERE queue_concurrency_limit IS NOT NULL"
            " AND status IN ('queued', 'running', 'waiting') ORDER BY created_at").fetchall())
        for queue_name, limit in limits:  # invoke-time limits (a workflow's own definition wins)
            self.admission.set_limit(queue_name, limit, only_if_unset=True)
        for row in rows:
            ex = _exec_from_row(row)
            self.execs[ex.id] = ex
        for row in waits:
            ex = self.execs.get(row[0])
            if ex is None:
                continue
            wait = Wait(key=row[1], kind=row[2], position=row[3], topic=row[4], after_topic_seq=row[5],
                        wake_at=_aware(row[6]), expires_at=_aware(row[7]),
                        detail=_serde.loads(row[8]) if row[8] else None)
            ex.waits[wait.key] = wait
        for ex in list(self.execs.values()):
            if ex.deadline is not None:
                self._arm_deadline(ex)
            if ex.status == "waiting":
                for wait in list(ex.waits.values()):
                    await self._rearm(ex, wait)
            else:
                self.schedule(ex)

    async def _rearm(self, ex: Exec, wait: Wait) -> None:
        if wait.kind == "event" and wait.topic:
            self._topic_waits.setdefault(wait.topic, set()).add((ex.id, wait.key))
            row = await self.read(
                lambda con: con.execute(
                    "SELECT seq, topic_seq, event_type, data, created_at FROM events WHERE topic = ? AND topic_seq > ?"
                    " ORDER BY topic_seq LIMIT 1", [wait.topic, wait.after_topic_seq or 0]
                ).fetchone()
            )
            if row is not None:
                event = StreamEvent(id=str(row[0]), sequence_id=row[1], topic=wait.topic, event_type=row[2],
                                    data=_serde.loads(row[3], strict=False), created_at=_aware(row[4]))
                self._topic_waits[wait.topic].discard((ex.id, wait.key))
                await self._resolve(ex, wait.key, output=_serde.dumps(_payload_of(event)))
                return
        if wait.kind in ("sleep", "retry") and wait.wake_at is not None:
            wait.timer = self.clock.call_at(wait.wake_at, lambda: self._timer_fired(ex.id, wait.key), self.loop)
        if wait.expires_at is not None:
            wait.timer = self.clock.call_at(wait.expires_at, lambda: self._timer_fired(ex.id, wait.key), self.loop)
        if wait.kind in ("child", "batch"):
            await self._check_children_done(ex, wait)

    def on_registered(self, wf: registry.Workflow) -> None:
        """A workflow was (re)defined: start executions that were waiting for its code."""
        self.admission.set_limit(wf.queue.name, wf.queue.concurrency_limit)
        self.loop.create_task(self._register_flow(wf))
        pending = self._unregistered.pop(wf.id, set())
        for exec_id in pending:
            ex = self.execs.get(exec_id)
            if ex is not None and ex.status in ("queued", "running"):
                self.schedule(ex)

    async def _register_flow(self, wf: registry.Workflow) -> None:
        """Set up ``wf``'s event trigger and schedules in this journal."""
        try:
            await self.triggers.register(wf)
            await self.scheduler.register(wf)
        except Exception:
            log.exception("could not register the trigger or schedule of workflow %r", wf.id)

    def pending_unregistered(self) -> dict[str, list[str]]:
        """Executions found in the journal whose workflow is not defined in this process yet."""
        return {wf_id: sorted(ids) for wf_id, ids in self._unregistered.items() if ids}

    # ================================================================== driving executions
    def schedule(self, ex: Exec) -> bool:
        """Start (or re-start) driving ``ex`` on the engine loop, if its queue has a free slot.

        Returns whether it is running now (False: ended, queued for a slot, or its
        workflow is not defined yet).
        """
        if ex.status in TERMINAL_STATUSES or self.closed:
            return False
        if ex.task is not None and not ex.task.done():
            ex.rerun = True
            return True
        if registry.get_workflow(ex.workflow_id) is None:
            self._unregistered.setdefault(ex.workflow_id, set()).add(ex.id)
            return False
        if not self.admission.try_acquire(ex.id, ex.queue_name, ex.concurrency_key):
            return False
        ex.task = self.loop.create_task(self._drive(ex), name=f"polos:{ex.workflow_id}:{ex.id}")
        return True

    def _schedule_id(self, exec_id: str) -> bool:
        ex = self.execs.get(exec_id)
        return ex is not None and self.schedule(ex)

    async def _load(self, ex: Exec) -> None:
        def load(con: Any) -> Any:
            steps = con.execute(
                "SELECT step_key, position, kind, attempt, status, output, error, state, run_attempt FROM steps"
                " WHERE execution_id = ? ORDER BY attempt, seq", [ex.id]
            ).fetchall()
            mailbox = con.execute(
                "SELECT step_key, data, event_seq, created_at FROM mailbox WHERE execution_id = ?", [ex.id]
            ).fetchall()
            children = con.execute(
                "SELECT id, parent_step_key FROM executions WHERE parent_execution_id = ?"
                " ORDER BY parent_step_key, batch_index", [ex.id]
            ).fetchall()
            return steps, mailbox, children

        steps, mailbox, children = await self.read(load)
        for key, position, kind, attempt, status, output, error, state, run_attempt in steps:
            ex.attempts[key] = max(attempt, ex.attempts.get(key, 0))
            if status == "retrying" or (status == "failed" and (run_attempt or 1) < ex.run_attempt):
                if ex.steps.get(key) is not None and ex.steps[key].status == "failed":
                    del ex.steps[key]  # a later run attempt runs this step again
                continue
            ex.steps[key] = StepRecord(key, position, kind, attempt, status, output, error, state)
            if position is not None:
                ex.positions[position] = key
        for key, data, event_seq, created in mailbox:
            ex.mailbox[key] = (data, event_seq, _aware(created))
        for child_id, key in children:
            ex.children.setdefault(key, []).append(child_id)
        ex.loaded = True

    async def _drive(self, ex: Exec) -> None:
        try:
            while True:
                ex.rerun = False
                await self._drive_once(ex)
                if not (ex.rerun and ex.status not in TERMINAL_STATUSES):
                    return
        finally:
            # Waiting or ended: the slot goes to the next execution queued for it.
            self.admission.release(ex.id, ex.queue_name, ex.concurrency_key, self._schedule_id)

    async def _drive_once(self, ex: Exec) -> None:
        wf = registry.get_workflow(ex.workflow_id)
        if wf is None:
            self._unregistered.setdefault(ex.workflow_id, set()).add(ex.id)
            return
        try:
            if not ex.loaded:
                await self._load(ex)
            if ex.status != "running":
                ops: list[Any] = []
                if ex.started_at is None:
                    ex.started_at = self.clock.now()
                    ops.append(self._status_op(ex, "running", started_at=ex.started_at))
                    insert, event = self._lifecycle_event(
                        ex, f"{ex.workflow_type}_start", {"payload": _serde.loads(ex.payload_json, strict=False)}
                    )
                    ops.append(insert)
                    self.loop.call_soon(self._emit, event)
                else:
                    ops.append(self._status_op(ex, "running"))
                self.commit_nowait(ops)
            ctx = WorkflowContext(self, ex, wf)
            payload = _serde.loads(ex.payload_json) if ex.payload_json is not None else None
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            await self._finish(ex, "failed", error=_error_json(exc))
            return
        CURRENT.set(ctx)  # this task's own context: visible to the workflow body and its steps
        try:
            result = await wf.call(ctx, payload)
            if ctx._fatal is not None:
                raise ctx._fatal
            result_json = _serde.dumps(result)
        except Park:
            if ctx._fatal is not None:
                await self._finish(ex, "failed", error=_error_json(ctx._fatal), ctx=ctx)
            return
        except (asyncio.CancelledError, ExecutionCancelledError):
            if ex.stop_reason is not None:
                status, error = ex.stop_reason
                await self._finish(ex, status, error=error, ctx=ctx)
                return
            if isinstance(sys.exc_info()[1], asyncio.CancelledError):
                raise  # the engine is shutting down; the run resumes on the next open
            await self._finish(ex, "failed", error=_error_json(ExecutionCancelledError(ex.id)), ctx=ctx)
            return
        except BaseException as exc:
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                raise
            if ctx._fatal is None and isinstance(exc, Exception) and _run_retryable(wf.retry, exc, ex.run_attempt):
                await self._retry_run(ex, exc, wf.retry, ctx)  # type: ignore[arg-type]
                return
            await self._finish(ex, "failed", error=_error_json(exc), ctx=ctx)
            return
        await self._finish(ex, "completed", result=result_json, ctx=ctx)

    async def _retry_run(self, ex: Exec, exc: Exception, policy: RetryPolicy, ctx: WorkflowContext) -> None:
        """Journal a failed run attempt and schedule the next one after the policy's back-off."""
        now = self.clock.now()
        wake_at = now + dt.timedelta(seconds=policy.delay(ex.run_attempt - 1))
        failed_attempt = ex.run_attempt
        ex.run_attempt += 1
        for key in [k for k, r in ex.steps.items() if r.status == "failed"]:
            record = ex.steps.pop(key)
            if record.position is not None:
                ex.positions.pop(record.position, None)
        key = f"__run_retry:{ex.run_attempt}"
        wait = Wait(key=key, kind="retry", position=None, wake_at=wake_at)
        ex.waits[key] = wait
        insert, event = self._lifecycle_event(
            ex, f"{ex.workflow_type}_retry",
            {"attempt": failed_attempt, "next_attempt": ex.run_attempt, "next_attempt_at": wake_at.isoformat(),
             "error": _serde.loads(_error_json(exc), strict=False)},
        )
        state_json = _serde.dumps(ctx.state) if ctx.state is not None else ex.state_json
        await self.commit([
            self._status_op(ex, "waiting", run_attempt=ex.run_attempt, state=state_json),
            self._wait_insert(ex, wait, now),
            insert,
        ])
        self._emit(event)
        wait.timer = self.clock.call_at(wake_at, lambda: self._timer_fired(ex.id, key), self.loop)

    async def _finish(
        self, ex: Exec, status: str, *, result: str | None = None, error: str | None = None,
        ctx: WorkflowContext | None = None,
    ) -> None:
        if ex.status in TERMINAL_STATUSES:
            return
        self.admission.forget(ex.id)
        now = self.clock.now()
        state_json = _serde.dumps(ctx.state) if ctx is not None and ctx.state is not None else ex.state_json
        ops: list[Any] = [self._status_op(ex, status, result=result, error=error, state=state_json, completed_at=now)]
        ex.state_json = state_json
        event_type = {"completed": "finish", "failed": "error", "cancelled": "cancel"}[status]
        data: dict[str, Any] = {}
        if status == "completed":
            data["result"] = _serde.loads(result, strict=False)
        elif error is not None:
            data["error"] = _serde.loads(error, strict=False)
        insert, event = self._lifecycle_event(ex, f"{ex.workflow_type}_{event_type}", data)
        ops.append(insert)
        if ex.waits:  # a cancelled or timed-out run leaves its waits behind: close them
            for wait in ex.waits.values():
                if wait.timer is not None:
                    wait.timer.cancel()
            ops.append(Sql("UPDATE waits SET resolved_at = ? WHERE execution_id = ? AND resolved_at IS NULL",
                           [now, ex.id]))
            ex.waits.clear()
        if ex.deadline_timer is not None:
            ex.deadline_timer.cancel()
        parent_ready = self._notify_parent_ops(ex, status, result, error, ops)
        await self.commit(ops)
        self._emit(event)
        if ex.done is not None and not ex.done.done():
            ex.done.set_result(None)
        if parent_ready is not None:
            self.schedule(parent_ready)
        elif ex.parent_id is not None:
            parent = self.execs.get(ex.parent_id)
            wait = parent.waits.get(ex.parent_step_key or "") if parent else None
            if parent is not None and wait is not None and wait.kind == "batch":
                await self._check_children_done(parent, wait)
        # Terminal executions leave memory; the journal has them.
        if ex.parent_id is None or ex.parent_id not in self.execs:
            self._forget(ex)

    def _forget(self, ex: Exec) -> None:
        if ex.task is not None and ex.task is not asyncio.current_task() and not ex.task.done():
            return
        self.execs.pop(ex.id, None)

    def _notify_parent_ops(
        self, ex: Exec, status: str, result: str | None, error: str | None, ops: list[Any]
    ) -> Exec | None:
        """For a child of invoke_and_wait, journal its outcome in the parent in the same transaction."""
        if ex.parent_id is None or ex.parent_step_key is None:
            return None
        parent = self.execs.get(ex.parent_id)
        if parent is None:
            return None
        wait = parent.waits.get(ex.parent_step_key)
        if wait is None or wait.kind != "child":
            return None
        if status == "completed":
            self._resolve_ops(parent, wait, ops, output=result)
        else:
            info = _serde.loads(error, strict=False) if error else {}
            child_error = {
                "type": "polos_nb.errors.ChildWorkflowError",
                "message": f"child {ex.workflow_id} ({ex.id}) {status}: {info.get('type', '')}: {info.get('message', '')}",
                "child_error": info,
            }
            self._resolve_ops(parent, wait, ops, error=_serde.dumps(child_error))
        return parent

    async def _check_children_done(self, parent: Exec, wait: Wait) -> None:
        child_ids: list[str] = list(wait.detail or [])
        if wait.kind == "child":
            row = await self.read(
                lambda con: con.execute("SELECT status, result, error FROM executions WHERE id = ?", [child_ids[0]]).fetchone()
            )
            if row is not None and row[0] in TERMINAL_STATUSES and wait.key in parent.waits:
                ops: list[Any] = []
                if row[0] == "completed":
                    self._resolve_ops(parent, wait, ops, output=row[1])
                else:
                    info = _serde.loads(row[2], strict=False) if row[2] else {}
                    self._resolve_ops(parent, wait, ops, error=_serde.dumps({
                        "type": "polos_nb.errors.ChildWorkflowError",
                        "message": f"child {child_ids[0]} {row[0]}: {info.get('type', '')}: {info.get('message', '')}"}))
                await self.commit(ops)
                self.schedule(parent)
            return
        marker = (parent.id, wait.key)
        if marker in self._batches_done:
            return
        rows = await self.read(
            lambda con: con.execute(
                "SELECT id, workflow_id, status, result, error FROM executions WHERE id IN (SELECT unnest(?))",
                [child_ids],
            ).fetchall()
        )
        by_id = {r[0]: r for r in rows}
        if len(by_id) < len(child_ids) or any(r[2] not in TERMINAL_STATUSES for r in rows):
            return
        if marker in self._batches_done or wait.key not in parent.waits:
            return
        self._batches_done.add(marker)
        items = []
        for child_id in child_ids:
            _, wf_id, status, result, error = by_id[child_id]
            info = _serde.loads(error, strict=False) if error else None
            items.append({
                "workflow_id": wf_id,
                "execution_id": child_id,
                "success": status == "completed",
                "result": _serde.loads(result) if (status == "completed" and result is not None) else None,
                "error": None if status == "completed" else f"{status}: {(info or {}).get('type', '')}: {(info or {}).get('message', '')}",
            })
        ops = []
        self._resolve_ops(parent, wait, ops, output=_serde.dumps(items))
        await self.commit(ops)
        self.schedule(parent)

    # ================================================================== waits
    async def wait(
        self, ex: Exec, key: str, position: int, kind: str, *, topic: str | None = None,
        data: dict[str, Any] | None = None, timeout: float | None = None, wake_at: dt.datetime | None = None,
    ) -> EventPayload | None:
        """Register a wait (or find it registered) and return; the caller raises Park.

        For a suspension with an early resume in the mailbox, journal it and return the payload.
        """
        if key in ex.waits:
            ex.status = "waiting"
            return None
        now = self.clock.now()
        if kind == "suspend" and key in ex.mailbox:
            data_json, event_seq, created = ex.mailbox.pop(key)
            payload = EventPayload(
                id=str(event_seq or 0), sequence_id=event_seq or 0, topic=ex.topic, event_type=f"resume_{key}",
                data=_serde.loads(data_json) if data_json else None, created_at=created,
            )
            await self.commit([
                Sql("DELETE FROM mailbox WHERE execution_id = ? AND step_key = ?", [ex.id, key]),
                self.step_insert(ex, key, position, "suspend", 1, "completed", None, _serde.dumps(payload), None,
                                 None, now, now),
            ])
            return payload
        expires_at = now + dt.timedelta(seconds=timeout) if timeout is not None else None
        wait = Wait(key=key, kind=kind, position=position, topic=topic, wake_at=wake_at, expires_at=expires_at)
        ops: list[Any] = []
        if kind == "event":
            validate_topic(topic)
            await self._topic_next(topic)  # make sure the counter is loaded
            self._topic_seq[topic] -= 1
            wait.after_topic_seq = self._topic_seq[topic]
        ex.waits[key] = wait
        ops.append(self._wait_insert(ex, wait, now))
        ops.append(self._status_op(ex, "waiting"))
        event = None
        if kind == "suspend":
            insert, event = self._lifecycle_event(ex, f"suspend_{key}", data or {})
            ops.append(insert)
        await self.commit(ops)
        if event is not None:
            self._emit(event)
        if kind == "event" and topic is not None:
            self._topic_waits.setdefault(topic, set()).add((ex.id, key))
        when = wake_at if kind == "sleep" else expires_at
        if when is not None:
            wait.timer = self.clock.call_at(when, lambda: self._timer_fired(ex.id, key), self.loop)
        return None

    def _wait_insert(self, ex: Exec, wait: Wait, now: dt.datetime) -> Insert:
        return Insert(
            "waits", _WAIT_COLUMNS,
            (ex.id, wait.key, wait.kind, wait.position, wait.topic, wait.after_topic_seq, wait.wake_at,
             wait.expires_at, _serde.dumps(wait.detail) if wait.detail is not None else None, now),
        )

    def _timer_fired(self, exec_id: str, key: str) -> None:
        ex = self.execs.get(exec_id)
        wait = ex.waits.get(key) if ex else None
        if ex is None or wait is None:
            return
        if wait.kind in ("sleep", "retry") and wait.wake_at is not None and self.clock.now() >= wait.wake_at:
            self.loop.create_task(self._resolve(ex, key, output="null"))
            return
        if wait.expires_at is not None and self.clock.now() >= wait.expires_at:
            what = {"suspend": f"Suspension {key!r}", "event": f"Event wait {key!r} on {wait.topic!r}"}.get(
                wait.kind, f"Wait {key!r}")
            error = {
                "type": "polos_nb.errors.WaitTimeoutError",
                "message": f"{what} of execution {exec_id} timed out at {wait.expires_at.isoformat()}.",
                "what": f"{what} of execution {exec_id}",
                "deadline": wait.expires_at.isoformat(),
            }
            if wait.topic:
                self._topic_waits.get(wait.topic, set()).discard((exec_id, key))
            self.loop.create_task(self._resolve(ex, key, error=_serde.dumps(error)))

    def _resolve_ops(
        self, ex: Exec, wait: Wait, ops: list[Any], *, output: str | None = None, error: str | None = None
    ) -> None:
        now = self.clock.now()
        if wait.kind != "retry":  # a run retry's back-off is not a step of the workflow
            kind = {"suspend": "suspend", "event": "event_wait", "sleep": "sleep", "child": "invoke_wait",
                    "batch": "batch_wait"}[wait.kind]
            ops.append(self.step_insert(ex, wait.key, wait.position, kind, 1, "failed" if error else "completed",
                                        None, output, error, None, now, now))
        ops.append(Sql("UPDATE waits SET resolved_at = ? WHERE execution_id = ? AND step_key = ?", [now, ex.id, wait.key]))
        ops.append(self._status_op(ex, "queued"))
        if wait.timer is not None:
            wait.timer.cancel()
        ex.waits.pop(wait.key, None)

    async def _resolve(
        self, ex: Exec, key: str, *, output: str | None = None, error: str | None = None,
        extra_ops: list[Any] | None = None, events: list[StreamEvent] | None = None,
    ) -> None:
        wait = ex.waits.get(key)
        if wait is None or ex.status in TERMINAL_STATUSES:
            return
        ops = list(extra_ops or [])
        self._resolve_ops(ex, wait, ops, output=output, error=error)
        await self.commit(ops)
        for event in events or ():
            self._emit(event)
        self.schedule(ex)

    # ================================================================== resume
    async def resume(
        self, workflow_id: str | None, execution_id: str, step_key: str, data: Any,
        extra_ops: list[Any] | None = None,
    ) -> None:
        """Deliver a resume payload to ``execution_id``'s suspension ``step_key`` (D8, D10)."""
        ex = await self._find_suspended(execution_id, step_key)
        data_json = _serde.dumps(data)
        insert, event = self._lifecycle_event(ex, f"resume_{step_key}", _as_event_data(data))
        payload = EventPayload(
            id=event.id, sequence_id=event.sequence_id or 0, topic=ex.topic, event_type=f"resume_{step_key}",
            data=data, created_at=event.created_at,
        )
        wait = ex.waits.get(step_key)
        if wait is not None:
            if wait.kind != "suspend":
                raise ResumeError(
                    f"Execution {ex.id} waits at {step_key!r} for {wait.kind!r}, not for a resume."
                )
            await self._resolve(ex, step_key, output=_serde.dumps(payload), extra_ops=[insert, *(extra_ops or [])],
                                events=[event])
            return
        # Early resume: the suspension has not been reached yet; keep it in the mailbox.
        if not ex.loaded:
            await self._load(ex)
        if step_key in ex.mailbox or step_key in ex.steps:
            raise ResumeError(f"Step {step_key!r} of execution {ex.id} was already resumed.")
        now = self.clock.now()
        ex.mailbox[step_key] = (data_json, event.sequence_id, now)
        await self.commit([
            Insert("mailbox", ("execution_id", "step_key", "data", "event_seq", "created_at"),
                   (ex.id, step_key, data_json, event.sequence_id, now)),
            insert, *(extra_ops or []),
        ])
        self._emit(event)

    async def _find_suspended(self, execution_id: str, step_key: str) -> Exec:
        ex = self.execs.get(execution_id)
        if ex is None:
            row = await self.read(
                lambda con: con.execute("SELECT status FROM executions WHERE id = ?", [execution_id]).fetchone()
            )
            if row is None:
                raise ExecutionNotFoundError(execution_id)
            raise ResumeError(f"Execution {execution_id} has already ended ({row[0]}); there is nothing to resume.")
        if ex.status in TERMINAL_STATUSES:
            raise ResumeError(f"Execution {execution_id} has already ended ({ex.status}); there is nothing to resume.")
        wait = ex.waits.get(step_key)
        if wait is not None:
            return ex
        # Upstream addresses a suspension by the root execution and the key: look in its tree.
        matches = [
            other for other in self.execs.values()
            if other.root_id == ex.id and other.id != ex.id and (w := other.waits.get(step_key)) is not None
            and w.kind == "suspend"
        ]
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            ids = ", ".join(m.id for m in matches)
            raise ResumeError(
                f"Several executions under {execution_id} wait at {step_key!r} ({ids}); pass the exact execution id."
            )
        return ex

    # ================================================================== starting executions
    def new_exec(
        self, wf_id: str, workflow_type: str, payload_json: str | None, *, parent: Exec | None = None,
        parent_step_key: str | None = None, batch_index: int | None = None, initial_state_json: str | None = None,
        queue_name: str | None = None, concurrency_key: str | None = None, session_id: str | None = None,
        user_id: str | None = None, run_timeout_seconds: float | None = None,
    ) -> tuple[Exec, Insert]:
        now = self.clock.now()
        exec_id = new_id()
        ex = Exec(
            id=exec_id, workflow_id=wf_id, workflow_type=workflow_type, status="queued",
            payload_json=payload_json, initial_state_json=initial_state_json, state_json=None,
            parent_id=parent.id if parent else None, root_id=parent.root_id if parent else exec_id,
            root_workflow_id=parent.root_workflow_id if parent else wf_id, parent_step_key=parent_step_key,
            batch_index=batch_index, queue_name=queue_name or wf_id, concurrency_key=concurrency_key,
            session_id=session_id if session_id is not None else (parent.session_id if parent else None),
            user_id=user_id if user_id is not None else (parent.user_id if parent else None),
            created_at=now, loaded=True,
        )
        if run_timeout_seconds is not None:
            if run_timeout_seconds <= 0:
                raise UserError(f"run_timeout_seconds must be positive (got {run_timeout_seconds}).")
            ex.deadline = now + dt.timedelta(seconds=run_timeout_seconds)
        if parent is None:
            self._topic_seq.setdefault(ex.topic, 0)
        insert = Insert(
            "executions", _EXEC_COLUMNS,
            (ex.id, wf_id, workflow_type, "queued", payload_json, initial_state_json, None, ex.parent_id, ex.root_id,
             ex.root_workflow_id, parent_step_key, batch_index, ex.queue_name, concurrency_key, ex.session_id,
             ex.user_id, run_timeout_seconds, ex.deadline, now, now, self.next_seq()),
        )
        return ex, insert

    def prepare(self, workflow: Any, payload: Any, initial_state: Any) -> tuple[registry.Workflow, str | None, str | None]:
        """Validate a start request; nothing is written if this raises."""
        wf_id = workflow.id if isinstance(workflow, registry.Workflow) else workflow
        if not isinstance(wf_id, str):
            raise UserError(f"Expected a workflow or a workflow id, got {workflow!r}.")
        wf = registry.get_workflow(wf_id)
        if wf is None and isinstance(workflow, registry.Workflow):
            registry.register(workflow)
            wf = workflow
        if wf is None:
            raise WorkflowNotFoundError(wf_id, list(registry.get_all_workflows()))
        value = wf.validate_payload(payload)
        payload_json = _serde.dumps(value) if wf._takes_payload else None
        state = wf.initial_state(initial_state)
        state_json = _serde.dumps(state) if state is not None else None
        return wf, payload_json, state_json

    async def start(
        self, workflow: Any, payload: Any = None, *, initial_state: Any = None, queue_name: str | None = None,
        concurrency_key: str | None = None, session_id: str | None = None, user_id: str | None = None,
        run_timeout_seconds: float | None = None, queue_concurrency_limit: int | None = None,
    ) -> ExecutionHandle:
        wf, payload_json, state_json = self.prepare(workflow, payload, initial_state)
        if queue_concurrency_limit is not None:  # without queue_name: the workflow's own queue
            Queue(queue_name or wf.queue.name, queue_concurrency_limit)  # validates the limit
            self.admission.set_limit(queue_name or wf.queue.name, queue_concurrency_limit, only_if_unset=True)
        ex, insert = self.new_exec(
            wf.id, wf.workflow_type, payload_json, initial_state_json=state_json,
            queue_name=queue_name or wf.queue.name, concurrency_key=concurrency_key, session_id=session_id,
            user_id=user_id,
            run_timeout_seconds=run_timeout_seconds if run_timeout_seconds is not None else wf.run_timeout_seconds,
        )
        if queue_concurrency_limit is not None:  # journaled so the limit holds across a restart
            insert = Insert(insert.table, (*insert.columns, "queue_concurrency_limit"),
                            (*insert.values, queue_concurrency_limit))
        await self.commit([insert])
        self.adopt(ex)
        return ex.handle()

    def adopt(self, ex: Exec) -> None:
        """Take a newly committed execution in hand: arm its deadline and start it."""
        self.execs[ex.id] = ex
        if ex.deadline is not None:
            self._arm_deadline(ex)
        self.schedule(ex)

    async def start_children(
        self, parent: Exec, key: str, position: int, kind: str, specs: list[BatchWorkflowInput], *,
        queue: str | None = None, concurrency_key: str | None = None,
    ) -> list[ExecutionHandle]:
        """Create child executions atomically with the parent's step record or wait."""
        existing = parent.children.get(key)
        if existing and kind in ("invoke_wait", "batch_wait"):
            # Children were created before a crash or a replay; wait for them again.
            if key not in parent.waits:
                wait = Wait(key=key, kind="child" if kind == "invoke_wait" else "batch", position=position,
                            detail=existing)
                parent.waits[key] = wait
                await self.commit([self._wait_insert(parent, wait, self.clock.now()), self._status_op(parent, "waiting")])
                await self._check_children_done(parent, wait)
            parent.status = "waiting"
            return []
        prepared = [self.prepare(spec.id, spec.payload, spec.initial_state) for spec in specs]
        ops: list[Any] = []
        children: list[Exec] = []
        batch = kind in ("batch_invoke", "batch_wait")
        for index, ((wf, payload_json, state_json), spec) in enumerate(zip(prepared, specs)):
            child, insert = self.new_exec(
                wf.id, wf.workflow_type, payload_json, parent=parent, parent_step_key=key,
                batch_index=index if batch else None, initial_state_json=state_json, queue_name=queue or wf.queue.name,
                concurrency_key=concurrency_key,
                run_timeout_seconds=spec.run_timeout_seconds if spec.run_timeout_seconds is not None
                else wf.run_timeout_seconds,
            )
            ops.append(insert)
            children.append(child)
        handles = [c.handle() for c in children]
        now = self.clock.now()
        if kind in ("invoke", "batch_invoke"):
            value: Any = handles[0] if kind == "invoke" else handles
            ops.append(self.step_insert(parent, key, position, kind, 1, "completed", None, _serde.dumps(value), None,
                                        None, now, now))
        else:
            wait = Wait(key=key, kind="child" if kind == "invoke_wait" else "batch", position=position,
                        detail=[c.id for c in children])
            parent.waits[key] = wait
            ops.append(self._wait_insert(parent, wait, now))
            ops.append(self._status_op(parent, "waiting"))
        await self.commit(ops)
        parent.children[key] = [c.id for c in children]
        for child in children:
            self.execs[child.id] = child
            if child.deadline is not None:
                self._arm_deadline(child)
            self.schedule(child)
        return [self.bind_handle(h) for h in handles]

    def bind_handle(self, handle: ExecutionHandle) -> ExecutionHandle:
        client = getattr(self, "default_client", None)
        if client is not None:
            handle._bind(client)
        return handle

    # ================================================================== cancel and deadlines
    async def cancel(self, execution_id: str) -> bool:
        """Cancel an execution and all its descendants (never its parent). False if already ended."""
        ex = self.execs.get(execution_id)
        if ex is None:
            row = await self.read(
                lambda con: con.execute("SELECT status FROM executions WHERE id = ?", [execution_id]).fetchone()
            )
            if row is None:
                raise ExecutionNotFoundError(execution_id)
            return False
        if ex.status in TERMINAL_STATUSES:
            return False
        tree = [ex]
        frontier = [ex.id]
        while frontier:
            parent_id = frontier.pop()
            for other in list(self.execs.values()):
                if other.parent_id == parent_id and other.status not in TERMINAL_STATUSES:
                    tree.append(other)
                    frontier.append(other.id)
        for node in tree:  # mark the whole tree first: a parent woken by a cancelled child ends cancelled too
            node.cancel_requested = True
            node.stop_reason = ("cancelled", self._cancel_error(node))
        for node in reversed(tree):  # children first, so parents see them ended
            await self._cancel_one(node)
        return True

    def _cancel_error(self, ex: Exec) -> str:
        return _serde.dumps(
            {"type": "polos_nb.errors.ExecutionCancelledError", "message": f"Execution {ex.id} was cancelled.",
             "execution_id": ex.id})

    async def _cancel_one(self, ex: Exec) -> None:
        await self._stop(ex, "cancelled", self._cancel_error(ex))

    async def _stop(self, ex: Exec, status: str, error: str) -> None:
        """End ``ex`` with ``status``: interrupt its task if it runs, else finish it directly."""
        ex.cancel_requested = True
        ex.stop_reason = (status, error)
        if ex.task is not None and not ex.task.done():
            ex.task.cancel()
            try:
                await asyncio.shield(ex.task)
            except BaseException:
                pass
        if ex.status not in TERMINAL_STATUSES:
            await self._finish(ex, status, error=error)

    def _arm_deadline(self, ex: Exec) -> None:
        assert ex.deadline is not None
        ex.deadline_timer = self.clock.call_at(ex.deadline, lambda: self.loop.create_task(self._deadline(ex.id)), self.loop)

    async def _deadline(self, exec_id: str) -> None:
        ex = self.execs.get(exec_id)
        if ex is None or ex.status in TERMINAL_STATUSES or ex.deadline is None:
            return
        error = WaitTimeoutError(f"Run of execution {ex.id} ({ex.workflow_id})", ex.deadline.isoformat())
        for child in [c for c in self.execs.values() if c.parent_id == ex.id and c.status not in TERMINAL_STATUSES]:
            await self.cancel(child.id)  # children first, then the run itself
        await self._stop(ex, "failed", _serde.dumps({
            "type": "polos_nb.errors.WaitTimeoutError", "message": str(error), "what": error.what,
            "deadline": error.deadline}))

    # ================================================================== reading
    def queue_status(self) -> list[QueueStatus]:
        """Running and queued executions per queue and concurrency key (queues with a limit)."""
        return self.admission.status()

    async def get_execution(self, execution_id: str) -> ExecutionInfo:
        row = await self.read(
            lambda con: con.execute(
                "SELECT id, workflow_id, workflow_type, status, payload, result, error, state, parent_execution_id,"
                " root_execution_id, root_workflow_id, parent_step_key, queue_name, concurrency_key, session_id,"
                " user_id, created_at, started_at, completed_at FROM executions WHERE id = ?", [execution_id]
            ).fetchone()
        )
        if row is None:
            raise ExecutionNotFoundError(execution_id)
        return _info_from_row(row)

    async def list_executions(
        self, *, workflow_id: str | None = None, status: str | None = None, limit: int = 100,
        root_only: bool = False,
    ) -> list[ExecutionInfo]:
        where, params = [], []
        if workflow_id is not None:
            where.append("workflow_id = ?")
            params.append(workflow_id)
        if status is not None:
            where.append("status = ?")
            params.append(status)
        if root_only:
            where.append("parent_execution_id IS NULL")
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        params.append(limit)
        rows = await self.read(
            lambda con: con.execute(
                "SELECT id, workflow_id, workflow_type, status, payload, result, error, state, parent_execution_id,"
                " root_execution_id, root_workflow_id, parent_step_key, queue_name, concurrency_key, session_id,"
                f" user_id, created_at, started_at, completed_at FROM executions {clause}"
                " ORDER BY created_at DESC LIMIT ?", params
            ).fetchall()
        )
        return [_info_from_row(r) for r in rows]

    async def wait_terminal(self, execution_id: str) -> ExecutionInfo:
        ex = self.execs.get(execution_id)
        if ex is not None and ex.status not in TERMINAL_STATUSES:
            if ex.done is None:
                ex.done = self.loop.create_future()
            await asyncio.shield(ex.done)
        return await self.get_execution(execution_id)

    async def history(self, root_execution_id: str, topic: str, after_seq: int = 0) -> list[tuple[int, StreamEvent]]:
        """Persisted events of an execution tree (its topic events and step records), in journal order."""
        def load(con: Any) -> Any:
            events = con.execute(
                "SELECT seq, topic_seq, event_type, data, created_at FROM events WHERE topic = ? AND seq > ?",
                [topic, after_seq],
            ).fetchall()
            steps = con.execute(
                "SELECT s.seq, s.execution_id, e.workflow_id, s.step_key, s.kind, s.attempt, s.status, s.output,"
                " s.error, s.started_at, s.ended_at FROM steps s JOIN executions e ON e.id = s.execution_id"
                " WHERE s.root_execution_id = ? AND s.seq > ? AND s.status <> 'retrying'",
                [root_execution_id, after_seq],
            ).fetchall()
            return events, steps

        events, steps = await self.read(load)
        out: list[tuple[int, StreamEvent]] = []
        for seq, topic_seq, event_type, data, created in events:
            out.append((seq, StreamEvent(id=str(seq), sequence_id=topic_seq, topic=topic, event_type=event_type,
                                         data=_serde.loads(data, strict=False), created_at=_aware(created))))
        for seq, exec_id, wf_id, key, kind, attempt, status, output, error, started, ended in steps:
            out.append((seq, _step_event(exec_id, wf_id, topic, key, kind, attempt, status, output, error, seq,
                                         _aware(started), _aware(ended))))
        out.sort(key=lambda pair: pair[0])
        return out


class _WeakListener:
    def __init__(self, runtime: Runtime) -> None:
        self._ref = weakref.ref(runtime)

    def __call__(self, wf: registry.Workflow) -> None:
        runtime = self._ref()
        if runtime is not None and not runtime.closed:
            runtime.loop.call_soon_threadsafe(runtime.on_registered, wf)


def _step_event(
    exec_id: str, wf_id: str, topic: str, key: str, kind: str, attempt: int, status: str, output: str | None,
    error: str | None, seq: int, started: dt.datetime | None, ended: dt.datetime,
) -> StreamEvent:
    data: dict[str, Any] = {
        "step_key": key, "step_type": kind, "attempt": attempt, "status": status,
        "started_at": started.isoformat() if started else None,
        "_metadata": {"execution_id": exec_id, "workflow_id": wf_id},
    }
    if output is not None:
        data["result"] = _serde.loads(output, strict=False)
    if error is not None:
        data["error"] = _serde.loads(error, strict=False)
    event = StreamEvent(id=f"step:{seq}", sequence_id=None, topic=topic, event_type="step_finish", data=data,
                        created_at=ended)
    event._journal_seq = seq  # type: ignore[attr-defined]
    return event


def _as_event_data(data: Any) -> dict[str, Any]:
    if isinstance(data, dict):
        return dict(data)
    return {"value": data}


def _payload_of(event: StreamEvent) -> EventPayload:
    return EventPayload(id=event.id, sequence_id=event.sequence_id or 0, topic=event.topic,
                        event_type=event.event_type, data=event.data, created_at=event.created_at)


def _aware(value: Any) -> Any:
    if isinstance(value, dt.datetime) and value.tzinfo is None:
        return value.replace(tzinfo=dt.timezone.utc)
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.timezone.utc)
    return value


def _exec_from_row(row: Any) -> Exec:
    (id_, wf_id, wf_type, status, payload, initial_state, state, parent, root, root_wf, parent_key, batch_index,
     queue_name, concurrency_key, session_id, user_id, created, started, deadline, run_attempt) = row
    return Exec(
        id=id_, workflow_id=wf_id, workflow_type=wf_type, status=status, payload_json=payload,
        initial_state_json=initial_state, state_json=state, parent_id=parent, root_id=root, root_workflow_id=root_wf,
        parent_step_key=parent_key, batch_index=batch_index, queue_name=queue_name, concurrency_key=concurrency_key,
        session_id=session_id, user_id=user_id, created_at=_aware(created), started_at=_aware(started),
        deadline=_aware(deadline), run_attempt=run_attempt or 1,
    )


def _info_from_row(row: Any) -> ExecutionInfo:
    (id_, wf_id, wf_type, status, payload, result, error, state, parent, root, root_wf, parent_key, queue_name,
     concurrency_key, session_id, user_id, created, started, completed) = row
    return ExecutionInfo(
        id=id_, workflow_id=wf_id, workflow_type=wf_type, status=status,
        payload=_lenient(payload), result=_lenient(result),
        error=_serde.loads(error, strict=False), state=_serde.loads(state, strict=False), parent_execution_id=parent,
        root_execution_id=root, root_workflow_id=root_wf, step_key=parent_key, queue_name=queue_name,
        concurrency_key=concurrency_key, session_id=session_id, user_id=user_id, created_at=_aware(created),
        started_at=_aware(started), completed_at=_aware(completed),
    )


def _lenient(text: str | None) -> Any:
    """Decode strictly when the classes are defined here (models come back as models), else leniently."""
    try:
        return _serde.loads(text)
    except Exception:
        return _serde.loads(text, strict=False)


def _run_retryable(policy: RetryPolicy | None, exc: Exception, run_attempt: int) -> bool:
    """Whether a failed run gets another attempt under its workflow's retry policy."""
    if policy is None or run_attempt > policy.max_retries:
        return False
    if isinstance(exc, (NonDeterminismError, UserError)):
        return False
    cause = exc.__cause__ if isinstance(exc, StepExecutionError) and exc.__cause__ is not None else exc
    return policy.retries(cause)


def _log_failure(future: concurrent.futures.Future[Any]) -> None:
    if not future.cancelled() and future.exception() is not None:
        log.error("polos_nb journal write failed: %s", future.exception())


def raise_for_terminal(info: ExecutionInfo) -> Any:
    """Return the result of a terminal execution or raise its error."""
    if info.status == "completed":
        return info.result
    if info.status == "cancelled":
        raise ExecutionCancelledError(info.id)
    error = info.error or {}
    if isinstance(error, dict) and str(error.get("type", "")).endswith("WaitTimeoutError"):
        raise WaitTimeoutError(error.get("what", f"Execution {info.id}"), error.get("deadline", "?"))
    raise ExecutionFailedError(info.id, str(error.get("type", "Error")) if isinstance(error, dict) else "Error",
                               str(error.get("message", "")) if isinstance(error, dict) else str(error))


__all__ += ["raise_for_terminal", "WorkflowTimeoutError"]

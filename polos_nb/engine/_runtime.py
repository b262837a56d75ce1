"""The runtime: one engine thread with its own event loop, driving executions.

A process has one runtime per journal file. Everything that changes an execution's
state is decided on the engine loop (so there are no races between deciders) and
written through the journal's single writer thread. Cells and scripts talk to the
runtime from their own threads through ``PolosClient``; nothing here blocks them.

Lifecycle of an execution: ``queued`` → ``running`` → (``waiting`` → ``queued`` →
``running``)* → ``completed`` | ``failed`` | ``cancelled``. Waiting executions hold no
task: the workflow function unwinds with ``Park`` and re-runs from the top when the wait
is resolved (a resume, an event, a timer, or a child finishing).

The runtime is composed of parts held as attributes (``live``, ``waits``, ``children``,
``reads``, ``starts``, ``endings``, ``blocking``, ``triggers``, ``scheduler``, ``inbox``,
``workers``); each receives the runtime as its host and uses
only what its protocol in ``_host.py`` declares (docs/architecture.md, "engine/").
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime as dt
import json
import logging
import sys
import threading
import weakref
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from polos_nb import _serde, _tracing
from polos_nb._clock import Clock
from polos_nb.errors import (
    ExecutionCancelledError,
    JournalError,
    UserError,
)

from . import _workflow as registry
from ._admission import Admission, QueueStatus
from ._blocking import Blocking, block_reason
from ._children import Children
from ._context import CURRENT, WorkflowContext, _error_json
from ._delivery import Delivery
from ._endings import Endings
from ._extensions import attach_extensions
from ._inbox import Inbox
from ._lifecycle_events import event_row, lifecycle_event, lifecycle_row
from ._live import Live
from ._policy import RetryPolicy
from ._reads import Reads
from ._records import (
    Exec,
    StepRecord,
    _log_failure,
    _run_retryable,
    exec_from_row,
    load_run_journal,
    payload_of,
    wait_from_row,
)
from ._scheduler import Scheduler
from ._signals import Park
from ._starts import Starts
from ._topics import validate_topic
from ._triggers import Triggers
from ._types import (
    TERMINAL_STATUSES,
    BatchWorkflowInput,
    EventPayload,
    ExecutionHandle,
    ExecutionInfo,
    MakeEvent,
    StreamEvent,
)
from ._waits import Waits
from ._workers import Workers
from .journal import Insert, Journal, TopicSeqConflict, Update, open_journal

__all__ = ["Runtime"]

T = TypeVar("T")

log = logging.getLogger("polos_nb.engine")

_STEP_COLUMNS = (
    "seq",
    "execution_id",
    "root_execution_id",
    "position",
    "step_key",
    "kind",
    "attempt",
    "status",
    "input_hash",
    "output",
    "error",
    "state",
    "started_at",
    "ended_at",
    "run_attempt",
)


class Runtime:
    """Owns one journal and the engine thread. Get it through ``PolosClient``."""

    def __init__(self, path: str, clock: Clock, *, channels: list[Any] | None = None) -> None:
        self.path = path
        self.clock = clock
        self.journal: Journal = open_journal(path)
        self.loop: asyncio.AbstractEventLoop = _EngineLoop()
        self._thread = threading.Thread(target=self._run_loop, name="polos-engine", daemon=True)
        self._thread.start()
        self.delivery = Delivery(
            self.loop,
            # A journal that takes turns with the engine (DuckDB: engine/_delivery.py).
            on_ring=getattr(self.journal, "expect_engine", None),
            on_turn=getattr(self.journal, "engine_done", None),
        )
        """Awaits journal futures on the engine loop, one wake-up per group commit."""
        self.execs: dict[str, Exec] = {}
        self._seq = 0
        self._seq_end: int | None = None
        """The last number of this worker's block (several workers: ``renew_seq``)."""
        self._topic_seq: dict[str, int] = {}
        self._topic_waits: dict[str, set[tuple[str, str]]] = {}
        self._unregistered: dict[str, set[str]] = {}
        self._subscribers: dict[str, list[Callable[[StreamEvent], None]]] = {}
        self._all_subscribers: list[Callable[[StreamEvent], None]] = []
        self._light_subscribers: list[Callable[[StreamEvent], None]] = []
        """Those of ``_all_subscribers`` that never read a run's payload or result."""
        self.channels: list[Any] = list(channels or [])
        """Notification channels of the clients on this journal (``PolosClient(channels=...)``).
        The engine never calls them: ``polos_nb.channels`` does, as a runtime extension."""
        self._batches_done: set[tuple[str, str]] = set()
        # The runtime's parts, each given the runtime as its host (engine/_host.py says
        # what each one uses of it).
        self.live = Live(self)
        self.waits = Waits(self)
        self.children = Children(self)
        self.reads = Reads(self)
        self.blocking = Blocking(self)
        self.starts = Starts(self)
        self.endings = Endings(self)
        # One keyed start at a time (Starts.start): the lookup of an idempotency key and the
        # commit of the execution it names must not interleave.
        self._start_key_lock = asyncio.Lock()
        self.closed = False
        self.clients = 0
        self.default_client: Any = None
        """The first ``PolosClient`` opened on this runtime: handles made inside workflows
        (``ctx.step.invoke``) are bound to it, so ``await handle`` works."""
        self.admission = Admission()
        self.triggers = Triggers(self)
        self.scheduler = Scheduler(self)
        for wf in registry.get_all_workflows().values():
            self.admission.set_limit(wf.queue.name, wf.queue.concurrency_limit)
        self._extensions: list[Any] = []
        self.inbox = Inbox(self)
        """Resumes and events other processes leave for this journal (engine/_inbox.py)."""
        self.workers = Workers(self)
        """This runtime as one of several workers of a shared journal (engine/_workers.py)."""
        try:
            self._extensions = attach_extensions(self)
            if self.workers.shared:  # claims its share of the runs instead of all of them
                self.call(self.workers.start())
            else:
                self.call(self._recover())
                self.call(self._register_flows(list(registry.get_all_workflows().values())))
            # Resumes and events sent by other processes (engine/_inbox.py).
            self.call(self.inbox.start())
        except BaseException:
            self._stop_loop()
            self.journal.close()
            raise
        listener = _WeakListener(self)
        self._listener = listener
        registry.add_listener(listener)

    # ================================================================== the parts' entry points
    # What other modules call on the runtime, answered by its parts (one line each).
    async def wait(
        self,
        ex: Exec,
        key: str,
        position: int,
        kind: str,
        *,
        topic: str | None = None,
        data: dict[str, Any] | None = None,
        timeout: float | None = None,
        wake_at: dt.datetime | None = None,
    ) -> EventPayload | None:
        """See :meth:`Waits.wait <polos_nb.engine._waits.Waits.wait>`."""
        return await self.waits.wait(
            ex, key, position, kind, topic=topic, data=data, timeout=timeout, wake_at=wake_at
        )

    async def resume(
        self,
        workflow_id: str | None,
        execution_id: str,
        step_key: str,
        data: Any,
        extra_ops: list[Any] | None = None,
    ) -> None:
        """See :meth:`Waits.resume <polos_nb.engine._waits.Waits.resume>`.

        Several workers: a run another worker drives is resumed by that worker, through
        the journal (:meth:`Workers.forward_resume <polos_nb.engine._workers.Workers.forward_resume>`).
        """
        if (
            self.workers.shared
            and execution_id not in self.execs
            and await self.workers.forward_resume(workflow_id, execution_id, step_key, data)
        ):
            return
        await self.waits.resume(workflow_id, execution_id, step_key, data, extra_ops)

    async def start_children(
        self,
        parent: Exec,
        key: str,
        position: int,
        kind: str,
        specs: list[BatchWorkflowInput],
        *,
        queue: str | None = None,
        concurrency_key: str | None = None,
    ) -> list[ExecutionHandle]:
        """See :meth:`Children.start_children <polos_nb.engine._children.Children.start_children>`."""
        return await self.children.start_children(
            parent, key, position, kind, specs, queue=queue, concurrency_key=concurrency_key
        )

    def bind_handle(self, handle: ExecutionHandle) -> ExecutionHandle:
        """See :meth:`Children.bind_handle <polos_nb.engine._children.Children.bind_handle>`."""
        return self.children.bind_handle(handle)

    async def cancel(self, execution_id: str) -> bool:
        """See :meth:`Children.cancel <polos_nb.engine._children.Children.cancel>`.

        Several workers: a run another worker drives is cancelled by that worker.
        """
        if self.workers.shared and execution_id not in self.execs:
            sent, done = await self.workers.forward_cancel(execution_id)
            if sent:
                return bool(done)
        return await self.children.cancel(execution_id)

    async def publish(self, topic: str, event_type: str | None, data: Any) -> StreamEvent:
        """See :meth:`Reads.publish <polos_nb.engine._reads.Reads.publish>`."""
        return await self.reads.publish(topic, event_type, data)

    async def read_topic(
        self, topic: str, after_sequence_id: int = 0, limit: int | None = None
    ) -> list[StreamEvent]:
        """See :meth:`Reads.read_topic <polos_nb.engine._reads.Reads.read_topic>`."""
        return await self.reads.read_topic(topic, after_sequence_id, limit)

    def queue_status(self) -> list[QueueStatus]:
        """See :meth:`Reads.queue_status <polos_nb.engine._reads.Reads.queue_status>`."""
        return self.reads.queue_status()

    async def get_execution(self, execution_id: str) -> ExecutionInfo:
        """See :meth:`Reads.get_execution <polos_nb.engine._reads.Reads.get_execution>`."""
        return await self.reads.get_execution(execution_id)

    async def channel_context(self, execution_id: str) -> dict[str, Any] | None:
        """See :meth:`Reads.channel_context <polos_nb.engine._reads.Reads.channel_context>`."""
        return await self.reads.channel_context(execution_id)

    async def channel_runs(self, *, active_only: bool = True) -> list[dict[str, Any]]:
        """See :meth:`Reads.channel_runs <polos_nb.engine._reads.Reads.channel_runs>`."""
        return await self.reads.channel_runs(active_only=active_only)

    async def list_executions(
        self,
        *,
        workflow_id: str | None = None,
        status: str | None = None,
        limit: int = 100,
        root_only: bool = False,
    ) -> list[ExecutionInfo]:
        """See :meth:`Reads.list_executions <polos_nb.engine._reads.Reads.list_executions>`."""
        return await self.reads.list_executions(
            workflow_id=workflow_id, status=status, limit=limit, root_only=root_only
        )

    async def wait_terminal(self, execution_id: str) -> ExecutionInfo:
        """See :meth:`Reads.wait_terminal <polos_nb.engine._reads.Reads.wait_terminal>`."""
        return await self.reads.wait_terminal(execution_id)

    async def history(
        self, root_execution_id: str, topic: str, after_seq: int = 0
    ) -> list[tuple[int, StreamEvent]]:
        """See :meth:`Reads.history <polos_nb.engine._reads.Reads.history>`."""
        return await self.reads.history(root_execution_id, topic, after_seq)

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

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Schedule ``coro`` on the engine loop from any thread."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def on_engine_thread(self) -> bool:
        """Whether the caller runs on the engine's own thread (inside a workflow or a step)."""
        return threading.current_thread() is self._thread

    def call(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run ``coro`` on the engine loop and block for its result.

        The one guard against blocking the engine from its own thread: called there (from a
        workflow, a step or an engine callback) it raises :class:`UserError` instead of
        deadlocking, and ``coro`` never runs.
        """
        try:
            self.refuse_engine_thread()
        except UserError:
            coro.close()
            raise
        return self.submit(coro).result(timeout)

    def refuse_engine_thread(self) -> None:
        """Raise :class:`UserError` when called on the engine's own thread (a blocking call
        there would wait for itself for ever); :meth:`call` and the client's blocking run
        reads check it."""
        if self.on_engine_thread():
            raise UserError(
                "A blocking polos_nb call was made from inside a workflow (the engine's own "
                "thread), where it would wait for itself for ever; use the async form with await."
            )

    def close(self) -> None:
        """Stop driving executions and release the journal. Running ones resume on next open."""
        if self.closed:
            return
        self.closed = True
        registry.remove_listener(self._listener)

        async def shutdown() -> None:
            await self.workers.aclose()
            await self.inbox.aclose()
            for extension in self._extensions:
                aclose = getattr(extension, "aclose", None)
                if aclose is not None:
                    try:
                        await aclose()
                    except Exception:
                        log.exception("runtime extension failed to close")
            tasks = [
                ex.task for ex in self.execs.values() if ex.task is not None and not ex.task.done()
            ]
            watch = self.blocking._watch_task
            if watch is not None and not watch.done():
                tasks.append(watch)
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
        if self._seq_end is not None and self._seq > self._seq_end:
            self.renew_seq()
            self._seq += 1
        return self._seq

    def renew_seq(self) -> None:
        """Several workers: go on numbering from a fresh block of the journal's sequence
        (above every number any worker has used so far)."""
        seat = getattr(self.journal, "seat", None)
        if seat is not None:
            first, last = seat.seq_block()
            self._seq, self._seq_end = first - 1, last

    async def commit(self, ops: list[Any]) -> None:
        """Write ``ops`` in one transaction and wait for the commit.

        A failed write raises a :class:`JournalError` marked as a write failure; inside a
        workflow it is also remembered as the run's fatal error, so ``except Exception`` in
        user code cannot hide that the journal did not take a step's record.
        """
        try:
            await self.delivery.wait(self.journal.submit(ops))
        except JournalError as exc:
            exc.polos_on_write = True  # type: ignore[attr-defined]
            self._mark_fatal(exc)
            raise

    def _mark_fatal(self, exc: BaseException) -> None:
        ctx = CURRENT.get()
        if ctx is not None and ctx._runtime is self and ctx._fatal is None:
            ctx._fatal = exc

    async def commit_publish(self, topic: str, event: StreamEvent, ops: list[Any]) -> None:
        """Commit a publish; if it fails, its topic sequence number is given back (when unused).

        Several workers: when another worker's event took the number meanwhile, the event is
        numbered again and the commit retried.
        """
        for _ in range(20):
            try:
                await self.commit(ops)
                return
            except TopicSeqConflict:
                seq = await self._topic_next(topic)
                for op in ops:
                    if isinstance(op, Insert) and op.table == "events" and op.values[1] == topic:
                        op.values = (*op.values[:2], seq, *op.values[3:])
                event.sequence_id = seq
            except BaseException:
                if self._topic_seq.get(topic) == event.sequence_id:
                    self._topic_seq[topic] -= 1
                raise
        raise JournalError(f"Could not number an event on {topic!r}: other workers kept taking it.")

    def commit_nowait(self, ops: list[Any]) -> None:
        future = self.journal.submit(ops)
        future.add_done_callback(_log_failure)

    async def read(self, future: concurrent.futures.Future[T]) -> T:
        """Await one of the journal's reads (``await rt.read(rt.journal.steps(id))``).

        A failed read raises the journal's error; inside a workflow it is also remembered
        as the run's fatal error (see :meth:`commit`).
        """
        try:
            return await self.delivery.wait(future)
        except JournalError as exc:
            self._mark_fatal(exc)
            raise

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
    ) -> Insert:
        """Build the journal row for one step attempt, and remember it in memory."""
        seq = self.next_seq()
        ex.running.pop(key, None)
        ex.catch_up.pop(key, None)  # the journal has the step's outcome now
        if status != "retrying":
            ex.steps[key] = StepRecord(key, position, kind, attempt, status, output, error, state)
            if position is not None:
                ex.positions[position] = key
        if status in ("completed", "failed"):
            self.live.emit_step_finish(
                ex, key, kind, attempt, status, output, error, seq, started, ended
            )
        return Insert(
            "steps",
            _STEP_COLUMNS,
            (
                seq,
                ex.id,
                ex.root_id,
                position,
                key,
                kind,
                attempt,
                status,
                input_hash,
                output,
                error,
                state,
                started,
                ended,
                ex.run_attempt,
            ),
        )

    def _status_op(self, ex: Exec, status: str, **extra: Any) -> Update:
        ex.status = status
        columns = ("status", "updated_at", "seq", *extra)
        values = (status, self.clock.now(), self.next_seq(), *extra.values())
        return Update("executions", "id", ex.id, columns, values)

    async def _topic_next(self, topic: str) -> int:
        if topic not in self._topic_seq or (
            self.workers.shared and not topic.startswith("workflow/")
        ):  # other workers publish on the same topics: ask the journal each time
            top = await self.read(self.journal.max_topic_seq(topic))
            self._topic_seq[topic] = max(self._topic_seq.get(topic, 0), top)
        self._topic_seq[topic] += 1
        return self._topic_seq[topic]

    async def event_insert(
        self, topic: str, event_type: str | None, data_json: str, execution_id: str | None
    ) -> tuple[Insert, StreamEvent]:
        """Build an event row (with its per-topic sequence); publish it with :meth:`after_publish`."""
        validate_topic(topic)
        return event_row(
            self, topic, await self._topic_next(topic), event_type, data_json, execution_id
        )

    def _lifecycle_event(
        self,
        ex: Exec,
        event_type: str,
        data: dict[str, Any],
        *,
        encoded: dict[str, str | None] | None = None,
    ) -> tuple[Insert, StreamEvent]:
        """See :func:`lifecycle_event <polos_nb.engine._lifecycle_events.lifecycle_event>`."""
        return lifecycle_event(self, ex, event_type, data, encoded=encoded)

    def _lifecycle_row(
        self,
        ex: Exec,
        event_type: str,
        data: dict[str, Any],
        *,
        encoded: dict[str, str | None] | None = None,
    ) -> tuple[Insert, MakeEvent]:
        """See :func:`lifecycle_row <polos_nb.engine._lifecycle_events.lifecycle_row>`."""
        return lifecycle_row(self, ex, event_type, data, encoded=encoded)

    # ================================================================== live event bus
    def subscribe(self, topic: str, callback: Callable[[StreamEvent], None]) -> Callable[[], None]:
        """See :meth:`Live.subscribe <polos_nb.engine._live.Live.subscribe>`."""
        return self.live.subscribe(topic, callback)

    def subscribe_all(
        self, callback: Callable[[StreamEvent], None], *, payloads: bool = True
    ) -> Callable[[], None]:
        """See :meth:`Live.subscribe_all <polos_nb.engine._live.Live.subscribe_all>`."""
        return self.live.subscribe_all(callback, payloads=payloads)

    def after_publish(self, topic: str, event: StreamEvent) -> None:
        """Deliver a committed event to live subscribers and to executions waiting on its topic."""
        self.live.emit(event)
        self.triggers.on_event(topic, event)
        self.deliver_to_waits(topic, event)

    def deliver_to_waits(self, topic: str, event: StreamEvent) -> None:
        """Resolve the waits of runs here that ``event`` (committed on ``topic``) satisfies."""
        for exec_id, key in list(self._topic_waits.get(topic, ())):
            ex = self.execs.get(exec_id)
            wait = ex.waits.get(key) if ex else None
            if ex is None or wait is None:
                continue
            if (wait.after_topic_seq or 0) < (event.sequence_id or 0):
                self._topic_waits[topic].discard((exec_id, key))
                self.loop.create_task(
                    self.waits.resolve_quietly(ex, key, output=_serde.dumps(payload_of(event)))
                )

    # ================================================================== recovery
    async def _recover(self) -> None:
        found = await self.read(self.journal.recovery())
        self._seq = found.max_seq
        # Lifecycle events continue their tree topic's sequence (no duplicate topic_seq after a restart).
        self._topic_seq.update(found.topic_seqs)
        for queue_name, limit in found.queue_limits:  # invoke-time limits (a workflow's own wins)
            self.admission.set_limit(queue_name, limit, only_if_unset=True)
        for row in found.executions:
            ex = exec_from_row(row)
            self.execs[ex.id] = ex
        for wait_row in found.waits:
            owner = self.execs.get(wait_row.execution_id)
            if owner is None:
                continue
            wait = wait_from_row(wait_row)
            owner.waits[wait.key] = wait
        for ex in list(self.execs.values()):
            if ex.deadline is not None:
                self.children.arm_deadline(ex)
            if ex.status == "waiting":
                for wait in list(ex.waits.values()):
                    await self.waits.rearm(ex, wait)
            else:
                self.schedule(ex)

    def on_registered(self, wf: registry.Workflow) -> None:
        """A workflow was (re)defined: start executions that were waiting for its code."""
        self.admission.set_limit(wf.queue.name, wf.queue.concurrency_limit)
        self.loop.create_task(self._register_flow(wf))
        self.workers.wake()  # runs of it other workers left may be claimed now
        self.blocking.unblock_for(wf.id)  # runs parked by a code mismatch try again
        pending = self._unregistered.pop(wf.id, set())
        for exec_id in pending:
            ex = self.execs.get(exec_id)
            if ex is not None and ex.status in ("queued", "running"):
                self.schedule(ex)

    async def _register_flow(self, wf: registry.Workflow) -> None:
        """Set up ``wf``'s event trigger and schedules in this journal (the leader only,
        when several workers share it)."""
        await self._register_flows([wf])

    async def _register_flows(self, wfs: list[registry.Workflow]) -> None:
        """``_register_flow`` for each of ``wfs``, reading the journal's schedules once."""
        if not self.workers.leads or not wfs:
            return
        for wf in wfs:
            try:
                await self.triggers.register(wf)
            except Exception:
                log.exception("could not register the trigger of workflow %r", wf.id)
        try:
            await self.scheduler.register_all(wfs)
        except Exception:
            log.exception(
                "could not register the schedules of workflows %s", ", ".join(w.id for w in wfs)
            )

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
        wf = registry.get_workflow(ex.workflow_id)
        if wf is None:
            self._unregistered.setdefault(ex.workflow_id, set()).add(ex.id)
            return False
        if ex.queue_name is None:  # started by id in a process that does not define it
            ex.queue_name = wf.queue.name
        if not self.admission.try_acquire(ex.id, ex.queue_name, ex.concurrency_key):
            return False
        ex.task = self.loop.create_task(self._drive(ex), name=f"polos:{ex.workflow_id}:{ex.id}")
        return True

    def _schedule_id(self, exec_id: str) -> bool:
        ex = self.execs.get(exec_id)
        return ex is not None and self.schedule(ex)

    async def _load(self, ex: Exec) -> None:
        load_run_journal(ex, await self.read(self.journal.run_journal(ex.id)))

    async def _drive(self, ex: Exec) -> None:
        slot = False  # several workers: a slot of a limited queue, counted across workers
        try:
            if self.workers.shared:
                if not await self.workers.take_slot(ex):
                    return  # tried again when another worker gives a slot back
                slot = True
            while True:
                ex.rerun = False
                with _tracing.span(
                    f"run {ex.workflow_id}",
                    {
                        "polos.execution_id": ex.id,
                        "polos.workflow_id": ex.workflow_id,
                        "polos.workflow_type": ex.workflow_type,
                        "polos.root_execution_id": ex.root_id,
                        "polos.parent_execution_id": ex.parent_id,
                        "polos.run_attempt": ex.run_attempt,
                        "polos.session_id": ex.session_id,
                        "polos.user_id": ex.user_id,
                    },
                    parent=ex.trace_carrier,
                    root=True,
                ) as span:
                    if ex.trace_carrier is None:  # later segments (after a wait) join this trace
                        ex.trace_carrier = span.carrier()
                        if ex.trace_carrier is not None and ex.status == "running":
                            # Its start is journaled already (at once, with its row, or
                            # before a restart): the trace goes in on its own.
                            self.commit_nowait(
                                [
                                    Update(
                                        "executions",
                                        "id",
                                        ex.id,
                                        ("trace_context",),
                                        (json.dumps(ex.trace_carrier),),
                                    )
                                ]
                            )
                    await self._drive_once(ex)
                    span.set("polos.status", ex.status)
                    if ex.status == "failed":
                        span.error(f"run {ex.id} failed")
                if not (ex.rerun and ex.status not in TERMINAL_STATUSES):
                    return
        finally:
            # Waiting or ended: the slot goes to the next execution queued for it.
            if slot:
                self.workers.give_slot(ex)
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
                    # The trace this run's spans join (its first span's, for a new trace).
                    trace_context = json.dumps(ex.trace_carrier) if ex.trace_carrier else None
                    ops.append(
                        self._status_op(
                            ex, "running", started_at=ex.started_at, trace_context=trace_context
                        )
                    )
                    insert, make_event = self._lifecycle_row(
                        ex, f"{ex.workflow_type}_start", {}, encoded={"payload": ex.payload_json}
                    )
                    ops.append(insert)
                    self.loop.call_soon(self.live.emit_lazy, ex.topic, make_event)
                else:
                    ops.append(self._status_op(ex, "running"))
                self.commit_nowait(ops)
            ctx = WorkflowContext(self, ex, wf)
            payload = _serde.loads(ex.payload_json) if ex.payload_json is not None else None
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if block_reason(exc) is not None:  # a missing class, an unreadable journal
                await self.blocking.block(ex, exc)
                return
            await self._finish(ex, "failed", error=_error_json(exc))
            return
        CURRENT.set(ctx)  # this task's own context: visible to the workflow body and its steps
        try:
            result = await wf.call(ctx, payload)
            if ctx._fatal is not None:
                raise ctx._fatal
            result_json = _serde.dumps(result, what=f"The result of run {ex.id}")
        except Park:
            if ctx._fatal is not None:
                if block_reason(ctx._fatal) is not None:
                    await self.blocking.block(ex, ctx._fatal, ctx)
                    return
                await self._finish(ex, "failed", error=_error_json(ctx._fatal), ctx=ctx)
            return
        except (asyncio.CancelledError, ExecutionCancelledError):
            if ex.stop_reason is not None:
                status, error = ex.stop_reason
                await self._finish(ex, status, error=error, ctx=ctx)
                return
            if isinstance(sys.exc_info()[1], asyncio.CancelledError):
                raise  # the engine is shutting down; the run resumes on the next open
            await self._finish(
                ex, "failed", error=_error_json(ExecutionCancelledError(ex.id)), ctx=ctx
            )
            return
        except BaseException as exc:
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                raise
            cause = ctx._fatal if ctx._fatal is not None else exc
            if block_reason(cause) is not None:  # fix the code, the class or the journal
                await self.blocking.block(ex, cause, ctx)
                return
            if (
                ctx._fatal is None
                and isinstance(exc, Exception)
                and _run_retryable(wf.retry, exc, ex.run_attempt)
            ):
                await self._retry_run(ex, exc, wf.retry, ctx)  # type: ignore[arg-type]
                return
            await self._finish(ex, "failed", error=_error_json(exc), ctx=ctx)
            return
        await self._finish(ex, "completed", result=result_json, ctx=ctx)

    async def _retry_run(
        self, ex: Exec, exc: Exception, policy: RetryPolicy, ctx: WorkflowContext
    ) -> None:
        """See :meth:`Endings.retry_run <polos_nb.engine._endings.Endings.retry_run>`."""
        await self.endings.retry_run(ex, exc, policy, ctx)

    async def _finish(
        self,
        ex: Exec,
        status: str,
        *,
        result: str | None = None,
        error: str | None = None,
        ctx: WorkflowContext | None = None,
    ) -> None:
        """See :meth:`Endings.finish <polos_nb.engine._endings.Endings.finish>`."""
        await self.endings.finish(ex, status, result=result, error=error, ctx=ctx)

    def _forget(self, ex: Exec) -> None:
        if ex.task is not None and ex.task is not asyncio.current_task() and not ex.task.done():
            return
        self.execs.pop(ex.id, None)

    def adopt(self, ex: Exec) -> None:
        """Take a newly committed execution in hand: arm its deadline and start it.

        Several workers: a run whose workflow is not defined here is left to the workers
        that define it (it was journaled without an owner; they claim it).
        """
        if not self.workers.keeps(ex):
            return
        self.execs[ex.id] = ex
        if ex.deadline is not None:
            self.children.arm_deadline(ex)
        self.schedule(ex)


class _EngineLoop(asyncio.SelectorEventLoop):
    """The engine's event loop: asyncio's own, kept as it is.

    Libraries that make a loop re-entrant (``nest_asyncio``, applied by the notebook layer
    when a cell calls ``asyncio.run`` inside the kernel's loop) patch the loop *class*;
    the engine's loop keeps the standard scheduling whatever happens to that class.
    """

    run_forever = asyncio.BaseEventLoop.run_forever
    run_until_complete = asyncio.BaseEventLoop.run_until_complete
    _run_once = asyncio.BaseEventLoop._run_once  # type: ignore[attr-defined]
    _check_running = asyncio.BaseEventLoop._check_running  # type: ignore[attr-defined]


class _WeakListener:
    def __init__(self, runtime: Runtime) -> None:
        self._ref = weakref.ref(runtime)

    def __call__(self, wf: registry.Workflow) -> None:
        runtime = self._ref()
        if runtime is not None and not runtime.closed:
            runtime.loop.call_soon_threadsafe(runtime.on_registered, wf)

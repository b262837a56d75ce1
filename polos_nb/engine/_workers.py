"""The runtime as one of several workers sharing a journal (``rt.workers``).

A journal that several processes share (PostgreSQL, unless ``POLOS_JOURNAL_SHARED=0``; the
journal side is ``journal/_pg_workers.py``) gives each runtime a worker id. Instead of
taking up every unfinished run when it opens, the runtime then:

- **claims** trees of runs that have no live owner and whose workflow it defines (at open,
  when woken by ``NOTIFY``, and every second), and takes each claimed run up from its
  journal as recovery would (a fresh block of sequence numbers first, so the tree's
  numbers keep growing); which worker gets which run is not promised, and a claimed run
  stays here while it waits for a queue slot (see ``WorkerSeat.claim``);
- **answers requests**: a resume sent by another worker for a run this one owns is
  delivered here, and the answer is journaled in the same transaction as the resume;
- **forwards** a resume (or a cancel) for a run another worker owns to that worker, and
  waits for its answer; waits for the end of a run another worker drives by reading the journal;
- **delivers events** other workers published to the runs here that wait for them;
- **leads or not**: only the leader arms schedules and event triggers (and sweeps the
  requests that senders which died left behind);
- **advertises** the workflows it defines (when the set changes), so that a run started
  by id for a workflow no live worker defines is logged at its start and its status says
  it waits for a worker (:meth:`Workers.warn_unclaimed`, :meth:`Workers.annotate`).

With a journal owned by one process (DuckDB, or PostgreSQL with that setting) nothing
here runs: ``shared`` is False and ``leads`` True.
"""

from __future__ import annotations

import asyncio
import contextlib
import difflib
import logging
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from polos_nb import _serde
from polos_nb import errors as _errors

from . import _workflow as registry
from ._inbox import failure_answer, raise_answer, resume_request
from ._types import TERMINAL_STATUSES, ExecutionInfo
from .journal import Delete, Insert, Update

if TYPE_CHECKING:
    from ._records import Exec
    from ._runtime import Runtime

__all__ = ["Workers"]

log = logging.getLogger("polos_nb.engine")

TICK_SECONDS = 1.0
"""How often a worker looks for work with no wake-up (dead workers' runs, missed notes)."""

FOLLOW_SECONDS = 0.25
"""How often the journal is read for the runs other workers drive that someone here watches."""

CLAIM_BATCH = 8
"""Trees claimed per claim transaction (small, so that workers woken together share work)."""

RESCAN_ROUNDS = 5
"""The leader reads the schedules and triggers of its workflows again every this many rounds."""

REQUEST_TIMEOUT = 60.0
"""How long a forwarded resume waits for the owner's answer."""

LIVE_SECONDS = 1.0
"""How long what the live workers define is reused before it is read again (starts by id
and status reads share one read per this many seconds)."""

WARN_AGAIN_SECONDS = 60.0
"""Starts of one workflow no live worker defines are logged once per this many seconds."""

SUGGEST = 10
"""Workflow ids a warning lists at most (the closest to the one asked for first)."""


class Workers:
    """The runtime's side of a journal shared by several workers (see the module docstring)."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.id: str | None = rt.journal.worker_id
        self._seat: Any = getattr(rt.journal, "seat", None)
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._topics: set[str] = set()
        self._all_topics = False
        self._was_leader = False
        self._rounds = 0
        self._followed: dict[str, int] = {}
        """Topics of runs other workers drive that someone here watches: the last journal
        sequence number delivered to the watchers."""
        self._watched: dict[str, int] = {}
        """Trees other workers drive whose events went to this runtime's subscribers of all
        events (the JupyterLab runs panel): the last topic sequence number delivered."""
        self.max_trees: int | None = None
        """``Worker(max_concurrent_workflows=n)``: run trees this worker claims at most at a
        time (runs started here are not counted against it)."""
        self._slot_waiting: set[str] = set()
        """Runs here that wait for a queue slot other workers hold."""
        self._placed: dict[tuple[str, str], set[str]] = {}
        """Runs queued here behind this worker's own runs (by queue and key) that were
        written to ``queue_waiters`` when a slot was given back (see :meth:`give_slot`)."""
        self._ends: dict[str, set[asyncio.Event]] = {}
        """Waiters for the end of runs other workers drive, by the topic of their tree."""
        self._untaken: dict[str, None] = {}
        """Runs this worker claimed but could not take up yet (the journal failed a read
        meanwhile), oldest first: taken up at the next round. Without this they would stay
        owned by a live worker that does not drive them, and nobody would."""
        self._recheck_before: Any = None
        """A claim failed, and its commit may have landed all the same: at the next round,
        runs owned here that were created before this time and are not driven here are
        taken up (later runs are left alone: they may be starting here right now)."""
        self._advertised: tuple[str, ...] | None = None
        """The workflow ids last written to this worker's row (None: not yet)."""
        self._live: tuple[float, frozenset[str], int] | None = None
        """What live workers define, as last read: ``(loop time, ids, workers silent)``."""
        self._warned: dict[str, float] = {}
        """Workflows no live worker defines whose starts were logged: loop time of the last."""

    @property
    def shared(self) -> bool:
        """Whether other workers share this runtime's journal."""
        return self.id is not None

    @property
    def leads(self) -> bool:
        """Whether this runtime fires schedules and event triggers (the only one, or the leader)."""
        return not self.shared or bool(self._seat.leads)

    def owner_for(self, workflow_id: str, parent: Exec | None) -> str | None:
        """The owner a new run is journaled with: this worker for a child (trees stay on one
        worker) or a workflow defined here; None (any worker that defines it) otherwise."""
        if not self.shared:
            return None
        if parent is not None or registry.get_workflow(workflow_id) is not None:
            return self.id
        return None

    def keeps(self, ex: Exec) -> bool:
        """Whether a run this runtime started is driven here (see :meth:`owner_for`)."""
        return self.owner_for(ex.workflow_id, None) is not None or not self.shared

    # ------------------------------------------------------------------ the loop
    async def start(self) -> None:
        """Take a block of sequence numbers, claim what waits, and keep looking (engine loop)."""
        rt = self.rt
        self._wake = asyncio.Event()
        loop = rt.loop
        self._seat.on_wake = lambda what: loop.call_soon_threadsafe(self._note, what)
        rt.renew_seq()
        await self._round()
        self._task = loop.create_task(self._run(), name="polos:workers")

    def wake(self) -> None:
        """Look for work now (a workflow was defined, say)."""
        if self._wake is not None:
            self._wake.set()

    def _note(self, what: str) -> None:
        if what == "slot" and not self._slot_waiting:
            return  # nothing here waits for a slot
        if what.startswith("event:"):
            topic = what[len("event:") :]
            if topic == "*":
                self._all_topics = True
            else:
                self._topics.add(topic)
            for watchers in self._ends.values() if topic == "*" else [self._ends.get(topic, ())]:
                for changed in watchers:
                    changed.set()
        if self._wake is not None:
            self._wake.set()

    async def _run(self) -> None:
        assert self._wake is not None
        while not self.rt.closed:
            tick = FOLLOW_SECONDS if self._followed else TICK_SECONDS
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), tick)
            self._wake.clear()
            try:
                await self._round()
            except asyncio.CancelledError:
                raise
            except _errors.JournalError as exc:
                log.warning("polos_nb: worker %s could not look for work: %s", self.id, exc)
            except Exception:
                log.exception("polos_nb: worker %s failed looking for work", self.id)

    async def _round(self) -> None:
        if self.rt.closed:
            return
        if self._seat.fenced:
            await self._rejoin()
        await self._advertise()
        await self._lead()
        self._retry_slots()
        await self._deliver_events()
        await self._follow_elsewhere()
        await self._claim()
        await self._serve_requests()

    async def _rejoin(self) -> None:
        """This worker was presumed dead (its lease lapsed) and fenced: stop driving every
        run it held (other workers may have them now), wait until each write it had queued
        was refused, and join again as a new worker that claims like any other."""
        rt = self.rt
        for _ in range(100):  # a cancelled run's slot may start the next one: until none runs
            tasks = []
            for ex in list(rt.execs.values()):
                for wait in ex.waits.values():
                    if wait.timer is not None:
                        wait.timer.cancel()
                if ex.deadline_timer is not None:
                    ex.deadline_timer.cancel()
                if ex.task is not None and not ex.task.done():
                    ex.task.cancel()
                    tasks.append(ex.task)
            if not tasks:
                break
            await asyncio.gather(*tasks, return_exceptions=True)
        with contextlib.suppress(Exception):  # refused (fenced): it only marks the queue's end
            await asyncio.wrap_future(rt.journal.probe())
        dropped = list(rt.execs.values())
        rt.execs.clear()
        rt._topic_waits.clear()
        rt._unregistered.clear()
        rt.blocking.down.clear()
        self._slot_waiting.clear()
        self._placed.clear()
        self._untaken.clear()  # claimed under the old id: claimed again like any other run
        self._recheck_before = None
        for ex in dropped:
            rt.admission.forget(ex.id)
            if ex.done is not None and not ex.done.done():
                ex.done.set_result(None)  # its waiters follow it through the journal
        await asyncio.to_thread(self._seat.rejoin)
        self.id = self._seat.id
        self._was_leader = False
        rt.renew_seq()

    # ------------------------------------------------------------------ advertised workflows
    async def _advertise(self) -> None:
        """Write the workflow ids defined here to this worker's row if they changed (a
        comparison each round; a write only when a workflow was defined or removed)."""
        ids = tuple(sorted(registry.get_all_workflows()))
        if ids == self._advertised:
            return
        try:
            await asyncio.to_thread(self._seat.advertise, ids)
        except Exception as exc:  # the server away: next round
            log.warning("polos_nb: worker %s could not advertise its workflows: %s", self.id, exc)
            return
        self._advertised = ids

    async def live_workflows(self) -> tuple[frozenset[str], int] | None:
        """What the live workers define: ``(workflow ids, workers that do not say)``, read
        at most every :data:`LIVE_SECONDS`; None if it cannot be read (or not shared)."""
        if not self.shared:
            return None
        now = self.rt.loop.time()
        if self._live is not None and now - self._live[0] < LIVE_SECONDS:
            return self._live[1], self._live[2]
        try:
            defined, silent = await asyncio.to_thread(self._seat.live_workflows)
        except Exception as exc:
            log.debug("polos_nb: could not read the workflows live workers define: %s", exc)
            return None
        self._live = (self.rt.loop.time(), defined, silent)
        return defined, silent

    async def _undefined(self, workflow_id: str) -> frozenset[str] | None:
        """The workflows live workers define, if none of them defines ``workflow_id`` and
        every live worker says what it defines; None otherwise (it is defined somewhere,
        here, or nobody can tell)."""
        if not self.shared or registry.get_workflow(workflow_id) is not None:
            return None
        live = await self.live_workflows()
        if live is None:
            return None
        defined, silent = live
        if workflow_id in defined or silent:
            return None
        return defined

    async def warn_unclaimed(self, workflow_id: str, execution_id: str) -> None:
        """Log a warning if no live worker defines ``workflow_id`` (a run of it was just
        started by id and queued for other workers): the run waits until one joins.

        The warning names the workflows live workers define, the closest to
        ``workflow_id`` first. Once per workflow per :data:`WARN_AGAIN_SECONDS`.
        """
        defined = await self._undefined(workflow_id)
        if defined is None:
            self._warned.pop(workflow_id, None)
            return
        now = self.rt.loop.time()
        last = self._warned.get(workflow_id)
        if last is not None and now - last < WARN_AGAIN_SECONDS:
            return
        self._warned[workflow_id] = now
        log.warning(
            "polos_nb: no live worker defines workflow %r: run %s is queued and starts when "
            "a worker that defines it joins the journal. %s",
            workflow_id,
            execution_id,
            _defined_hint(workflow_id, defined),
        )

    async def annotate(self, infos: Sequence[ExecutionInfo]) -> list[ExecutionInfo]:
        """``infos`` with ``waiting_for_worker`` and ``note`` set on the unfinished runs,
        not driven here, whose workflow no live worker defines (one cached read at most)."""
        out = list(infos)
        if not self.shared:
            return out
        for index, info in enumerate(out):
            if info.status in TERMINAL_STATUSES or info.id in self.rt.execs:
                continue
            defined = await self._undefined(info.workflow_id)
            if defined is None:
                continue
            note = (
                f"No live worker defines workflow {info.workflow_id!r}: the run waits until "
                "a worker that defines it joins the journal."
            )
            close = difflib.get_close_matches(info.workflow_id, sorted(defined), 1)
            if close:
                note += f" Did you mean {close[0]!r}?"
            out[index] = info.model_copy(update={"waiting_for_worker": True, "note": note})
        return out

    async def _lead(self) -> None:
        rt = self.rt
        leads = await asyncio.to_thread(self._seat.try_lead)
        self._rounds += 1
        if leads and (not self._was_leader or self._rounds % RESCAN_ROUNDS == 0):
            if not self._was_leader:
                log.info("polos_nb: worker %s fires schedules and event triggers now", self.id)
            self._was_leader = True
            # Also picks up schedules other workers created since (schedules.create).
            for wf in registry.get_all_workflows().values():
                await rt._register_flow(wf)
            with contextlib.suppress(Exception):  # the server away: next time
                await asyncio.to_thread(self._seat.sweep_requests)
        elif not leads:
            self._was_leader = False

    async def _claim(self) -> None:
        rt = self.rt
        ids = [wf.id for wf in registry.get_all_workflows().values()]
        if not ids or rt.closed:
            return
        limit = CLAIM_BATCH
        if self.max_trees is not None:
            trees = {ex.root_id for ex in rt.execs.values() if ex.status not in TERMINAL_STATUSES}
            limit = min(limit, self.max_trees - len(trees))
            if limit <= 0:
                return  # looked at again when one of its runs ends
        await self._take_up_missed()
        started = rt.clock.now()
        try:
            claimed = await rt.read(rt.journal.claim(ids, limit))  # type: ignore[attr-defined]
        except _errors.JournalError:
            self._recheck_before = started
            raise
        if not claimed:
            return
        rt.renew_seq()  # numbers above any this tree has had
        self._untaken.update(dict.fromkeys(claimed))
        await self._take_up()
        if len(claimed) >= limit:
            # More may wait: claim again at once, after the other workers' turn.
            self.wake()

    async def _take_up(self) -> None:
        """Take up the claimed runs not driven yet, oldest first (each leaves the list
        once taken up; a failed read leaves the rest for the next round)."""
        rt = self.rt
        for exec_id in list(self._untaken):
            if exec_id not in rt.execs:
                await rt.blocking.reload(exec_id, taken_over=True)
            self._untaken.pop(exec_id, None)

    async def _take_up_missed(self) -> None:
        rt = self.rt
        if self._recheck_before is not None:
            owned = await rt.read(rt.journal.owned_runs(self._recheck_before))  # type: ignore[attr-defined]
            self._recheck_before = None
            self._untaken.update(dict.fromkeys(i for i in owned if i not in rt.execs))
        if self._untaken:
            rt.renew_seq()
            await self._take_up()

    # ------------------------------------------------------------------ queue slots
    async def take_slot(self, ex: Exec) -> bool:
        """Whether ``ex`` may run now under its queue's limit counted across all workers.

        Called when the run already holds this worker's own slot. False: other workers'
        runs hold the queue's slots, or runs queued before ``ex`` (on any live worker) wait
        for one; ``ex`` keeps its place and is tried again when a slot is given back and
        every round.
        """
        rt = self.rt
        limit = rt.admission.limits.get(ex.queue_name or "")
        if not self.shared or limit is None:
            return True
        try:
            took = await rt.read(
                rt.journal.take_slot(  # type: ignore[attr-defined]
                    ex.id, ex.queue_name or "", ex.concurrency_key or "", limit
                )
            )
        except _errors.JournalError as exc:
            log.warning("polos_nb: could not take a queue slot for run %s: %s", ex.id, exc)
            took = False
        if not took:
            self._slot_waiting.add(ex.id)
        return bool(took)

    def give_slot(self, ex: Exec) -> None:
        """``ex`` waits or ended: its slot across workers goes back (and they are told).

        Runs of this worker queued behind ``ex`` for the same queue and key (this worker's
        own count of the limit) have not asked for a slot across workers yet; they are
        written to ``queue_waiters`` in the same transaction, each with its place in the
        queue, so that a later run of another worker cannot take the slot before them in
        the moment before the next of them asks.
        """
        if not (self.shared and rt_limited(self.rt, ex)):
            return
        rt = self.rt
        queue, key = ex.queue_name or "", ex.concurrency_key or ""
        behind = rt.admission.queued(queue, key)
        placed = self._placed.get((queue, key), set())
        ops: list[Any] = [Delete("queue_slots", (("execution_id", ex.id),))]
        for exec_id in behind:
            run = rt.execs.get(exec_id)
            if exec_id in placed or run is None or run.status in TERMINAL_STATUSES:
                continue
            ops.append(
                Insert(
                    "queue_waiters",
                    ("execution_id", "queue_name", "concurrency_key", "worker_id", "queued_at"),
                    (
                        exec_id,
                        queue,
                        key,
                        self.id,
                        run.created_at if run.started_at is None else rt.clock.now(),
                    ),
                    on_conflict="DO NOTHING",  # one that asked before keeps its place
                )
            )
        if behind:
            self._placed[(queue, key)] = set(behind)
        else:
            self._placed.pop((queue, key), None)
        rt.commit_nowait(ops)

    def _retry_slots(self) -> None:
        waiting, self._slot_waiting = self._slot_waiting, set()
        runs = [
            ex
            for exec_id in waiting
            if (ex := self.rt.execs.get(exec_id)) is not None and ex.status not in TERMINAL_STATUSES
        ]
        for ex in sorted(runs, key=lambda e: e.created_at):  # oldest first
            self.rt.schedule(ex)

    # ------------------------------------------------------------------ requests
    async def _serve_requests(self) -> None:
        rt = self.rt
        for request_id, body_json in await rt.read(rt.journal.requests()):  # type: ignore[attr-defined]
            await self._answer(request_id, body_json)

    async def _answer(self, request_id: str, body_json: str) -> None:
        rt = self.rt

        def answer_op(answer: dict[str, Any]) -> Update:
            return Update(
                "requests",
                "id",
                request_id,
                ("answer", "answered_at"),
                (_serde.dumps(answer), rt.clock.now()),
            )

        try:
            body = _serde.loads(body_json, strict=False)
            op = body.get("op") if isinstance(body, dict) else None
            if op == "resume":
                data = _serde.decode(body.get("data"), strict=False)
                # The answer commits with the resume: delivered once, answered once.
                await rt.waits.resume(
                    body.get("workflow_id"),
                    str(body["execution_id"]),
                    str(body["step_key"]),
                    data,
                    [answer_op({"ok": True})],
                )
                return
            if op == "cancel":  # cancelling twice is harmless: answered after it
                done = await rt.children.cancel(str(body["execution_id"]))
                await rt.commit([answer_op({"ok": True, "value": done})])
                return
            raise _errors.UserError(f"unknown request {body!r}")
        except _errors.JournalUnavailableError:
            return  # asked again once the journal answers
        except Exception as exc:  # reported to the sender, which raises it
            try:
                await rt.commit([answer_op(failure_answer(exc))])
            except _errors.JournalError:
                log.warning("polos_nb: could not answer request %s", request_id)

    async def forward_resume(
        self, workflow_id: str | None, execution_id: str, step_key: str, data: Any
    ) -> bool:
        """Send a resume to the worker that owns ``execution_id`` and wait for its answer.

        Returns False when no other worker holds the run (it is here, it ended, or the
        journal has no such run): the caller resumes it itself. Raises what the owner's
        resume raised.
        """
        body = resume_request(workflow_id, execution_id, step_key, data)
        return (
            await self._forward(execution_id, body, f"resume of {execution_id} at {step_key!r}")
        )[0]

    async def forward_cancel(self, execution_id: str) -> tuple[bool, bool]:
        """Ask the worker that owns ``execution_id`` to cancel it: ``(sent, cancelled)``.

        ``sent`` is False when no other worker holds the run (the caller cancels it itself).
        """
        return await self._forward(
            execution_id,
            {"op": "cancel", "execution_id": execution_id},
            f"cancel of {execution_id}",
        )

    async def _forward(
        self, execution_id: str, body: dict[str, Any], what: str
    ) -> tuple[bool, Any]:
        rt = self.rt
        owner = await rt.read(rt.journal.owner_of(execution_id))  # type: ignore[attr-defined]
        if owner is None or owner[0] == self.id or execution_id in rt.execs:
            return False, None
        info = await rt.read(rt.journal.outcomes([execution_id]))
        if info and info[0].status in TERMINAL_STATUSES:
            return False, None
        request_id = uuid.uuid4().hex
        await rt.commit(
            [
                Insert(
                    "requests",
                    ("id", "execution_id", "body", "created_at"),
                    (request_id, execution_id, _serde.dumps(body), rt.clock.now()),
                )
            ]
        )
        loop = asyncio.get_running_loop()
        deadline = loop.time() + REQUEST_TIMEOUT
        while (answer_json := await rt.read(rt.journal.request_answer(request_id))) is None:  # type: ignore[attr-defined]
            if loop.time() > deadline:
                await rt.commit([_delete_request(request_id)])
                raise _errors.ResumeError(
                    f"No worker answered the {what} within {REQUEST_TIMEOUT:.0f} s: is a worker "
                    "that defines its workflow running? Nothing was delivered."
                )
            await asyncio.sleep(0.05)
        await rt.commit([_delete_request(request_id)])
        answer = _serde.loads(answer_json, strict=False)
        return True, raise_answer(answer, "the worker that drives the run", _errors.ResumeError)

    async def wait_elsewhere(self, execution_id: str) -> ExecutionInfo:
        """Wait for the end of a run another worker drives.

        The run's status is read again when an event of its tree is committed (the
        notification of its end among them), and at least every :data:`TICK_SECONDS`;
        not on a timer per waiter, which would load the journal with reads.
        """
        rt = self.rt
        changed: asyncio.Event | None = None
        topic = ""
        try:
            while True:
                if execution_id in rt.execs:  # claimed here meanwhile
                    return await rt.wait_terminal(execution_id)
                info = await rt.get_execution(execution_id)
                if info.status in TERMINAL_STATUSES:
                    return info
                if changed is None:  # watch the tree, then read once more (no gap)
                    changed = asyncio.Event()
                    topic = f"workflow/{info.root_workflow_id}/{info.root_execution_id}"
                    self._ends.setdefault(topic, set()).add(changed)
                    continue
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(changed.wait(), TICK_SECONDS)
                changed.clear()
        finally:
            if changed is not None:
                watchers = self._ends.get(topic, set())
                watchers.discard(changed)
                if not watchers:
                    self._ends.pop(topic, None)

    # ------------------------------------------------------------------ events
    async def _deliver_events(self) -> None:
        """Events other workers committed: to the runs waiting here, and to the triggers."""
        rt = self.rt
        topics, everything = self._topics, self._all_topics
        self._topics, self._all_topics = set(), False
        waiting = set(rt._topic_waits)
        if everything:
            topics = topics | waiting | rt.triggers.topics()
        for topic in topics:
            if topic in waiting and rt._topic_waits.get(topic):
                after = min(
                    (
                        ex.waits[key].after_topic_seq or 0
                        for exec_id, key in rt._topic_waits[topic]
                        if (ex := rt.execs.get(exec_id)) is not None and key in ex.waits
                    ),
                    default=None,
                )
                if after is not None:
                    for event in await rt.read_topic(topic, after):
                        rt.deliver_to_waits(topic, event)
            if self.leads and topic in rt.triggers.topics():
                rt.triggers.on_topic(topic)
            if rt._all_subscribers and topic.startswith("workflow/"):
                await self._to_all_subscribers(topic)

    async def _to_all_subscribers(self, topic: str) -> None:
        """Events of a tree another worker drives, for this runtime's subscribers of all
        events (those of trees driven here reach them live; watched trees are followed)."""
        rt = self.rt
        root_id = topic.rsplit("/", 1)[-1]
        if topic in self._followed or any(ex.root_id == root_id for ex in rt.execs.values()):
            return
        after = self._watched.get(topic, 0)
        for event in await rt.read_topic(topic, after):
            rt.live.emit(event)
            after = max(after, event.sequence_id or 0)
            meta = event.data.get("_metadata", {}) if isinstance(event.data, dict) else {}
            kind = event.event_type or ""
            if meta.get("execution_id") == root_id and kind.endswith(
                ("_finish", "_error", "_cancel")
            ):
                self._watched.pop(topic, None)  # the tree's run ended: nothing more comes
                return
        self._watched[topic] = after

    async def _follow_elsewhere(self) -> None:
        """Live views of runs other workers drive: what they journaled since the last look.

        A watcher here (``stream_events``, a notebook's run widget) subscribes to the run
        tree's topic; while no run of that tree is driven here, its journaled events and
        step ends are read back and delivered to the watchers, in journal order.
        """
        rt = self.rt
        topics = {
            topic
            for topic, callbacks in rt._subscribers.items()
            if callbacks and topic.startswith("workflow/")
        }
        for topic in list(self._followed):
            if topic not in topics:
                del self._followed[topic]
        for topic in topics:
            root_id = topic.rsplit("/", 1)[-1]
            if any(ex.root_id == root_id for ex in rt.execs.values()):
                self._followed.pop(topic, None)  # driven here: its events are live already
                continue
            after = self._followed.get(topic, 0)
            for seq, event in await rt.history(root_id, topic, after):
                event._journal_seq = seq
                rt.live.emit(event)
                after = max(after, seq)
            self._followed[topic] = after

    async def aclose(self) -> None:
        if self._seat is not None:
            self._seat.on_wake = None  # the engine loop closes first
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


def rt_limited(rt: Runtime, ex: Exec) -> bool:
    """Whether ``ex``'s queue has a concurrency limit."""
    return rt.admission.limits.get(ex.queue_name or "") is not None


def _defined_hint(workflow_id: str, defined: frozenset[str]) -> str:
    """The workflows live workers define, the closest to ``workflow_id`` first."""
    if not defined:
        return "Live workers define no workflows."
    close = difflib.get_close_matches(workflow_id, sorted(defined), SUGGEST, 0.5)
    ordered = close + sorted(defined - set(close))
    shown = ", ".join(repr(i) for i in ordered[:SUGGEST])
    more = f" and {len(ordered) - SUGGEST} more" if len(ordered) > SUGGEST else ""
    lead = f"Did you mean {close[0]!r}? " if close else ""
    return f"{lead}Live workers define: {shown}{more}."


def _delete_request(request_id: str) -> Delete:
    return Delete("requests", (("id", request_id),))

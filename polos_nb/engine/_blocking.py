"""Runs that cannot go on until something outside them is fixed: they wait, they do not fail.

As in Temporal, where a non-determinism error fails the workflow *task* and not the
workflow, these conditions park a run instead of ending it:

=================  ===============================================  =========================
reason             cause                                            it continues when
=================  ===============================================  =========================
``nondeterminism`` the code asks for other steps than the journal    the workflow is defined
                   holds (:class:`NonDeterminismError`, D4)          again (its cell re-run)
``missing_class``  a journaled value's class is not defined         the class is defined
                   (:class:`UnresolvedClassError`), e.g. a           (checked twice a second)
                   ``__main__`` Pydantic model after a restart
``journal``        the journal could not be read, or written          a retry works (backoff
                   (a full disk, an I/O error)                        up to 15 s)
=================  ===============================================  =========================

A parked run has status ``waiting``; its ``error`` (``client.get_execution(id).error``)
holds the error with ``"blocked": <reason>``, and a ``<type>_blocked`` event is published
on its topic (``<type>_unblocked`` when it goes on). It holds no queue slot (D12), can be
cancelled, and whoever waits for its result is woken with :class:`ExecutionBlockedError`.
The park is journaled (a ``waits`` row of kind ``blocked``), so after a restart the run is
tried again as soon as its workflow is defined.

When the journal cannot be *written* (``JournalUnavailableError``) even the park cannot be
recorded: the run is held in memory only (``get_execution`` shows the same status and
error), everything the engine had in memory about it is dropped, and once a probe write
succeeds it is read back from the journal and driven again — as after a crash, but
without a restart (D6: a step whose commit failed runs again).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any

from polos_nb import _serde
from polos_nb.errors import (
    ExecutionBlockedError,
    JournalCorruptError,
    JournalError,
    JournalUnavailableError,
    NonDeterminismError,
    UnresolvedClassError,
)

from ._context import final_state_json
from ._records import Exec, Wait, exec_from_row, wait_from_row
from ._types import TERMINAL_STATUSES

if TYPE_CHECKING:
    from ._context import WorkflowContext
    from ._runtime import Runtime

__all__ = ["Blocking", "block_reason", "on_write"]

log = logging.getLogger("polos_nb.engine")

_TICK = 0.25  # seconds between checks while something is blocked
_MAX_BACKOFF = 15.0


def block_reason(exc: BaseException | None) -> str | None:
    """The reason ``exc`` parks a run instead of failing it, or None."""
    if isinstance(exc, NonDeterminismError):
        return "nondeterminism"
    if isinstance(exc, UnresolvedClassError):
        return "missing_class"
    if isinstance(exc, (JournalUnavailableError, JournalCorruptError)):
        return "journal"
    return None


def on_write(exc: BaseException) -> bool:
    """Whether a journal error came from a write (``Runtime.commit`` marks those)."""
    return bool(getattr(exc, "polos_on_write", False))


def _describe(exc: BaseException, reason: str) -> dict[str, Any]:
    info: dict[str, Any] = {
        "type": f"{type(exc).__module__}.{type(exc).__qualname__}",
        "message": _serde.clean_text(str(exc)),
        "blocked": reason,
    }
    if isinstance(exc, UnresolvedClassError):
        info["class_name"] = exc.class_name
    return info


class Blocking:
    """The runtime's parked runs (``runtime.blocking``); see the module docstring."""

    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime
        self.down: set[str] = set()  # runs held in memory while the journal refuses writes
        self._watch_task: asyncio.Task[None] | None = None

    # ------------------------------------------------------------------ parking
    async def block(self, ex: Exec, exc: BaseException, ctx: WorkflowContext | None = None) -> None:
        """Park ``ex`` because of ``exc`` (a reason from :func:`block_reason`)."""
        reason = block_reason(exc) or "journal"
        if reason == "journal" and on_write(exc):
            self.journal_down(ex, exc)
            return
        if ex.status in TERMINAL_STATUSES:
            return
        info = _describe(exc, reason)
        now = self.rt.clock.now()
        key = f"__blocked:{self.rt.next_seq()}"
        wait = Wait(key=key, kind="blocked", position=None, detail=info)
        state_json = final_state_json(ctx, ex.state_json)
        insert, event = self.rt._lifecycle_event(ex, f"{ex.workflow_type}_blocked", {"error": info})
        previous = ex.status
        ops = [
            self.rt._status_op(ex, "waiting", error=_serde.dumps(info), state=state_json),
            self.rt.waits.wait_insert(ex, wait, now),
            insert,
        ]
        try:
            await self.rt.commit(ops)
        except JournalError as failed:
            ex.status = previous
            self.journal_down(ex, failed)
            return
        ex.state_json = state_json
        ex.waits[key] = wait
        ex.blocked = info
        ex.block_failures += 1
        ex.block_retry_at = time.monotonic() + min(_MAX_BACKOFF, 0.5 * 2 ** (ex.block_failures - 1))
        log.warning("polos_nb: run %s is blocked (%s): %s", ex.id, reason, info["message"])
        self.rt.live.emit(event)
        self.wake_waiters(ex)
        self.ensure_watch()

    def journal_down(self, ex: Exec, exc: BaseException) -> None:
        """The journal refused a write for ``ex``: hold it in memory until the journal works."""
        if ex.journal_down is None:
            log.warning(
                "polos_nb: the journal cannot be written (%s); run %s waits and continues "
                "from its last committed step once it can",
                exc,
                ex.id,
            )
        ex.journal_down = exc
        for wait in ex.waits.values():
            if wait.timer is not None:
                wait.timer.cancel()
        if ex.deadline_timer is not None:
            ex.deadline_timer.cancel()
        self.down.add(ex.id)
        self.wake_waiters(ex)
        self.ensure_watch()

    def wake_waiters(self, ex: Exec) -> None:
        done = ex.done
        if done is not None and not done.done():
            done.set_result(self.blocked_error(ex))
        ex.done = None

    def blocked_error(self, ex: Exec) -> ExecutionBlockedError | None:
        if ex.journal_down is not None:
            exc = ex.journal_down
            return ExecutionBlockedError(
                ex.id,
                "journal",
                f"{type(exc).__module__}.{type(exc).__qualname__}",
                _serde.clean_text(str(exc)),
            )
        if ex.blocked is not None:
            return ExecutionBlockedError(
                ex.id,
                str(ex.blocked.get("blocked")),
                str(ex.blocked.get("type")),
                str(ex.blocked.get("message")),
            )
        return None

    def blocked_view(self, execution_id: str) -> tuple[str, dict[str, Any]] | None:
        """``(status, error)`` to show for a run held in memory while the journal is down."""
        ex = self.rt.execs.get(execution_id)
        if ex is None or ex.journal_down is None:
            return None
        return "waiting", _describe(ex.journal_down, "journal")

    # ------------------------------------------------------------------ going on
    def ensure_watch(self) -> None:
        task = self._watch_task
        if (task is None or task.done()) and not self.rt.closed:
            self._watch_task = self.rt.loop.create_task(self._watch(), name="polos:blocked-watch")

    async def _watch(self) -> None:
        """While anything is blocked: probe the journal, look for missing classes, retry reads."""
        probe_at = 0.0
        probe_delay = _TICK
        while not self.rt.closed:
            blocked = [ex for ex in self.rt.execs.values() if ex.blocked is not None]
            if not self.down and not any(
                b.blocked and b.blocked.get("blocked") in ("missing_class", "journal")
                for b in blocked
            ):
                return
            await asyncio.sleep(_TICK)
            now = time.monotonic()
            if self.down and now >= probe_at:
                if await self._probe():
                    probe_delay = _TICK
                    for exec_id in list(self.down):
                        self.down.discard(exec_id)
                        try:
                            await self.reload(exec_id)
                        except JournalError as exc:
                            ex = self.rt.execs.get(exec_id)
                            if ex is not None:
                                self.journal_down(ex, exc)
                else:
                    probe_delay = min(_MAX_BACKOFF, probe_delay * 2)
                probe_at = time.monotonic() + probe_delay
            for ex in blocked:
                info = ex.blocked or {}
                if info.get("blocked") == "missing_class":
                    if _serde.resolvable(str(info.get("class_name", ""))):
                        await self.unblock(ex)
                elif info.get("blocked") == "journal" and now >= ex.block_retry_at:
                    await self.unblock(ex)

    async def fresh(self, ex: Exec) -> Exec:
        """``ex`` itself, or — if it is held because the journal refused a write — the run
        read back from the journal once a probe write works; else the journal's error."""
        if ex.journal_down is None:
            return ex
        if not await self._probe():
            raise ex.journal_down
        self.down.discard(ex.id)
        await self.reload(ex.id)
        current = self.rt.execs.get(ex.id)
        return current if current is not None else ex

    async def _probe(self) -> bool:
        """Whether the journal takes a (tiny, self-cancelling) write now."""
        try:
            await asyncio.wrap_future(self.rt.journal.probe())
            return True
        except Exception:
            return False

    def unblock_for(self, workflow_id: str) -> None:
        """The workflow was defined again: try the runs it blocked once more."""
        for ex in list(self.rt.execs.values()):
            if ex.workflow_id == workflow_id and ex.blocked is not None:
                self.rt.loop.create_task(self.unblock(ex))

    async def unblock(self, ex: Exec) -> None:
        """Resolve ``ex``'s ``blocked`` wait: it is queued and driven again from its journal."""
        keys = [k for k, w in ex.waits.items() if w.kind == "blocked"]
        if not keys or ex.status in TERMINAL_STATUSES:
            ex.blocked = None
            return
        insert, event = self.rt._lifecycle_event(ex, f"{ex.workflow_type}_unblocked", {})
        ex.blocked = None
        ex.loaded = False  # read its steps again (a read error may have left them partial)
        try:
            await self.rt.waits.resolve(ex, keys[0], extra_ops=[insert], events=[event])
        except JournalError as exc:
            self.journal_down(ex, exc)

    async def reload(self, exec_id: str, *, taken_over: bool = False) -> None:
        """Drop what memory holds about a run and take it up again from the journal.

        ``taken_over``: the run was claimed from the journal (several workers share it), not
        held here while the journal refused writes.
        """
        old = self.rt.execs.get(exec_id)

        found = await self.rt.read(self.rt.journal.reload(exec_id))
        row, waits, topic_max = found.execution, found.waits, found.topic_seq
        if old is not None:
            if old.task is not None and not old.task.done():
                old.task.cancel()
            self.rt.admission.forget(old.id)
        if row is None:
            self.rt.execs.pop(exec_id, None)
            return
        ex = exec_from_row(row)
        if old is not None:
            ex.children = old.children
        # Never reuse a sequence number the journal holds.
        self.rt._topic_seq[ex.topic] = max(self.rt._topic_seq.get(ex.topic, 0), topic_max)
        if ex.status in TERMINAL_STATUSES:
            self.rt.execs.pop(exec_id, None)
            return
        self.rt.execs[exec_id] = ex
        for wait_row in waits:
            wait = wait_from_row(wait_row, strict=False)
            ex.waits[wait.key] = wait
            if wait.kind == "blocked":
                ex.blocked = wait.detail if isinstance(wait.detail, dict) else {}
        if ex.deadline is not None:
            self.rt.children.arm_deadline(ex)
        if taken_over:
            log.info("polos_nb: run %s is driven by this worker now", ex.id)
        else:
            log.warning("polos_nb: the journal can be written again; run %s goes on", ex.id)
        if ex.status == "waiting":
            for wait in list(ex.waits.values()):
                await self.rt.waits.rearm(ex, wait)
        else:
            self.rt.schedule(ex)

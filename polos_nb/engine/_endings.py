"""How runs end: finished, failed or cancelled, or failed for another run attempt (``rt.endings``).

``finish`` journals a run's end (its status, result or error, final state, the lifecycle
event, the waits it leaves behind, its parent's wait) in one transaction, then tells whoever
waits for it; ``retry_run`` journals a failed attempt and arms the next one after the retry
policy's back-off. A journal that cannot take the end holds the run in memory
(``_failed_write``).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from polos_nb import _serde
from polos_nb.errors import JournalError, JournalUnavailableError

from ._blocking import block_reason
from ._context import WorkflowContext, _error_json, final_state_json
from ._policy import RetryPolicy
from ._records import Exec, Wait, _terminal_info
from ._types import TERMINAL_STATUSES
from .journal import UpdateWhere

if TYPE_CHECKING:
    from ._host import EndingsHost

__all__ = ["Endings", "close_waits_op"]


class Endings:
    """The ends of runs, journaled (see the module docstring)."""

    def __init__(self, rt: EndingsHost) -> None:
        self.rt = rt

    async def retry_run(
        self, ex: Exec, exc: Exception, policy: RetryPolicy, ctx: WorkflowContext
    ) -> None:
        """Journal a failed run attempt and schedule the next one after the policy's back-off."""
        now = self.rt.clock.now()
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
        insert, event = self.rt._lifecycle_event(
            ex,
            f"{ex.workflow_type}_retry",
            {
                "attempt": failed_attempt,
                "next_attempt": ex.run_attempt,
                "next_attempt_at": wake_at.isoformat(),
                "error": _serde.loads(_error_json(exc), strict=False),
            },
        )
        state_json = final_state_json(ctx, ex.state_json)
        try:
            await self.rt.commit(
                [
                    self.rt._status_op(ex, "waiting", run_attempt=ex.run_attempt, state=state_json),
                    self.rt.waits.wait_insert(ex, wait, now),
                    insert,
                ]
            )
        except JournalError as failed:  # held until the journal takes writes again
            self.rt.blocking.journal_down(ex, failed)
            return
        self.rt.live.emit(event)
        wait.timer = self.rt.clock.call_at(
            wake_at, lambda: self.rt.waits.timer_fired(ex.id, key), self.rt.loop
        )

    async def finish(
        self,
        ex: Exec,
        status: str,
        *,
        result: str | None = None,
        error: str | None = None,
        ctx: WorkflowContext | None = None,
    ) -> None:
        if ex.status in TERMINAL_STATUSES:
            return
        self.rt.admission.forget(ex.id)
        now = self.rt.clock.now()
        state_json = final_state_json(ctx, ex.state_json)
        ops: list[Any] = [
            self.rt._status_op(
                ex, status, result=result, error=error, state=state_json, completed_at=now
            )
        ]
        ex.state_json = state_json
        event_type = {"completed": "finish", "failed": "error", "cancelled": "cancel"}[status]
        # The result or error goes into the event as the journal JSON it is already.
        encoded: dict[str, str | None] = {}
        if status == "completed":
            encoded["result"] = result
        elif error is not None:
            encoded["error"] = error
        insert, make_event = self.rt._lifecycle_row(
            ex, f"{ex.workflow_type}_{event_type}", {}, encoded=encoded
        )
        ops.append(insert)
        if ex.waits:  # a cancelled or timed-out run leaves its waits behind: close them
            for wait in ex.waits.values():
                if wait.timer is not None:
                    wait.timer.cancel()
            ops.append(close_waits_op(ex.id, now))
            ex.waits.clear()
        if ex.deadline_timer is not None:
            ex.deadline_timer.cancel()
        parent_ready = self.rt.children.notify_parent_ops(ex, status, result, error, ops)
        try:
            await self.rt.commit(ops)
        except JournalError as exc:
            await self._failed_write(ex, status, exc, parent_ready)
            return
        self.rt.live.emit_lazy(ex.topic, make_event)
        if ex.done is not None and not ex.done.done():
            ex.done.set_result(_terminal_info(ex, status, result, error, state_json, now))
        if parent_ready is not None:
            self.rt.schedule(parent_ready)
        elif ex.parent_id is not None:
            parent = self.rt.execs.get(ex.parent_id)
            parent_wait = parent.waits.get(ex.parent_step_key or "") if parent else None
            if parent is not None and parent_wait is not None and parent_wait.kind == "batch":
                await self.rt.children.check_children_done(parent, parent_wait)
        # Terminal executions leave memory; the journal has them.
        if ex.parent_id is None or ex.parent_id not in self.rt.execs:
            self.rt._forget(ex)
        if ex.parent_id is None:
            self.rt.workers.wake()  # several workers: room for another claimed tree

    async def _failed_write(
        self, ex: Exec, status: str, exc: JournalError, parent: Exec | None
    ) -> None:
        """The run's last write failed: end it plainly, or hold it until the journal works.

        A write the journal refused for its content ends the run ``failed`` with an error
        that says so (without the result that could not be written). A journal that takes
        no writes at all (a full disk) holds the run, and its parent, in memory; they go on
        from their last committed step once a write works again.
        """
        if not isinstance(exc, JournalUnavailableError) and block_reason(exc) is None:
            error = _error_json(
                JournalError(
                    f"Run {ex.id} ended {status}, but its outcome could not be written to the "
                    f"journal ({exc}); it is recorded as failed instead."
                )
            )
            now = self.rt.clock.now()
            insert, event = self.rt._lifecycle_event(
                ex, f"{ex.workflow_type}_error", {"error": _serde.loads(error)}
            )
            fallback = [
                self.rt._status_op(ex, "failed", error=error, completed_at=now),
                insert,
                close_waits_op(ex.id, now),
            ]
            try:
                await self.rt.commit(fallback)
            except JournalError as again:
                exc = again
            else:
                self.rt.live.emit(event)
                if ex.done is not None and not ex.done.done():
                    ex.done.set_result(None)
                if parent is not None:
                    self.rt.blocking.journal_down(
                        parent, exc
                    )  # its wait was resolved in memory only
                self.rt._forget(ex)
                return
        ex.status = "running"  # the journal still says so; it is driven again from there
        self.rt.blocking.journal_down(ex, exc)
        if parent is not None:
            self.rt.blocking.journal_down(parent, exc)


def close_waits_op(execution_id: str, now: dt.datetime) -> UpdateWhere:
    """Mark every open wait of an execution resolved (it ended)."""
    return UpdateWhere(
        "waits", ("resolved_at",), (now,), (("execution_id", execution_id),), ("resolved_at",)
    )

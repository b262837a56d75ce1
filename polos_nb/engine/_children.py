"""Child executions (invoke, batches) and cancellation of execution trees (D15)."""

from __future__ import annotations

import asyncio
from typing import Any

from polos_nb import _serde
from polos_nb.errors import (
    ChildWorkflowError,
    ExecutionCancelledError,
    ExecutionNotFoundError,
    WaitTimeoutError,
)

from ._error_records import error_names
from ._host import ChildrenHost
from ._records import (
    Exec,
    Wait,
)
from ._types import (
    TERMINAL_STATUSES,
    BatchWorkflowInput,
    ExecutionHandle,
    MakeEvent,
)

__all__ = ["Children"]


class Children:
    """Child executions (invoke, batches), cancellation of execution trees and run deadlines.

    A part of :class:`~polos_nb.engine._runtime.Runtime` (``rt.children``); it reaches the
    runtime only through ``self.rt``, typed :class:`~polos_nb.engine._host.ChildrenHost`.
    """

    def __init__(self, host: ChildrenHost) -> None:
        self.rt = host

    def notify_parent_ops(
        self, ex: Exec, status: str, result: str | None, error: str | None, ops: list[Any]
    ) -> Exec | None:
        """For a child of invoke_and_wait, journal its outcome in the parent in the same transaction."""
        if ex.parent_id is None or ex.parent_step_key is None:
            return None
        parent = self.rt.execs.get(ex.parent_id)
        if parent is None:
            return None
        wait = parent.waits.get(ex.parent_step_key)
        if wait is None or wait.kind != "child":
            return None
        if status == "completed":
            self.rt.waits.resolve_ops(parent, wait, ops, output=result)
        else:
            self.rt.waits.resolve_ops(
                parent, wait, ops, error=_child_error(ex.workflow_id, ex.id, status, error)
            )
        return parent

    async def check_children_done(self, parent: Exec, wait: Wait) -> None:
        child_ids: list[str] = list(wait.detail or [])
        if wait.kind == "child":
            found = await self.rt.read(self.rt.journal.outcomes(child_ids[:1]))
            row = found[0] if found else None
            if row is not None and row.status in TERMINAL_STATUSES and wait.key in parent.waits:
                ops: list[Any] = []
                if row.status == "completed":
                    self.rt.waits.resolve_ops(parent, wait, ops, output=row.result)
                else:
                    self.rt.waits.resolve_ops(
                        parent,
                        wait,
                        ops,
                        error=_child_error(row.workflow_id, row.id, row.status, row.error),
                    )
                await self.rt.commit(ops)
                self.rt.schedule(parent)
            return
        marker = (parent.id, wait.key)
        if marker in self.rt._batches_done:
            return
        rows = await self.rt.read(self.rt.journal.outcomes(child_ids))
        by_id = {r[0]: r for r in rows}
        if len(by_id) < len(child_ids) or any(r[2] not in TERMINAL_STATUSES for r in rows):
            return
        if marker in self.rt._batches_done or wait.key not in parent.waits:
            return
        self.rt._batches_done.add(marker)
        items = []
        for child_id in child_ids:
            _, wf_id, status, result, error = by_id[child_id]
            info = _serde.loads(error, strict=False) if error else None
            items.append(
                {
                    "workflow_id": wf_id,
                    "execution_id": child_id,
                    "success": status == "completed",
                    "result": _serde.loads(result)
                    if (status == "completed" and result is not None)
                    else None,
                    "error": None
                    if status == "completed"
                    else f"{status}: {(info or {}).get('type', '')}: {(info or {}).get('message', '')}",
                }
            )
        ops = []
        self.rt.waits.resolve_ops(parent, wait, ops, output=_serde.dumps(items))
        await self.rt.commit(ops)
        self.rt.schedule(parent)

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
        """Create child executions atomically with the parent's step record or wait."""
        existing = parent.children.get(key)
        if existing and kind in ("invoke_wait", "batch_wait"):
            # Children were created before a crash or a replay; wait for them again.
            if key not in parent.waits:
                wait = Wait(
                    key=key,
                    kind="child" if kind == "invoke_wait" else "batch",
                    position=position,
                    detail=existing,
                )
                parent.waits[key] = wait
                await self.rt.commit(
                    [
                        self.rt.waits.wait_insert(parent, wait, self.rt.clock.now()),
                        self.rt._status_op(parent, "waiting"),
                    ]
                )
                await self.check_children_done(parent, wait)
            parent.status = "waiting"
            return []
        prepared = [
            self.rt.starts.prepare(spec.id, spec.payload, spec.initial_state) for spec in specs
        ]
        ops: list[Any] = []
        children: list[Exec] = []
        # The start events of the children that start at once (made when delivered).
        start_events: list[MakeEvent | None] = []
        batch = kind in ("batch_invoke", "batch_wait")
        for index, ((wf, payload_json, state_json), spec) in enumerate(
            zip(prepared, specs, strict=False)
        ):
            child, insert = self.rt.starts.new_exec(
                wf.id,
                wf.workflow_type,
                payload_json,
                parent=parent,
                parent_step_key=key,
                batch_index=index if batch else None,
                initial_state_json=state_json,
                queue_name=queue or wf.queue.name,
                concurrency_key=concurrency_key,
                run_timeout_seconds=spec.run_timeout_seconds
                if spec.run_timeout_seconds is not None
                else wf.run_timeout_seconds,
            )
            child_ops, event = self.rt.starts.start_ops(child, insert)
            ops.extend(child_ops)
            children.append(child)
            start_events.append(event)
        handles = [c.handle() for c in children]
        now = self.rt.clock.now()
        if kind in ("invoke", "batch_invoke"):
            value: Any = handles[0] if kind == "invoke" else handles
            ops.append(
                self.rt.step_insert(
                    parent,
                    key,
                    position,
                    kind,
                    1,
                    "completed",
                    None,
                    _serde.dumps(value),
                    None,
                    None,
                    now,
                    now,
                )
            )
        else:
            wait = Wait(
                key=key,
                kind="child" if kind == "invoke_wait" else "batch",
                position=position,
                detail=[c.id for c in children],
            )
            parent.waits[key] = wait
            ops.append(self.rt.waits.wait_insert(parent, wait, now))
            ops.append(self.rt._status_op(parent, "waiting"))
        try:
            await self.rt.commit(ops)
        except BaseException:
            for child, event in zip(children, start_events, strict=True):
                self.rt.starts.not_started(child, event)
            raise
        parent.children[key] = [c.id for c in children]
        for child, event in zip(children, start_events, strict=True):
            self.rt.starts.started(child, event)
            self.rt.execs[child.id] = child
            if child.deadline is not None:
                self.arm_deadline(child)
            self.rt.schedule(child)
        return [self.bind_handle(h) for h in handles]

    def bind_handle(self, handle: ExecutionHandle) -> ExecutionHandle:
        client = self.rt.default_client
        if client is not None:
            handle._bind(client)
        return handle

    # ================================================================== cancel and deadlines
    async def cancel(self, execution_id: str) -> bool:
        """Cancel an execution and all its descendants (never its parent). False if already ended."""
        ex = self.rt.execs.get(execution_id)
        if ex is not None:
            ex = await self.rt.blocking.fresh(ex)
        if ex is None:
            found = await self.rt.read(self.rt.journal.outcomes([execution_id]))
            if not found:
                raise ExecutionNotFoundError(execution_id)
            return False
        if ex.status in TERMINAL_STATUSES:
            return False
        tree = [ex]
        frontier = [ex.id]
        while frontier:
            parent_id = frontier.pop()
            for other in list(self.rt.execs.values()):
                if other.parent_id == parent_id and other.status not in TERMINAL_STATUSES:
                    tree.append(other)
                    frontier.append(other.id)
        for node in (
            tree
        ):  # mark the whole tree first: a parent woken by a cancelled child ends cancelled too
            node.cancel_requested = True
            node.stop_reason = ("cancelled", self._cancel_error(node))
        for node in reversed(tree):  # children first, so parents see them ended
            await self._cancel_one(node)
        return True

    def _cancel_error(self, ex: Exec) -> str:
        return _serde.dumps(
            {
                **error_names(ExecutionCancelledError),
                "message": f"Execution {ex.id} was cancelled.",
                "execution_id": ex.id,
            }
        )

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
            await self.rt._finish(ex, status, error=error)

    def arm_deadline(self, ex: Exec) -> None:
        assert ex.deadline is not None
        ex.deadline_timer = self.rt.clock.call_at(
            ex.deadline, lambda: self.rt.loop.create_task(self._deadline(ex.id)), self.rt.loop
        )

    async def _deadline(self, exec_id: str) -> None:
        ex = self.rt.execs.get(exec_id)
        if ex is None or ex.status in TERMINAL_STATUSES or ex.deadline is None:
            return
        error = WaitTimeoutError(
            f"Run of execution {ex.id} ({ex.workflow_id})", ex.deadline.isoformat()
        )
        for child in [
            c
            for c in self.rt.execs.values()
            if c.parent_id == ex.id and c.status not in TERMINAL_STATUSES
        ]:
            await self.cancel(child.id)  # children first, then the run itself
        await self._stop(
            ex,
            "failed",
            _serde.dumps(
                {
                    **error_names(WaitTimeoutError),
                    "message": str(error),
                    "what": error.what,
                    "deadline": error.deadline,
                }
            ),
        )


def _child_error(workflow_id: str, child_id: str, status: str, error: str | None) -> str:
    """The parent's journaled error for a child that failed or was cancelled (ChildWorkflowError)."""
    info = _serde.loads(error, strict=False) if error else {}
    return _serde.dumps(
        {
            **error_names(ChildWorkflowError),
            "message": f"child {workflow_id} ({child_id}) {status}: {info.get('type', '')}: {info.get('message', '')}",
            "child_error": info,
        }
    )

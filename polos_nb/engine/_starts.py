"""Starting executions: validating a start, building its row, committing it, once per key.

:class:`Starts` is the runtime's part (``rt.starts``) that every way of starting a run goes
through: ``PolosClient.invoke``, child workflows (``ctx.step.invoke``), event triggers,
schedules and journal forks build their execution with :meth:`Starts.new_exec` after
:meth:`Starts.prepare` validated the request; nothing is written when validation fails.
What it uses of the runtime is declared by ``StartsHost`` in ``_host.py``.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from polos_nb import _serde, _tracing
from polos_nb._ids import new_id
from polos_nb.errors import UserError, WorkflowNotFoundError

from . import _workflow as registry
from ._policy import Queue
from ._records import Exec
from ._types import ExecutionHandle, MakeEvent
from .journal import Insert

if TYPE_CHECKING:
    from ._host import StartsHost

__all__ = ["Starts"]

_EXEC_COLUMNS = (
    "id",
    "workflow_id",
    "workflow_type",
    "status",
    "payload",
    "initial_state",
    "state",
    "parent_execution_id",
    "root_execution_id",
    "root_workflow_id",
    "parent_step_key",
    "batch_index",
    "queue_name",
    "concurrency_key",
    "session_id",
    "user_id",
    "run_timeout_seconds",
    "deadline",
    "created_at",
    "updated_at",
    "seq",
    "trace_context",
    "owner",
)
_OWNER = _EXEC_COLUMNS.index("owner")


@dataclass(frozen=True)
class _Queue:
    name: str


@dataclass(frozen=True)
class _Elsewhere:
    """A workflow defined in other workers only: what a start needs of it."""

    id: str
    workflow_type: str = "workflow"
    run_timeout_seconds: float | None = None

    @property
    def queue(self) -> _Queue:
        return _Queue(self.id)


class Starts:
    """Every start of an execution, validated, journaled and handed to the runtime."""

    def __init__(self, rt: StartsHost) -> None:
        self.rt = rt

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
    ) -> tuple[Exec, Insert]:
        """A new ``queued`` execution in memory and the row that journals it (not written)."""
        now = self.rt.clock.now()
        exec_id = new_id()
        ex = Exec(
            id=exec_id,
            workflow_id=wf_id,
            workflow_type=workflow_type,
            status="queued",
            payload_json=payload_json,
            initial_state_json=initial_state_json,
            state_json=None,
            parent_id=parent.id if parent else None,
            root_id=parent.root_id if parent else exec_id,
            root_workflow_id=parent.root_workflow_id if parent else wf_id,
            parent_step_key=parent_step_key,
            batch_index=batch_index,
            queue_name=queue_name or wf_id,
            concurrency_key=concurrency_key,
            session_id=session_id
            if session_id is not None
            else (parent.session_id if parent else None),
            user_id=user_id if user_id is not None else (parent.user_id if parent else None),
            created_at=now,
            loaded=True,
            # The span this run is started from: the caller's, or the parent run's step.
            trace_carrier=_tracing.current_carrier(),
        )
        if run_timeout_seconds is not None:
            if run_timeout_seconds <= 0:
                raise UserError(
                    f"run_timeout_seconds must be positive (got {run_timeout_seconds})."
                )
            ex.deadline = now + dt.timedelta(seconds=run_timeout_seconds)
        if parent is None:
            self.rt._topic_seq.setdefault(ex.topic, 0)
        insert = Insert(
            "executions",
            _EXEC_COLUMNS,
            (
                ex.id,
                wf_id,
                workflow_type,
                "queued",
                payload_json,
                initial_state_json,
                None,
                ex.parent_id,
                ex.root_id,
                ex.root_workflow_id,
                parent_step_key,
                batch_index,
                ex.queue_name,
                concurrency_key,
                ex.session_id,
                ex.user_id,
                run_timeout_seconds,
                ex.deadline,
                now,
                now,
                self.rt.next_seq(),
                json.dumps(ex.trace_carrier) if ex.trace_carrier else None,
                self.rt.workers.owner_for(wf_id, parent),
            ),
        )
        return ex, insert

    def start_ops(self, ex: Exec, insert: Insert) -> tuple[list[Any], MakeEvent | None]:
        """The ops that journal the new run ``ex`` (``insert`` is its row from :meth:`new_exec`).

        A run that can start at once here (its workflow is defined in this process, its
        queue has a free slot; with several workers on the journal, this worker owns the
        run and its queue has no limit) is journaled ``running``, with its start event, in
        the transaction of its row: its task then begins without another commit. Its slot
        is taken now: once the ops are committed, call :meth:`started` before the run is
        adopted, or :meth:`not_started` if the commit failed. Any other run is journaled
        ``queued``, and its task journals its start.
        """
        workers = self.rt.workers
        if (
            self.rt.closed
            or (
                workers.shared
                and (
                    # Slots of a limited queue are counted across workers when a run begins
                    # (Workers.take_slot); a run another worker may take is left queued.
                    self.rt.admission.limits.get(ex.queue_name or "") is not None
                    or insert.values[_OWNER] != workers.id
                )
            )
            or ex.status != "queued"
            or ex.queue_name is None
            or registry.get_workflow(ex.workflow_id) is None
            or not self.rt.admission.free(ex.queue_name, ex.concurrency_key)
        ):
            return [insert], None
        self.rt.admission.try_acquire(ex.id, ex.queue_name, ex.concurrency_key)
        ex.status = "running"
        ex.started_at = ex.created_at
        values = list(insert.values)
        values[insert.columns.index("status")] = "running"
        row = Insert(
            insert.table,
            (*insert.columns, "started_at"),
            (*values, ex.started_at),
            insert.on_conflict,
        )
        event_row, make_event = self.rt._lifecycle_row(
            ex, f"{ex.workflow_type}_start", {}, encoded={"payload": ex.payload_json}
        )
        return [row, event_row], make_event

    def started(self, ex: Exec, event: MakeEvent | None) -> None:
        """The ops of :meth:`start_ops` are committed: deliver the run's start event, if
        they carried it."""
        if event is not None:
            self.rt.live.emit_lazy(ex.topic, event)

    def not_started(self, ex: Exec, event: MakeEvent | None) -> None:
        """The ops of :meth:`start_ops` were not committed: give back the slot they took."""
        if event is not None:
            ex.status = "queued"
            ex.started_at = None
            self.rt.admission.release(
                ex.id, ex.queue_name, ex.concurrency_key, self.rt._schedule_id
            )

    def prepare(
        self, workflow: Any, payload: Any, initial_state: Any
    ) -> tuple[registry.Workflow, str | None, str | None]:
        """Validate a start request; nothing is written if this raises."""
        wf_id = workflow.id if isinstance(workflow, registry.Workflow) else workflow
        if not isinstance(wf_id, str):
            raise UserError(f"Expected a workflow or a workflow id, got {workflow!r}.")
        wf = registry.get_workflow(wf_id)
        if wf is None and isinstance(workflow, registry.Workflow):
            registry.register(workflow)
            wf = workflow
        if wf is None and self.rt.workers.shared:
            # Several workers: a workflow defined only in other workers' code is started by
            # its id, its payload as given (the worker that runs it validates it). If no
            # live worker defines it, the start is logged (Workers.warn_unclaimed) and the
            # run's status says it waits for a worker (Workers.annotate); it is queued all
            # the same, for a worker that defines it and joins later.
            payload_json = (
                _serde.dumps(payload, what=f"The input of workflow {wf_id!r}")
                if payload is not None
                else None
            )
            return _Elsewhere(wf_id), payload_json, None  # type: ignore[return-value]
        if wf is None:
            raise WorkflowNotFoundError(wf_id, list(registry.get_all_workflows()))
        value = wf.validate_payload(payload)
        payload_json = (
            _serde.dumps(value, what=f"The input of workflow {wf.id!r}")
            if wf._takes_payload
            else None
        )
        state = wf.initial_state(initial_state)
        state_json = (
            _serde.dumps(state, what=f"The initial state of workflow {wf.id!r}")
            if state is not None
            else None
        )
        return wf, payload_json, state_json

    async def start(
        self,
        workflow: Any,
        payload: Any = None,
        *,
        initial_state: Any = None,
        queue_name: str | None = None,
        concurrency_key: str | None = None,
        session_id: str | None = None,
        user_id: str | None = None,
        run_timeout_seconds: float | None = None,
        queue_concurrency_limit: int | None = None,
        channel_context: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> ExecutionHandle:
        """Validate, journal and start a run of ``workflow``; its handle once committed.

        With ``idempotency_key``, a second start under the same key returns the first
        run's handle and writes nothing (the key and the execution commit together).
        """
        if idempotency_key is not None:
            if not isinstance(idempotency_key, str) or not idempotency_key:
                raise UserError(
                    f"idempotency_key must be a non-empty string (got {idempotency_key!r})."
                )
            # One keyed start at a time: the lookup and the commit below must not interleave.
            async with self.rt._start_key_lock:
                existing = await self._started_by_key(idempotency_key)
                if existing is not None:
                    return existing
                return await self._start(
                    workflow,
                    payload,
                    initial_state=initial_state,
                    queue_name=queue_name,
                    concurrency_key=concurrency_key,
                    session_id=session_id,
                    user_id=user_id,
                    run_timeout_seconds=run_timeout_seconds,
                    queue_concurrency_limit=queue_concurrency_limit,
                    channel_context=channel_context,
                    idempotency_key=idempotency_key,
                )
        return await self._start(
            workflow,
            payload,
            initial_state=initial_state,
            queue_name=queue_name,
            concurrency_key=concurrency_key,
            session_id=session_id,
            user_id=user_id,
            run_timeout_seconds=run_timeout_seconds,
            queue_concurrency_limit=queue_concurrency_limit,
            channel_context=channel_context,
        )

    async def _started_by_key(self, key: str) -> ExecutionHandle | None:
        row = await self.rt.read(self.rt.journal.started_by_key(key))
        if row is None:
            return None
        return ExecutionHandle(
            id=row.id,
            workflow_id=row.workflow_id,
            created_at=row.created_at,
            root_workflow_id=row.root_workflow_id,
            root_execution_id=row.root_execution_id,
            session_id=row.session_id,
            user_id=row.user_id,
        )

    async def _start(
        self,
        workflow: Any,
        payload: Any = None,
        *,
        initial_state: Any,
        queue_name: str | None,
        concurrency_key: str | None,
        session_id: str | None,
        user_id: str | None,
        run_timeout_seconds: float | None,
        queue_concurrency_limit: int | None,
        channel_context: dict[str, Any] | None,
        idempotency_key: str | None = None,
    ) -> ExecutionHandle:
        wf, payload_json, state_json = self.prepare(workflow, payload, initial_state)
        context_json = None
        if channel_context is not None:
            if not isinstance(channel_context, dict) or not channel_context.get("channel_id"):
                raise UserError(
                    "channel_context must be a dict with a 'channel_id' (and a 'source' dict), "
                    f"e.g. {{'channel_id': 'slack', 'source': {{'channel': 'C1'}}}} (got {channel_context!r})."
                )
            context_json = _serde.dumps(channel_context)
        if queue_concurrency_limit is not None:  # without queue_name: the workflow's own queue
            Queue(queue_name or wf.queue.name, queue_concurrency_limit)  # validates the limit
            self.rt.admission.set_limit(
                queue_name or wf.queue.name, queue_concurrency_limit, only_if_unset=True
            )
        ex, insert = self.new_exec(
            wf.id,
            wf.workflow_type,
            payload_json,
            initial_state_json=state_json,
            queue_name=queue_name or wf.queue.name,
            concurrency_key=concurrency_key,
            session_id=session_id,
            user_id=user_id,
            run_timeout_seconds=run_timeout_seconds
            if run_timeout_seconds is not None
            else wf.run_timeout_seconds,
        )
        if isinstance(wf, _Elsewhere) and queue_name is None:
            # The queue is the workflow's own, which only the workers that define it know:
            # journaled as NULL, and read from the definition by the worker that runs it.
            ex.queue_name = None
            values = list(insert.values)
            values[insert.columns.index("queue_name")] = None
            insert = Insert(insert.table, insert.columns, tuple(values))
        if queue_concurrency_limit is not None:  # journaled so the limit holds across a restart
            insert = Insert(
                insert.table,
                (*insert.columns, "queue_concurrency_limit"),
                (*insert.values, queue_concurrency_limit),
            )
        if context_json is not None:
            insert = Insert(
                insert.table, (*insert.columns, "channel_context"), (*insert.values, context_json)
            )
        ops, event = self.start_ops(ex, insert)
        if idempotency_key is not None:  # the key and the execution: one transaction
            ops.append(
                Insert(
                    "start_keys",
                    ("key", "execution_id", "created_at"),
                    (idempotency_key, ex.id, ex.created_at),
                )
            )
        try:
            await self.rt.commit(ops)
        except BaseException:
            self.not_started(ex, event)
            raise
        self.started(ex, event)
        self.rt.adopt(ex)
        if isinstance(wf, _Elsewhere):
            # Queued for other workers: say so if none alive defines the workflow (a typo,
            # or its workers are down). Not an error: a worker defining it may join later.
            await self.rt.workers.warn_unclaimed(wf.id, ex.id)
        return ex.handle()

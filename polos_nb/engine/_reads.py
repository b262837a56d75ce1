"""Reading the journal for users: executions, topics, histories, queue status, publishing."""

from __future__ import annotations

import asyncio
from typing import Any

from polos_nb import _serde
from polos_nb.errors import (
    ExecutionNotFoundError,
)

from ._admission import QueueStatus
from ._host import RuntimeHost
from ._records import (
    _aware,
    _info_from_row,
    _step_event,
)
from ._topics import validate_topic
from ._types import (
    TERMINAL_STATUSES,
    ExecutionInfo,
    StreamEvent,
)

__all__ = ["ReadsMixin"]


class ReadsMixin(RuntimeHost):
    """Part of :class:`Runtime` (mixed in); see its docstring."""

    async def publish(self, topic: str, event_type: str | None, data: Any) -> StreamEvent:
        """Publish one event from outside a workflow; returns it with its per-topic sequence."""
        validate_topic(topic)
        data_json = _serde.dumps(
            data if data is not None else {}, what=f"The data of the event on {topic!r}"
        )
        insert, event = await self.event_insert(topic, event_type, data_json, None)
        await self.commit_publish(topic, event, [insert])
        self.after_publish(topic, event)
        return event

    async def read_topic(
        self, topic: str, after_sequence_id: int = 0, limit: int | None = None
    ) -> list[StreamEvent]:
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
            event = StreamEvent(
                id=str(seq),
                sequence_id=topic_seq,
                topic=topic,
                event_type=event_type,
                data=_serde.loads(data, strict=False),
                created_at=_aware(created),
            )
            event._journal_seq = seq
            out.append(event)
        return out

    # ================================================================== reading
    def queue_status(self) -> list[QueueStatus]:
        """Running and queued executions per queue and concurrency key (queues with a limit)."""
        return self.admission.status()

    async def get_execution(self, execution_id: str) -> ExecutionInfo:
        row = await self.read(
            lambda con: con.execute(
                "SELECT id, workflow_id, workflow_type, status, payload, result, error, state, parent_execution_id,"
                " root_execution_id, root_workflow_id, parent_step_key, queue_name, concurrency_key, session_id,"
                " user_id, created_at, started_at, completed_at FROM executions WHERE id = ?",
                [execution_id],
            ).fetchone()
        )
        if row is None:
            raise ExecutionNotFoundError(execution_id)
        info = _info_from_row(row)
        held = self.blocking.blocked_view(
            execution_id
        )  # the journal cannot say it: it refuses writes
        if held is not None and info.status not in TERMINAL_STATUSES:
            info = info.model_copy(update={"status": held[0], "error": held[1]})
        return info

    async def list_executions(
        self,
        *,
        workflow_id: str | None = None,
        status: str | None = None,
        limit: int = 100,
        root_only: bool = False,
    ) -> list[ExecutionInfo]:
        where: list[str] = []
        params: list[Any] = []
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
                " ORDER BY created_at DESC LIMIT ?",
                params,
            ).fetchall()
        )
        return [_info_from_row(r) for r in rows]

    async def wait_terminal(self, execution_id: str) -> ExecutionInfo:
        """Wait until the execution ends; raise :class:`ExecutionBlockedError` if it is parked."""
        ex = self.execs.get(execution_id)
        if ex is not None and ex.status not in TERMINAL_STATUSES:
            blocked = self.blocking.blocked_error(ex)
            if blocked is not None:
                raise blocked
            if ex.done is None:
                ex.done = self.loop.create_future()
            outcome = await asyncio.shield(ex.done)
            if isinstance(outcome, BaseException):
                raise outcome
        return await self.get_execution(execution_id)

    async def history(
        self, root_execution_id: str, topic: str, after_seq: int = 0
    ) -> list[tuple[int, StreamEvent]]:
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
            out.append(
                (
                    seq,
                    StreamEvent(
                        id=str(seq),
                        sequence_id=topic_seq,
                        topic=topic,
                        event_type=event_type,
                        data=_serde.loads(data, strict=False),
                        created_at=_aware(created),
                    ),
                )
            )
        for seq, exec_id, wf_id, key, kind, attempt, status, output, error, started, ended in steps:
            out.append(
                (
                    seq,
                    _step_event(
                        exec_id,
                        wf_id,
                        topic,
                        key,
                        kind,
                        attempt,
                        status,
                        output,
                        error,
                        seq,
                        _aware(started),
                        _aware(ended),
                    ),
                )
            )
        out.sort(key=lambda pair: pair[0])
        return out

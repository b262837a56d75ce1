"""Reading the journal for users: executions, topics, histories, queue status, publishing."""

from __future__ import annotations

import asyncio
from typing import Any

from polos_nb import _serde
from polos_nb.errors import (
    ExecutionNotFoundError,
    UserError,
)

from ._admission import QueueStatus
from ._host import ReadsHost
from ._records import event_from_row, history_events, info_from_row
from ._topics import validate_topic
from ._types import (
    TERMINAL_STATUSES,
    ExecutionInfo,
    StreamEvent,
)

__all__ = ["Reads"]


class Reads:
    """Reading the journal for users (executions, topics, histories, queues) and publishing.

    A part of :class:`~polos_nb.engine._runtime.Runtime` (``rt.reads``); it reaches the
    runtime only through ``self.rt``, typed :class:`~polos_nb.engine._host.ReadsHost`.
    """

    def __init__(self, host: ReadsHost) -> None:
        self.rt = host

    async def publish(self, topic: str, event_type: str | None, data: Any) -> StreamEvent:
        """Publish one event from outside a workflow; returns it with its per-topic sequence."""
        validate_topic(topic)
        data_json = _serde.dumps(
            data if data is not None else {}, what=f"The data of the event on {topic!r}"
        )
        insert, event = await self.rt.event_insert(topic, event_type, data_json, None)
        await self.rt.commit_publish(topic, event, [insert])
        self.rt.after_publish(topic, event)
        return event

    async def read_topic(
        self, topic: str, after_sequence_id: int = 0, limit: int | None = None
    ) -> list[StreamEvent]:
        validate_topic(topic)
        rows = await self.rt.read(self.rt.journal.topic_events(topic, after_sequence_id, limit))
        return [event_from_row(row) for row in rows]

    # ================================================================== reading
    def queue_status(self) -> list[QueueStatus]:
        """Running and queued executions per queue and concurrency key (queues with a limit)."""
        return self.rt.admission.status()

    async def get_execution(self, execution_id: str) -> ExecutionInfo:
        row = await self.rt.read(self.rt.journal.info(execution_id))
        if row is None:
            raise ExecutionNotFoundError(execution_id)
        info = info_from_row(row)
        held = self.rt.blocking.blocked_view(
            execution_id
        )  # the journal cannot say it: it refuses writes
        if held is not None and info.status not in TERMINAL_STATUSES:
            info = info.model_copy(update={"status": held[0], "error": held[1]})
        if self.rt.workers.shared and info.status not in TERMINAL_STATUSES:
            # Several workers: does any live one define its workflow? (waiting_for_worker)
            info = (await self.rt.workers.annotate([info]))[0]
        return info

    async def channel_context(self, execution_id: str) -> dict[str, Any] | None:
        """Where the run tree of ``execution_id`` was started from (``invoke(channel_context=...)``).

        Read from the tree's root, so every execution of a Slack-started run answers the
        Slack thread. ``None`` when the run was not started from a channel.
        """
        text = await self.rt.read(self.rt.journal.channel_context(execution_id))
        if text is None:
            return None
        value = _serde.loads(text, strict=False)
        return value if isinstance(value, dict) else None

    async def channel_runs(self, *, active_only: bool = True) -> list[dict[str, Any]]:
        """Root runs started from a channel, newest first (only those not over, by default):
        ``{"id", "workflow_id", "root_workflow_id", "status", "created_at", "channel_context"}``."""
        rows = await self.rt.read(self.rt.journal.channel_runs(active_only))
        out = []
        for row in rows:
            context = _serde.loads(row.channel_context, strict=False)
            out.append({**row._asdict(), "channel_context": context})
        return out

    async def list_executions(
        self,
        *,
        workflow_id: str | None = None,
        status: str | None = None,
        limit: int = 100,
        root_only: bool = False,
    ) -> list[ExecutionInfo]:
        if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
            raise UserError(
                f"list_executions: limit must be a whole number of 1 or more (got {limit!r})."
            )
        rows = await self.rt.read(
            self.rt.journal.list_infos(
                workflow_id=workflow_id, status=status, root_only=root_only, limit=limit
            )
        )
        infos = [info_from_row(r) for r in rows]
        if self.rt.workers.shared:
            return await self.rt.workers.annotate(infos)
        return infos

    async def wait_terminal(self, execution_id: str) -> ExecutionInfo:
        """Wait until the execution ends; raise :class:`ExecutionBlockedError` if it is parked."""
        ex = self.rt.execs.get(execution_id)
        if ex is not None and ex.status not in TERMINAL_STATUSES:
            blocked = self.rt.blocking.blocked_error(ex)
            if blocked is not None:
                raise blocked
            if ex.done is None:
                ex.done = self.rt.loop.create_future()
            outcome = await asyncio.shield(ex.done)
            if isinstance(outcome, BaseException):
                raise outcome
            if isinstance(outcome, ExecutionInfo):
                return outcome  # ended here: what was committed, without reading it back
            if self.rt.workers.shared:  # given up here (a lapsed lease): driven elsewhere
                return await self.rt.workers.wait_elsewhere(execution_id)
        elif ex is None and self.rt.workers.shared:  # another worker may drive it
            return await self.rt.workers.wait_elsewhere(execution_id)
        return await self.get_execution(execution_id)

    async def history(
        self, root_execution_id: str, topic: str, after_seq: int = 0
    ) -> list[tuple[int, StreamEvent]]:
        """Persisted events of an execution tree (its topic events and step records), in journal order."""

        found = await self.rt.read(self.rt.journal.history(root_execution_id, topic, after_seq))
        return history_events(found, topic)

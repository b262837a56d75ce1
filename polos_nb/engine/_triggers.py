"""Event triggers: ``@workflow(trigger_on_event="order/new")`` starts executions from events.

Each (workflow, topic) pair has a cursor in the ``triggers`` table: the last event that
started (or was batched into) an execution. An execution and the cursor move are
committed together, so each event starts its workflow once and never twice — also when
the process dies between an event's commit and the workflow's start (the next process
picks the event up when the workflow is registered). A trigger registered for the first
time starts after the events already on its topic.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from polos_nb import _serde
from polos_nb.errors import UserError

from . import _workflow as registry
from ._context import _error_json
from ._types import EventPayload, StreamEvent
from .journal import Insert, UpdateWhere

if TYPE_CHECKING:
    from ._runtime import Runtime

__all__ = ["BatchEventPayload", "Triggers"]


class BatchEventPayload(BaseModel):
    """The payload of a batched trigger: the events, oldest first."""

    events: list[EventPayload]


def _payload(event: StreamEvent) -> EventPayload:
    return EventPayload(
        id=event.id,
        sequence_id=event.sequence_id or 0,
        topic=event.topic,
        event_type=event.event_type,
        data=event.data,
        created_at=event.created_at,
    )


class Triggers:
    """Runs the event triggers of one runtime (engine loop only)."""

    def __init__(self, runtime: Runtime) -> None:
        self._rt = runtime
        self._cursors: dict[tuple[str, str], int] = {}
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}
        self._timers: dict[tuple[str, str], Any] = {}

    def topics(self) -> set[str]:
        return {topic for _, topic in self._cursors}

    async def register(self, wf: registry.Workflow) -> None:
        """Make sure ``wf``'s trigger has a cursor, then start what its events ask for."""
        topic = wf.trigger_on_event
        if topic is None:
            return
        key = (wf.id, topic)
        rt = self._rt
        cursor = await rt.read(rt.journal.trigger_cursor(wf.id, topic))
        now = rt.clock.now()
        if cursor is None:
            top = await rt.read(rt.journal.max_topic_seq(topic))
            await rt.commit(
                [
                    Insert(
                        "triggers",
                        (
                            "workflow_id",
                            "topic",
                            "last_topic_seq",
                            "batch_size",
                            "batch_timeout_seconds",
                            "created_at",
                            "updated_at",
                        ),
                        (wf.id, topic, top, wf.batch_size, wf.batch_timeout_seconds, now, now),
                    )
                ]
            )
            self._cursors[key] = top
        else:
            self._cursors[key] = cursor
        await self.process(key)

    def on_event(self, topic: str, event: StreamEvent) -> None:
        """A committed event on ``topic``: process the triggers listening to it (the leader
        only, when several workers share the journal)."""
        if not self._rt.workers.leads:
            return
        for key in list(self._cursors):
            if key[1] == topic:
                self._rt.loop.create_task(self.process(key, event))

    def on_topic(self, topic: str) -> None:
        """Another worker committed events on ``topic``: process its triggers from their cursors."""
        for key in list(self._cursors):
            if key[1] == topic:
                self._rt.loop.create_task(self.process(key))

    async def process(self, key: tuple[str, str], event: StreamEvent | None = None) -> None:
        if not self._rt.workers.leads:
            return
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            await self._process(key, event)

    async def _process(self, key: tuple[str, str], event: StreamEvent | None = None) -> None:
        rt = self._rt
        wf_id, topic = key
        wf = registry.get_workflow(wf_id)
        if wf is None or wf.trigger_on_event != topic or rt.closed:
            return
        if event is not None and event.sequence_id == self._cursors[key] + 1:
            events = [event]  # the event just committed is the only new one: no read-back
        else:
            events = await rt.read_topic(topic, self._cursors[key])
        batched = wf.batch_size > 1 or wf.batch_timeout_seconds is not None
        while events:
            if batched:
                group = events[: wf.batch_size]
                if len(group) < wf.batch_size:
                    if wf.batch_timeout_seconds is None:
                        return  # wait for a full batch
                    due = group[0].created_at + dt.timedelta(seconds=wf.batch_timeout_seconds)
                    if rt.clock.now() < due:
                        self._arm(key, due)
                        return
                payload: Any = BatchEventPayload(events=[_payload(e) for e in group])
            else:
                group = events[:1]
                payload = _payload(group[0])
            events = events[len(group) :]
            await self._start(wf, key, group[-1].sequence_id or 0, payload)

    async def _start(
        self, wf: registry.Workflow, key: tuple[str, str], last_seq: int, payload: Any
    ) -> None:
        rt = self._rt
        value = _fit_payload(wf, payload)
        failure: UserError | None = None
        try:
            _, payload_json, state_json = rt.starts.prepare(wf, value, None)
        except (
            UserError
        ) as exc:  # an event the payload type refuses: a failed run, not a stuck trigger
            failure, payload_json, state_json = exc, _serde.dumps(payload), None
        ex, insert = rt.starts.new_exec(
            wf.id,
            wf.workflow_type,
            payload_json,
            initial_state_json=state_json,
            queue_name=wf.queue.name,
            run_timeout_seconds=wf.run_timeout_seconds,
        )
        now = rt.clock.now()
        if failure is not None:
            ex.status = "failed"
            values = tuple(
                "failed" if c == "status" else v
                for c, v in zip(insert.columns, insert.values, strict=False)
            )
            insert = Insert(
                insert.table,
                (*insert.columns, "error", "completed_at"),
                (*values, _error_json(failure), now),
            )
        await rt.commit(
            [
                insert,
                UpdateWhere(
                    "triggers",
                    ("last_topic_seq", "updated_at"),
                    (last_seq, now),
                    (("workflow_id", key[0]), ("topic", key[1])),
                ),
            ]
        )
        self._cursors[key] = last_seq
        if failure is None:
            rt.adopt(ex)

    def _arm(self, key: tuple[str, str], due: dt.datetime) -> None:
        old = self._timers.pop(key, None)
        if old is not None:
            old.cancel()
        rt = self._rt
        self._timers[key] = rt.clock.call_at(
            due, lambda: rt.loop.create_task(self.process(key)), rt.loop
        )


def _fit_payload(wf: registry.Workflow, payload: Any) -> Any:
    """Give the workflow the event itself, or the event's data when it declares another type."""
    declared = wf._payload_type
    if (
        declared is None
        or declared in (dict, Any)
        or (isinstance(declared, type) and isinstance(payload, declared))
    ):
        return payload
    if isinstance(payload, EventPayload):
        return payload.data
    return payload

"""Events: publish to topics, read a topic's history, stream an execution's events.

```python
from polos_nb import events, EventData

seq = await events.publish(client, "order/new", EventData(event_type="created", data={"id": 7}))
async for event in events.stream_workflow(client, handle.root_workflow_id, handle.id):
    print(event.event_type, event.data)
```

Every event is journaled with a per-topic ``sequence_id`` (D16). An execution tree's
lifecycle events (``workflow_start``, ``step_finish``, ``suspend_<key>``,
``resume_<key>``, ``workflow_finish`` …) are on the topic
``workflow/<root workflow id>/<root execution id>``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

from polos_nb.contracts import RESUME_PREFIX, STEP_FINISH, SUSPEND_PREFIX

from ._inbox import forward_publish
from ._types import EventData, StreamEvent

if TYPE_CHECKING:
    from ._client import PolosClient

__all__ = [
    "EventData",
    "StreamEvent",
    "batch_publish",
    "publish",
    "read_topic",
    "stream_topic",
    "stream_workflow",
]

_TERMINAL = re.compile(r"^[a-z]+_(finish|error|cancel)$")


async def publish(
    client: PolosClient,
    topic: str,
    event_data: EventData | dict[str, Any] | None = None,
    execution_id: str | None = None,
    root_execution_id: str | None = None,
) -> int:
    """Publish one event; returns its sequence number on the topic.

    Publishing from workflow code? Use ``ctx.step.publish_event`` so a replay does not
    publish twice.
    """
    if event_data is None:
        event_data = EventData()
    elif isinstance(event_data, dict):
        event_data = (
            EventData(**event_data)
            if set(event_data) <= {"event_type", "data"}
            else EventData(data=event_data)
        )
    locked = client._elsewhere
    if locked is not None:  # another process owns the journal: it publishes (engine/_inbox.py)
        return await forward_publish(locked, topic, event_data.event_type, event_data.data)
    event = await client._on_engine(
        client.runtime.publish(topic, event_data.event_type, event_data.data)
    )
    return int(event.sequence_id or 0)


async def batch_publish(client: PolosClient, topic: str, events: list[EventData]) -> list[int]:
    """Publish several events in order; returns their sequence numbers."""
    return [await publish(client, topic, e) for e in events]


async def read_topic(
    client: PolosClient, topic: str, after_sequence_id: int = 0, limit: int | None = None
) -> list[StreamEvent]:
    """The events on ``topic`` with a sequence number above ``after_sequence_id``, oldest first."""
    return await client._on_engine(client.runtime.read_topic(topic, after_sequence_id, limit))


async def _stream(
    client: PolosClient,
    topic: str,
    history: Callable[[], Any],
    after_journal_seq: int,
    stop: Callable[[StreamEvent], bool],
) -> AsyncIterator[StreamEvent]:
    runtime = client.runtime
    loop = asyncio.get_running_loop()
    inbox: asyncio.Queue[StreamEvent] = asyncio.Queue()

    def deliver(event: StreamEvent) -> None:
        loop.call_soon_threadsafe(inbox.put_nowait, event)

    async def subscribe() -> tuple[Callable[[], None], list[tuple[tuple[str, str], StreamEvent]]]:
        # at once: the live events emitted from now on come to the inbox, and what was
        # missed of the steps running now (their starts, the text they streamed so far)
        return runtime.live.subscribe_caught_up(topic, deliver)

    unsubscribe, missed = await client._on_engine(subscribe())
    seen: set[int] = set()  # journal seqs already yielded; live events may arrive out of seq order
    try:
        ended: set[tuple[str, str]] = set()  # steps whose step_finish the history holds
        for seq, event in await client._on_engine(history()):
            seen.add(seq)
            if event.event_type == STEP_FINISH and isinstance(event.data, dict):
                meta = event.data.get("_metadata") or {}
                ended.add((str(meta.get("execution_id")), str(event.data.get("step_key"))))
            yield event
            if stop(event):
                return
        for step, event in missed:
            if step not in ended:  # (a step that ended meanwhile is told by its step_finish)
                yield event
        while True:
            event = await inbox.get()
            seq = event._journal_seq
            if seq is not None:
                if seq <= after_journal_seq or seq in seen:
                    continue
                seen.add(seq)
            yield event
            if stop(event):
                return
    finally:
        # A stream left open (a loop broken out of) is closed when its generator is
        # collected, which may be after the engine has stopped: nothing to unsubscribe then.
        if not runtime.loop.is_closed():
            try:
                runtime.loop.call_soon_threadsafe(unsubscribe)
            except RuntimeError:  # closed meanwhile
                pass


def stream_workflow(
    client: PolosClient,
    workflow_id: str | None,
    workflow_run_id: str,
    last_sequence_id: int | None = None,
    last_timestamp: dt.datetime | None = None,
) -> AsyncIterator[StreamEvent]:
    """Stream an execution tree's events until the run ``workflow_run_id`` finishes, fails
    or is cancelled: first those already journaled, then the live ones.

    Where it starts:

    - ``last_sequence_id=N``: after the journal sequence ``N`` (``0``: every event);
    - ``last_timestamp=T`` (and no ``last_sequence_id``): events created after ``T``;
    - neither: every event, except the suspensions already answered (a ``suspend_<key>``
      whose ``resume_<key>`` is journaled). Upstream streams from the time of the call,
      and code written for it opens a stream per step of a form, takes the first
      ``suspend_`` event and answers it; here the stream also replays what came before
      the call (no event emitted between a resume and the next stream is lost), and
      answered suspensions are left out so that such a loop sees the pending one.

    ``workflow_id`` is the root workflow's id (kept for upstream compatibility; the
    topic is looked up from the execution).
    """
    after = last_sequence_id or 0
    if last_timestamp is not None and last_timestamp.tzinfo is None:
        last_timestamp = last_timestamp.replace(tzinfo=dt.UTC)  # naive: UTC, as upstream

    async def gen() -> AsyncIterator[StreamEvent]:
        info = await client.get_execution(workflow_run_id)
        topic = f"workflow/{info.root_workflow_id}/{info.root_execution_id}"

        def stop(event: StreamEvent) -> bool:
            meta = event.data.get("_metadata", {}) if isinstance(event.data, dict) else {}
            kind = event.event_type or ""
            return (
                bool(_TERMINAL.match(kind))
                and not kind.startswith(("step_", SUSPEND_PREFIX, RESUME_PREFIX))
                and meta.get("execution_id") == workflow_run_id
            )

        async def history() -> list[tuple[int, StreamEvent]]:
            # the journal's events (then _stream gives what was missed of the running steps)
            found = list(await client.runtime.history(info.root_execution_id, topic, after))
            if last_sequence_id is not None:
                return found
            if last_timestamp is not None:
                return [(seq, ev) for seq, ev in found if ev.created_at > last_timestamp]
            return _without_answered_suspensions(found)

        async for event in _stream(client, topic, history, after, stop):
            yield event

    return gen()


def _without_answered_suspensions(
    found: list[tuple[int, StreamEvent]],
) -> list[tuple[int, StreamEvent]]:
    def key(event: StreamEvent, prefix: str) -> tuple[str, str] | None:
        kind = event.event_type or ""
        if not kind.startswith(prefix):
            return None
        meta = event.data.get("_metadata", {}) if isinstance(event.data, dict) else {}
        return str(meta.get("execution_id")), kind[len(prefix) :]

    answered = {k for _, ev in found if (k := key(ev, RESUME_PREFIX)) is not None}
    return [(seq, ev) for seq, ev in found if key(ev, SUSPEND_PREFIX) not in answered]


def stream_topic(
    client: PolosClient, topic: str, last_sequence_id: int | None = None
) -> AsyncIterator[StreamEvent]:
    """Stream events on ``topic`` for ever. Starts after ``last_sequence_id`` (a per-topic
    sequence; ``0`` replays the whole history) or, by default, with events published from now on."""

    async def gen() -> AsyncIterator[StreamEvent]:
        runtime = client.runtime
        if last_sequence_id is None:
            existing = await read_topic(client, topic)
            start = existing[-1].sequence_id if existing else 0
        else:
            start = last_sequence_id

        async def history() -> list[tuple[int, StreamEvent]]:
            events = await runtime.read_topic(topic, start or 0)
            return [(e._journal_seq or 0, e) for e in events]

        async for event in _stream(client, topic, history, 0, lambda e: False):
            if event.sequence_id is not None and event.sequence_id <= (start or 0):
                continue
            yield event

    return gen()

"""Events (D16): per-topic sequences, exactly-once publishing, waiting, reading, streaming."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from polos_nb import (
    EventData,
    PolosClient,
    SerializationError,
    WorkflowContext,
    events,
    workflow,
)
from polos_nb.errors import InvalidTopicError
from tests.engine.helpers import rows, topic_name, wait_status


def uid(name: str) -> str:
    return f"{name}_{uuid.uuid4().hex[:10]}"


async def test_publish_assigns_per_topic_sequence(client):
    a, b = topic_name("seq.a"), topic_name("seq.b")
    assert await events.publish(client, a, EventData(event_type="x", data={"n": 1})) == 1
    assert await events.publish(client, a, {"event_type": "y", "data": [1]}) == 2
    assert await events.publish(client, b, {"plain": "dict"}) == 1
    assert await events.publish(client, a) == 3
    assert await events.batch_publish(client, b, [EventData(data=i) for i in range(2)]) == [2, 3]
    stored = await rows(
        client,
        "SELECT topic_seq, event_type, data FROM events WHERE topic = ? ORDER BY topic_seq",
        [a],
    )
    assert stored == [(1, "x", '{"n":1}'), (2, "y", "[1]"), (3, None, "{}")]
    assert [
        r[0]
        for r in await rows(
            client, "SELECT data FROM events WHERE topic = ? ORDER BY topic_seq", [b]
        )
    ] == [
        '{"plain":"dict"}',
        "0",
        "1",
    ]


async def test_sequence_continues_after_restart(journal_path):
    topic = topic_name("restart")
    client = PolosClient(journal=journal_path)
    assert await events.publish(client, topic, {"n": 1}) == 1
    assert await events.publish(client, topic, {"n": 2}) == 2
    client.close()
    client = PolosClient(journal=journal_path)
    try:
        assert await events.publish(client, topic, {"n": 3}) == 3
    finally:
        client.close()


async def test_lifecycle_event_sequence_unique_across_restart(journal_path):
    wf_id = uid("lifecycle_seq")

    @workflow(id=wf_id)
    async def flow(ctx: WorkflowContext) -> str:
        await ctx.step.suspend("hold")
        return "ok"

    client = PolosClient(journal=journal_path)
    handle = await flow.invoke(client)
    await wait_status(client, handle.id, "waiting")
    client.close()
    client = PolosClient(journal=journal_path)
    try:
        await client.resume(None, handle.id, "hold", {})
        await client.wait_for_result(handle.id, timeout=10)
        topic = f"workflow/{wf_id}/{handle.id}"
        stored = await rows(
            client, "SELECT topic_seq, event_type FROM events WHERE topic = ? ORDER BY seq", [topic]
        )
        assert stored == [
            (1, "workflow_start"),
            (2, "suspend_hold"),
            (3, "resume_hold"),
            (4, "workflow_finish"),
        ]
    finally:
        client.close()


async def test_invalid_topic(client):
    for bad in ["", "has space", "emoji/😀", "x" * 256, None]:
        with pytest.raises(InvalidTopicError):
            await events.publish(client, bad, {"a": 1})  # type: ignore[arg-type]
    with pytest.raises(InvalidTopicError, match="contains ' '"):
        await events.read_topic(client, "a b")
    assert await rows(client, "SELECT count(*) FROM events") == [(0,)]


async def test_unserialisable_event_data_writes_nothing(client):
    topic = topic_name("bad.data")

    class Opaque:
        pass

    with pytest.raises(SerializationError, match="Opaque"):
        await events.publish(client, topic, EventData(data={"x": Opaque()}))
    assert await rows(client, "SELECT count(*) FROM events WHERE topic = ?", [topic]) == [(0,)]
    # The failed publish did not use up a sequence number.
    assert await events.publish(client, topic, {"ok": True}) == 1


async def test_step_publish_event_is_exactly_once_across_replay(journal_path):
    wf_id = uid("publish_once")
    topic = topic_name("orders")

    @workflow(id=wf_id)
    async def flow(ctx: WorkflowContext) -> list:
        first = await ctx.step.publish_event("pub1", topic, {"order": 1}, event_type="created")
        second = await ctx.step.publish_event("pub2", topic, {"order": 2})
        await ctx.step.suspend("hold")
        return [first, second]

    client = PolosClient(journal=journal_path)
    handle = await flow.invoke(client)
    await wait_status(client, handle.id, "waiting")
    client.close()
    client = PolosClient(journal=journal_path)
    try:
        await client.resume(None, handle.id, "hold", {})
        assert await client.wait_for_result(handle.id, timeout=10) == [1, 2]
        stored = await rows(
            client,
            "SELECT topic_seq, event_type, data, execution_id FROM events WHERE topic = ? ORDER BY topic_seq",
            [topic],
        )
        assert stored == [
            (1, "created", '{"order":1}', handle.id),
            (2, None, '{"order":2}', handle.id),
        ]
    finally:
        client.close()


async def test_step_publish_with_bad_data_raises_in_workflow(client):
    wf_id = uid("publish_bad")
    topic = topic_name("bad.step")

    @workflow(id=wf_id)
    async def flow(ctx: WorkflowContext) -> str:
        try:
            await ctx.step.publish_event("pub", topic, {"fn": object()})
        except SerializationError as exc:
            return f"caught: {type(exc).__name__}"
        return "published"

    assert await flow.run(client, timeout=10) == "caught: SerializationError"
    assert await rows(client, "SELECT count(*) FROM events WHERE topic = ?", [topic]) == [(0,)]


async def test_wait_for_event_gets_first_event_after_wait_started(client):
    wf_id = uid("wait_event")
    topic = topic_name("pickup")

    @workflow(id=wf_id)
    async def flow(ctx: WorkflowContext) -> dict:
        event = await ctx.step.wait_for_event("ev", topic)
        return {
            "data": event.data,
            "seq": event.sequence_id,
            "type": event["event_type"],
            "topic": event.topic,
        }

    assert (
        await events.publish(client, topic, EventData(event_type="old", data={"n": "before"})) == 1
    )
    handle = await flow.invoke(client)
    await wait_status(client, handle.id, "waiting")
    await asyncio.sleep(0.1)
    assert (
        await client.get_execution(handle.id)
    ).status == "waiting"  # the earlier event is not delivered
    await events.publish(client, topic, EventData(event_type="new", data={"n": "after"}))
    await events.publish(client, topic, EventData(event_type="newer", data={"n": "later"}))
    assert await client.wait_for_result(handle.id, timeout=10) == {
        "data": {"n": "after"},
        "seq": 2,
        "type": "new",
        "topic": topic,
    }


async def test_wait_for_event_rearmed_after_restart(journal_path):
    wf_id = uid("wait_event_restart")
    topic = topic_name("restart.wait")

    @workflow(id=wf_id)
    async def flow(ctx: WorkflowContext) -> Any:
        return (await ctx.step.wait_for_event("ev", topic)).data

    client = PolosClient(journal=journal_path)
    handle = await flow.invoke(client)
    await wait_status(client, handle.id, "waiting")
    client.close()
    client = PolosClient(journal=journal_path)
    try:
        await events.publish(client, topic, {"v": 7})
        assert await client.wait_for_result(handle.id, timeout=10) == {"v": 7}
    finally:
        client.close()


async def test_read_topic_history(client):
    topic = topic_name("history")
    for i in range(5):
        await events.publish(client, topic, EventData(event_type=f"t{i}", data={"i": i}))
    history = await events.read_topic(client, topic)
    assert [(e.sequence_id, e.event_type, e.data) for e in history] == [
        (i + 1, f"t{i}", {"i": i}) for i in range(5)
    ]
    assert all(e.topic == topic and e.created_at.tzinfo is not None for e in history)
    assert [e.sequence_id for e in await events.read_topic(client, topic, after_sequence_id=3)] == [
        4,
        5,
    ]
    assert [
        e.sequence_id for e in await events.read_topic(client, topic, after_sequence_id=1, limit=2)
    ] == [2, 3]
    assert await events.read_topic(client, topic_name("empty")) == []


async def test_stream_workflow_history_stops_at_finish(client):
    wf_id = uid("stream_done")

    @workflow(id=wf_id)
    async def flow(ctx: WorkflowContext, payload: dict) -> int:
        a = await ctx.step.run("a", lambda: payload["x"] + 1)
        await ctx.step.publish_workflow_event("note", {"a": a}, event_type="custom")
        return a * 10

    handle = await flow.invoke(client, {"x": 1})
    assert await client.wait_for_result(handle.id, timeout=10) == 20
    seen = []

    async def consume() -> None:
        async for event in events.stream_workflow(client, wf_id, handle.id):
            seen.append(event)

    await asyncio.wait_for(consume(), timeout=10)  # the stream ends by itself
    kinds = [(e.event_type, e.data.get("step_key")) for e in seen]
    assert kinds == [
        ("workflow_start", None),
        ("step_finish", "a"),
        ("custom", None),
        ("step_finish", "note"),
        ("workflow_finish", None),
    ]
    assert seen[0].data["payload"] == {"x": 1}
    assert seen[1].data["result"] == 2 and seen[1].data["status"] == "completed"
    assert seen[2].data["a"] == 2
    assert seen[-1].data["result"] == 20
    assert seen[-1].data["_metadata"] == {"execution_id": handle.id, "workflow_id": wf_id}


async def test_stream_workflow_live(client):
    wf_id = uid("stream_live")

    @workflow(id=wf_id)
    async def flow(ctx: WorkflowContext) -> str:
        await ctx.step.run("before", lambda: 1)
        await ctx.step.suspend("hold", {"q": "?"})
        await ctx.step.run("after", lambda: 2)
        return "end"

    handle = await flow.invoke(client)
    await wait_status(client, handle.id, "waiting")
    seen: list[str] = []
    started = asyncio.Event()

    async def consume() -> None:
        async for event in events.stream_workflow(client, wf_id, handle.id):
            seen.append(event.event_type or "")
            if event.event_type == "suspend_hold":
                started.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(started.wait(), timeout=10)
    await client.resume(None, handle.id, "hold", {"a": 1})
    await asyncio.wait_for(task, timeout=10)
    persisted = [s for s in seen if s != "step_start"]  # step_start is live-only
    # Live delivery shows the suspend step's step_finish as soon as it is written, so it may come
    # before the resume_hold event that the journal orders first; nothing is lost or repeated.
    assert persisted[:3] == ["workflow_start", "step_finish", "suspend_hold"]
    assert sorted(persisted[3:6]) == ["resume_hold", "step_finish", "step_finish"]
    assert persisted[6:] == ["workflow_finish"]
    assert "step_start" in seen and seen[-1] == "workflow_finish"
    # A stream opened afterwards from sequence 0 replays the journal order exactly.
    replayed = [
        e.event_type
        async for e in events.stream_workflow(client, wf_id, handle.id, last_sequence_id=0)
    ]
    assert replayed == [
        "workflow_start",
        "step_finish",
        "suspend_hold",
        "resume_hold",
        "step_finish",
        "step_finish",
        "workflow_finish",
    ]
    # By default, the suspensions answered already are left out (upstream's stream starts
    # at the time of the call: a reader looking for the next suspend must not get this one).
    default = [e.event_type async for e in events.stream_workflow(client, wf_id, handle.id)]
    assert default == [k for k in replayed if k != "suspend_hold"]
    # Upstream's last_timestamp: the events created after it (a naive time is UTC).
    full = [e async for e in events.stream_workflow(client, wf_id, handle.id, last_sequence_id=0)]
    resumed_at = next(e.created_at for e in full if e.event_type == "resume_hold")
    later = [
        e.event_type
        async for e in events.stream_workflow(
            client, wf_id, handle.id, last_timestamp=resumed_at.replace(tzinfo=None)
        )
    ]
    assert later == [e.event_type for e in full if e.created_at > resumed_at]
    assert later[-1] == "workflow_finish" and "suspend_hold" not in later


async def test_stream_workflow_stops_on_failure(client):
    wf_id = uid("stream_fail")

    @workflow(id=wf_id)
    async def flow(ctx: WorkflowContext) -> None:
        raise RuntimeError("nope")

    handle = await flow.invoke(client)
    await wait_status(client, handle.id, "failed")

    async def collect() -> list:
        return [e async for e in events.stream_workflow(client, wf_id, handle.id)]

    got = await asyncio.wait_for(collect(), timeout=10)
    assert [e.event_type for e in got] == ["workflow_start", "workflow_error"]
    assert got[-1].data["error"]["type"] == "builtins.RuntimeError"


async def test_a_stream_that_begins_mid_step_gets_the_steps_catch_up_first(client):
    """``ctx.catch_up``: what a reader who joins while a step runs has missed of its live
    events comes right after the step's step_start, then the live events that follow."""
    import threading

    wf_id = uid("catch_up")
    paused, go = threading.Event(), threading.Event()

    @workflow(id=wf_id)
    async def flow(ctx: WorkflowContext) -> str:
        async def count() -> int:
            done: list[int] = []
            ctx.catch_up("count", lambda: [("progress", {"done": list(done)})] if done else [])
            for n in range(1, 5):
                done.append(n)
                ctx.emit("progress", {"done": [n]})
                if n == 2:
                    paused.set()
                    await asyncio.to_thread(go.wait, 30)
            return len(done)

        return str(await ctx.step.run("count", count))

    handle = await flow.invoke(client)
    assert await asyncio.to_thread(paused.wait, 30)
    info = await client.get_execution(handle.id)
    topic = f"workflow/{info.root_workflow_id}/{info.root_execution_id}"

    async def progress(stream: Any, out: list[Any]) -> None:
        async for event in stream:
            if event.event_type in ("step_start", "progress"):
                out.append(event.data.get("done") or event.data["step_key"])
            if event.event_type == "workflow_finish":
                return

    by_run: list[Any] = []
    on_topic: list[Any] = []  # events.stream_topic on the run's topic, from now on
    readers = [
        asyncio.create_task(progress(events.stream_workflow(client, wf_id, handle.id), by_run)),
        asyncio.create_task(progress(events.stream_topic(client, topic), on_topic)),
    ]
    for _ in range(200):
        if len(by_run) == 2 and len(on_topic) == 2:
            break
        await asyncio.sleep(0.01)
    assert by_run == on_topic == ["count", [1, 2]]  # before the step goes on
    go.set()
    await asyncio.wait_for(asyncio.gather(*readers), 10)
    assert by_run == on_topic == ["count", [1, 2], [3], [4]]
    assert await client.wait_for_result(handle.id, timeout=10) == "4"
    assert all(not ex.catch_up for ex in client.runtime.execs.values())

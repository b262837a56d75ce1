"""Event triggers (D16): one execution per event (or per batch), exactly once, also across
restarts and a SIGKILL between an event's commit and the workflow's start.

A trigger counts as registered once its cursor row is in the ``triggers`` table; events
published before that are not delivered (the documented rule), so tests wait for the row
before publishing.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import duckdb
import pytest
from pydantic import BaseModel

from polos_nb import (
    BatchEventPayload,
    EventPayload,
    PolosClient,
    SerializationError,
    WorkflowContext,
    events,
    workflow,
)
from polos_nb.engine import _workflow as registry
from polos_nb.errors import InvalidTopicError, UserError
from tests.engine import flow_child
from tests.engine.helpers import rows, settle, until

ROOT = Path(__file__).resolve().parents[2]
KILLED = -signal.SIGKILL


class Order(BaseModel):
    id: int
    amount: float


# ====================================================================== helpers
def uid(name: str) -> str:
    return f"{name}_{uuid.uuid4().hex[:10]}"


def utopic(name: str) -> str:
    return f"{name}/{uuid.uuid4().hex[:10]}"


def forget(wf_id: str) -> None:
    """Take a workflow out of the registry (as if its code was not loaded in this process)."""
    with registry._LOCK:
        registry._REGISTRY.pop(wf_id, None)


async def registered(client: PolosClient, wf_id: str, timeout: float = 10.0) -> int:
    """Wait until the trigger of ``wf_id`` has its cursor row; return the cursor."""
    deadline = time.monotonic() + timeout
    while True:
        found = await rows(
            client, "SELECT last_topic_seq FROM triggers WHERE workflow_id = ?", [wf_id]
        )
        if found:
            return found[0][0]
        assert time.monotonic() < deadline, f"trigger of {wf_id} never registered"
        await asyncio.sleep(0.01)


async def executions(
    client: PolosClient,
    wf_id: str,
    n: int | None = None,
    *,
    status: str | None = "completed",
    timeout: float = 10.0,
) -> list:
    """The executions of ``wf_id`` (oldest first) once there are ``n`` of them in ``status``."""
    deadline = time.monotonic() + timeout
    while True:
        found = sorted(
            await client.list_executions(workflow_id=wf_id, limit=10_000),
            key=lambda i: (i.created_at, i.id),
        )
        if n is None or (
            len(found) == n and all(status is None or i.status == status for i in found)
        ):
            return found
        assert len(found) <= n, f"{len(found)} executions of {wf_id}, expected {n}"
        assert time.monotonic() < deadline, (
            f"{[(i.id, i.status) for i in found]}, expected {n} {status}"
        )
        await asyncio.sleep(0.01)


async def publish(client: PolosClient, topic: str, data: Any, event_type: str | None = None) -> int:
    return await events.publish(client, topic, {"event_type": event_type, "data": data})


# ====================================================================== one execution per event
async def test_one_execution_per_event_with_event_payload(client):
    wf_id, topic = uid("on_order"), utopic("order/new")

    @workflow(id=wf_id, trigger_on_event=topic)
    async def on_order(ctx: WorkflowContext, event: EventPayload) -> dict:
        assert isinstance(event, EventPayload)
        return {
            "seq": event.sequence_id,
            "topic": event.topic,
            "type": event.event_type,
            "data": event.data,
        }

    assert await registered(client, wf_id) == 0
    for i in range(3):
        assert await publish(client, topic, {"n": i}, event_type="created") == i + 1
    done = await executions(client, wf_id, 3)
    results = sorted((i.result for i in done), key=lambda r: r["seq"])
    assert results == [
        {"seq": i + 1, "topic": topic, "type": "created", "data": {"n": i}} for i in range(3)
    ]
    for info in done:
        assert isinstance(info.payload, EventPayload) and info.payload.topic == topic
        assert info.queue_name == wf_id and info.parent_execution_id is None
    await settle()
    assert len(await executions(client, wf_id)) == 3
    assert await rows(
        client, "SELECT last_topic_seq FROM triggers WHERE workflow_id = ?", [wf_id]
    ) == [(3,)]


async def test_event_data_validated_into_declared_payload_type(client):
    wf_id, topic = uid("typed"), utopic("order/typed")

    @workflow(id=wf_id, trigger_on_event=topic)
    async def on_order(ctx: WorkflowContext, order: Order) -> dict:
        assert isinstance(order, Order)
        return {"id": order.id, "double": order.amount * 2}

    await registered(client, wf_id)
    await publish(client, topic, {"id": 7, "amount": 9.5})
    (info,) = await executions(client, wf_id, 1)
    assert info.result == {"id": 7, "double": 19.0}
    assert info.payload == Order(id=7, amount=9.5)


async def test_event_refused_by_the_payload_type_fails_its_run_and_does_not_block_the_trigger(
    client,
):
    wf_id, topic = uid("poison"), utopic("order/poison")

    @workflow(id=wf_id, trigger_on_event=topic)
    async def on_order(ctx: WorkflowContext, order: Order) -> int:
        return order.id

    await registered(client, wf_id)
    await publish(client, topic, {"id": "not a number", "amount": 1})
    await publish(client, topic, {"id": 8, "amount": 2})
    bad, good = await executions(client, wf_id, 2, status=None)
    bad, good = (bad, good) if bad.status == "failed" else (good, bad)
    assert bad.status == "failed" and bad.error["type"] == "polos_nb.errors.PayloadValidationError"
    assert "does not match Order" in bad.error["message"]
    assert bad.payload.sequence_id == 1 and bad.payload.data == {"id": "not a number", "amount": 1}
    assert await client.wait_for_result(good.id, timeout=10) == 8
    assert await rows(
        client, "SELECT last_topic_seq FROM triggers WHERE workflow_id = ?", [wf_id]
    ) == [(2,)]


async def test_events_published_before_the_trigger_was_registered_are_not_delivered(client):
    wf_id, topic = uid("late"), utopic("order/late")
    await publish(client, topic, {"n": "early-1"})
    await publish(client, topic, {"n": "early-2"})

    @workflow(id=wf_id, trigger_on_event=topic)
    async def on_order(ctx: WorkflowContext, event: EventPayload) -> Any:
        return event.data["n"]

    assert await registered(client, wf_id) == 2  # the cursor starts after the existing events
    await settle()
    assert await executions(client, wf_id) == []
    await publish(client, topic, {"n": "after"})
    (info,) = await executions(client, wf_id, 1)
    assert info.result == "after" and info.payload.sequence_id == 3


async def test_publish_from_a_workflow_triggers(client):
    trig_id, pub_id, topic = uid("on_pub"), uid("publisher"), utopic("pub")

    @workflow(id=trig_id, trigger_on_event=topic)
    async def on_pub(ctx: WorkflowContext, event: EventPayload) -> Any:
        return event.data

    @workflow(id=pub_id)
    async def publisher(ctx: WorkflowContext) -> int:
        first = await ctx.step.publish_event("one", topic, {"from": "workflow", "i": 1})
        await ctx.step.publish_event(
            "two", topic, {"from": "workflow", "i": 2}, event_type="second"
        )
        return first

    await registered(client, trig_id)
    assert await publisher.run(client, timeout=10) == 1
    done = await executions(client, trig_id, 2)
    assert sorted(i.result["i"] for i in done) == [1, 2]
    publisher_exec = (await executions(client, pub_id, 1))[0]
    assert await rows(
        client,
        "SELECT execution_id, topic_seq FROM events WHERE topic = ? ORDER BY topic_seq",
        [topic],
    ) == [(publisher_exec.id, 1), (publisher_exec.id, 2)]


async def test_unserialisable_event_starts_nothing_and_consumes_no_sequence(client):
    wf_id, topic = uid("bad_data"), utopic("bad")

    @workflow(id=wf_id, trigger_on_event=topic)
    async def on_event(ctx: WorkflowContext, event: EventPayload) -> int:
        return event.sequence_id

    await registered(client, wf_id)
    with pytest.raises(SerializationError):
        await publish(client, topic, {"handle": object()})
    await settle()
    assert await rows(client, "SELECT count(*) FROM events WHERE topic = ?", [topic]) == [(0,)]
    assert await executions(client, wf_id) == []
    assert await publish(client, topic, {"ok": True}) == 1
    (info,) = await executions(client, wf_id, 1)
    assert info.result == 1


@pytest.mark.parametrize(
    "topic", ["order new", "order/new!", "", "tab\there", "x" * 256, "ordre/é"]
)
async def test_illegal_trigger_topic_is_an_error_at_definition(client, topic):
    wf_id = uid("bad_topic")

    async def body(ctx: WorkflowContext, event: EventPayload) -> None:
        return None

    with pytest.raises(InvalidTopicError):
        workflow(id=wf_id, trigger_on_event=topic)(body)
    assert registry.get_workflow(wf_id) is None
    await settle()
    assert await rows(client, "SELECT count(*) FROM triggers") == [(0,)]


async def test_other_bad_trigger_options(client):
    async def body(ctx: WorkflowContext, event: Any) -> None:
        return None

    for options, message in [
        ({"batch_size": 0}, "batch_size must be a positive integer"),
        ({"batch_size": True}, "batch_size must be a positive integer"),
        ({"batch_size": 2, "batch_timeout_seconds": 0}, "batch_timeout_seconds must be positive"),
        ({"schedule": "0 9 * * *"}, "choose trigger_on_event or schedule"),
    ]:
        with pytest.raises(UserError, match=message):
            workflow(id=uid("bad_trigger"), trigger_on_event=utopic("t"), **options)(body)
    await settle()
    assert await rows(client, "SELECT count(*) FROM triggers") == [(0,)]
    assert await rows(client, "SELECT count(*) FROM schedules") == [(0,)]


# ====================================================================== batches (fake clock)
async def test_batch_size_and_timeout_on_fake_clock(fake_client, clock):
    wf_id, topic = uid("batch"), utopic("batch")
    t0 = clock.now()

    @workflow(id=wf_id, trigger_on_event=topic, batch_size=3, batch_timeout_seconds=10)
    async def on_batch(ctx: WorkflowContext, batch: BatchEventPayload) -> list:
        assert isinstance(batch, BatchEventPayload)
        return [e.data["n"] for e in batch.events]

    await registered(fake_client, wf_id)
    # A full batch starts at once.
    for n in (1, 2, 3):
        await publish(fake_client, topic, {"n": n})
    (first,) = await executions(fake_client, wf_id, 1)
    assert first.result == [1, 2, 3] and first.created_at == t0
    # A partial batch starts exactly when its oldest event is 10 s old.
    await publish(fake_client, topic, {"n": 4})
    clock.advance(4)
    await publish(fake_client, topic, {"n": 5})
    due = t0 + dt.timedelta(seconds=10)
    await until(lambda: due in clock.pending_timers(), what="batch timer")
    clock.set(due - dt.timedelta(milliseconds=1))
    await settle()
    assert len(await executions(fake_client, wf_id)) == 1
    clock.set(due)
    first, second = await executions(fake_client, wf_id, 2)
    assert second.result == [4, 5] and second.created_at == due
    assert [e.sequence_id for e in second.payload.events] == [4, 5]
    # A batch that fills up before its timeout does not wait for it.
    await publish(fake_client, topic, {"n": 6})
    clock.advance(3)
    await publish(fake_client, topic, {"n": 7})
    await publish(fake_client, topic, {"n": 8})
    third = (await executions(fake_client, wf_id, 3))[2]
    assert third.result == [6, 7, 8] and third.created_at == due + dt.timedelta(seconds=3)
    clock.advance(60)
    await settle()
    assert len(await executions(fake_client, wf_id)) == 3  # the old timer starts nothing
    assert await rows(
        fake_client, "SELECT last_topic_seq FROM triggers WHERE workflow_id = ?", [wf_id]
    ) == [(8,)]


async def test_batch_without_timeout_waits_for_a_full_batch(fake_client, clock):
    wf_id, topic = uid("batch_full"), utopic("batch")

    @workflow(id=wf_id, trigger_on_event=topic, batch_size=2)
    async def on_batch(ctx: WorkflowContext, batch: BatchEventPayload) -> list:
        return [e.data["n"] for e in batch.events]

    await registered(fake_client, wf_id)
    await publish(fake_client, topic, {"n": 1})
    clock.advance(days=3)
    await settle()
    assert await executions(fake_client, wf_id) == []
    await publish(fake_client, topic, {"n": 2})
    await publish(fake_client, topic, {"n": 3})
    (info,) = await executions(fake_client, wf_id, 1)
    assert info.result == [1, 2]
    await settle()
    assert len(await executions(fake_client, wf_id)) == 1  # event 3 waits for a partner


async def test_partial_batch_due_while_closed_starts_once_on_reopen(journal_path, clock):
    wf_id, topic = uid("batch_restart"), utopic("batch")
    t0 = clock.now()

    @workflow(id=wf_id, trigger_on_event=topic, batch_size=5, batch_timeout_seconds=30)
    async def on_batch(ctx: WorkflowContext, batch: BatchEventPayload) -> list:
        return [e.data["n"] for e in batch.events]

    client = PolosClient(journal=journal_path, clock=clock)
    await registered(client, wf_id)
    await publish(client, topic, {"n": 1})
    await publish(client, topic, {"n": 2})
    client.close()
    clock.advance(3600)  # the batch came due while no process had the journal open

    client = PolosClient(journal=journal_path, clock=clock)
    try:
        (info,) = await executions(client, wf_id, 1)
        assert info.result == [1, 2]
        assert info.created_at == t0 + dt.timedelta(seconds=3600)
    finally:
        client.close()
    client = PolosClient(journal=journal_path, clock=clock)
    try:
        await settle()
        assert len(await executions(client, wf_id)) == 1
    finally:
        client.close()


# ====================================================================== exactly once across restarts
async def test_exactly_once_across_close_and_reopen(journal_path):
    wf_id, topic = uid("restart_trig"), utopic("restart")

    @workflow(id=wf_id, trigger_on_event=topic)
    async def on_event(ctx: WorkflowContext, event: EventPayload) -> Any:
        return event.data["n"]

    client = PolosClient(journal=journal_path)
    try:
        await registered(client, wf_id)
        await publish(client, topic, {"n": 1})
        await publish(client, topic, {"n": 2})
        await executions(client, wf_id, 2)
    finally:
        client.close()

    client = PolosClient(journal=journal_path)  # reopening does not re-trigger
    try:
        await settle()
        assert len(await executions(client, wf_id)) == 2
        await publish(client, topic, {"n": 3})
        done = await executions(client, wf_id, 3)
        assert sorted(i.result for i in done) == [1, 2, 3]
    finally:
        client.close()

    # Events published while the workflow's code is not loaded start it once it is defined.
    definition = registry.get_workflow(wf_id)
    forget(wf_id)
    client = PolosClient(journal=journal_path)
    try:
        await publish(client, topic, {"n": 4})
        await settle()
        assert len(await executions(client, wf_id)) == 3
        registry.register(definition)
        done = await executions(client, wf_id, 4)
        assert sorted(i.result for i in done) == [1, 2, 3, 4]
    finally:
        client.close()

    client = PolosClient(journal=journal_path)
    try:
        await settle()
        assert len(await executions(client, wf_id)) == 4
        assert await rows(
            client, "SELECT last_topic_seq FROM triggers WHERE workflow_id = ?", [wf_id]
        ) == [(4,)]
    finally:
        client.close()


# ====================================================================== exactly once across SIGKILL
def launch(
    mode: str, args: dict[str, Any], timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "tests.engine.flow_child", mode, json.dumps(args)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def snapshot(path: Path, wf_id: str, topic: str) -> dict[str, Any]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return {
            "events": con.execute(
                "SELECT topic_seq, data FROM events WHERE topic = ?", [topic]
            ).fetchall(),
            "executions": con.execute(
                "SELECT status FROM executions WHERE workflow_id = ?", [wf_id]
            ).fetchall(),
            "cursor": con.execute(
                "SELECT last_topic_seq FROM triggers WHERE workflow_id = ?", [wf_id]
            ).fetchall(),
        }
    finally:
        con.close()


@pytest.mark.slow
@pytest.mark.parametrize(
    ("n", "when", "executions_at_kill", "cursor_at_kill"),
    [
        (1, "after", [], 0),  # the event is committed, the trigger has not started anything
        (2, "before", [], 0),  # dies just before the trigger's commit
        (
            2,
            "after",
            [("queued",)],
            1,
        ),  # the trigger's execution and cursor are committed, nothing ran
    ],
)
async def test_trigger_exactly_once_across_sigkill(
    journal_path, n, when, executions_at_kill, cursor_at_kill
):
    wf_id, topic = uid("kill_trig"), utopic("kill")
    proc = launch(
        "publish_kill",
        {
            "journal": str(journal_path),
            "wf_id": wf_id,
            "topic": topic,
            "data": {"order": 42},
            "n": n,
            "when": when,
        },
    )
    assert proc.returncode == KILLED, (
        f"expected SIGKILL, got {proc.returncode}: {proc.stdout}\n{proc.stderr[-3000:]}"
    )
    at_kill = snapshot(journal_path, wf_id, topic)
    assert at_kill["events"] == [(1, '{"order":42}')]
    assert at_kill["executions"] == executions_at_kill
    assert at_kill["cursor"] == [(cursor_at_kill,)]

    flow_child.define_trigger(wf_id, topic)  # the same code, defined in this process
    client = PolosClient(journal=journal_path)
    try:
        (info,) = await executions(client, wf_id, 1)
        assert info.result["seq"] == 1 and info.result["data"] == {"order": 42}
        await settle()
        assert len(await executions(client, wf_id)) == 1
    finally:
        client.close()
    client = PolosClient(journal=journal_path)
    try:
        await settle()
        assert len(await executions(client, wf_id)) == 1
        assert await rows(
            client, "SELECT last_topic_seq FROM triggers WHERE workflow_id = ?", [wf_id]
        ) == [(1,)]
    finally:
        client.close()

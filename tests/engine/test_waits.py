"""Waiting (D8-D11): suspend/resume, early resumes, timeouts and durable sleep on a fake clock."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import uuid
from typing import Any

import pytest

from polos_nb import (
    BatchWorkflowInput,
    EventPayload,
    ExecutionNotFoundError,
    PolosClient,
    ResumeError,
    WaitTimeoutError,
    WorkflowContext,
    workflow,
)
from tests.engine.helpers import rows, settle, until, wait_status


def uid(name: str) -> str:
    return f"{name}_{uuid.uuid4().hex[:10]}"


async def test_suspend_and_resume_returns_payload(client):
    wf_id = uid("suspend")

    @workflow(id=wf_id)
    async def flow(ctx: WorkflowContext) -> dict:
        resp = await ctx.step.suspend("approve", {"amount": 10, "_form": {"fields": ["approved"]}})
        assert isinstance(resp, EventPayload)
        return {
            "attr": resp.data,
            "item": resp["data"],
            "get": resp.get("data"),
            "type": resp.event_type,
        }

    handle = await flow.invoke(client)
    info = await wait_status(client, handle.id, "waiting")
    assert info.result is None
    waits = await rows(
        client, "SELECT step_key, kind, resolved_at FROM waits WHERE execution_id = ?", [handle.id]
    )
    assert waits == [("approve", "suspend", None)]
    suspend_event = await rows(
        client,
        "SELECT data->>'$.amount' FROM events WHERE event_type = 'suspend_approve' AND execution_id = ?",
        [handle.id],
    )
    assert suspend_event == [("10",)]
    await client.resume(wf_id, handle.id, "approve", {"approved": True, "note": ""})
    result = await client.wait_for_result(handle.id, timeout=10)
    payload = {"approved": True, "note": ""}
    assert result == {"attr": payload, "item": payload, "get": payload, "type": "resume_approve"}
    resolved = await rows(
        client, "SELECT resolved_at IS NOT NULL FROM waits WHERE execution_id = ?", [handle.id]
    )
    assert resolved == [(True,)]


async def test_early_resume_is_kept_and_delivered(fake_client, clock):
    wf_id = uid("early")
    start = clock.now()

    @workflow(id=wf_id)
    async def flow(ctx: WorkflowContext) -> Any:
        await ctx.step.wait_for("nap", seconds=30)
        resp = await ctx.step.suspend("approve")
        return resp.data

    handle = await flow.invoke(fake_client)
    await until(
        lambda: start + dt.timedelta(seconds=30) in clock.pending_timers(), what="sleep timer"
    )
    await fake_client.resume(None, handle.id, "approve", {"early": 1})
    mailbox = await rows(
        fake_client, "SELECT step_key, data FROM mailbox WHERE execution_id = ?", [handle.id]
    )
    assert mailbox == [("approve", '{"early":1}')]
    assert (await fake_client.get_execution(handle.id)).status == "waiting"
    with pytest.raises(ResumeError, match="already resumed"):
        await fake_client.resume(None, handle.id, "approve", {"early": 2})
    clock.advance(30)
    assert await fake_client.wait_for_result(handle.id, timeout=10) == {"early": 1}
    assert (
        await rows(fake_client, "SELECT * FROM mailbox WHERE execution_id = ?", [handle.id]) == []
    )


async def test_early_resume_survives_restart(journal_path, clock):
    wf_id = uid("early_restart")
    start = clock.now()

    @workflow(id=wf_id)
    async def flow(ctx: WorkflowContext) -> Any:
        await ctx.step.wait_for("nap", minutes=5)
        return (await ctx.step.suspend("approve")).data

    client = PolosClient(journal=journal_path, clock=clock)
    handle = await flow.invoke(client)
    await until(
        lambda: start + dt.timedelta(minutes=5) in clock.pending_timers(), what="sleep timer"
    )
    await client.resume(None, handle.id, "approve", ["kept"])
    client.close()

    client = PolosClient(journal=journal_path, clock=clock)
    try:
        await until(
            lambda: start + dt.timedelta(minutes=5) in clock.pending_timers(), what="re-armed timer"
        )
        clock.advance(minutes=5)
        assert await client.wait_for_result(handle.id, timeout=10) == ["kept"]
    finally:
        client.close()


async def test_resume_errors(client):
    wf_id = uid("resume_errors")

    @workflow(id=wf_id)
    async def flow(ctx: WorkflowContext) -> list:
        first = await ctx.step.suspend("one")
        second = await ctx.step.suspend("two")
        return [first.data, second.data]

    handle = await flow.invoke(client)
    await wait_status(client, handle.id, "waiting")
    with pytest.raises(ExecutionNotFoundError):
        await client.resume(None, "no-such-execution", "one", {})
    await client.resume(None, handle.id, "one", 1)
    with pytest.raises(
        ResumeError, match=f"Step 'one' of execution {handle.id} was already resumed"
    ):
        await client.resume(None, handle.id, "one", 99)
    await until(
        lambda: (
            "two"
            in (client.runtime.execs[handle.id].waits if handle.id in client.runtime.execs else {})
        ),
        what="second suspension",
    )
    await client.resume(None, handle.id, "two", 2)
    assert await client.wait_for_result(handle.id, timeout=10) == [1, 2]
    with pytest.raises(
        ResumeError, match=f"Execution {handle.id} has already ended \\(completed\\)"
    ):
        await client.resume(None, handle.id, "two", 3)
    with pytest.raises(ResumeError, match="already ended"):
        await client.resume(None, handle.id, "never-used", 3)


async def test_resume_of_a_non_suspend_wait_is_refused(fake_client, clock):
    wf_id = uid("resume_sleep")

    @workflow(id=wf_id)
    async def flow(ctx: WorkflowContext) -> None:
        await ctx.step.wait_for("nap", seconds=10)

    handle = await flow.invoke(fake_client)
    await until(lambda: clock.pending_timers(), what="timer")
    with pytest.raises(ResumeError, match="waits at 'nap' for 'sleep', not for a resume"):
        await fake_client.resume(None, handle.id, "nap", {})
    clock.advance(10)
    assert await fake_client.wait_for_result(handle.id, timeout=10) is None


async def test_same_suspend_key_in_two_children_is_scoped(client):
    child_id = uid("d10_child")
    parent_id = uid("d10_parent")

    @workflow(id=child_id)
    async def child(ctx: WorkflowContext, payload: dict) -> dict:
        resp = await ctx.step.suspend("approve", {"who": payload["n"]})
        return {"n": payload["n"], "got": resp.data}

    @workflow(id=parent_id)
    async def parent(ctx: WorkflowContext) -> list:
        results = await ctx.step.batch_invoke_and_wait(
            "kids",
            [
                BatchWorkflowInput(id=child_id, payload={"n": 0}),
                BatchWorkflowInput(id=child_id, payload={"n": 1}),
            ],
        )
        return [r.result for r in results]

    handle = await parent.invoke(client)

    async def waiting_children() -> list:
        return await client.list_executions(workflow_id=child_id, status="waiting")

    deadline = time.monotonic() + 10
    kids = await waiting_children()
    while len(kids) < 2:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.01)
        kids = await waiting_children()
    by_n = {k.payload["n"]: k.id for k in kids}
    # Addressing the suspension by the root is ambiguous here: the error names both.
    with pytest.raises(ResumeError, match="Several executions") as info:
        await client.resume(None, handle.id, "approve", {})
    assert by_n[0] in str(info.value) and by_n[1] in str(info.value)
    await client.resume(child_id, by_n[1], "approve", "for one")
    one = await wait_status(client, by_n[1], "completed")
    assert one.result == {"n": 1, "got": "for one"}
    assert (await client.get_execution(by_n[0])).status == "waiting"
    await client.resume(child_id, by_n[0], "approve", "for zero")
    assert await client.wait_for_result(handle.id, timeout=10) == [
        {"n": 0, "got": "for zero"},
        {"n": 1, "got": "for one"},
    ]


async def test_resume_by_root_reaches_the_only_suspended_child(client):
    child_id = uid("root_child")
    parent_id = uid("root_parent")

    @workflow(id=child_id)
    async def child(ctx: WorkflowContext) -> Any:
        return (await ctx.step.suspend("approve")).data

    @workflow(id=parent_id)
    async def parent(ctx: WorkflowContext) -> Any:
        return await ctx.step.invoke_and_wait("kid", child_id)

    handle = await parent.invoke(client)
    deadline = time.monotonic() + 10
    while not await client.list_executions(workflow_id=child_id, status="waiting"):
        assert time.monotonic() < deadline
        await asyncio.sleep(0.01)
    await client.resume(parent_id, handle.id, "approve", {"via": "root"})
    assert await client.wait_for_result(handle.id, timeout=10) == {"via": "root"}


async def test_suspend_timeout_fires_at_deadline_and_is_catchable(fake_client, clock):
    wf_id = uid("suspend_timeout")
    start = clock.now()
    deadline = start + dt.timedelta(seconds=60)

    @workflow(id=wf_id)
    async def flow(ctx: WorkflowContext) -> dict:
        try:
            await ctx.step.suspend("approve", timeout=60)
        except WaitTimeoutError as exc:
            return {"what": exc.what, "deadline": exc.deadline, "message": str(exc)}
        return {"resumed": True}

    handle = await flow.invoke(fake_client)
    await until(lambda: deadline in clock.pending_timers(), what="deadline timer")
    clock.advance(59.999)
    await settle()
    assert (await fake_client.get_execution(handle.id)).status == "waiting"
    clock.advance(0.001)
    result = await fake_client.wait_for_result(handle.id, timeout=10)
    assert result["what"] == f"Suspension 'approve' of execution {handle.id}"
    assert result["deadline"] == deadline.isoformat()
    assert (
        result["message"]
        == f"Suspension 'approve' of execution {handle.id} timed out at {deadline.isoformat()}."
    )
    step = await rows(
        fake_client,
        "SELECT status, error->>'$.type' FROM steps WHERE execution_id = ?",
        [handle.id],
    )
    assert step == [("failed", "polos_nb.errors.WaitTimeoutError")]
    with pytest.raises(ResumeError):
        await fake_client.resume(None, handle.id, "approve", {})


async def test_resume_before_timeout_cancels_the_deadline(fake_client, clock):
    wf_id = uid("suspend_in_time")

    @workflow(id=wf_id)
    async def flow(ctx: WorkflowContext) -> Any:
        return (await ctx.step.suspend("approve", timeout=dt.timedelta(minutes=1))).data

    handle = await flow.invoke(fake_client)
    await until(lambda: clock.pending_timers(), what="deadline timer")
    clock.advance(30)
    await fake_client.resume(None, handle.id, "approve", "yes")
    assert await fake_client.wait_for_result(handle.id, timeout=10) == "yes"
    assert clock.pending_timers() == []


async def test_wait_for_event_timeout(fake_client, clock):
    wf_id = uid("event_timeout")
    topic = f"orders/{uuid.uuid4().hex[:8]}"
    deadline = clock.now() + dt.timedelta(seconds=5)

    @workflow(id=wf_id)
    async def flow(ctx: WorkflowContext) -> str:
        try:
            await ctx.step.wait_for_event("ev", topic, timeout=5)
        except WaitTimeoutError as exc:
            return str(exc)
        return "got event"

    handle = await flow.invoke(fake_client)
    await until(lambda: deadline in clock.pending_timers(), what="deadline timer")
    clock.advance(4.5)
    await settle()
    assert (await fake_client.get_execution(handle.id)).status == "waiting"
    clock.advance(0.5)
    assert await fake_client.wait_for_result(handle.id, timeout=10) == (
        f"Event wait 'ev' on {topic!r} of execution {handle.id} timed out at {deadline.isoformat()}."
    )


async def test_uncaught_wait_timeout_fails_the_run(fake_client, clock):
    wf_id = uid("timeout_uncaught")

    @workflow(id=wf_id)
    async def flow(ctx: WorkflowContext) -> None:
        await ctx.step.suspend("approve", timeout=1)

    handle = await flow.invoke(fake_client)
    await until(lambda: clock.pending_timers(), what="deadline timer")
    clock.advance(1)
    with pytest.raises(WaitTimeoutError, match="Suspension 'approve'"):
        await fake_client.wait_for_result(handle.id, timeout=10)
    info = await fake_client.get_execution(handle.id)
    assert info.status == "failed" and info.error["type"] == "polos_nb.errors.WaitTimeoutError"


async def test_durable_sleep_wakes_exactly_at_wake_time(fake_client, clock):
    wf_id = uid("sleep")
    start = clock.now()
    wake_until = start + dt.timedelta(hours=2)

    @workflow(id=wf_id)
    async def flow(ctx: WorkflowContext) -> list:
        await ctx.step.wait_for("nap", minutes=1, seconds=30)
        first = await ctx.step.now("t1")
        await ctx.step.wait_until("alarm", wake_until.replace(tzinfo=None))  # naive = UTC
        second = await ctx.step.now("t2")
        return [first, second]

    handle = await flow.invoke(fake_client)
    await until(
        lambda: start + dt.timedelta(seconds=90) in clock.pending_timers(), what="sleep timer"
    )
    wake = await rows(
        fake_client, "SELECT kind, wake_at FROM waits WHERE execution_id = ?", [handle.id]
    )
    assert wake == [("sleep", start + dt.timedelta(seconds=90))]
    clock.advance(89.999)
    await settle()
    assert (await fake_client.get_execution(handle.id)).status == "waiting"
    clock.advance(0.001)
    await until(lambda: wake_until in clock.pending_timers(), what="wait_until timer")
    clock.set(wake_until - dt.timedelta(microseconds=1))
    await settle()
    assert (await fake_client.get_execution(handle.id)).status == "waiting"
    clock.set(wake_until)
    result = await fake_client.wait_for_result(handle.id, timeout=10)
    ms = lambda t: int(t.timestamp() * 1000)  # noqa: E731
    assert result == [ms(start + dt.timedelta(seconds=90)), ms(wake_until)]


async def test_wait_until_in_the_past_returns_at_once(fake_client, clock):
    wf_id = uid("sleep_past")

    @workflow(id=wf_id)
    async def flow(ctx: WorkflowContext) -> str:
        await ctx.step.wait_until("past", clock.now() - dt.timedelta(days=1))
        return "awake"

    assert await flow.run(fake_client, timeout=10) == "awake"


async def test_durable_sleep_survives_restart(journal_path, clock):
    wf_id = uid("sleep_restart")
    start = clock.now()
    wake = start + dt.timedelta(hours=1)

    @workflow(id=wf_id)
    async def flow(ctx: WorkflowContext) -> str:
        await ctx.step.wait_for("hour", hours=1)
        return "awake"

    client = PolosClient(journal=journal_path, clock=clock)
    handle = await flow.invoke(client)
    await until(lambda: wake in clock.pending_timers(), what="sleep timer")
    client.close()
    clock.advance(minutes=30)  # time passes while no process runs

    client = PolosClient(journal=journal_path, clock=clock)
    try:
        # Re-armed at the journaled wake time, not an hour after the restart.
        await until(lambda: wake in clock.pending_timers(), what="re-armed timer")
        assert start + dt.timedelta(minutes=90) not in clock.pending_timers()
        clock.advance(minutes=29, seconds=59)
        await settle()
        assert (await client.get_execution(handle.id)).status == "waiting"
        clock.advance(seconds=1)
        assert await client.wait_for_result(handle.id, timeout=10) == "awake"
    finally:
        client.close()


async def test_run_timeout_fails_the_run(fake_client, clock):
    wf_id = uid("run_timeout")
    start = clock.now()

    @workflow(id=wf_id)
    async def flow(ctx: WorkflowContext) -> None:
        await ctx.step.suspend("forever")

    handle = await fake_client.invoke(wf_id, run_timeout_seconds=100)
    await wait_status(fake_client, handle.id, "waiting")
    clock.advance(99)
    await settle()
    assert (await fake_client.get_execution(handle.id)).status == "waiting"
    clock.advance(1)
    with pytest.raises(WaitTimeoutError) as info:
        await fake_client.wait_for_result(handle.id, timeout=10)
    deadline = (start + dt.timedelta(seconds=100)).isoformat()
    assert str(info.value) == f"Run of execution {handle.id} ({wf_id}) timed out at {deadline}."
    execution = await fake_client.get_execution(handle.id)
    assert execution.status == "failed"
    assert execution.error["type"] == "polos_nb.errors.WaitTimeoutError"
    assert execution.completed_at == start + dt.timedelta(seconds=100)
    with pytest.raises(ResumeError):
        await fake_client.resume(None, handle.id, "forever", {})

"""Child workflows (D15): invoke, wait, batches in submission order, failures, cancellation."""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
import time
import uuid

import pytest

from polos_nb import (
    BatchStepResult,
    BatchWorkflowInput,
    ChildWorkflowError,
    ExecutionCancelledError,
    ExecutionHandle,
    PolosClient,
    WorkflowContext,
    workflow,
)
from tests.engine.helpers import rows, wait_status


def uid(name: str) -> str:
    return f"{name}_{uuid.uuid4().hex[:10]}"


async def children_of(
    client: PolosClient, parent_id: str, n: int, status: str | None = None
) -> list[tuple]:
    """Wait until ``parent_id`` has ``n`` children (optionally all in ``status``); ordered by batch index."""
    deadline = time.monotonic() + 10
    while True:
        found = await rows(
            client,
            "SELECT id, status, parent_step_key, batch_index FROM executions WHERE parent_execution_id = ?"
            " ORDER BY batch_index, created_at",
            [parent_id],
        )
        if len(found) >= n and (status is None or all(r[1] == status for r in found)):
            return found
        assert time.monotonic() < deadline, found
        await asyncio.sleep(0.01)


async def test_invoke_fire_and_forget_and_replay_does_not_start_twice(journal_path):
    child_id, parent_id = uid("ff_child"), uid("ff_parent")
    ran = threading.Event()

    @workflow(id=child_id)
    async def child(ctx: WorkflowContext, payload: dict) -> int:
        ran.set()
        return payload["n"] * 2

    @workflow(id=parent_id)
    async def parent(ctx: WorkflowContext) -> dict:
        handle = await ctx.step.invoke("start-child", child, {"n": 21})
        assert isinstance(handle, ExecutionHandle)
        await ctx.step.suspend("hold")
        return {"child": handle.id, "parent_of_child": handle.parent_execution_id}

    client = PolosClient(journal=journal_path)
    handle = await parent.invoke(client)
    await wait_status(client, handle.id, "waiting")
    (kid,) = await children_of(client, handle.id, 1)
    assert kid[2] == "start-child" and kid[3] is None
    info = await wait_status(client, kid[0], "completed")
    assert info.result == 42 and ran.is_set()
    assert info.parent_execution_id == handle.id and info.root_execution_id == handle.id
    assert info.root_workflow_id == parent_id and info.step_key == "start-child"
    client.close()

    client = PolosClient(journal=journal_path)
    try:
        await client.resume(None, handle.id, "hold", {})
        result = await client.wait_for_result(handle.id, timeout=10)
        assert result == {"child": kid[0], "parent_of_child": handle.id}
        assert (
            len(
                await rows(
                    client, "SELECT id FROM executions WHERE parent_execution_id = ?", [handle.id]
                )
            )
            == 1
        )
        # The replayed handle is bound to a client and can be awaited.
        assert await client.wait_for_result(kid[0], timeout=10) == 42
    finally:
        client.close()


async def test_invoke_and_wait_returns_child_result(client):
    child_id, parent_id = uid("iw_child"), uid("iw_parent")

    @workflow(id=child_id)
    async def child(ctx: WorkflowContext, payload: dict) -> dict:
        value = await ctx.step.run("compute", lambda: payload["x"] + 1)
        return {"value": value, "none": None, "empty": []}

    @workflow(id=parent_id)
    async def parent(ctx: WorkflowContext) -> list:
        first = await ctx.step.invoke_and_wait("one", child_id, {"x": 1})
        second = await ctx.step.invoke_and_wait("two", child, {"x": 10})
        return [first, second]

    assert await parent.run(client, timeout=10) == [
        {"value": 2, "none": None, "empty": []},
        {"value": 11, "none": None, "empty": []},
    ]
    steps = await rows(
        client,
        "SELECT s.step_key, s.kind, s.status FROM steps s JOIN executions e ON e.id = s.execution_id"
        " WHERE e.workflow_id = ? ORDER BY s.position",
        [parent_id],
    )
    assert steps == [("one", "invoke_wait", "completed"), ("two", "invoke_wait", "completed")]


async def test_batch_results_in_submission_order(fake_client, clock):
    child_id, parent_id = uid("batch_child"), uid("batch_parent")
    finished: list[int] = []
    lock = threading.Lock()

    @workflow(id=child_id)
    async def child(ctx: WorkflowContext, payload: dict) -> str:
        await ctx.step.wait_for("delay", seconds=payload["delay"])

        def mark() -> None:
            with lock:
                finished.append(payload["i"])

        await ctx.step.run("mark", mark)
        return f"child-{payload['i']}"

    @workflow(id=parent_id)
    async def parent(ctx: WorkflowContext) -> list:
        results = await ctx.step.batch_invoke_and_wait(
            "batch",
            [
                BatchWorkflowInput(id=child_id, payload={"i": i, "delay": 30 - 10 * i})
                for i in range(3)
            ],
        )
        assert all(isinstance(r, BatchStepResult) for r in results)
        return [(r.workflow_id, r.success, r.result, r["error"]) for r in results]

    handle = await parent.invoke(fake_client)
    kids = await children_of(fake_client, handle.id, 3, status="waiting")
    assert [k[3] for k in kids] == [0, 1, 2]
    for _ in range(3):
        before = len(finished)
        clock.advance(10)
        deadline = time.monotonic() + 10
        while len(finished) == before:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.01)
    assert finished == [2, 1, 0]  # children finished in reverse order
    result = await fake_client.wait_for_result(handle.id, timeout=10)
    assert result == [
        (child_id, True, "child-0", None),
        (child_id, True, "child-1", None),
        (child_id, True, "child-2", None),
    ]


async def test_batch_invoke_returns_handles_in_order(client):
    child_id, parent_id = uid("bi_child"), uid("bi_parent")

    @workflow(id=child_id)
    async def child(ctx: WorkflowContext, payload: int) -> int:
        return payload * payload

    @workflow(id=parent_id)
    async def parent(ctx: WorkflowContext) -> list:
        handles = await ctx.step.batch_invoke(
            "spawn",
            [BatchWorkflowInput(id=child_id, payload=n) for n in (3, 1, 2)]
            + [{"id": child, "payload": 4}],
        )
        return [h.id for h in handles]

    ids = await parent.run(client, timeout=10)
    assert len(ids) == 4 and len(set(ids)) == 4
    results = [await client.wait_for_result(i, timeout=10) for i in ids]
    assert results == [9, 1, 4, 16]
    batch_index = await rows(
        client, "SELECT id, batch_index FROM executions WHERE id IN (SELECT unnest(?))", [ids]
    )
    assert dict(batch_index) == {i: n for n, i in enumerate(ids)}


async def test_child_failure_reaches_parent_as_catchable_error(client):
    child_id, parent_id = uid("fail_child"), uid("fail_parent")

    @workflow(id=child_id)
    async def child(ctx: WorkflowContext) -> None:
        raise ValueError("child broke")

    @workflow(id=parent_id)
    async def parent(ctx: WorkflowContext) -> dict:
        try:
            await ctx.step.invoke_and_wait("kid", child_id)
        except ChildWorkflowError as exc:
            return {"key": exc.step_key, "type": exc.error_type, "message": exc.error_message}
        return {"caught": False}

    handle = await parent.invoke(client)
    result = await client.wait_for_result(handle.id, timeout=10)
    (kid,) = await children_of(client, handle.id, 1)
    assert result["key"] == "kid"
    assert result["type"] == "polos_nb.errors.ChildWorkflowError"
    assert (
        result["message"] == f"child {child_id} ({kid[0]}) failed: builtins.ValueError: child broke"
    )
    step = await rows(
        client,
        "SELECT status, kind FROM steps WHERE execution_id = ? AND step_key = 'kid'",
        [handle.id],
    )
    assert step == [("failed", "invoke_wait")]


async def test_uncaught_child_failure_fails_parent(client):
    child_id, parent_id = uid("fail2_child"), uid("fail2_parent")

    @workflow(id=child_id)
    async def child(ctx: WorkflowContext) -> None:
        raise RuntimeError("deep")

    @workflow(id=parent_id)
    async def parent(ctx: WorkflowContext) -> None:
        await ctx.step.invoke_and_wait("kid", child_id)

    handle = await parent.invoke(client)
    info = await wait_status(client, handle.id, "failed")
    assert info.error["type"] == "polos_nb.errors.ChildWorkflowError"
    assert "builtins.RuntimeError: deep" in info.error["message"]


async def test_batch_failures_give_success_false(client):
    child_id, parent_id = uid("bf_child"), uid("bf_parent")

    @workflow(id=child_id)
    async def child(ctx: WorkflowContext, payload: int) -> int:
        if payload % 2:
            raise ValueError(f"odd {payload}")
        return payload

    @workflow(id=parent_id)
    async def parent(ctx: WorkflowContext) -> list:
        results = await ctx.step.batch_invoke_and_wait(
            "b", [BatchWorkflowInput(id=child_id, payload=n) for n in range(3)]
        )
        return [r.model_dump(exclude={"execution_id"}) for r in results]

    assert await parent.run(client, timeout=10) == [
        {"workflow_id": child_id, "success": True, "result": 0, "error": None},
        {
            "workflow_id": child_id,
            "success": False,
            "result": None,
            "error": "failed: builtins.ValueError: odd 1",
        },
        {"workflow_id": child_id, "success": True, "result": 2, "error": None},
    ]


async def test_cancel_parent_cancels_children(client):
    child_id, parent_id = uid("cp_child"), uid("cp_parent")

    @workflow(id=child_id)
    async def child(ctx: WorkflowContext) -> None:
        await ctx.step.suspend("forever")

    @workflow(id=parent_id)
    async def parent(ctx: WorkflowContext) -> None:
        await ctx.step.batch_invoke_and_wait(
            "kids", [BatchWorkflowInput(id=child_id), BatchWorkflowInput(id=child_id)]
        )

    handle = await parent.invoke(client)
    kids = await children_of(client, handle.id, 2, status="waiting")
    assert await client.cancel(handle.id) is True
    assert (await client.get_execution(handle.id)).status == "cancelled"
    for kid in kids:
        info = await client.get_execution(kid[0])
        assert info.status == "cancelled"
        assert info.error["type"] == "polos_nb.errors.ExecutionCancelledError"
    with pytest.raises(ExecutionCancelledError):
        await client.wait_for_result(handle.id, timeout=10)
    assert await client.cancel(handle.id) is False


async def test_cancel_child_does_not_cancel_parent(client):
    child_id, parent_id = uid("cc_child"), uid("cc_parent")

    @workflow(id=child_id)
    async def child(ctx: WorkflowContext) -> None:
        await ctx.step.suspend("forever")

    @workflow(id=parent_id)
    async def parent(ctx: WorkflowContext) -> str:
        try:
            await ctx.step.invoke_and_wait("kid", child_id)
        except ChildWorkflowError as exc:
            return exc.error_message
        return "child finished"

    handle = await parent.invoke(client)
    (kid,) = await children_of(client, handle.id, 1, status="waiting")
    assert await client.cancel(kid[0]) is True
    message = await client.wait_for_result(handle.id, timeout=10)
    assert message.startswith(
        f"child {child_id} ({kid[0]}) cancelled: polos_nb.errors.ExecutionCancelledError"
    )
    assert (await client.get_execution(handle.id)).status == "completed"
    assert (await client.get_execution(kid[0])).status == "cancelled"


async def test_child_timeout_reaches_parent(fake_client, clock):
    child_id, parent_id = uid("ct_child"), uid("ct_parent")

    @workflow(id=child_id)
    async def child(ctx: WorkflowContext) -> None:
        await ctx.step.suspend("forever")

    @workflow(id=parent_id)
    async def parent(ctx: WorkflowContext) -> str:
        try:
            await ctx.step.invoke_and_wait("kid", child_id, run_timeout_seconds=5)
        except ChildWorkflowError as exc:
            return exc.error_message
        return "no error"

    handle = await parent.invoke(fake_client)
    (kid,) = await children_of(fake_client, handle.id, 1, status="waiting")
    clock.advance(5)
    message = await fake_client.wait_for_result(handle.id, timeout=10)
    assert message.startswith(
        f"child {child_id} ({kid[0]}) failed: polos_nb.errors.WaitTimeoutError"
    )
    assert (await fake_client.get_execution(kid[0])).completed_at == clock.now()
    assert clock.now() - (await fake_client.get_execution(kid[0])).created_at == dt.timedelta(
        seconds=5
    )

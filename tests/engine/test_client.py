"""The client API: starting runs, handles, snapshots, listing, cancelling, sync twins, Worker."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from typing import Any

import pytest

from polos_nb import (
    ExecutionCancelledError,
    ExecutionFailedError,
    ExecutionHandle,
    ExecutionInfo,
    PolosClient,
    UserError,
    Worker,
    Workflow,
    WorkflowContext,
    WorkflowTimeoutError,
    get_workflow,
    workflow,
)
from polos_nb.testing import FakeClock
from tests.engine.helpers import rows, wait_status


def uid(name: str) -> str:
    return f"{name}_{uuid.uuid4().hex[:10]}"


async def test_run_invoke_handle_and_snapshot(client):
    wf_id = uid("basic")

    @workflow(id=wf_id)
    async def double(ctx: WorkflowContext, payload: dict) -> dict:
        n = await ctx.step.run("double", lambda: payload["n"] * 2)
        return {"n": n, "execution": ctx.execution_id}

    result = await double.run(client, {"n": 4}, timeout=10)
    assert result["n"] == 8

    handle = await double.invoke(client, {"n": 5}, session_id="s1", user_id="u1")
    assert isinstance(handle, ExecutionHandle)
    assert (
        handle.workflow_id == wf_id
        and handle.root_execution_id == handle.id
        and handle.parent_execution_id is None
    )
    assert await handle == {"n": 10, "execution": handle.id}
    info = await handle.get()
    assert isinstance(info, ExecutionInfo)
    assert info.status == "completed" and info["status"] == "completed" and info.done
    assert info.result == {"n": 10, "execution": handle.id}
    assert info.get("result") == {"n": 10, "execution": handle.id}
    assert info.get("no_such_field", "dflt") == "dflt"
    with pytest.raises(KeyError):
        info["no_such_field"]
    assert info.payload == {"n": 5} and info.error is None
    assert (info.session_id, info.user_id) == ("s1", "u1")
    assert info.created_at <= info.started_at <= info.completed_at
    assert await handle.result(timeout=10) == info.result
    same = await client.get_execution(handle.id)
    assert same == info


async def test_failed_execution_snapshot_and_error(client):
    wf_id = uid("fails")

    @workflow(id=wf_id)
    async def fails(ctx: WorkflowContext) -> None:
        raise ValueError("bad input 7")

    with pytest.raises(ExecutionFailedError) as exc_info:
        await fails.run(client, timeout=10)
    err = exc_info.value
    assert err.error_type == "builtins.ValueError" and err.error_message == "bad input 7"
    assert (
        str(err)
        == f"Workflow execution failed: {err.execution_id}: builtins.ValueError: bad input 7"
    )
    info = await client.get_execution(err.execution_id)
    assert info["status"] == "failed" and info.get("result") is None
    assert info.error["type"] == "builtins.ValueError" and info.error["message"] == "bad input 7"
    assert "Traceback" in info.error["traceback"]


async def test_list_executions_filters(client):
    a, b = uid("list_a"), uid("list_b")

    @workflow(id=a)
    async def wf_a(ctx: WorkflowContext, payload: int) -> int:
        if payload < 0:
            raise ValueError("negative")
        return payload

    @workflow(id=b)
    async def wf_b(ctx: WorkflowContext) -> None:
        await ctx.step.suspend("hold")

    ok = [await wf_a.invoke(client, i) for i in range(3)]
    bad = await wf_a.invoke(client, -1)
    held = await wf_b.invoke(client)
    for h in ok:
        await wait_status(client, h.id, "completed")
    await wait_status(client, bad.id, "failed")
    await wait_status(client, held.id, "waiting")

    assert {i.id for i in await client.list_executions(a)} == {h.id for h in ok} | {bad.id}
    assert {i.id for i in await client.list_executions(a, status="completed")} == {h.id for h in ok}
    assert [i.id for i in await client.list_executions(status="failed")] == [bad.id]
    assert [i.id for i in await client.list_executions(workflow_id=b, status="waiting")] == [
        held.id
    ]
    assert await client.list_executions(b, status="completed") == []
    assert len(await client.list_executions(limit=2)) == 2
    assert len(await client.list_executions(root_only=True)) == 5
    newest_first = [i.id for i in await client.list_executions(a)]
    assert newest_first[0] == bad.id


async def test_cancel(client):
    wf_id = uid("cancel")

    @workflow(id=wf_id)
    async def hold(ctx: WorkflowContext) -> str:
        await ctx.step.suspend("hold")
        return "done"

    handle = await hold.invoke(client)
    await wait_status(client, handle.id, "waiting")
    assert await handle.cancel() is True
    info = await client.get_execution(handle.id)
    assert (
        info.status == "cancelled"
        and info.error["type"] == "polos_nb.errors.ExecutionCancelledError"
    )
    with pytest.raises(ExecutionCancelledError, match=f"Execution {handle.id} was cancelled"):
        await handle
    assert await client.cancel(handle.id) is False

    finished = await hold.invoke(client)
    await wait_status(client, finished.id, "waiting")
    await client.resume(None, finished.id, "hold", {})
    assert await finished == "done"
    assert await client.cancel_execution(finished.id) is False
    assert (await client.get_execution(finished.id)).status == "completed"


async def test_cancel_running_step(client):
    wf_id = uid("cancel_running")
    started = threading.Event()

    async def slow() -> None:
        started.set()
        await asyncio.sleep(3600)

    @workflow(id=wf_id)
    async def flow(ctx: WorkflowContext) -> None:
        await ctx.step.run("slow", slow)

    handle = await flow.invoke(client)
    await asyncio.to_thread(started.wait, 10)
    assert await client.cancel(handle.id) is True
    info = await client.get_execution(handle.id)
    assert info.status == "cancelled"
    assert await rows(client, "SELECT count(*) FROM steps WHERE execution_id = ?", [handle.id]) == [
        (0,)
    ]


async def test_workflow_timeout_leaves_run_going(client):
    wf_id = uid("wf_timeout")

    @workflow(id=wf_id)
    async def hold(ctx: WorkflowContext) -> str:
        return (await ctx.step.suspend("hold")).data

    t0 = time.monotonic()
    with pytest.raises(WorkflowTimeoutError) as info:
        await hold.run(client, timeout=0.2)
    assert 0.15 < time.monotonic() - t0 < 5
    exec_id = info.value.execution_id
    assert info.value.timeout_seconds == 0.2
    assert f"Execution {exec_id} did not finish within 0.2s" in str(info.value)
    assert isinstance(info.value, TimeoutError)
    assert (await client.get_execution(exec_id)).status == "waiting"
    await client.resume(None, exec_id, "hold", "later")
    assert await client.wait_for_result(exec_id, timeout=10) == "later"


def test_sync_twins_from_a_plain_thread(journal_path):
    wf_id = uid("sync")

    @workflow(id=wf_id)
    async def flow(ctx: WorkflowContext, payload: int) -> int:
        if payload == 0:
            return (await ctx.step.suspend("hold")).data
        return payload + 1

    out: dict[str, Any] = {}

    def script() -> None:
        with PolosClient(journal=journal_path) as client:
            out["run"] = flow.run_sync(client, 1, timeout=10)
            h1 = flow.invoke_sync(client, 2)
            out["await_sync"] = h1.result_sync(timeout=10)
            h2 = client.invoke_sync(wf_id, 0)
            deadline = time.monotonic() + 10
            while client.get_execution_sync(h2.id).status != "waiting":
                assert time.monotonic() < deadline
                time.sleep(0.01)
            out["listed"] = [i.id for i in client.list_executions_sync(wf_id, "waiting")] == [h2.id]
            client.resume_sync(wf_id, h2.id, "hold", 41)
            out["resumed"] = client.wait_for_result_sync(h2.id, timeout=10)
            h3 = client.invoke_sync(wf_id, 0)
            out["cancel"] = client.cancel_sync(h3.id)
            out["cancel_again"] = client.cancel_sync(h3.id)

    thread = threading.Thread(target=script)
    thread.start()
    thread.join(30)
    assert not thread.is_alive()
    assert out == {
        "run": 2,
        "await_sync": 3,
        "listed": True,
        "resumed": 41,
        "cancel": True,
        "cancel_again": False,
    }


async def test_sync_twins_refuse_a_running_loop(client):
    wf_id = uid("sync_in_loop")

    @workflow(id=wf_id)
    async def flow(ctx: WorkflowContext) -> int:
        return 1

    for call in (
        lambda: flow.run_sync(client),
        lambda: flow.invoke_sync(client),
        lambda: client.invoke_sync(wf_id),
        lambda: client.get_execution_sync("x"),
        lambda: client.list_executions_sync(),
        lambda: client.cancel_sync("x"),
    ):
        with pytest.raises(UserError, match="inside a running event loop") as info:
            call()
        assert "await" in str(info.value)
    assert await rows(client, "SELECT count(*) FROM executions WHERE workflow_id = ?", [wf_id]) == [
        (0,)
    ]


async def test_blocking_call_inside_workflow_is_an_error(client):
    wf_id = uid("sync_in_workflow")

    @workflow(id=wf_id)
    async def flow(ctx: WorkflowContext) -> str:
        try:
            client.list_executions_sync()
        except UserError as exc:
            return str(exc)
        return "no error"

    assert "inside a running event loop" in await flow.run(client, timeout=10)


async def test_worker_registers_workflows(client):
    wf_id = uid("worker_wf")

    async def body(ctx: WorkflowContext, payload: str) -> str:
        return payload.upper()

    wf = Workflow(body, id=wf_id)  # constructed, not registered yet
    assert get_workflow(wf_id) is None
    worker = Worker(client=client, workflows=[wf], deployment_id="d1")
    assert get_workflow(wf_id) is wf and worker.workflows == [wf]
    handle = await client.invoke(wf_id, "hi")
    assert await handle == "HI"
    with pytest.raises(UserError, match="Worker got"):
        Worker(client=client, workflows=[body])

    async with Worker(client=client, workflows=[wf]) as served:
        runner = asyncio.create_task(served.run())
        await asyncio.sleep(0.05)
        assert not runner.done()
        await served.stop()
        await asyncio.wait_for(runner, 5)


async def test_clients_share_one_engine_per_journal(journal_path):
    first = PolosClient(journal=journal_path)
    second = PolosClient(journal=journal_path)
    try:
        assert first.runtime is second.runtime
        with pytest.raises(UserError, match="already open in this process with another clock"):
            PolosClient(journal=journal_path, clock=FakeClock())
        upstream_style = PolosClient(
            journal=journal_path,
            project_id="p1",
            api_url="http://localhost:8080",
            api_key="sk-secret-7",
        )
        assert upstream_style.runtime is first.runtime  # recorded, not used for HTTP
        assert (upstream_style.project_id, upstream_style.api_url) == (
            "p1",
            "http://localhost:8080",
        )
        assert "sk-secret-7" not in repr(upstream_style)
        upstream_style.close()
        first.close()
        wf_id = uid("shared")

        @workflow(id=wf_id)
        async def flow(ctx: WorkflowContext) -> int:
            return 3

        assert await flow.run(second, timeout=10) == 3  # still open: one client remains
    finally:
        first.close()
        second.close()
    assert second.runtime.closed


async def test_abandoned_journal_write_does_not_kill_the_writer(client):
    """A waiter that gives up (its task was cancelled) cancels the write's future; the writer goes on."""
    from polos_nb.engine.journal import Sql

    journal = client.runtime.journal
    gate = threading.Event()
    blocker = journal.read(lambda con: gate.wait(10))
    abandoned = journal.submit(
        [
            Sql("CREATE TABLE scratch_abandoned (a INTEGER)"),
            Sql("INSERT INTO scratch_abandoned VALUES (1)"),
        ]
    )
    assert abandoned.cancel()
    gate.set()
    assert await asyncio.wrap_future(blocker) is True
    # The abandoned write still happened, and the journal keeps working.
    assert await asyncio.wait_for(rows(client, "SELECT a FROM scratch_abandoned"), 10) == [(1,)]
    wf_id = uid("after_abandon")

    @workflow(id=wf_id)
    async def flow(ctx: WorkflowContext) -> int:
        return await ctx.step.run("x", lambda: 5)

    assert await flow.run(client, timeout=10) == 5


async def test_waiting_for_a_run_that_ends_here_reads_nothing_back(client, monkeypatch):
    # The outcome comes from what the engine committed, not from a SELECT on the writer
    # thread per finished run; results and failures come out as the journal's would.
    wf_id = uid("noreadback")
    gate = threading.Event()

    @workflow(id=wf_id)
    async def outcome(ctx: WorkflowContext, payload: dict) -> dict:
        await ctx.step.run("gate", lambda: gate.wait(30))
        if payload.get("fail"):
            raise ValueError("asked to fail")
        return {"n": payload["n"], "when": payload.get("when")}

    runtime = client._runtime
    reads: list[str] = []
    original = type(runtime.reads).get_execution

    async def counted(self: Any, execution_id: str) -> ExecutionInfo:
        reads.append(execution_id)
        return await original(self, execution_id)

    monkeypatch.setattr(type(runtime.reads), "get_execution", counted)

    async def outcome_of(payload: dict) -> Any:
        # Wait while the run is held at its gate (so it ends while waited for), then open it.
        gate.clear()
        handle = await outcome.invoke(client, payload)
        waiter = asyncio.ensure_future(client.wait_for_result(handle.id, timeout=60))
        for _ in range(600):
            ex = runtime.execs.get(handle.id)
            if ex is not None and ex.done is not None:
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("the waiter never registered")
        gate.set()
        return handle, await waiter

    handle, result = await outcome_of({"n": 3})
    assert result == {"n": 3, "when": None}
    with pytest.raises(ExecutionFailedError, match="asked to fail"):
        await outcome_of({"n": 0, "fail": True})
    assert reads == []
    # The journal holds the same outcome (read explicitly).
    info = await client.get_execution(handle.id)
    assert info.status == "completed" and info.result == {"n": 3, "when": None}
    assert reads == [handle.id]

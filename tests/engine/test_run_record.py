"""The client's typed read API: a run's record, its events, pending suspensions, recent
runs, run-id resolution, users' SQL, and the one engine-thread guard."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from polos_nb import (
    ExecutionNotFoundError,
    PolosClient,
    UserError,
    WorkflowContext,
    workflow,
)
from polos_nb.contracts import LLM_KEY_PREFIX, llm_step_key
from polos_nb.engine import PendingSuspension, RunRecord
from tests.engine.helpers import rows, wait_status


def uid(name: str) -> str:
    return f"{name}_{uuid.uuid4().hex[:10]}"


async def test_run_record_holds_the_tree_its_steps_and_its_events(client: PolosClient) -> None:
    child_id, parent_id = uid("child"), uid("parent")

    @workflow(id=child_id)
    async def child(ctx: WorkflowContext, n: int) -> int:
        return await ctx.step.run("double", lambda: n * 2)

    @workflow(id=parent_id)
    async def parent(ctx: WorkflowContext) -> int:
        first = await ctx.step.run("one", lambda: 1)
        return first + await ctx.step.invoke_and_wait("kid", child, 20)

    handle = await parent.invoke(client)
    assert await client.wait_for_result(handle.id, timeout=20) == 41
    record = await client.run_record(handle.id)
    assert isinstance(record, RunRecord)
    assert record.execution.id == handle.id and record.execution.status == "completed"
    assert [i.workflow_id for i in record.tree] == [parent_id, child_id]
    kid = record.tree[1]
    assert kid.parent_execution_id == handle.id and kid.root_execution_id == handle.id
    by_key = {(s.execution_id, s.key): s for s in record.steps}
    assert by_key[(handle.id, "one")].output == 1
    assert by_key[(kid.id, "double")].output == 40
    assert by_key[(kid.id, "double")].workflow_id == child_id
    assert [s.seq for s in record.steps] == sorted(s.seq for s in record.steps)
    # The journal holds exactly these step rows for the tree.
    assert len(record.steps) == len(
        await rows(client, "SELECT 1 FROM steps WHERE root_execution_id = ?", [handle.id])
    )

    # One definition of a run's events: the record, run_events and a replayed stream agree.
    seqs = [e.journal_seq for e in record.events]
    assert None not in seqs and seqs == sorted(seqs)  # type: ignore[type-var]
    assert record.last_seq == seqs[-1]
    types = [e.event_type for e in record.events]
    assert types[0] == "workflow_start" and types[-1] == "workflow_finish"
    assert types.count("step_finish") == 3  # one, double, and the child wait "kid"
    listed = await client.run_events(handle.id)
    streamed = [e async for e in client.stream_events(handle.id)]
    assert [(e.journal_seq, e.event_type) for e in listed] == [
        (e.journal_seq, e.event_type) for e in record.events
    ]
    assert [(e.journal_seq, e.event_type) for e in streamed] == [
        (e.journal_seq, e.event_type) for e in record.events
    ]
    later = await client.run_events(handle.id, after_seq=seqs[2])
    assert [e.journal_seq for e in later] == seqs[3:]


async def test_run_record_of_an_unknown_run_says_so(client: PolosClient) -> None:
    with pytest.raises(ExecutionNotFoundError):
        await client.run_record("no-such-run")


async def test_pending_suspensions_lists_open_forms_per_tree(client: PolosClient) -> None:
    wf_id = uid("ask")

    @workflow(id=wf_id)
    async def ask(ctx: WorkflowContext, n: int) -> dict:
        return (await ctx.step.suspend(f"approve_{n}", {"amount": n})).data

    first = await ask.invoke(client, 1)
    second = await ask.invoke(client, 2)
    await wait_status(client, first.id, "waiting")
    await wait_status(client, second.id, "waiting")
    everything = await client.pending_suspensions()
    mine = [p for p in everything if p.workflow_id == wf_id]
    assert [(p.execution_id, p.key, p.data["amount"]) for p in mine] == [
        (first.id, "approve_1", 1),
        (second.id, "approve_2", 2),
    ]
    assert "_metadata" not in mine[0].data  # the engine's bookkeeping is not the form
    assert mine[0].data["_approval_url"].endswith(f"/{first.id}/approve_1")
    assert all(isinstance(p, PendingSuspension) for p in mine)
    assert mine[0].root_execution_id == first.id and mine[0].created_at.tzinfo is not None
    only = await client.pending_suspensions(second.id)
    assert [(p.execution_id, p.key) for p in only] == [(second.id, "approve_2")]
    await client.resume(wf_id, second.id, "approve_2", {"ok": True})
    assert await client.wait_for_result(second.id, timeout=10) == {"ok": True}
    assert await client.pending_suspensions(second.id) == []
    assert [p.execution_id for p in await client.pending_suspensions(first.id)] == [first.id]


async def test_recent_runs_and_run_id_resolution(client: PolosClient) -> None:
    child_id, parent_id = uid("leaf"), uid("root")

    @workflow(id=child_id)
    async def leaf(ctx: WorkflowContext) -> int:
        return 1

    @workflow(id=parent_id)
    async def root(ctx: WorkflowContext) -> int:
        return await ctx.step.invoke_and_wait("leaf", leaf, None)

    handles = []
    for _ in range(3):
        handles.append(await root.invoke(client))
        await client.wait_for_result(handles[-1].id, timeout=10)
    recent = await client.recent_runs(limit=10)
    assert [i.id for i in recent] == [h.id for h in reversed(handles)]  # roots only, newest first
    assert [i.id for i in await client.recent_runs(limit=2)] == [handles[2].id, handles[1].id]

    target = handles[0].id
    assert await client.resolve_run_id(target) == target
    assert await client.resolve_run_id(f"  {target}  ") == target
    assert await client.resolve_run_id(target[:-3]) == target  # a unique prefix
    with pytest.raises(ExecutionNotFoundError):
        await client.resolve_run_id("zzzz-not-a-run")
    with pytest.raises(UserError, match="empty"):
        await client.resolve_run_id("   ")
    # Ids start with their creation time: the runs made here share their first characters.
    with pytest.raises(UserError, match="ambiguous"):
        await client.resolve_run_id(target[:4])


def test_sync_twins_and_query(client: PolosClient) -> None:
    wf_id = uid("plain")

    @workflow(id=wf_id)
    async def plain(ctx: WorkflowContext) -> str:
        return await ctx.step.run("s", lambda: "ok")

    handle = client.invoke_sync(plain)
    assert client.wait_for_result_sync(handle.id, timeout=10) == "ok"
    record = client.run_record_sync(handle.id)
    assert [s.key for s in record.steps] == ["s"]
    assert [e.journal_seq for e in client.run_events_sync(handle.id)] == [
        e.journal_seq for e in record.events
    ]
    assert client.recent_runs_sync(1)[0].id == handle.id
    assert client.resolve_run_id_sync(handle.id) == handle.id
    assert client.pending_suspensions_sync() == []
    result = client.query(
        f"SELECT workflow_id, status FROM executions WHERE id = '{handle.id}'"
    ).result(30)
    assert result.columns == ["workflow_id", "status"]
    assert result.rows == [(wf_id, "completed")]
    with pytest.raises(UserError):
        client.query("DELETE FROM executions")


async def test_blocking_from_the_engine_thread_is_refused(client: PolosClient) -> None:
    wf_id = uid("blocker")
    seen: list[str] = []

    @workflow(id=wf_id)
    async def blocker(ctx: WorkflowContext) -> str:
        coro = client.get_execution(ctx.execution_id)
        try:
            client.call(coro, timeout=5)
        except UserError as exc:
            seen.append(str(exc))
        return "done"

    handle = await blocker.invoke(client)
    assert await client.wait_for_result(handle.id, timeout=10) == "done"
    assert len(seen) == 1 and "inside a workflow" in seen[0] and "await" in seen[0]
    # From another thread the same call works.
    info = await asyncio.to_thread(client.call, client.get_execution(handle.id), 10)
    assert info.status == "completed"


async def test_the_run_reader_reads_pages_counts_and_step_outputs(client: PolosClient) -> None:
    wf_id = uid("paged")

    @workflow(id=wf_id)
    async def paged(ctx: WorkflowContext, n: int) -> int:
        await ctx.step.run(llm_step_key(1), lambda: {"usage": {"input_tokens": n}})
        await ctx.step.run("other", lambda: {"usage": {"input_tokens": 100}})
        if n == 2:
            await ctx.step.suspend("ask", {"q": n})
        return n

    ids = []
    for n in (1, 2, 3):
        handle = await paged.invoke(client, n)
        await wait_status(client, handle.id, "waiting" if n == 2 else "completed")
        ids.append(handle.id)
    reads = client.run_reader()
    assert await asyncio.to_thread(reads.run_counts) == {"completed": 2, "waiting": 1}
    newest_first = await asyncio.to_thread(reads.runs)
    assert [i.id for i in newest_first] == ids[::-1]
    second = await asyncio.to_thread(lambda: reads.runs(offset=1, limit=1))
    assert [i.id for i in second] == [ids[1]]
    waiting = await asyncio.to_thread(lambda: reads.runs(status="waiting"))
    assert [i.id for i in waiting] == [ids[1]]
    outputs = await asyncio.to_thread(lambda: reads.step_outputs(ids, LLM_KEY_PREFIX))
    assert sorted((r, o["usage"]["input_tokens"]) for r, o in outputs) == sorted(
        zip(ids, (1, 2, 3), strict=True)
    )
    assert await asyncio.to_thread(lambda: reads.pending_counts(ids)) == {ids[1]: 1}
    assert await asyncio.to_thread(lambda: reads.pending_counts([])) == {}
    pending = await asyncio.to_thread(reads.pending_suspensions)
    assert [(p.execution_id, p.key, p.data["q"]) for p in pending] == [(ids[1], "ask", 2)]
    events = await asyncio.to_thread(lambda: reads.run_events(ids[0]))
    assert [e.journal_seq for e in events] == [
        e.journal_seq for e in await client.run_events(ids[0])
    ]
    with pytest.raises(ExecutionNotFoundError):
        await asyncio.to_thread(lambda: reads.execution("no-such-run"))
    await client.resume(wf_id, ids[1], "ask", {})
    assert await client.wait_for_result(ids[1], timeout=20) == 2


async def test_the_run_reader_refuses_the_engine_thread(client: PolosClient) -> None:
    wf_id = uid("reader_guard")
    seen: list[str] = []

    @workflow(id=wf_id)
    async def guarded(ctx: WorkflowContext) -> str:
        try:
            client.run_reader().run_counts()
        except UserError as exc:
            seen.append(str(exc))
        return "done"

    handle = await guarded.invoke(client)
    assert await client.wait_for_result(handle.id, timeout=10) == "done"
    assert len(seen) == 1 and "inside a workflow" in seen[0]

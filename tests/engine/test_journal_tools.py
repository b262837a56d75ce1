"""Journal tools: replay a finished run, fork from a step (with an edited result), compare."""

from __future__ import annotations

import duckdb
import pytest

from polos_nb import (
    NonDeterminismError,
    PolosClient,
    UserError,
    WorkflowContext,
    workflow,
)

CALLS: list[str] = []


def record(name: str, value: int) -> int:
    CALLS.append(name)
    return value


@workflow(id="jt_pipeline")
async def jt_pipeline(ctx: WorkflowContext, n: int) -> dict:
    a = await ctx.step.run("fetch", record, "fetch", n)
    b = await ctx.step.run("score", record, "score", a * 10)
    c = await ctx.step.run("report", record, "report", b + 1)
    return {"a": a, "b": b, "c": c}


async def test_replay_of_a_finished_run_matches_and_runs_nothing(client: PolosClient) -> None:
    CALLS.clear()
    handle = await jt_pipeline.invoke(client, 4)
    assert await handle == {"a": 4, "b": 40, "c": 41}
    assert CALLS == ["fetch", "score", "report"]
    report = await client.replay(handle.id)
    assert report.matches and report.steps_replayed == 3
    assert report.result == {"a": 4, "b": 40, "c": 41}
    assert CALLS == ["fetch", "score", "report"]  # replay ran no step function


async def test_replay_detects_changed_code(client: PolosClient) -> None:
    handle = await jt_pipeline.invoke(client, 2)
    await handle

    @workflow(id="jt_pipeline")
    async def changed(ctx: WorkflowContext, n: int) -> dict:
        a = await ctx.step.run("fetch", record, "fetch", n)
        b = await ctx.step.run("rescore", record, "rescore", a)  # a different step at position 1
        return {"a": a, "b": b}

    try:
        report = await client.replay(handle.id)
        assert not report.matches
        assert report.error is not None and NonDeterminismError.__name__ in report.error
        assert "rescore" in report.error
    finally:
        workflow(id="jt_pipeline")(jt_pipeline.func)  # restore the original definition


async def test_replay_refuses_unfinished_runs(client: PolosClient) -> None:
    @workflow(id="jt_waiter")
    async def waiter(ctx: WorkflowContext) -> str:
        await ctx.step.suspend("ok")
        return "done"

    handle = await waiter.invoke(client)
    for _ in range(100):
        if (await client.get_execution(handle.id)).status == "waiting":
            break
        import asyncio

        await asyncio.sleep(0.01)
    with pytest.raises(UserError, match="replay needs a finished run"):
        await client.replay(handle.id)
    await client.cancel(handle.id)


async def test_fork_with_an_edited_step_result(client: PolosClient, journal_path) -> None:
    CALLS.clear()
    original = await jt_pipeline.invoke(client, 3)
    assert await original == {"a": 3, "b": 30, "c": 31}
    CALLS.clear()
    forked = await client.fork(original.id, "score", result=7)
    assert await forked == {"a": 3, "b": 7, "c": 8}
    assert CALLS == ["report"]  # steps before and at the fork point were not run again

    rows = await client.compare(original.id, forked.id)
    assert [(r.position, r.key_a, r.same) for r in rows] == [
        (0, "fetch", True),
        (1, "score", False),
        (2, "report", False),
    ]
    assert (rows[1].output_a, rows[1].output_b) == (30, 7)
    client.close()
    con = duckdb.connect(str(journal_path), read_only=True)
    try:
        assert con.execute(
            "SELECT forked_from, fork_position FROM executions WHERE id = ?", [forked.id]
        ).fetchone() == (original.id, 1)
    finally:
        con.close()


async def test_fork_from_a_position_reruns_from_there(client: PolosClient) -> None:
    original = await jt_pipeline.invoke(client, 5)
    await original
    CALLS.clear()
    forked = await client.fork(original.id, 1)
    assert await forked == {"a": 5, "b": 50, "c": 51}
    assert CALLS == ["score", "report"]


async def test_fork_bad_input(client: PolosClient) -> None:
    original = await jt_pipeline.invoke(client, 1)
    await original
    with pytest.raises(UserError, match="no journaled step 'nope'"):
        await client.fork(original.id, "nope")
    with pytest.raises(UserError, match="no step at position 9"):
        await client.fork(original.id, 9, result=1)
    with pytest.raises(UserError, match="step key or a position"):
        await client.fork(original.id, -1)

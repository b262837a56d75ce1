"""A run shown while it ends is shown ended (issue 11, item 3: a forked run's widget stayed
"running", about 1 fork in 40).

The display reads the run's journaled events and then follows the live ones from there;
its status used to be read *before* the events, so a run that ended in between was stuck
"running" for good (its end was in the events read, and following started after them).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from polos_nb import PolosClient, WorkflowContext, workflow
from polos_nb.notebook import _run, _session
from polos_nb.notebook._tools import fork
from tests.notebook.conftest import uid, wait_until


@pytest.fixture
def client(tmp_path: Path) -> Iterator[PolosClient]:
    _run.forget_runs()
    c = PolosClient(journal=tmp_path / "race.duckdb")
    yield c
    _run.forget_runs()
    c.close()


def define() -> Any:
    @workflow(id=uid("forked"))
    async def forked(ctx: WorkflowContext, payload: dict[str, Any]) -> int:
        a = await ctx.step.run("a", lambda: payload["n"] + 1)
        b = await ctx.step.run("b", lambda: a * 2)
        return int(b)

    return forked


def test_a_run_that_ends_while_it_is_being_shown_is_shown_ended(
    client: PolosClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The window made certain: the run ends right after the display reads its status."""
    gate = asyncio.Event()

    @workflow(id=uid("gated"))
    async def gated(ctx: WorkflowContext, payload: dict[str, Any]) -> str:
        await ctx.step.run("first", lambda: 1)
        await ctx.step.run("wait", _opened_by(gate))
        return "done"

    handle = _session.call(client, gated.invoke(client, {}))
    get_execution = client.get_execution

    async def get_then_let_it_end(execution_id: str) -> Any:
        info = await get_execution(execution_id)
        if not gate.is_set():
            gate.set()  # the run goes on and ends before the display reads its events
            await client.wait_for_result(execution_id, timeout=30)
        return info

    monkeypatch.setattr(client, "get_execution", get_then_let_it_end)
    run = _run.show(handle.id, client=client, workflow_id=gated.id)
    wait_until(lambda: run.state.done, timeout=30, what="the run to be shown ended")
    assert run.status == "completed" and run.output == "done"


def _opened_by(gate: asyncio.Event) -> Any:
    async def wait() -> int:
        await gate.wait()
        return 2

    return wait


def test_forty_forks_all_end_completed(client: PolosClient) -> None:
    """The race as notebook 08 met it, repeated: every fork's view ends "completed"."""
    wf = define()
    original = _session.call(client, wf.invoke(client, {"n": 1}))
    assert _session.call(client, client.wait_for_result(original.id, timeout=30)) == 4
    forks = [fork(original.id, "b", 10 * i, client=client) for i in range(42)]
    for i, run in enumerate(forks):
        wait_until(lambda run=run: run.state.done, timeout=30, what=f"fork {i} to be shown ended")
        assert run.status == "completed" and run.output == 10 * i, (i, run.status, run.output)

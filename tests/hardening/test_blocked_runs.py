"""Fixable conditions park a run instead of failing it (issue 9, item 4).

As a non-determinism error in Temporal fails the workflow *task*, not the workflow: the
run waits (status ``waiting``, its ``error`` says why with ``"blocked": <reason>``, a
``<type>_blocked`` event is published), holds no queue slot, can be cancelled, wakes its
waiters with ``ExecutionBlockedError``, and continues once the code, the class or the
journal is back.
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from polos_nb import (
    ExecutionBlockedError,
    PolosClient,
    WorkflowContext,
    _serde,
    queue,
    workflow,
)
from polos_nb.testing import refuse_reads
from tests.engine.helpers import rows, wait_status


def uid(name: str) -> str:
    return f"{name}_{uuid.uuid4().hex[:8]}"


async def parked(client: PolosClient, run_id: str, reason: str, timeout: float = 30) -> Any:
    """Poll until the run is parked for ``reason``; return its snapshot."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        info = await client.get_execution(run_id)
        blocked = info.error.get("blocked") if isinstance(info.error, dict) else None
        if info.status == "waiting" and blocked == reason:
            return info
        assert info.status not in ("completed", "failed", "cancelled"), (info.status, info.error)
        assert asyncio.get_running_loop().time() < deadline, f"not parked: {info.status}"
        await asyncio.sleep(0.02)


# ---------------------------------------------------------------------- the conditions
class Scenario:
    """Sets up a run that hits one fixable condition, then fixes it."""

    reason: str
    type_name: str

    async def start(self, client: PolosClient, path: Path) -> tuple[PolosClient, str]:
        raise NotImplementedError

    async def fix(self, client: PolosClient) -> None:
        raise NotImplementedError

    def cleanup(self) -> None:
        pass


class CodeChanged(Scenario):
    reason = "nondeterminism"
    type_name = "NonDeterminismError"

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.wf_id = uid("changed")

    def define(self, first: str) -> Any:
        calls = self.calls

        @workflow(id=self.wf_id)
        async def flow(ctx: WorkflowContext) -> str:
            await ctx.step.run(first, lambda: calls.append(first))
            await ctx.step.suspend("approve")
            return "done"

        return flow

    async def start(self, client: PolosClient, path: Path) -> tuple[PolosClient, str]:
        handle = await self.define("charge").invoke(client)
        await wait_status(client, handle.id, "waiting")
        self.define("charge-v2")  # the cell was edited under a waiting run
        await client.resume(None, handle.id, "approve", {"ok": True})
        return client, handle.id

    async def fix(self, client: PolosClient) -> None:
        self.define("charge")  # the original cell, run again

    def expected_calls(self) -> list[str]:
        return ["charge"]


class ClassMissing(Scenario):
    """A ``__main__`` Pydantic class, not defined yet after a restart."""

    reason = "missing_class"
    type_name = "UnresolvedClassError"

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.wf_id = uid("missing")
        self.name = f"Quote_{uuid.uuid4().hex[:6]}"
        main = sys.modules["__main__"]
        self.cls = type(self.name, (BaseModel,), {"__annotations__": {"price": int}})
        self.cls.__module__ = "__main__"
        self.cls.__qualname__ = self.name
        setattr(main, self.name, self.cls)

    async def start(self, client: PolosClient, path: Path) -> tuple[PolosClient, str]:
        calls, cls = self.calls, self.cls

        @workflow(id=self.wf_id)
        async def flow(ctx: WorkflowContext) -> int:
            quote = await ctx.step.run("quote", lambda: calls.append("quote") or cls(price=7))
            await ctx.step.suspend("approve")
            return quote.price

        handle = await flow.invoke(client)
        await wait_status(client, handle.id, "waiting")
        client.close()
        # A kernel restart: the class defined in a cell is gone until that cell runs again.
        delattr(sys.modules["__main__"], self.name)
        _serde._CLASSES.pop(f"__main__:{self.name}", None)
        client = PolosClient(journal=path)
        await client.resume(None, handle.id, "approve", {})
        return client, handle.id

    async def fix(self, client: PolosClient) -> None:
        setattr(sys.modules["__main__"], self.name, self.cls)  # the cell runs again

    def expected_calls(self) -> list[str]:
        return ["quote"]

    def cleanup(self) -> None:
        if hasattr(sys.modules["__main__"], self.name):
            delattr(sys.modules["__main__"], self.name)


class ReadFails(Scenario):
    """The journal cannot read the run's steps for a while (an I/O error)."""

    reason = "journal"
    type_name = "JournalUnavailableError"

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.wf_id = uid("flaky")
        self.refusing: Any = None

    async def start(self, client: PolosClient, path: Path) -> tuple[PolosClient, str]:
        calls = self.calls

        @workflow(id=self.wf_id)
        async def flow(ctx: WorkflowContext) -> str:
            await ctx.step.run("fetch", lambda: calls.append("fetch"))
            await ctx.step.suspend("approve")
            return "done"

        handle = await flow.invoke(client)
        await wait_status(client, handle.id, "waiting")
        client.close()
        client = PolosClient(journal=path)  # a fresh engine reads the steps when it resumes
        self.refusing = refuse_reads(client, matching=lambda sql: "FROM steps" in sql)
        self.refusing.__enter__()
        await client.resume(None, handle.id, "approve", {})
        return client, handle.id

    async def fix(self, client: PolosClient) -> None:
        self.refusing.__exit__(None, None, None)  # the device answers again

    def expected_calls(self) -> list[str]:
        return ["fetch"]


SCENARIOS: list[tuple[str, Callable[[], Scenario]]] = [
    ("code changed (non-determinism)", CodeChanged),
    ("__main__ class missing after a restart", ClassMissing),
    ("journal read error", ReadFails),
]


@pytest.mark.parametrize(("case", "make"), SCENARIOS, ids=[s[0] for s in SCENARIOS])
async def test_a_fixable_condition_parks_the_run_until_it_is_fixed(
    tmp_path: Path, case: str, make: Callable[[], Scenario]
) -> None:
    scenario = make()
    path = tmp_path / "j.duckdb"
    client = PolosClient(journal=path)
    try:
        client, run_id = await scenario.start(client, path)
        info = await parked(client, run_id, scenario.reason)
        # What the user sees: status "waiting" and why, with the fix named.
        assert info.error["type"].endswith(scenario.type_name), info.error
        assert info.error["message"]
        with pytest.raises(ExecutionBlockedError) as woke:
            await client.wait_for_result(run_id, timeout=30)
        assert woke.value.reason == scenario.reason
        assert "blocked, not failed" in str(woke.value) and "cancel" in str(woke.value)
        blocked_events = await rows(
            client,
            "SELECT count(*) FROM events WHERE execution_id = ? AND event_type LIKE '%_blocked'",
            [run_id],
        )
        assert blocked_events[0][0] >= 1
        await scenario.fix(client)
        await wait_status(client, run_id, "completed", timeout=30)
        final = await client.get_execution(run_id)
        assert final.error is None
        unblocked = await rows(
            client,
            "SELECT count(*) FROM events WHERE execution_id = ? AND event_type LIKE '%_unblocked'",
            [run_id],
        )
        assert unblocked[0][0] >= 1
    finally:
        scenario.cleanup()
        client.close()
    assert scenario.calls == scenario.expected_calls(), f"{case}: a completed step ran again"


@pytest.mark.parametrize(("case", "make"), SCENARIOS, ids=[s[0] for s in SCENARIOS])
async def test_a_parked_run_can_be_cancelled(
    tmp_path: Path, case: str, make: Callable[[], Scenario]
) -> None:
    scenario = make()
    path = tmp_path / "j.duckdb"
    client = PolosClient(journal=path)
    try:
        client, run_id = await scenario.start(client, path)
        await parked(client, run_id, scenario.reason)
        assert await client.cancel(run_id) is True
        assert (await client.get_execution(run_id)).status == "cancelled"
        open_waits = await rows(
            client,
            "SELECT count(*) FROM waits WHERE execution_id = ? AND resolved_at IS NULL",
            [run_id],
        )
        assert open_waits == [(0,)]
    finally:
        if isinstance(scenario, ReadFails) and scenario.refusing is not None:
            scenario.refusing.__exit__(None, None, None)
        scenario.cleanup()
        client.close()


async def test_a_parked_run_holds_no_queue_slot_and_survives_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "j.duckdb"
    scenario = CodeChanged()
    lane = queue(uid("lane"), concurrency_limit=1)
    other_id = uid("other")

    @workflow(id=other_id, queue=lane)
    async def other(ctx: WorkflowContext) -> str:
        return await ctx.step.run("x", lambda: "ran")

    client = PolosClient(journal=path)
    try:
        calls = scenario.calls

        @workflow(id=scenario.wf_id, queue=lane)
        async def flow(ctx: WorkflowContext) -> str:
            await ctx.step.run("charge", lambda: calls.append("charge"))
            await ctx.step.suspend("approve")
            return "done"

        handle = await flow.invoke(client)
        await wait_status(client, handle.id, "waiting")

        @workflow(id=scenario.wf_id, queue=lane)
        async def edited(ctx: WorkflowContext) -> str:
            await ctx.step.run("charge-v2", lambda: calls.append("charge-v2"))
            return "never"

        await client.resume(None, handle.id, "approve", {})
        await parked(client, handle.id, "nondeterminism")
        # The parked run holds no slot of its one-slot queue (D12).
        assert await other.run(client, timeout=30) == "ran"
    finally:
        client.close()

    @workflow(id=scenario.wf_id, queue=lane)  # after the restart, the fixed code is there
    async def restored(ctx: WorkflowContext) -> str:
        await ctx.step.run("charge", lambda: calls.append("charge"))
        await ctx.step.suspend("approve")
        return "done"

    client = PolosClient(journal=path)
    try:
        assert await client.wait_for_result(handle.id, timeout=30) == "done"
    finally:
        client.close()
    assert calls == ["charge"]


async def test_missing_payload_class_parks_the_run(tmp_path: Path) -> None:
    name = f"Order_{uuid.uuid4().hex[:6]}"
    cls = type(name, (BaseModel,), {"__annotations__": {"n": int}})
    cls.__module__ = "__main__"
    cls.__qualname__ = name
    main = sys.modules["__main__"]
    setattr(main, name, cls)
    wf_id = uid("payload_cls")
    try:

        @workflow(id=wf_id)
        async def flow(ctx: WorkflowContext, order: Any) -> int:
            await ctx.step.suspend("approve")
            return order.n

        path = tmp_path / "j.duckdb"
        client = PolosClient(journal=path)
        handle = await flow.invoke(client, cls(n=3))
        await wait_status(client, handle.id, "waiting")
        client.close()
        delattr(main, name)
        _serde._CLASSES.pop(f"__main__:{name}", None)
        client = PolosClient(journal=path)
        try:
            await client.resume(None, handle.id, "approve", {})
            info = await parked(client, handle.id, "missing_class")
            assert info.error["class_name"] == f"__main__:{name}"
            setattr(main, name, cls)
            await wait_status(client, handle.id, "completed", timeout=30)
            assert await client.wait_for_result(handle.id, timeout=10) == 3
        finally:
            client.close()
    finally:
        if hasattr(main, name):
            delattr(main, name)


async def test_the_run_widget_state_shows_the_park_and_the_way_on(tmp_path: Path) -> None:
    from polos_nb.notebook import show

    scenario = CodeChanged()
    client = PolosClient(journal=tmp_path / "j.duckdb")
    try:
        client, run_id = await scenario.start(client, tmp_path / "j.duckdb")
        await parked(client, run_id, "nondeterminism")
        run = await asyncio.to_thread(show, run_id, client=client)
        assert run.state.status == "waiting"
        assert run.state.note is not None and "NonDeterminismError" in run.state.note
        await scenario.fix(client)
        await wait_status(client, run_id, "completed", timeout=30)
        await asyncio.to_thread(run.wait, 30)
        assert run.state.status == "completed" and run.state.note is None
    finally:
        client.close()

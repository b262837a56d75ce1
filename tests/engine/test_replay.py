"""Replay (D1-D5): steps never run twice, values come back exactly, replay is checked."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import decimal
import enum
import math
import threading
import time
import uuid
from typing import Any

import pytest
from pydantic import BaseModel

from polos_nb import (
    DuplicateStepKeyError,
    ExecutionBlockedError,
    ExecutionFailedError,
    NonDeterminismError,
    PolosClient,
    StepExecutionError,
    WorkflowContext,
    WorkflowState,
    workflow,
)
from tests.engine.helpers import rows, wait_status


def uid(name: str) -> str:
    return f"{name}_{uuid.uuid4().hex[:10]}"


class Counter:
    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self._lock = threading.Lock()

    def hit(self, key: str) -> None:
        with self._lock:
            self.counts[key] = self.counts.get(key, 0) + 1

    def __getitem__(self, key: str) -> int:
        return self.counts.get(key, 0)


class Mood(enum.Enum):
    HAPPY = "happy"
    SAD = 0


@dataclasses.dataclass
class Box:
    label: str
    weight: float
    parts: tuple[str, ...] = ()


class Address(BaseModel):
    city: str
    zip: str | None = None


class Person(BaseModel):
    name: str
    age: int
    address: Address
    born: dt.datetime


async def test_steps_run_once_across_restart(journal_path):
    counter = Counter()

    def side_effect(name: str) -> str:
        counter.hit(name)
        return name.upper()

    async def async_effect() -> int:
        counter.hit("async")
        return 42

    wf_id = uid("replay_restart")

    @workflow(id=wf_id)
    async def flow(ctx: WorkflowContext, payload: dict) -> dict:
        a = await ctx.step.run("a", side_effect, "a")
        b = await ctx.step.run("b", async_effect)
        token = await ctx.step.uuid("token")
        rnd = await ctx.step.random("rnd")
        now = await ctx.step.now("now")
        approval = await ctx.step.suspend("approve", {"a": a})
        c = await ctx.step.run("c", side_effect, "c")
        return {
            "a": a,
            "b": b,
            "c": c,
            "token": token,
            "rnd": rnd,
            "now": now,
            "ok": approval.data["ok"],
        }

    client = PolosClient(journal=journal_path)
    handle = await flow.invoke(client, {"x": 1})
    await wait_status(client, handle.id, "waiting")
    first = dict(
        await rows(client, "SELECT step_key, output FROM steps WHERE execution_id = ?", [handle.id])
    )
    assert set(first) == {"a", "b", "token", "rnd", "now"}
    assert counter.counts == {"a": 1, "async": 1}
    client.close()

    client = PolosClient(journal=journal_path)
    try:
        await client.resume(wf_id, handle.id, "approve", {"ok": True})
        result = await client.wait_for_result(handle.id, timeout=10)
        assert (
            result["a"] == "A" and result["b"] == 42 and result["c"] == "C" and result["ok"] is True
        )
        # Non-deterministic helpers returned their journaled values, not fresh ones.
        assert result["token"] == first["token"].strip('"')
        assert result["rnd"] == float(first["rnd"])
        assert result["now"] == int(first["now"])
        assert counter.counts == {"a": 1, "async": 1, "c": 1}
        step_rows = await rows(
            client,
            "SELECT step_key, position, kind, attempt, status FROM steps WHERE execution_id = ? ORDER BY position",
            [handle.id],
        )
        assert step_rows == [
            ("a", 0, "run", 1, "completed"),
            ("b", 1, "run", 1, "completed"),
            ("token", 2, "uuid", 1, "completed"),
            ("rnd", 3, "random", 1, "completed"),
            ("now", 4, "now", 1, "completed"),
            ("approve", 5, "suspend", 1, "completed"),
            ("c", 6, "run", 1, "completed"),
        ]
    finally:
        client.close()


def _values() -> dict[str, Any]:
    class LocalModel(BaseModel):  # a class defined inside a function, like a notebook cell's
        value: int
        note: str = ""

    return {
        "zero": 0,
        "false": False,
        "empty_str": "",
        "empty_list": [],
        "empty_dict": {},
        "none": None,
        "float": 0.1,
        "nan": float("nan"),
        "inf": float("inf"),
        "neg_inf": float("-inf"),
        "aware_dt": dt.datetime(
            2024, 2, 29, 12, 30, 1, 999, tzinfo=dt.timezone(dt.timedelta(hours=-7))
        ),
        "bytes": b"\x00\x01\xfe",
        "tuple": (1, ("nested",), None),
        "set": {1, 2},
        "decimal": decimal.Decimal("3.1400"),
        "uuid": uuid.UUID("00000000-0000-0000-0000-00000000abcd"),
        "enum": Mood.SAD,
        "dataclass": Box("b", 1.5, ("x", "y")),
        "model": Person(
            name="Ada",
            age=36,
            address=Address(city="London"),
            born=dt.datetime(1815, 12, 10, tzinfo=dt.UTC),
        ),
        "local_model": LocalModel(value=0),
        "nested": {
            "list": [0, False, "", None, {"k": (b"", decimal.Decimal("0"))}],
            3: {"$t": "x"},
        },
    }


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and math.isnan(a):
        return isinstance(b, float) and math.isnan(b)
    return type(a) is type(b) and a == b


async def test_values_roundtrip_exactly_through_replay(journal_path):
    values = _values()
    counter = Counter()
    wf_id = uid("replay_values")

    def produce(name: str) -> Any:
        counter.hit(name)
        return values[name]

    @workflow(id=wf_id)
    async def flow(ctx: WorkflowContext) -> dict:
        got = {}
        for name in values:
            got[name] = await ctx.step.run(f"v:{name}", produce, name)
        await ctx.step.suspend("hold")
        return {"replayed": got}

    client = PolosClient(journal=journal_path)
    handle = await flow.invoke(client)
    await wait_status(client, handle.id, "waiting")
    client.close()

    client = PolosClient(journal=journal_path)
    try:
        await client.resume(None, handle.id, "hold", {})
        await client.wait_for_result(handle.id, timeout=10)
        # The result is what the replayed step calls returned (after the restart, no step re-ran).
        assert all(counter[name] == 1 for name in values), counter.counts
        info = await client.get_execution(handle.id)
        replayed = info.result["replayed"]
        for name, original in values.items():
            assert _same(replayed[name], original), (name, replayed[name], original)
        assert type(replayed["local_model"]).__qualname__.endswith("<locals>.LocalModel")
        assert replayed["aware_dt"].utcoffset() == dt.timedelta(hours=-7)
        assert str(replayed["decimal"]) == "3.1400"
        assert replayed["model"].address.city == "London"
        assert replayed["nested"][3] == {"$t": "x"}
    finally:
        client.close()


async def test_step_returning_none_is_not_rerun(client):
    counter = Counter()
    wf_id = uid("replay_none")

    def returns_none() -> None:
        counter.hit("none")

    @workflow(id=wf_id)
    async def flow(ctx: WorkflowContext) -> list:
        first = await ctx.step.run("none", returns_none)
        await ctx.step.suspend("hold")
        return [first, "after"]

    handle = await flow.invoke(client)
    await wait_status(client, handle.id, "waiting")
    output = await rows(
        client,
        "SELECT output, status FROM steps WHERE execution_id = ? AND step_key = 'none'",
        [handle.id],
    )
    assert output == [("null", "completed")]  # a recorded None, not "no record"
    await client.resume(None, handle.id, "hold", None)
    assert await client.wait_for_result(handle.id, timeout=10) == [None, "after"]
    assert counter["none"] == 1


async def test_duplicate_step_key_fails_execution_even_if_caught(client):
    wf_id = uid("dup_key")
    caught: list[BaseException] = []

    @workflow(id=wf_id)
    async def flow(ctx: WorkflowContext) -> str:
        await ctx.step.run("same", lambda: 1)
        try:
            await ctx.step.run("same", lambda: 2)
        except DuplicateStepKeyError as exc:
            caught.append(exc)
        return "swallowed"

    handle = await flow.invoke(client)
    with pytest.raises(ExecutionFailedError) as info:
        await client.wait_for_result(handle.id, timeout=10)
    assert info.value.error_type == "polos_nb.errors.DuplicateStepKeyError"
    assert len(caught) == 1
    assert caught[0].step_key == "same" and caught[0].execution_id == handle.id
    assert "'same'" in str(caught[0]) and handle.id in str(caught[0])
    execution = await client.get_execution(handle.id)
    assert execution.status == "failed" and execution.result is None
    assert execution.error["type"] == "polos_nb.errors.DuplicateStepKeyError"
    assert f"Step key 'same' is used twice in execution {handle.id}" in execution.error["message"]
    # Only the first call ran and was journaled.
    assert await rows(
        client, "SELECT step_key, output FROM steps WHERE execution_id = ?", [handle.id]
    ) == [("same", "1")]


async def test_duplicate_key_across_kinds(client):
    wf_id = uid("dup_kinds")

    @workflow(id=wf_id)
    async def flow(ctx: WorkflowContext) -> None:
        await ctx.step.uuid("k")
        await ctx.step.run("k", lambda: 1)

    with pytest.raises(ExecutionFailedError, match="DuplicateStepKeyError"):
        await flow.run(client, timeout=10)


async def test_nondeterminism_other_step_at_position(client):
    wf_id = uid("nondet")
    counter = Counter()

    @workflow(id=wf_id)
    async def original(ctx: WorkflowContext) -> str:
        await ctx.step.run("a", counter.hit, "a")
        await ctx.step.suspend("wait")
        return "done"

    handle = await original.invoke(client)
    await wait_status(client, handle.id, "waiting")

    @workflow(id=wf_id)
    async def changed(ctx: WorkflowContext) -> str:
        await ctx.step.run("b", counter.hit, "b")
        await ctx.step.suspend("wait")
        return "done"

    await client.resume(None, handle.id, "wait", {})
    # The run is parked, not failed (like a failed workflow task in Temporal): the waiter
    # hears why, the execution waits for the code to be restored.
    with pytest.raises(ExecutionBlockedError) as info:
        await client.wait_for_result(handle.id, timeout=10)
    assert info.value.reason == "nondeterminism"
    assert info.value.error_type == "polos_nb.errors.NonDeterminismError"
    execution = await wait_status(client, handle.id, "waiting")
    error = execution.error
    assert error["type"] == "polos_nb.errors.NonDeterminismError"
    assert error["blocked"] == "nondeterminism"
    message = error["message"]
    assert f"Execution {handle.id} is not deterministic at step position 0" in message
    assert "the journal recorded run step 'a'" in message
    assert "the code now asks for run step 'b'" in message
    assert "Restore the code" in message  # the fix is named
    assert counter["a"] == 1 and counter["b"] == 0

    @workflow(id=wf_id)  # the code the run started with, defined again
    async def restored(ctx: WorkflowContext) -> str:
        await ctx.step.run("a", counter.hit, "a")
        await ctx.step.suspend("wait")
        return "done"

    assert await client.wait_for_result(handle.id, timeout=10) == "done"
    assert (await client.get_execution(handle.id)).error is None
    assert counter["a"] == 1 and counter["b"] == 0


async def test_nondeterminism_same_key_other_kind(client):
    wf_id = uid("nondet_kind")
    seen: list[NonDeterminismError] = []

    @workflow(id=wf_id)
    async def original(ctx: WorkflowContext) -> str:
        await ctx.step.run("a", lambda: "x")
        await ctx.step.suspend("wait")
        return "done"

    handle = await original.invoke(client)
    await wait_status(client, handle.id, "waiting")

    @workflow(id=wf_id)
    async def changed(ctx: WorkflowContext) -> str:
        try:
            await ctx.step.uuid("a")
        except NonDeterminismError as exc:  # catching it does not save the run
            seen.append(exc)
        await ctx.step.suspend("wait")
        return "done"

    await client.resume(None, handle.id, "wait", {})
    info = await wait_status(client, handle.id, "waiting")
    while info.error is None:  # the suspension's "waiting" first, then the park
        await asyncio.sleep(0.01)
        info = await wait_status(client, handle.id, "waiting")
    assert len(seen) == 1
    assert seen[0].execution_id == handle.id and seen[0].position == 0
    assert seen[0].recorded == "run step 'a' at position 0"
    assert seen[0].asked == "uuid step 'a'"
    assert info.error["type"] == "polos_nb.errors.NonDeterminismError"
    assert info.error["blocked"] == "nondeterminism"
    assert await client.cancel(handle.id)  # a parked run can be given up
    assert (await wait_status(client, handle.id, "cancelled")).status == "cancelled"


async def test_failed_step_is_retried_journaled_and_replayed(journal_path):
    counter = Counter()
    wf_id = uid("retry")
    seen: list[tuple[str, str, str]] = []

    def flaky() -> None:
        counter.hit("flaky")
        raise ValueError(f"boom {counter['flaky']}")

    @workflow(id=wf_id)
    async def flow(ctx: WorkflowContext) -> list:
        try:
            await ctx.step.run("flaky", flaky, max_retries=2, base_delay=0.001)
        except StepExecutionError as exc:
            seen.append((exc.step_key, exc.error_type, exc.error_message))
        await ctx.step.suspend("hold")
        return [list(s) for s in seen]

    client = PolosClient(journal=journal_path)
    handle = await flow.invoke(client)
    await wait_status(client, handle.id, "waiting")
    assert counter["flaky"] == 3
    assert seen == [("flaky", "builtins.ValueError", "boom 3")]
    attempts = await rows(
        client,
        "SELECT attempt, status, error->>'$.type', error->>'$.message' FROM steps"
        " WHERE execution_id = ? AND step_key = 'flaky' ORDER BY attempt",
        [handle.id],
    )
    assert attempts == [
        (1, "retrying", "builtins.ValueError", "boom 1"),
        (2, "retrying", "builtins.ValueError", "boom 2"),
        (3, "failed", "builtins.ValueError", "boom 3"),
    ]
    client.close()

    client = PolosClient(journal=journal_path)
    try:
        await client.resume(None, handle.id, "hold", {})
        await client.wait_for_result(handle.id, timeout=10)
        assert counter["flaky"] == 3  # not re-run on replay
        assert seen == [("flaky", "builtins.ValueError", "boom 3")] * 2  # same error raised again
    finally:
        client.close()


async def test_uncaught_step_failure_fails_execution(client):
    wf_id = uid("step_fail")

    def bad() -> None:
        raise KeyError("missing")

    @workflow(id=wf_id)
    async def flow(ctx: WorkflowContext) -> None:
        await ctx.step.run("bad", bad, max_retries=0)

    with pytest.raises(ExecutionFailedError) as info:
        await flow.run(client, timeout=10)
    assert info.value.error_type == "polos_nb.errors.StepExecutionError"
    assert "Step 'bad' failed: builtins.KeyError: 'missing'" in info.value.error_message
    assert await rows(client, "SELECT attempt, status FROM steps WHERE step_key = 'bad'") == [
        (1, "failed")
    ]


async def test_retry_backoff_on_fake_clock(fake_client, clock):
    counter = Counter()
    wf_id = uid("retry_clock")
    start = clock.now()

    def always_fails() -> None:
        counter.hit("x")
        raise RuntimeError("nope")

    @workflow(id=wf_id)
    async def flow(ctx: WorkflowContext) -> None:
        await ctx.step.run("x", always_fails, max_retries=3, base_delay=10, max_delay=15)

    handle = await flow.invoke(fake_client)

    async def until_attempts(n: int) -> None:
        deadline = time.monotonic() + 10
        while counter["x"] < n or not clock.pending_timers():
            assert time.monotonic() < deadline, counter.counts
            await asyncio.sleep(0.01)

    await until_attempts(1)
    assert clock.pending_timers() == [start + dt.timedelta(seconds=10)]
    clock.advance(9.999)
    await asyncio.sleep(0.1)
    assert counter["x"] == 1
    clock.advance(0.001)
    await until_attempts(2)
    assert clock.pending_timers() == [
        start + dt.timedelta(seconds=25)
    ]  # 20s capped at max_delay=15
    clock.advance(15)
    await until_attempts(3)
    assert clock.pending_timers() == [start + dt.timedelta(seconds=40)]
    clock.advance(15)
    info = await wait_status(fake_client, handle.id, "failed")
    assert counter["x"] == 4
    assert clock.pending_timers() == []  # no sleep after the last attempt
    assert info.completed_at == start + dt.timedelta(seconds=40)
    started = await rows(
        fake_client,
        "SELECT attempt, status, started_at FROM steps WHERE execution_id = ? ORDER BY attempt",
        [handle.id],
    )
    assert [(a, s) for a, s, _ in started] == [
        (1, "retrying"),
        (2, "retrying"),
        (3, "retrying"),
        (4, "failed"),
    ]
    assert [t.astimezone(dt.UTC) - start for _, _, t in started] == [
        dt.timedelta(seconds=s) for s in (0, 10, 25, 40)
    ]


async def test_state_mutated_in_step_survives_restart(journal_path):
    class Progress(WorkflowState):
        count: int = 0
        items: list[str] = []  # noqa: RUF012 (a pydantic field, copied per instance)

    wf_id = uid("state")
    counter = Counter()

    @workflow(id=wf_id, state_schema=Progress)
    async def flow(ctx: WorkflowContext) -> dict:
        def bump(item: str) -> str:
            counter.hit(item)
            ctx.state.count += 1
            ctx.state.items = [*ctx.state.items, item]
            return item

        await ctx.step.run("one", bump, "one")
        await ctx.step.suspend("hold")
        await ctx.step.run("two", bump, "two")
        return {"count": ctx.state.count, "items": list(ctx.state.items)}

    client = PolosClient(journal=journal_path)
    handle = await flow.invoke(client, initial_state={"count": 10})
    await wait_status(client, handle.id, "waiting")
    journaled = await rows(
        client,
        "SELECT state->>'$.v.count' FROM steps WHERE step_key = 'one' AND execution_id = ?",
        [handle.id],
    )
    assert journaled == [("11",)]
    client.close()

    client = PolosClient(journal=journal_path)
    try:
        await client.resume(None, handle.id, "hold", {})
        result = await client.wait_for_result(handle.id, timeout=10)
        assert result == {"count": 12, "items": ["one", "two"]}
        assert counter.counts == {"one": 1, "two": 1}
        info = await client.get_execution(handle.id)
        assert type(info.state) is Progress
        assert info.state.count == 12 and info.state.items == ["one", "two"]
    finally:
        client.close()


async def test_parallel_steps_replay_deterministically(journal_path):
    counter = Counter()
    wf_id = uid("gather")

    def slow(name: str, delay: float) -> str:
        time.sleep(delay)
        counter.hit(name)
        return f"{name}-done"

    @workflow(id=wf_id)
    async def flow(ctx: WorkflowContext) -> list:
        results = await asyncio.gather(
            ctx.step.run("p1", slow, "p1", 0.15),
            ctx.step.run("p2", slow, "p2", 0.0),
            ctx.step.run("p3", slow, "p3", 0.07),
        )
        await ctx.step.suspend("hold")
        return list(results)

    client = PolosClient(journal=journal_path)
    handle = await flow.invoke(client)
    await wait_status(client, handle.id, "waiting")
    positions = await rows(
        client,
        "SELECT step_key, position FROM steps WHERE execution_id = ? AND kind = 'run' ORDER BY seq",
        [handle.id],
    )
    # Committed in completion order, numbered in call order.
    assert [k for k, _ in positions] == ["p2", "p3", "p1"]
    assert dict(positions) == {"p1": 0, "p2": 1, "p3": 2}
    client.close()

    client = PolosClient(journal=journal_path)
    try:
        await client.resume(None, handle.id, "hold", {})
        assert await client.wait_for_result(handle.id, timeout=10) == [
            "p1-done",
            "p2-done",
            "p3-done",
        ]
        assert counter.counts == {"p1": 1, "p2": 1, "p3": 1}
    finally:
        client.close()

"""Retry policies (per step and per workflow run), step / run / wait timeouts and
cancellation, on a fake clock (D5, D9, D11, D15).

Suspension and event-wait deadlines firing at the right instant are pinned in
``test_waits.py``; here they are checked across a restart (the journaled deadline is not
extended), together with the step- and run-level rules.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import threading
import time
import uuid
from collections import Counter
from typing import Any

import pytest

from polos_nb import (
    BatchWorkflowInput,
    ExecutionBlockedError,
    ExecutionCancelledError,
    ExecutionFailedError,
    NonDeterminismError,
    PolosClient,
    RetryPolicy,
    StepExecutionError,
    StepTimeoutError,
    UserError,
    WaitTimeoutError,
    WorkflowContext,
    events,
    workflow,
)
from tests.engine.helpers import rows, settle, until, wait_status


# ====================================================================== helpers
def uid(name: str) -> str:
    return f"{name}_{uuid.uuid4().hex[:10]}"


def at(start: dt.datetime, seconds: float) -> dt.datetime:
    return start + dt.timedelta(seconds=seconds)


def utc(value: dt.datetime) -> dt.datetime:
    return value.astimezone(dt.UTC)


async def attempts(client: PolosClient, exec_id: str, key: str) -> list[tuple[Any, ...]]:
    """(attempt, status, error type, started_at, run_attempt) of one step, in order."""
    found = await rows(
        client,
        "SELECT attempt, status, error->>'$.type', started_at, run_attempt FROM steps"
        " WHERE execution_id = ? AND step_key = ? ORDER BY seq",
        [exec_id, key],
    )
    return [(a, s, e, utc(t) if t else None, r) for a, s, e, t, r in found]


class Flaky:
    """Raises the given exceptions in turn, then returns ``value``; counts calls."""

    def __init__(self, *errors: BaseException, value: Any = "ok") -> None:
        self.errors = list(errors)
        self.value = value
        self.calls = 0

    async def __call__(self) -> Any:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return self.value


# ====================================================================== step retry policies (D5)
async def test_step_retry_policy_backoff_factor_and_max_delay(fake_client, clock):
    wf_id = uid("step_policy")
    start = clock.now()
    flaky = Flaky(
        ConnectionError("down 1"), ConnectionError("down 2"), ConnectionError("down 3"), value=42
    )
    policy = RetryPolicy(max_retries=3, base_delay=2, backoff=3, max_delay=10)
    assert [policy.delay(i) for i in range(3)] == [2, 6, 10]  # 2*3**2 = 18 capped at 10

    @workflow(id=wf_id)
    async def flow(ctx: WorkflowContext) -> Any:
        return await ctx.step.run("fetch", flaky, retry=policy)

    handle = await flow.invoke(fake_client)
    for calls, wake in [(1, 2), (2, 8), (3, 18)]:
        await until(
            lambda calls=calls, wake=wake: (
                flaky.calls == calls and at(start, wake) in clock.pending_timers()
            ),
            what=f"back-off before attempt {calls + 1}",
        )
        clock.set(at(start, wake - 0.001))
        await settle()
        assert flaky.calls == calls  # not a moment early
        clock.set(at(start, wake))
    assert await fake_client.wait_for_result(handle.id, timeout=10) == 42
    assert flaky.calls == 4
    assert await attempts(fake_client, handle.id, "fetch") == [
        (1, "retrying", "builtins.ConnectionError", at(start, 0), 1),
        (2, "retrying", "builtins.ConnectionError", at(start, 2), 1),
        (3, "retrying", "builtins.ConnectionError", at(start, 8), 1),
        (4, "completed", None, at(start, 18), 1),
    ]


async def test_step_retry_on_and_non_retryable(fake_client, clock):
    wf_id = uid("retry_on")
    policy = RetryPolicy(
        max_retries=3,
        base_delay=0,
        max_delay=0,
        retry_on=(OSError,),
        non_retryable=(PermissionError,),
    )
    retried = Flaky(ConnectionError("a"), TimeoutError("b"), value="third time")
    not_listed = Flaky(ValueError("not an OSError"))
    excluded = Flaky(PermissionError("denied"))
    exhausted = Flaky(*(ConnectionError(f"down {i}") for i in range(1, 5)))
    single = RetryPolicy(
        max_retries=2, base_delay=0, retry_on=KeyError
    )  # one class is accepted too

    @workflow(id=wf_id)
    async def flow(ctx: WorkflowContext) -> dict:
        out: dict[str, Any] = {"retried": await ctx.step.run("retried", retried, retry=policy)}
        for key, fn, pol in [
            ("not_listed", not_listed, policy),
            ("excluded", excluded, policy),
            ("exhausted", exhausted, policy),
            ("single", Flaky(KeyError("k"), value=1), single),
        ]:
            try:
                out[key] = await ctx.step.run(key, fn, retry=pol)
            except StepExecutionError as exc:
                out[key] = [exc.error_type, exc.error_message]
        return out

    result = await flow.run(fake_client, timeout=10)
    assert result == {
        "retried": "third time",
        "not_listed": ["builtins.ValueError", "not an OSError"],
        "excluded": ["builtins.PermissionError", "denied"],
        "exhausted": ["builtins.ConnectionError", "down 4"],
        "single": 1,
    }
    assert (retried.calls, not_listed.calls, excluded.calls, exhausted.calls) == (3, 1, 1, 4)
    (info,) = await fake_client.list_executions(workflow_id=wf_id)
    statuses = {
        k: [s for _, s, *_ in await attempts(fake_client, info.id, k)]
        for k in ("retried", "not_listed", "excluded", "exhausted", "single")
    }
    assert statuses == {
        "retried": ["retrying", "retrying", "completed"],
        "not_listed": ["failed"],
        "excluded": ["failed"],
        "exhausted": ["retrying", "retrying", "retrying", "failed"],
        "single": ["retrying", "completed"],
    }
    assert clock.pending_timers() == []


def test_bad_retry_policies():
    for kwargs, message in [
        ({"max_retries": -1}, "max_retries must be an int >= 0"),
        ({"max_retries": 1.5}, "max_retries must be an int >= 0"),
        ({"base_delay": -1}, "delays must be >= 0"),
        ({"max_delay": -0.5}, "delays must be >= 0"),
        ({"backoff": 0.5}, "backoff must be >= 1"),
        ({"retry_on": (ValueError, "x")}, "retry_on must be exception classes"),
        ({"non_retryable": (int,)}, "non_retryable must be exception classes"),
    ]:
        with pytest.raises(UserError, match=message):
            RetryPolicy(**kwargs)
    with pytest.raises(UserError, match="retry= takes a RetryPolicy"):
        workflow(id=uid("bad_retry"), retry={"max_retries": 2})(lambda ctx: None)


async def test_step_retry_options_conflict(client):
    wf_id = uid("retry_conflict")

    @workflow(id=wf_id)
    async def flow(ctx: WorkflowContext) -> str:
        try:
            await ctx.step.run("x", Flaky(), retry=RetryPolicy(), max_retries=1)
        except UserError as exc:
            return str(exc)
        return "accepted"

    assert "either retry=RetryPolicy" in await flow.run(client, timeout=10)


# ====================================================================== step timeouts (D9)
async def test_step_timeout_fires_at_the_right_instant_and_replays(journal_path, clock):
    wf_id = uid("step_timeout")
    start = clock.now()
    calls = Counter()
    seen: list[tuple[Any, ...]] = []

    async def hangs() -> str:
        calls["hangs"] += 1
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            calls["cancelled"] += 1
            raise
        return "never"

    @workflow(id=wf_id)
    async def flow(ctx: WorkflowContext) -> list:
        try:
            await ctx.step.run("slow", hangs, timeout=dt.timedelta(seconds=30), max_retries=0)
        except StepTimeoutError as exc:  # also a TimeoutError and a StepExecutionError
            seen.append(
                (
                    type(exc),
                    isinstance(exc, TimeoutError),
                    isinstance(exc, StepExecutionError),
                    exc.step_key,
                    str(exc),
                )
            )
        await ctx.step.suspend("hold")
        return [s[1:] for s in seen]

    client = PolosClient(journal=journal_path, clock=clock)
    try:
        handle = await flow.invoke(client)
        await until(
            lambda: calls["hangs"] == 1 and at(start, 30) in clock.pending_timers(),
            what="timeout timer",
        )
        clock.set(at(start, 29.999))
        await settle()
        assert seen == [] and (await client.get_execution(handle.id)).status == "running"
        clock.set(at(start, 30))
        await wait_status(client, handle.id, "waiting")
        assert calls == {"hangs": 1, "cancelled": 1}  # the async step was cancelled
        message = "Step 'slow' failed: polos_nb.engine._context._AttemptTimeout: step 'slow' did not finish within 30s"
        assert seen == [(StepTimeoutError, True, True, "slow", message)]
        (row,) = await rows(
            client, "SELECT status, error->>'$.type', ended_at FROM steps WHERE step_key = 'slow'"
        )
        assert row[:2] == ("failed", "polos_nb.engine._context._AttemptTimeout") and utc(
            row[2]
        ) == at(start, 30)
    finally:
        client.close()

    client = PolosClient(journal=journal_path, clock=clock)
    try:
        await client.resume(wf_id, handle.id, "hold", {})
        result = await client.wait_for_result(handle.id, timeout=10)
        assert (
            seen[1][0] is StepTimeoutError
        )  # replayed as the same error, without running the step
        assert result == [seen[0][1:], seen[0][1:]]
        assert calls["hangs"] == 1
    finally:
        client.close()


async def test_step_timeout_then_retry_succeeds(fake_client, clock):
    wf_id = uid("timeout_retry")
    start = clock.now()
    calls = Counter()

    async def slow_then_fast() -> str:
        calls["n"] += 1
        if calls["n"] == 1:
            await asyncio.Event().wait()
        return f"attempt {calls['n']}"

    @workflow(id=wf_id)
    async def flow(ctx: WorkflowContext) -> str:
        return await ctx.step.run(
            "call", slow_then_fast, timeout=30, retry=RetryPolicy(max_retries=1, base_delay=5)
        )

    handle = await flow.invoke(fake_client)
    await until(lambda: at(start, 30) in clock.pending_timers(), what="attempt timeout")
    clock.set(at(start, 30))
    await until(lambda: at(start, 35) in clock.pending_timers(), what="back-off")
    clock.set(at(start, 35))
    assert await fake_client.wait_for_result(handle.id, timeout=10) == "attempt 2"
    assert await attempts(fake_client, handle.id, "call") == [
        (1, "retrying", "polos_nb.engine._context._AttemptTimeout", start, 1),
        (2, "completed", None, at(start, 35), 1),
    ]


async def test_sync_step_timeout_ignores_the_late_result(fake_client, clock):
    wf_id = uid("sync_timeout")
    release = threading.Event()
    finished = threading.Event()

    def blocking() -> str:
        release.wait(10)
        finished.set()
        return "late"

    @workflow(id=wf_id)
    async def flow(ctx: WorkflowContext) -> str:
        try:
            return await ctx.step.run("block", blocking, timeout=5, max_retries=0)
        except StepTimeoutError as exc:
            return exc.error_message

    handle = await flow.invoke(fake_client)
    await until(lambda: clock.pending_timers(), what="timeout timer")
    clock.advance(5)
    assert (
        await fake_client.wait_for_result(handle.id, timeout=10)
        == "step 'block' did not finish within 5s"
    )
    release.set()
    assert finished.wait(5)
    await settle()
    assert await rows(
        fake_client, "SELECT attempt, status FROM steps WHERE execution_id = ?", [handle.id]
    ) == [(1, "failed")]


# ====================================================================== workflow-level retries
async def test_workflow_retry_reruns_only_the_failed_step(fake_client, clock):
    wf_id = uid("run_retry")
    start = clock.now()
    calls = Counter()

    async def count(key: str) -> str:
        calls[key] += 1
        return key

    async def fails_once() -> str:
        calls["b"] += 1
        if calls["b"] == 1:
            raise ConnectionError("flaky backend")
        return "b"

    @workflow(id=wf_id, retry=RetryPolicy(max_retries=2, base_delay=60, max_delay=60))
    async def flow(ctx: WorkflowContext) -> list:
        a = await ctx.step.run("a", count, "a")
        b = await ctx.step.run("b", fails_once, max_retries=0)
        c = await ctx.step.run("c", count, "c")
        return [a, b, c]

    handle = await flow.invoke(fake_client)
    await wait_status(fake_client, handle.id, "waiting")
    wake = at(start, 60)
    await until(lambda: wake in clock.pending_timers(), what="run back-off timer")
    assert await rows(
        fake_client, "SELECT run_attempt FROM executions WHERE id = ?", [handle.id]
    ) == [(2,)]
    waits = await rows(
        fake_client,
        "SELECT kind, wake_at, resolved_at FROM waits WHERE execution_id = ?",
        [handle.id],
    )
    assert [(k, utc(w), r) for k, w, r in waits] == [("retry", wake, None)]
    (retry_event,) = await rows(
        fake_client,
        "SELECT data FROM events WHERE event_type = 'workflow_retry' AND execution_id = ?",
        [handle.id],
    )
    data = json.loads(retry_event[0])
    assert (data["attempt"], data["next_attempt"], data["next_attempt_at"]) == (
        1,
        2,
        wake.isoformat(),
    )
    assert data["error"]["type"] == "polos_nb.errors.StepExecutionError"
    clock.set(at(start, 59.999))
    await settle()
    assert (await fake_client.get_execution(handle.id)).status == "waiting"
    assert dict(calls) == {"a": 1, "b": 1}
    clock.set(wake)
    assert await fake_client.wait_for_result(handle.id, timeout=10) == ["a", "b", "c"]
    assert dict(calls) == {
        "a": 1,
        "b": 2,
        "c": 1,
    }  # completed steps replayed, the failed one ran again
    assert await attempts(fake_client, handle.id, "a") == [(1, "completed", None, start, 1)]
    assert await attempts(fake_client, handle.id, "b") == [
        (1, "failed", "builtins.ConnectionError", start, 1),
        (2, "completed", None, wake, 2),
    ]
    assert await attempts(fake_client, handle.id, "c") == [(1, "completed", None, wake, 2)]
    info = await fake_client.get_execution(handle.id)
    assert info.completed_at == wake


async def test_workflow_retry_back_off_survives_restart(journal_path, clock):
    wf_id = uid("run_retry_restart")
    start = clock.now()
    calls = Counter()

    def count(key: str) -> str:
        calls[key] += 1
        if key == "b" and calls[key] == 1:
            raise RuntimeError("first time")
        return key

    @workflow(id=wf_id, retry=RetryPolicy(max_retries=1, base_delay=100, max_delay=100))
    async def flow(ctx: WorkflowContext) -> list:
        return [await ctx.step.run(k, count, k, max_retries=0) for k in ("a", "b", "c")]

    client = PolosClient(journal=journal_path, clock=clock)
    try:
        handle = await flow.invoke(client)
        await until(lambda: at(start, 100) in clock.pending_timers(), what="run back-off timer")
        clock.set(at(start, 40))
    finally:
        client.close()
    client = PolosClient(journal=journal_path, clock=clock)
    try:
        await until(lambda: at(start, 100) in clock.pending_timers(), what="re-armed back-off")
        clock.set(at(start, 99.999))
        await settle()
        assert (await client.get_execution(handle.id)).status == "waiting"
        clock.set(at(start, 100))
        assert await client.wait_for_result(handle.id, timeout=10) == ["a", "b", "c"]
        assert dict(calls) == {"a": 1, "b": 2, "c": 1}
    finally:
        client.close()


async def test_workflow_retries_exhausted(fake_client, clock):
    wf_id = uid("run_retry_exhausted")
    start = clock.now()
    calls = Counter()

    async def always() -> None:
        calls["x"] += 1
        raise ValueError(f"bad {calls['x']}")

    @workflow(id=wf_id, retry=RetryPolicy(max_retries=2, base_delay=10, backoff=2, max_delay=60))
    async def flow(ctx: WorkflowContext) -> None:
        await ctx.step.run("x", always, max_retries=0)

    handle = await flow.invoke(fake_client)
    for wake in (10, 30):  # 10 s, then 20 s
        await until(
            lambda wake=wake: at(start, wake) in clock.pending_timers(), what=f"retry at {wake}"
        )
        clock.set(at(start, wake))
    with pytest.raises(ExecutionFailedError, match="bad 3"):
        await fake_client.wait_for_result(handle.id, timeout=10)
    assert calls["x"] == 3
    assert clock.pending_timers() == []  # no back-off after the last run attempt
    assert await attempts(fake_client, handle.id, "x") == [
        (1, "failed", "builtins.ValueError", start, 1),
        (2, "failed", "builtins.ValueError", at(start, 10), 2),
        (3, "failed", "builtins.ValueError", at(start, 30), 3),
    ]
    assert await rows(
        fake_client, "SELECT count(*) FROM events WHERE event_type = 'workflow_retry'"
    ) == [(2,)]
    info = await fake_client.get_execution(handle.id)
    assert info.completed_at == at(start, 30)


async def test_workflow_retry_skips_non_retryable_errors(fake_client, clock):
    wf_id = uid("run_non_retryable")

    async def missing() -> None:
        raise KeyError("gone")

    @workflow(id=wf_id, retry=RetryPolicy(max_retries=3, base_delay=1, non_retryable=(KeyError,)))
    async def flow(ctx: WorkflowContext) -> None:
        await ctx.step.run("x", missing, max_retries=0)

    with pytest.raises(ExecutionFailedError, match="KeyError"):
        await flow.run(fake_client, timeout=10)
    assert await rows(
        fake_client, "SELECT run_attempt, status FROM executions WHERE workflow_id = ?", [wf_id]
    ) == [(1, "failed")]
    assert await rows(
        fake_client, "SELECT count(*) FROM events WHERE event_type = 'workflow_retry'"
    ) == [(0,)]
    assert clock.pending_timers() == []


async def test_non_determinism_is_not_retried(fake_client, clock):
    wf_id = uid("run_nondeterminism")
    changed = {"code": False}

    @workflow(id=wf_id, retry=RetryPolicy(max_retries=3, base_delay=1))
    async def flow(ctx: WorkflowContext) -> None:
        key = "new-step" if changed["code"] else "old-step"
        await ctx.step.run(key, lambda: key)
        await ctx.step.suspend("hold")

    handle = await flow.invoke(fake_client)
    await wait_status(fake_client, handle.id, "waiting")
    changed["code"] = True  # the code changed under a waiting run
    await fake_client.resume(wf_id, handle.id, "hold", {})
    # Not retried and not failed: parked until the code is restored (issue 9, item 4).
    with pytest.raises(ExecutionBlockedError) as info:
        await fake_client.wait_for_result(handle.id, timeout=10)
    assert info.value.error_type == f"{NonDeterminismError.__module__}.NonDeterminismError"
    assert (await fake_client.get_execution(handle.id)).status == "waiting"
    assert await rows(
        fake_client, "SELECT run_attempt FROM executions WHERE id = ?", [handle.id]
    ) == [(1,)]
    assert await rows(
        fake_client, "SELECT count(*) FROM events WHERE event_type = 'workflow_retry'"
    ) == [(0,)]
    assert clock.pending_timers() == []


async def test_cancel_during_run_back_off(fake_client, clock):
    wf_id = uid("cancel_back_off")
    calls = Counter()

    async def fails() -> None:
        calls["x"] += 1
        raise RuntimeError("no")

    @workflow(id=wf_id, retry=RetryPolicy(max_retries=5, base_delay=30, max_delay=30))
    async def flow(ctx: WorkflowContext) -> None:
        await ctx.step.run("x", fails, max_retries=0)

    handle = await flow.invoke(fake_client)
    await until(lambda: clock.pending_timers(), what="back-off timer")
    assert await fake_client.cancel(handle.id) is True
    with pytest.raises(ExecutionCancelledError):
        await fake_client.wait_for_result(handle.id, timeout=10)
    assert clock.pending_timers() == []
    clock.advance(3600)
    await settle()
    assert calls["x"] == 1
    assert (await fake_client.get_execution(handle.id)).status == "cancelled"


# ====================================================================== run timeouts
async def test_run_timeout_default_from_the_decorator_and_override(fake_client, clock):
    wf_id = uid("run_deadline")
    start = clock.now()

    @workflow(id=wf_id, run_timeout_seconds=50)
    async def flow(ctx: WorkflowContext) -> None:
        await ctx.step.suspend("forever")

    default = await flow.invoke(fake_client)
    longer = await fake_client.invoke(wf_id, run_timeout_seconds=120)
    deadlines = dict(
        await rows(
            fake_client, "SELECT id, deadline FROM executions WHERE workflow_id = ?", [wf_id]
        )
    )
    assert {k: utc(v) for k, v in deadlines.items()} == {
        default.id: at(start, 50),
        longer.id: at(start, 120),
    }
    await wait_status(fake_client, default.id, "waiting")
    clock.set(at(start, 49.999))
    await settle()
    assert (await fake_client.get_execution(default.id)).status == "waiting"
    clock.set(at(start, 50))
    with pytest.raises(WaitTimeoutError, match=f"Run of execution {default.id}"):
        await fake_client.wait_for_result(default.id, timeout=10)
    assert (await fake_client.get_execution(default.id)).completed_at == at(start, 50)
    assert (await fake_client.get_execution(longer.id)).status == "waiting"
    clock.set(at(start, 120))
    with pytest.raises(WaitTimeoutError):
        await fake_client.wait_for_result(longer.id, timeout=10)


async def test_run_timeout_interrupts_a_running_step(fake_client, clock):
    wf_id = uid("run_deadline_step")
    cancelled = threading.Event()

    async def hangs() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    @workflow(id=wf_id, run_timeout_seconds=10)
    async def flow(ctx: WorkflowContext) -> None:
        await ctx.step.run("hang", hangs)

    handle = await flow.invoke(fake_client)
    await wait_status(fake_client, handle.id, "running")
    clock.advance(10)
    with pytest.raises(WaitTimeoutError):
        await fake_client.wait_for_result(handle.id, timeout=10)
    assert cancelled.is_set()


async def test_run_deadline_survives_restart(journal_path, clock):
    wf_id = uid("run_deadline_restart")
    start = clock.now()

    @workflow(id=wf_id, run_timeout_seconds=100)
    async def flow(ctx: WorkflowContext) -> None:
        await ctx.step.suspend("forever")

    client = PolosClient(journal=journal_path, clock=clock)
    try:
        handle = await flow.invoke(client)
        await wait_status(client, handle.id, "waiting")
        clock.set(at(start, 40))
    finally:
        client.close()
    client = PolosClient(journal=journal_path, clock=clock)
    try:
        await until(lambda: at(start, 100) in clock.pending_timers(), what="re-armed run deadline")
        clock.set(at(start, 99.999))
        await settle()
        assert (await client.get_execution(handle.id)).status == "waiting"
        clock.set(at(start, 100))
        with pytest.raises(WaitTimeoutError):
            await client.wait_for_result(handle.id, timeout=10)
    finally:
        client.close()


async def test_run_timeout_cancels_children(fake_client, clock):
    child_id, parent_id = uid("deadline_child"), uid("deadline_parent")

    @workflow(id=child_id)
    async def child(ctx: WorkflowContext) -> None:
        await ctx.step.suspend("forever")

    @workflow(id=parent_id, run_timeout_seconds=20)
    async def parent(ctx: WorkflowContext) -> None:
        await ctx.step.invoke_and_wait("kid", child)

    handle = await parent.invoke(fake_client)
    deadline = time.monotonic() + 10
    while not await fake_client.list_executions(workflow_id=child_id, status="waiting"):
        assert time.monotonic() < deadline
        await asyncio.sleep(0.01)
    clock.advance(20)
    with pytest.raises(WaitTimeoutError):
        await fake_client.wait_for_result(handle.id, timeout=10)
    (kid,) = await fake_client.list_executions(workflow_id=child_id)
    assert kid.status == "cancelled"


@pytest.mark.parametrize("value", [0, -5])
def test_bad_run_timeout_at_definition(value):
    with pytest.raises(UserError, match="run_timeout_seconds must be positive"):
        workflow(id=uid("bad_deadline"), run_timeout_seconds=value)(lambda ctx: None)


async def test_bad_step_timeouts(client):
    wf_id = uid("bad_step_timeout")

    @workflow(id=wf_id)
    async def flow(ctx: WorkflowContext) -> list:
        out = []
        for call in (
            lambda: ctx.step.run("r", Flaky(), timeout=0),
            lambda: ctx.step.suspend("s", timeout=-1),
            lambda: ctx.step.wait_for_event("e", "t/x", timeout=dt.timedelta(0)),
        ):
            try:
                await call()
            except UserError as exc:
                out.append(str(exc))
        return out

    assert await flow.run(client, timeout=10) == [
        "A timeout must be positive (got 0).",
        "A timeout must be positive (got -1).",
        "A timeout must be positive (got datetime.timedelta(0)).",
    ]


# ====================================================================== wait deadlines across a restart (D9, D11)
async def test_suspend_timeout_is_not_extended_by_a_restart(journal_path, clock):
    wf_id = uid("suspend_deadline_restart")
    start = clock.now()

    @workflow(id=wf_id)
    async def flow(ctx: WorkflowContext) -> str:
        try:
            await ctx.step.suspend("approve", timeout=60)
        except WaitTimeoutError as exc:
            return exc.deadline
        return "resumed"

    client = PolosClient(journal=journal_path, clock=clock)
    try:
        handle = await flow.invoke(client)
        await until(lambda: at(start, 60) in clock.pending_timers(), what="deadline timer")
        clock.set(at(start, 30))
    finally:
        client.close()
    client = PolosClient(journal=journal_path, clock=clock)
    try:
        await until(lambda: at(start, 60) in clock.pending_timers(), what="re-armed deadline")
        clock.set(at(start, 59.999))
        await settle()
        assert (await client.get_execution(handle.id)).status == "waiting"
        clock.set(at(start, 60))
        assert await client.wait_for_result(handle.id, timeout=10) == at(start, 60).isoformat()
    finally:
        client.close()


async def test_event_wait_timeout_across_restart_and_event_in_time(journal_path, clock):
    wf_id = uid("event_deadline_restart")
    start = clock.now()
    topic = f"pickup/{uuid.uuid4().hex[:8]}"

    @workflow(id=wf_id)
    async def flow(ctx: WorkflowContext, payload: dict) -> Any:
        try:
            event = await ctx.step.wait_for_event(
                "ev", payload["topic"], timeout=payload["timeout"]
            )
        except WaitTimeoutError as exc:
            return {"timed_out": exc.deadline}
        return {"event": event.data}

    client = PolosClient(journal=journal_path, clock=clock)
    try:
        late = await flow.invoke(client, {"topic": topic, "timeout": 120})
        in_time = await flow.invoke(client, {"topic": topic + "/b", "timeout": 300})
        await until(
            lambda: {at(start, 120), at(start, 300)} <= set(clock.pending_timers()),
            what="deadlines",
        )
        clock.set(at(start, 100))
    finally:
        client.close()
    client = PolosClient(journal=journal_path, clock=clock)
    try:
        await until(
            lambda: {at(start, 120), at(start, 300)} <= set(clock.pending_timers()), what="re-armed"
        )
        clock.set(at(start, 119.999))
        await settle()
        assert (await client.get_execution(late.id)).status == "waiting"
        clock.set(at(start, 120))
        assert await client.wait_for_result(late.id, timeout=10) == {
            "timed_out": at(start, 120).isoformat()
        }
        await events.publish(client, topic + "/b", {"data": {"box": 7}})
        assert await client.wait_for_result(in_time.id, timeout=10) == {"event": {"box": 7}}
        assert clock.pending_timers() == []  # the event cancelled its deadline
        clock.advance(3600)
        await settle()
        assert (await client.get_execution(in_time.id)).status == "completed"
    finally:
        client.close()


# ====================================================================== cancellation (D15)
async def test_cancel_reaches_grandchildren_and_queued_children(client):
    root_id, mid_id, leaf_id, queued_id = (
        uid("c_root"),
        uid("c_mid"),
        uid("c_leaf"),
        uid("c_queued"),
    )
    gate_open = threading.Event()
    leaf_started = Counter()

    @workflow(id=leaf_id)
    async def leaf(ctx: WorkflowContext) -> None:
        await ctx.step.suspend("forever")

    @workflow(id=mid_id)
    async def mid(ctx: WorkflowContext) -> None:
        await ctx.step.invoke_and_wait("leaf", leaf)

    async def blocked() -> None:
        leaf_started["q"] += 1
        while not gate_open.is_set():
            await asyncio.sleep(0.005)

    @workflow(id=queued_id, queue={"concurrency_limit": 1})
    async def limited(ctx: WorkflowContext) -> None:
        await ctx.step.run("work", blocked)

    @workflow(id=root_id)
    async def root(ctx: WorkflowContext) -> None:
        await ctx.step.invoke("mid", mid)
        await ctx.step.invoke("busy", limited)  # takes the queue's only slot
        await ctx.step.invoke("waiting", limited)  # queued behind it
        await ctx.step.suspend("hold")

    blocker = await client.invoke(queued_id)  # outside the tree: keeps the slot taken
    await until(lambda: leaf_started["q"] == 1, what="blocker running")
    handle = await root.invoke(client)
    deadline = time.monotonic() + 10
    while True:
        leaves = await client.list_executions(workflow_id=leaf_id, status="waiting")
        queued = await client.list_executions(workflow_id=queued_id, status="queued")
        if leaves and len(queued) == 2:
            break
        assert time.monotonic() < deadline, (leaves, queued)
        await asyncio.sleep(0.01)
    assert await client.cancel(handle.id) is True
    tree = await client.list_executions(limit=1000)
    statuses = {
        (i.workflow_id, i.parent_execution_id is None): i.status
        for i in tree
        if i.root_execution_id == handle.id
    }
    assert statuses == {
        (root_id, True): "cancelled",
        (mid_id, False): "cancelled",
        (leaf_id, False): "cancelled",
        (queued_id, False): "cancelled",
    }
    assert len([i for i in tree if i.root_execution_id == handle.id]) == 5
    gate_open.set()
    assert await client.wait_for_result(blocker.id, timeout=10) is None
    await settle()
    assert leaf_started["q"] == 1  # the cancelled queued children never ran


async def test_run_timeout_with_grandchildren_fails_with_the_timeout(fake_client, clock):
    root_id, mid_id, leaf_id = uid("dl_root"), uid("dl_mid"), uid("dl_leaf")

    @workflow(id=leaf_id)
    async def leaf(ctx: WorkflowContext) -> None:
        await ctx.step.suspend("forever")

    @workflow(id=mid_id)
    async def mid(ctx: WorkflowContext) -> None:
        await ctx.step.batch_invoke_and_wait(
            "leaves", [BatchWorkflowInput(id=leaf_id) for _ in range(3)]
        )

    @workflow(id=root_id, run_timeout_seconds=20)
    async def root(ctx: WorkflowContext) -> None:
        await ctx.step.invoke_and_wait("mid", mid)

    handle = await root.invoke(fake_client)
    deadline = time.monotonic() + 10
    while len(await fake_client.list_executions(workflow_id=leaf_id, status="waiting")) < 3:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.01)
    clock.advance(20)
    with pytest.raises(WaitTimeoutError, match=f"Run of execution {handle.id}"):
        await fake_client.wait_for_result(handle.id, timeout=10)
    assert {i.status for i in await fake_client.list_executions(workflow_id=mid_id)} == {
        "cancelled"
    }
    assert [i.status for i in await fake_client.list_executions(workflow_id=leaf_id)] == [
        "cancelled"
    ] * 3

"""Writes that fail (issue 9, item 3): a value the journal cannot hold is refused at its
step with the step's key; a run whose last write fails ends plainly and its waiter wakes;
a full disk does not wedge the engine, which goes on once space is back (no restart)."""

from __future__ import annotations

import asyncio
import errno
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from polos_nb import (
    ExecutionBlockedError,
    ExecutionFailedError,
    JournalUnavailableError,
    PolosClient,
    SerializationError,
    WorkflowContext,
    WorkflowState,
    events,
    workflow,
)
from polos_nb.engine.journal import Update
from polos_nb.testing import refuse_writes
from tests.engine.helpers import rows, wait_status

ROOT = Path(__file__).resolve().parents[2]
LONE = "\ud83d"  # half of an emoji: not valid Unicode, no UTF-8 store can hold it


def uid(name: str) -> str:
    return f"{name}_{uuid.uuid4().hex[:8]}"


class Memo(WorkflowState):
    note: str = ""


def _nested(depth: int) -> Any:
    value: Any = "leaf"
    for _ in range(depth):
        value = [value]
    return value


def _self_referencing() -> Any:
    loop: list[Any] = []
    loop.append(loop)
    return loop


# (case, workflow body, step key named in the message, words in the message)
Body = Callable[[WorkflowContext, list[str]], Any]


async def _step_result(ctx: WorkflowContext, calls: list[str]) -> Any:
    return await ctx.step.run("emoji", lambda: calls.append("emoji") or f"cut {LONE}")


async def _nested_key(ctx: WorkflowContext, calls: list[str]) -> Any:
    return await ctx.step.run("keyed", lambda: calls.append("keyed") or {"ok": [1, {LONE: 2}]})


async def _deep(ctx: WorkflowContext, calls: list[str]) -> Any:
    return await ctx.step.run("deep", lambda: calls.append("deep") or _nested(5000))


async def _recursive(ctx: WorkflowContext, calls: list[str]) -> Any:
    return await ctx.step.run("loop", lambda: calls.append("loop") or _self_referencing())


async def _run_result(ctx: WorkflowContext, calls: list[str]) -> Any:
    calls.append("body")
    return {"text": f"x{LONE}"}


async def _publish(ctx: WorkflowContext, calls: list[str]) -> Any:
    calls.append("body")
    return await ctx.step.publish_event("announce", "hardening/t", {"text": LONE})


async def _suspend(ctx: WorkflowContext, calls: list[str]) -> Any:
    calls.append("body")
    return await ctx.step.suspend("ask", {"question": LONE})


async def _error_text(ctx: WorkflowContext, calls: list[str]) -> Any:
    def fails() -> None:
        calls.append("fails")
        raise ValueError(f"bad {LONE} input")

    return await ctx.step.run("fails", fails, max_retries=0)


CASES: list[tuple[str, Body, str, tuple[str, ...]]] = [
    ("step result with a lone surrogate", _step_result, "step 'emoji'", ("surrogate", "$")),
    ("surrogate in a nested key", _nested_key, "step 'keyed'", ("surrogate", "$.ok[1]")),
    ("value nested 5000 deep", _deep, "step 'deep'", ("nested more than",)),
    ("value that contains itself", _recursive, "step 'loop'", ("contains itself",)),
    ("run result with a lone surrogate", _run_result, "run ", ("surrogate", "$.text")),
    ("event data with a lone surrogate", _publish, "step 'announce'", ("surrogate",)),
    ("suspension data with a lone surrogate", _suspend, "suspension 'ask'", ("surrogate",)),
    ("error message with a lone surrogate", _error_text, "Step 'fails'", ("bad \\ud83d",)),
]


@pytest.mark.parametrize(("case", "body", "names", "says"), CASES, ids=[c[0] for c in CASES])
async def test_a_value_the_journal_cannot_hold_fails_its_run_plainly(
    tmp_path: Path, case: str, body: Body, names: str, says: tuple[str, ...]
) -> None:
    calls: list[str] = []
    wf_id = uid("unjournalable")

    @workflow(id=wf_id)
    async def flow(ctx: WorkflowContext) -> Any:
        return await body(ctx, calls)

    path = tmp_path / "j.duckdb"
    client = PolosClient(journal=path)
    try:
        handle = await flow.invoke(client)
        # The waiter wakes with the run's failure (not a timeout): the run has ended.
        with pytest.raises(ExecutionFailedError) as info:
            await client.wait_for_result(handle.id, timeout=30)
        message = info.value.error_message
        assert names in message, f"{case}: {message}"
        for word in says:
            assert word in message, f"{case}: {message}"
        assert (await client.get_execution(handle.id)).status == "failed"
        attempts = await rows(
            client, "SELECT count(*) FROM steps WHERE execution_id = ?", [handle.id]
        )
        assert attempts[0][0] <= 1, f"{case}: refused value was retried"
    finally:
        client.close()
    ran = list(calls)
    assert len(ran) == 1, f"{case}: ran {ran}"
    # Reopening does not run it again: its end is in the journal.
    client = PolosClient(journal=path)
    try:
        await asyncio.sleep(0.2)
        assert (await client.get_execution(handle.id)).status == "failed"
    finally:
        client.close()
    assert calls == ran


async def test_bad_state_is_refused_with_the_step_key(tmp_path: Path) -> None:
    wf_id = uid("bad_state")

    @workflow(id=wf_id, state_schema=Memo)
    async def flow(ctx: WorkflowContext) -> str:
        def edit() -> str:
            ctx.state.note = f"half {LONE}"
            return "edited"

        return await ctx.step.run("edit", edit)

    client = PolosClient(journal=tmp_path / "j.duckdb")
    try:
        with pytest.raises(ExecutionFailedError) as info:
            await flow.run(client, timeout=30)
        assert "The workflow state after step 'edit'" in info.value.error_message
    finally:
        client.close()


async def test_refused_input_and_publish_write_nothing(tmp_path: Path) -> None:
    wf_id = uid("bad_input")

    @workflow(id=wf_id)
    async def flow(ctx: WorkflowContext, payload: dict) -> dict:
        return payload

    client = PolosClient(journal=tmp_path / "j.duckdb")
    try:
        with pytest.raises(SerializationError, match=f"The input of workflow '{wf_id}'"):
            await flow.invoke(client, {"x": LONE})
        with pytest.raises(SerializationError, match="surrogate"):
            await events.publish(client, "hardening/bad", {"data": {"x": LONE}})
        assert await rows(client, "SELECT count(*) FROM executions") == [(0,)]
        # A refused publish does not use up a sequence number (item 9).
        event = await client.runtime.publish("hardening/bad", None, {"x": 1})
        assert event.sequence_id == 1
    finally:
        client.close()


def _status_update(ops: list[Any]) -> bool:
    return any(
        isinstance(op, Update) and op.table == "executions" and "result" in op.columns for op in ops
    )


async def test_a_run_whose_last_write_is_refused_ends_failed_and_its_waiter_wakes(
    tmp_path: Path,
) -> None:
    """The run's outcome row is refused (for its content, not for space): it ends failed."""
    wf_id = uid("last_write")
    calls: list[str] = []

    @workflow(id=wf_id)
    async def flow(ctx: WorkflowContext) -> str:
        await ctx.step.run("work", lambda: calls.append("work"))
        return "finished"

    client = PolosClient(journal=tmp_path / "j.duckdb")
    try:
        refusal = RuntimeError("Conversion Error: the value does not fit the column")
        with refuse_writes(client, refusal, matching=_status_update) as refused:
            handle = await flow.invoke(client)
            with pytest.raises(ExecutionFailedError) as info:
                await client.wait_for_result(handle.id, timeout=30)
        assert refused[0] >= 1
        assert "could not be written" in info.value.error_message
        assert "ended completed" in info.value.error_message
        assert (await client.get_execution(handle.id)).status == "failed"
    finally:
        client.close()
    assert calls == ["work"]


async def test_a_full_disk_holds_runs_and_they_go_on_once_space_is_back(tmp_path: Path) -> None:
    """ENOSPC at the write boundary: waiters wake, the engine answers, nothing is lost."""
    wf_id = uid("full_disk")
    effects: list[str] = []
    gate = asyncio.Event()

    @workflow(id=wf_id)
    async def flow(ctx: WorkflowContext) -> list[str]:
        first = await ctx.step.run("first", lambda: effects.append("first") or "a")
        await ctx.step.run("wait-gate", gate.wait)
        second = await ctx.step.run("second", lambda: effects.append("second") or "b")
        return [first, second]

    client = PolosClient(journal=tmp_path / "j.duckdb")
    try:
        handle = await flow.invoke(client)
        query = "SELECT count(*) FROM steps WHERE execution_id = ? AND step_key = 'first'"
        while await rows(client, query, [handle.id]) != [(1,)]:  # committed, not just run
            await asyncio.sleep(0.01)
        with refuse_writes(client) as refused:
            gate.set()
            with pytest.raises(ExecutionBlockedError) as info:
                await client.wait_for_result(handle.id, timeout=30)
            assert info.value.reason == "journal"
            assert "No space left" in str(info.value) or "no space" in str(info.value)
            # The engine is not wedged: reads answer, the run shows why it waits.
            held = await client.get_execution(handle.id)
            assert held.status == "waiting" and held.error["blocked"] == "journal"
            with pytest.raises(ExecutionBlockedError):  # asking again answers at once
                await client.wait_for_result(handle.id, timeout=30)
            with pytest.raises(JournalUnavailableError, match="no space is left") as start:
                await flow.invoke(client)
            assert "Free space" in str(start.value)
            assert refused[0] >= 2
        # Space is back: the run goes on by itself from its last committed step.
        await wait_status(client, handle.id, "completed", timeout=60)
        assert await client.wait_for_result(handle.id, timeout=60) == ["a", "b"]
        info_after = await client.get_execution(handle.id)
        assert info_after.status == "completed" and info_after.error is None
    finally:
        client.close()
    assert effects.count("first") == 1  # committed before the disk filled: never again
    assert effects.count("second") in (1, 2)  # its commit may have failed: at least once (D6)


_FSIZE_CHILD = r"""
import asyncio, json, os, resource, signal, sys
from polos_nb import PolosClient, workflow, ExecutionBlockedError, JournalUnavailableError

signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG

@workflow(id="fsize_flow")
async def fsize_flow(ctx, payload: dict) -> int:
    total = 0
    for i in range(payload["steps"]):
        total += len(await ctx.step.run(f"blob:{i}", lambda: "x" * 50_000))
    return total

async def main(path):
    client = PolosClient(journal=path)
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    sizes = [os.path.getsize(p) for p in (path, path + ".wal") if os.path.exists(p)]
    resource.setrlimit(resource.RLIMIT_FSIZE, (max(sizes) + 400_000, hard))
    handle = await fsize_flow.invoke(client, {"steps": 30})
    out = {}
    try:
        await client.wait_for_result(handle.id, timeout=60)
        out["blocked"] = None
    except ExecutionBlockedError as exc:
        out["blocked"] = exc.reason
        out["message"] = str(exc)
    out["status_while_full"] = (await client.get_execution(handle.id)).status
    # A start is a small write: it may still fit in the room the refused 50 KB step left
    # (how much depends on the file's exact size). Once that room is used, starts are refused.
    out["start_while_full"] = "accepted"
    for _ in range(400):
        try:
            await fsize_flow.invoke(client, {"steps": 0})
        except JournalUnavailableError as exc:
            out["start_while_full"] = str(exc)
            break
    resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))  # space is back
    for _ in range(1200):
        if (await client.get_execution(handle.id)).status == "completed":
            break
        await asyncio.sleep(0.1)
    out["result"] = await client.wait_for_result(handle.id, timeout=120)
    client.close()
    print(json.dumps(out))

asyncio.run(main(sys.argv[1]))
"""


def test_a_real_write_failure_from_the_file_system_is_survived(tmp_path: Path) -> None:
    """The operating system refuses the journal's writes (a file size limit: EFBIG), then
    allows them again; the same process finishes the run."""
    proc = subprocess.run(
        [sys.executable, "-c", _FSIZE_CHILD, str(tmp_path / "j.duckdb")],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["blocked"] == "journal", out
    assert "size limit" in out["message"] or "File too large" in out["message"], out
    assert out["status_while_full"] == "waiting"
    assert "cannot be read or written right now" in out["start_while_full"]
    assert out["result"] == 30 * 50_000


def test_enospc_is_reported_as_unavailable() -> None:
    from polos_nb.engine.journal._files import classify

    error = classify(OSError(errno.ENOSPC, "No space left on device"), "/j.duckdb")
    assert isinstance(error, JournalUnavailableError) and "no space" in str(error)


class Note(BaseModel):
    text: str


async def test_waiting_run_status_is_visible_while_blocked_on_the_journal(
    tmp_path: Path,
) -> None:
    wf_id = uid("visible")

    @workflow(id=wf_id)
    async def flow(ctx: WorkflowContext) -> str:
        await ctx.step.suspend("hold")
        return "ok"

    client = PolosClient(journal=tmp_path / "j.duckdb")
    try:
        handle = await flow.invoke(client)
        await wait_status(client, handle.id, "waiting")
        with refuse_writes(client), pytest.raises(JournalUnavailableError):
            await client.resume(None, handle.id, "hold", {})
        await client.resume(None, handle.id, "hold", {})
        assert await client.wait_for_result(handle.id, timeout=30) == "ok"
    finally:
        client.close()

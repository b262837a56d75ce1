"""Errors a user can act on: unknown workflows, bad payloads, unusable journals, pending code (D13)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import duckdb
import pytest
from pydantic import BaseModel

from polos_nb import (
    ExecutionNotFoundError,
    JournalCorruptError,
    JournalLockedError,
    JournalVersionError,
    PayloadValidationError,
    PolosClient,
    UserError,
    WorkflowContext,
    WorkflowNotFoundError,
    workflow,
)
from polos_nb.engine.journal import SCHEMA_VERSION
from tests.engine.helpers import rows

REPO = Path(__file__).resolve().parents[2]


def uid(name: str) -> str:
    return f"{name}_{uuid.uuid4().hex[:10]}"


class Order(BaseModel):
    sku: str
    qty: int


async def test_unregistered_workflow(client):
    missing = uid("never_defined")
    with pytest.raises(WorkflowNotFoundError) as info:
        await client.invoke(missing, {"a": 1})
    assert info.value.workflow_id == missing
    assert f"Workflow {missing!r} not found" in str(info.value)
    assert "@workflow" in str(info.value)
    assert await rows(client, "SELECT count(*) FROM executions") == [(0,)]


async def test_child_of_unregistered_workflow_is_catchable(client):
    wf_id = uid("parent_of_missing")
    missing = uid("missing_child")

    @workflow(id=wf_id)
    async def parent(ctx: WorkflowContext) -> str:
        try:
            await ctx.step.invoke_and_wait("kid", missing)
        except WorkflowNotFoundError as exc:
            return exc.workflow_id
        return "started"

    assert await parent.run(client, timeout=10) == missing
    assert await rows(
        client, "SELECT count(*) FROM executions WHERE workflow_id = ?", [missing]
    ) == [(0,)]


async def test_payload_validation_writes_nothing(client):
    wf_id = uid("typed_payload")

    @workflow(id=wf_id)
    async def typed(ctx: WorkflowContext, order: Order) -> int:
        assert isinstance(order, Order)
        return order.qty * 2

    with pytest.raises(PayloadValidationError) as info:
        await typed.invoke(client, {"sku": "x", "qty": "many"})
    message = str(info.value)
    assert f"Payload for workflow {wf_id!r} does not match Order" in message
    assert "qty:" in message
    with pytest.raises(PayloadValidationError, match="sku: Field required"):
        await client.invoke(wf_id, {"qty": 1})
    assert await rows(client, "SELECT count(*) FROM executions WHERE workflow_id = ?", [wf_id]) == [
        (0,)
    ]
    # A matching dict is accepted and arrives as the model.
    assert await typed.run(client, {"sku": "x", "qty": "3"}, timeout=10) == 6


async def test_unknown_execution(client):
    with pytest.raises(ExecutionNotFoundError, match="'nope'"):
        await client.get_execution("nope")
    with pytest.raises(ExecutionNotFoundError):
        await client.cancel("nope")


async def test_bad_step_key_and_timeout(client):
    wf_id = uid("bad_key")

    @workflow(id=wf_id)
    async def flow(ctx: WorkflowContext) -> list:
        errors = []
        for call in (
            lambda: ctx.step.run("", lambda: 1),
            lambda: ctx.step.suspend("s", timeout=0),
            lambda: ctx.step.suspend("s2", data=[1, 2]),
        ):
            try:
                await call()
            except UserError as exc:
                errors.append(str(exc))
        return errors

    assert await flow.run(client, timeout=10) == [
        "A step key must be a non-empty string (got '').",
        "A timeout must be positive (got 0).",
        "suspend data must be a dict or a Pydantic model (got list).",
    ]


async def test_journal_locked_by_another_process(tmp_path):
    path = tmp_path / "locked.duckdb"
    script = "import duckdb, sys, time; con = duckdb.connect(sys.argv[1]); print('ready', flush=True); time.sleep(120)"
    proc = subprocess.Popen(
        [sys.executable, "-c", script, str(path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        with pytest.raises(JournalLockedError) as info:
            PolosClient(journal=path)
        assert info.value.pid == proc.pid
        assert f"process {proc.pid}" in str(info.value)
        assert "POLOS_JOURNAL" in str(info.value)
    finally:
        proc.kill()
        proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()
    # Once the owner is gone the journal opens.
    client = PolosClient(journal=path)
    client.close()


async def test_corrupt_journal(tmp_path):
    path = tmp_path / "corrupt.duckdb"
    garbage = os.urandom(64 * 1024)
    path.write_bytes(garbage)
    with pytest.raises(JournalCorruptError) as info:
        PolosClient(journal=path)
    assert info.value.path == str(path)
    assert "never deletes a journal" in str(info.value)
    assert path.read_bytes() == garbage  # untouched


async def test_journal_from_newer_version(tmp_path):
    path = tmp_path / "newer.duckdb"
    PolosClient(journal=path).close()
    con = duckdb.connect(str(path))
    con.execute(
        "INSERT INTO polos_schema_migrations VALUES (?, 'future', now())", [SCHEMA_VERSION + 1]
    )
    con.close()
    with pytest.raises(JournalVersionError) as info:
        PolosClient(journal=path)
    assert (info.value.found, info.value.supported) == (SCHEMA_VERSION + 1, SCHEMA_VERSION)
    assert f"schema version {SCHEMA_VERSION + 1}" in str(info.value)
    # A failed open leaves the file usable by others (the lock is released).
    duckdb.connect(str(path)).close()


async def test_pending_workflow_resumes_once_defined(tmp_path):
    path = tmp_path / "pending.duckdb"
    wf_id = uid("defined_later")
    script = textwrap.dedent(
        f"""
        import asyncio, sys
        from polos_nb import PolosClient, workflow

        @workflow(id={wf_id!r})
        async def slow(ctx, payload):
            async def forever():
                await asyncio.sleep(3600)
            await ctx.step.run("first", lambda: payload["n"] + 1)
            await ctx.step.run("work", forever)

        async def main():
            client = PolosClient(journal=sys.argv[1])
            handle = await slow.invoke(client, {{"n": 1}})
            for _ in range(500):
                steps = await asyncio.wrap_future(client.runtime.journal.read(
                    lambda con: con.execute("SELECT count(*) FROM steps").fetchone()[0]))
                if steps:
                    break
                await asyncio.sleep(0.01)
            print(handle.id, flush=True)
            client.close()  # the process goes away with the run in flight

        asyncio.run(main())
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )
    assert done.returncode == 0, done.stderr
    exec_id = done.stdout.strip()

    client = PolosClient(journal=path)
    try:
        assert client.pending_workflows() == {wf_id: [exec_id]}
        info = await client.get_execution(exec_id)
        assert info.status == "running" and info.payload == {"n": 1}
        calls: list[int] = []

        def quick() -> str:
            calls.append(1)
            return "done now"

        @workflow(id=wf_id)
        async def slow(ctx: WorkflowContext, payload: dict) -> list:
            first = await ctx.step.run("first", lambda: -1)  # journaled: returns 2, does not run
            work = await ctx.step.run("work", quick)
            return [first, work]

        assert await client.wait_for_result(exec_id, timeout=10) == [2, "done now"]
        assert calls == [1]
        assert client.pending_workflows() == {}
    finally:
        client.close()

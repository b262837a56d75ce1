"""Journals at rest: read-only reads by another process, and a short wait on a held lock.

The JupyterLab server extension reads the journals no kernel owns (``read_journal``); a
kernel that opens its journal during such a read waits for it instead of failing; and
``PolosClient.subscribe_all`` tells the notebook layer about every run change; the typed
run reads (``read_runs``) work on a journal at rest.
"""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from polos_nb import JournalLockedError, JournalVersionError, PolosClient, WorkflowContext, workflow
from polos_nb.engine import RunReader, read_runs, unregister_workflow
from polos_nb.engine.journal import read_journal, read_journal_reads
from polos_nb.errors import JournalError
from tests.engine.helpers import wait_status


async def test_read_journal_reads_a_closed_journal_read_only(tmp_path: Path) -> None:
    path = tmp_path / "j.duckdb"
    wf_id = f"rest_{uuid.uuid4().hex[:8]}"

    @workflow(id=wf_id)
    async def flow(ctx: WorkflowContext) -> int:
        return 7

    client = PolosClient(journal=path)
    try:
        handle = await flow.invoke(client)
        await wait_status(client, handle.id, "completed")
    finally:
        client.close()
        unregister_workflow(wf_id)
    rows = read_journal(
        str(path), lambda con: con.execute("SELECT id, status FROM executions").fetchall()
    )
    assert rows == [(handle.id, "completed")]
    with pytest.raises(Exception, match="read-only"):
        read_journal(str(path), lambda con: con.execute("DELETE FROM executions"))
    assert read_journal(
        str(path), lambda con: con.execute("SELECT count(*) FROM executions").fetchone()
    ) == (1,)


def test_read_journal_refuses_a_journal_a_process_owns(tmp_path: Path) -> None:
    path = tmp_path / "owned.duckdb"
    PolosClient(journal=path).close()  # a real journal
    script = "import duckdb, sys, time; con = duckdb.connect(sys.argv[1]); print('ready', flush=True); time.sleep(60)"
    proc = subprocess.Popen(
        [sys.executable, "-c", script, str(path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        started = time.monotonic()
        with pytest.raises(JournalLockedError) as info:
            read_journal(str(path), lambda con: None)
        assert info.value.pid == proc.pid
        assert time.monotonic() - started < 30  # no retry by default: the caller decides
    finally:
        proc.kill()
        proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()


def test_read_journal_names_a_file_that_is_not_a_journal(tmp_path: Path) -> None:
    import duckdb

    path = tmp_path / "other.duckdb"
    con = duckdb.connect(str(path))
    con.execute(
        "CREATE TABLE polos_schema_migrations (version INTEGER, name VARCHAR, applied_at TIMESTAMPTZ)"
    )
    con.execute("INSERT INTO polos_schema_migrations VALUES (999, 'future', now())")
    con.close()
    with pytest.raises(JournalVersionError) as info:
        read_journal(str(path), lambda con: None)
    assert info.value.found == 999


def test_opening_a_journal_waits_while_a_reader_holds_it_briefly(tmp_path: Path) -> None:
    path = tmp_path / "busy.duckdb"
    PolosClient(journal=path).close()
    # another process holds the file (as the server extension does while it reads) for 0.5 s
    script = (
        "import duckdb, sys, time; con = duckdb.connect(sys.argv[1], read_only=True); "
        "print('ready', flush=True); time.sleep(0.5); con.close(); time.sleep(30)"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script, str(path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        client = PolosClient(journal=path)  # without the retry: JournalLockedError
        client.close()
    finally:
        proc.kill()
        proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()


async def test_subscribe_all_sees_every_run_change(client: PolosClient) -> None:
    wf_id = f"all_{uuid.uuid4().hex[:8]}"
    seen: list[str] = []

    @workflow(id=wf_id)
    async def flow(ctx: WorkflowContext) -> str:
        await ctx.step.suspend("ok")
        return "done"

    unsubscribe = client.subscribe_all(lambda event: seen.append(event.event_type or ""))
    try:
        handle = await flow.invoke(client)
        await wait_status(client, handle.id, "waiting")
        await client.resume(wf_id, handle.id, "ok", {})
        await client.wait_for_result(handle.id, timeout=10)
    finally:
        unsubscribe()
        unregister_workflow(wf_id)
    assert "suspend_ok" in seen and "resume_ok" in seen and "workflow_finish" in seen


async def test_read_runs_gives_the_typed_run_reads_of_a_journal_at_rest(tmp_path: Path) -> None:
    path = tmp_path / "rest.duckdb"
    wf_id = f"rest_reads_{uuid.uuid4().hex[:8]}"

    @workflow(id=wf_id)
    async def flow(ctx: WorkflowContext) -> int:
        await ctx.step.run("one", lambda: 1)
        await ctx.step.suspend("check", {"why": "look"})
        return 2

    client = PolosClient(journal=path)
    try:
        handle = await flow.invoke(client)
        await wait_status(client, handle.id, "waiting")
        live = await client.run_events(handle.id)
    finally:
        client.close()
        unregister_workflow(wf_id)

    def look(reads: RunReader) -> tuple[Any, ...]:
        return (
            reads.run_counts(),
            [i.id for i in reads.runs()],
            [(p.key, p.data["why"]) for p in reads.pending_suspensions()],
            reads.pending_counts([handle.id]),
            [e.journal_seq for e in reads.run_events(handle.id)],
        )

    counts, ids, pending, waiting, seqs = read_runs(str(path), look)
    assert counts == {"waiting": 1} and ids == [handle.id]
    assert pending == [("check", "look")] and waiting == {handle.id: 1}
    assert seqs == [e.journal_seq for e in live]
    with pytest.raises(JournalError, match="read-only"):
        read_journal_reads(str(path), lambda journal: journal.submit([]))


async def test_the_journal_runs_duckdb_on_one_thread(client: PolosClient) -> None:
    # Each journal write is one small statement: DuckDB's worker threads, woken for every
    # statement, only cost CPU and wall time there (docs/benchmarks.md, bench_peers).
    from tests.engine.helpers import rows

    assert await rows(client, "SELECT current_setting('threads')") == [(1,)]

"""``%polos sql`` / ``polos_nb.notebook.sql`` (issue 9, item 2): only statements that read,
decided by DuckDB's parser; nothing written; a slow query does not stall the engine."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from polos_nb import PolosClient, UserError, WorkflowContext, workflow
from polos_nb.notebook import sql
from tests.engine.helpers import rows, wait_status


@pytest.fixture
def charged(tmp_path: Path) -> Iterator[tuple[PolosClient, str, list[str]]]:
    """A run that charged a card once and now waits for an approval."""
    charges: list[str] = []
    wf_id = f"sql_{uuid.uuid4().hex[:8]}"

    @workflow(id=wf_id)
    async def pay(ctx: WorkflowContext) -> str:
        await ctx.step.run("charge", lambda: charges.append("card"))
        await ctx.step.suspend("confirm")
        return "done"

    client = PolosClient(journal=tmp_path / "j.duckdb")
    handle = client.invoke_sync(pay)
    deadline = time.monotonic() + 20
    while client.get_execution_sync(handle.id).status != "waiting":
        assert time.monotonic() < deadline
        time.sleep(0.01)
    yield client, handle.id, charges
    client.close()


def _everything(client: PolosClient) -> dict[str, list[tuple[object, ...]]]:
    tables = ("executions", "steps", "events", "waits", "mailbox")
    return client.runtime.journal.read(
        lambda con: {
            t: sorted(map(str, con.execute(f"SELECT * FROM {t}").fetchall())) for t in tables
        }
    ).result()


REFUSED = [
    ("SELECT 1; DELETE FROM steps", "DELETE"),
    ("WITH x AS (SELECT 1) DELETE FROM steps", "DELETE"),
    ("EXPLAIN ANALYZE DELETE FROM steps", "explains a DELETE"),
    ("explain analyze delete from steps", "explains a DELETE"),
    ("EXPLAIN (FORMAT json) DELETE FROM steps", "explains a DELETE"),
    ("VALUES (1); UPDATE steps SET status = 'retrying'", "UPDATE"),
    ("FROM steps; DROP TABLE steps", "DROP"),
    ("ATTACH '/tmp/other.duckdb' AS other", "ATTACH"),
    ("COPY steps TO '/tmp/polos-steps.csv'", "COPY"),
    ("COPY steps FROM '/tmp/polos-steps.csv'", "COPY"),
    ("EXPORT DATABASE '/tmp/polos-export'", "EXPORT"),
    ("PRAGMA enable_profiling", "PRAGMA"),
    ("INSTALL sqlite", "LOAD"),
    ("LOAD sqlite", "LOAD"),
    ("SET threads = 1", "SET"),
    ("CHECKPOINT", "CALL"),
    ("CALL pragma_version()", "CALL"),
    ("BEGIN TRANSACTION", "TRANSACTION"),
    ("INSERT INTO steps SELECT * FROM steps", "INSERT"),
    ("CREATE TABLE t AS SELECT 1", "CREATE"),
    ("CREATE TEMP TABLE t AS SELECT 1", "CREATE"),
    ("CREATE MACRO m() AS 1", "CREATE"),
    ("ALTER TABLE steps ADD COLUMN x INT", "ALTER"),
    ("DELETE FROM steps WHERE step_key = 'charge'", "DELETE"),
    ("UPDATE executions SET status = 'queued'", "UPDATE"),
    ("VACUUM", "VACUUM"),
    ("PIVOT steps ON status", "MULTI"),
    ("/* looks harmless */ SELECT 1; -- then\nTRUNCATE steps", "DELETE"),
    ("SELECT 1;;;DELETE FROM steps", "DELETE"),
    ("DETACH other", "DETACH"),
    ("USE memory", "SET"),
]


@pytest.mark.parametrize(("query", "kind"), REFUSED, ids=[q for q, _ in REFUSED])
def test_statements_that_write_are_refused_and_nothing_changes(
    charged: tuple[PolosClient, str, list[str]], query: str, kind: str
) -> None:
    client, run_id, charges = charged
    before = _everything(client)
    with pytest.raises(UserError) as info:
        sql(query, client=client)
    message = str(info.value)
    assert "read-only" in message and kind in message, message
    assert "Refused statement" in message  # names which statement and why
    assert _everything(client) == before, f"{query!r} changed the journal"
    # The run goes on from its journal: the card is charged once.
    client.resume_sync(None, run_id, "confirm", {})
    assert client.wait_for_result_sync(run_id, timeout=20) == "done"
    assert charges == ["card"]


ACCEPTED = [
    ("SELECT step_key FROM steps ORDER BY seq", [("charge",)]),
    ("select step_key from steps", [("charge",)]),
    ("WITH s AS (SELECT step_key FROM steps) SELECT * FROM s", [("charge",)]),
    ("FROM steps SELECT step_key", [("charge",)]),
    ("VALUES (1, 'a')", [(1, "a")]),
    ("(SELECT count(*) FROM steps)", [(1,)]),
    ("TABLE mailbox", []),
    ("/* comment */ SELECT 1 -- trailing", [(1,)]),
    ("SELECT 1; SELECT 2", [(2,)]),
    ("SELECT count(*) FROM waits WHERE step_key = 'confirm'", [(1,)]),
]


@pytest.mark.parametrize(("query", "expected"), ACCEPTED, ids=[q for q, _ in ACCEPTED])
def test_queries_are_accepted(
    charged: tuple[PolosClient, str, list[str]], query: str, expected: list[tuple[object, ...]]
) -> None:
    client, _run_id, _charges = charged
    frame = sql(query, client=client)
    assert [tuple(r) for r in frame.itertuples(index=False)] == expected


@pytest.mark.parametrize(
    "query",
    [
        "DESCRIBE steps",
        "SHOW TABLES",
        "SUMMARIZE steps",
        "EXPLAIN SELECT * FROM steps",
        "EXPLAIN ANALYZE SELECT count(*) FROM steps",
        "SELECT * FROM duckdb_settings() WHERE name = 'threads'",
        "UNPIVOT (SELECT 1 AS a, 2 AS b) ON a, b INTO NAME k VALUE v",
    ],
)
def test_inspection_statements_are_accepted(
    charged: tuple[PolosClient, str, list[str]], query: str
) -> None:
    client, _run_id, _charges = charged
    assert len(sql(query, client=client)) >= 1


def test_sql_mistakes_are_usage_errors(charged: tuple[PolosClient, str, list[str]]) -> None:
    client, _run_id, _charges = charged
    with pytest.raises(UserError, match="SQL error"):
        sql("SELECT * FROM no_such_table", client=client)
    with pytest.raises(UserError, match="SQL error"):
        sql("SELEC 1", client=client)
    with pytest.raises(UserError, match="needs a query"):
        sql("   ", client=client)


def test_nothing_is_downloaded_for_a_remote_path(
    charged: tuple[PolosClient, str, list[str]],
) -> None:
    client, _run_id, _charges = charged
    with pytest.raises(UserError) as info:
        sql("SELECT * FROM read_csv('http://127.0.0.1:9/x.csv')", client=client)
    assert "httpfs" in str(info.value)  # DuckDB would have to load an extension: it does not


async def test_steps_keep_committing_while_a_slow_query_runs(tmp_path: Path) -> None:
    """An 8-second query runs beside the engine; runs keep committing steps meanwhile."""
    done = threading.Event()
    count = [0]
    wf_id = f"busy_{uuid.uuid4().hex[:8]}"

    async def tick() -> int:
        count[0] += 1
        return count[0]

    @workflow(id=wf_id)
    async def busy(ctx: WorkflowContext) -> int:
        i = 0
        while not done.is_set():
            await ctx.step.run(f"tick:{i}", tick)
            i += 1
        return i

    client = PolosClient(journal=tmp_path / "j.duckdb")
    try:
        journal = client.runtime.journal

        def sleep(seconds: float) -> float:
            time.sleep(seconds)
            return seconds

        # A test-only function that makes a query slow without burning the shared CPUs.
        journal.read(
            lambda con: con.create_function(
                "polos_test_sleep", sleep, ["DOUBLE"], "DOUBLE", side_effects=True
            )
        ).result()
        handle = await busy.invoke(client)
        while count[0] < 3:
            await asyncio.sleep(0.01)
        at_start: list[int] = []

        def slow_query() -> object:
            at_start.append(count[0])
            return sql("SELECT polos_test_sleep(8.0) AS slept", client=client)

        frame = await asyncio.to_thread(slow_query)
        during = count[0] - at_start[0]
        done.set()
        total = await client.wait_for_result(handle.id, timeout=60)
        assert list(frame["slept"]) == [8.0]
        assert during >= 20, f"only {during} steps committed while the query ran"
        committed = await rows(
            client, "SELECT count(*) FROM steps WHERE execution_id = ?", [handle.id]
        )
        assert committed == [(total,)]
    finally:
        done.set()
        client.close()


async def test_closing_stops_a_running_query(tmp_path: Path) -> None:
    client = PolosClient(journal=tmp_path / "j.duckdb")
    journal = client.runtime.journal
    future = journal.query(
        "SELECT count(*) FROM range(100000000) a, range(100000) b WHERE a.range + b.range < 0"
    )
    await asyncio.sleep(0.3)
    client.close()  # must not wait for the query to finish
    with pytest.raises(Exception) as info:
        future.result(timeout=60)
    assert "closed" in str(info.value) or "nterrupt" in str(info.value)
    assert journal.checkpointed is True


async def test_waiting_run_sees_its_wait_through_sql(tmp_path: Path) -> None:
    wf_id = f"waitsql_{uuid.uuid4().hex[:8]}"

    @workflow(id=wf_id)
    async def held(ctx: WorkflowContext) -> None:
        await ctx.step.suspend("hold")

    client = PolosClient(journal=tmp_path / "j.duckdb")
    try:
        handle = await held.invoke(client)
        await wait_status(client, handle.id, "waiting")
        frame = await asyncio.to_thread(
            sql, f"SELECT step_key FROM waits WHERE execution_id = '{handle.id}'", client=client
        )
        assert list(frame["step_key"]) == ["hold"]
    finally:
        client.close()

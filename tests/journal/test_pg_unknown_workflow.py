"""A run started by id for a workflow no live worker defines (shared PostgreSQL journal).

Such a run is queued all the same (a worker that defines the workflow may join later and
take it), but the start is logged with the workflows live workers do define (the closest
first), and the run's status says it waits for a worker (``waiting_for_worker``, ``note``)
until one that defines it joins. Workers advertise their workflows in ``workers.workflows``
(migration 11), which a journal made before it gets on opening.
"""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path

import psycopg
import pytest

from polos_nb import PolosClient, WorkflowContext, workflow
from polos_nb.engine.journal import _postgres
from polos_nb.engine.journal._migrations import MIGRATIONS, SCHEMA_VERSION
from polos_nb.errors import WorkflowNotFoundError, WorkflowTimeoutError

from .test_postgres_workers import Workers, _wait_for
from .test_postgres_workers import shared as shared  # a fixture
from .test_postgres_workers import workers as workers  # a fixture

LOGGER = "polos_nb.engine"


def _warnings(caplog: pytest.LogCaptureFixture, workflow_id: str) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.levelno == logging.WARNING and f"defines workflow {workflow_id!r}" in r.getMessage()
    ]


def test_a_run_no_worker_can_take_is_logged_and_waits_until_one_joins(
    workers: Workers, caplog: pytest.LogCaptureFixture
) -> None:
    client = PolosClient(journal=workers.url)  # defines no workflow: it only starts runs
    try:
        with caplog.at_level(logging.WARNING, logger=LOGGER):
            handle = client.invoke_sync("shared_job", {"n": 7})
        (warning,) = _warnings(caplog, "shared_job")
        assert handle.id in warning
        assert "starts when a worker that defines it joins" in warning
        # What live workers define (here: whatever this test process has defined; other
        # tests of the session may have left some), not the workflow asked for.
        assert "Live workers define" in warning
        assert "'shared_job'" not in warning.split("Live workers define", 1)[1]

        info = client.get_execution_sync(handle.id)
        assert info.status == "queued"
        assert info.waiting_for_worker is True
        assert info.note is not None and "'shared_job'" in info.note
        assert info["waiting_for_worker"] is True  # upstream-style dict access too
        (listed,) = client.list_executions_sync(workflow_id="shared_job")
        assert listed.waiting_for_worker is True

        # A wait with a timeout keeps its meaning: it times out, the run stays queued.
        # Its message says why the run may not have started.
        with pytest.raises(WorkflowTimeoutError) as timed_out:
            asyncio.run(client.wait_for_result(handle.id, timeout=0.5))
        assert timed_out.value.note == info.note
        assert "No live worker defines workflow 'shared_job'" in str(timed_out.value)
        assert client.get_execution_sync(handle.id).status == "queued"

        workers.start()  # defines shared_job: claims the run and runs it
        assert asyncio.run(client.wait_for_result(handle.id, timeout=60)) == 7
        info = client.get_execution_sync(handle.id)
        assert info.status == "completed"
        assert info.waiting_for_worker is False and info.note is None

        # With that worker alive, a start of its workflow is not logged, and a queued or
        # running run of it has no note.
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger=LOGGER):
            again = client.invoke_sync("shared_job", {"n": 8})
            assert asyncio.run(client.wait_for_result(again.id, timeout=60)) == 8
        assert _warnings(caplog, "shared_job") == []
    finally:
        client.close()


def test_a_typo_is_logged_with_the_workflow_meant_first(
    workers: Workers, caplog: pytest.LogCaptureFixture
) -> None:
    workers.start()
    client = PolosClient(journal=workers.url)
    try:
        # The worker says what it defines once its workflows are registered.
        _wait_for(
            lambda: "shared_job" in _advertised(workers.url),
            timeout=30,
            what="the worker to advertise its workflows",
        )
        with caplog.at_level(logging.WARNING, logger=LOGGER):
            handle = client.invoke_sync("shared_jbo", {"n": 1})
        (warning,) = _warnings(caplog, "shared_jbo")
        assert "Did you mean 'shared_job'?" in warning
        listed = warning.split("Live workers define: ", 1)[1]
        assert listed.startswith("'shared_job'")  # the closest first, then the others
        for other in ("shared_approval", "shared_fifo", "shared_on_order"):
            assert repr(other) in listed

        info = client.get_execution_sync(handle.id)
        assert info.status == "queued" and info.waiting_for_worker is True
        assert info.note is not None and "Did you mean 'shared_job'?" in info.note
    finally:
        client.close()


def test_a_worker_that_leaves_leaves_its_runs_waiting_for_another(
    workers: Workers, caplog: pytest.LogCaptureFixture
) -> None:
    proc = workers.start()
    client = PolosClient(journal=workers.url)
    try:
        _wait_for(lambda: "shared_approval" in _advertised(workers.url), what="advertising")
        handle = client.invoke_sync("shared_approval", {"order": "B-2"})
        _wait_for(
            lambda: client.get_execution_sync(handle.id).status == "waiting",
            what="the run to suspend",
        )
        assert client.get_execution_sync(handle.id).waiting_for_worker is False
        workers.kill(proc)  # its run stays "waiting": nobody is left to drive it
        _wait_for(
            lambda: client.get_execution_sync(handle.id).waiting_for_worker,
            timeout=30,
            what="the run's status to say it waits for a worker",
        )
        workers.start()
        _wait_for(
            lambda: not client.get_execution_sync(handle.id).waiting_for_worker,
            timeout=30,
            what="the note to go once a worker that defines it joined",
        )
    finally:
        client.close()


def _advertised(url: str) -> set[str]:
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute("SELECT workflows::text FROM workers").fetchall()
    return {w for (text,) in rows if text for w in json.loads(text)}


def test_a_journal_of_the_previous_schema_is_upgraded(
    workers: Workers,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
) -> None:
    url = workers.url

    @workflow(id="pgwait_before_upgrade")  # defined for this test only (conftest forgets it)
    async def pgwait_before_upgrade(ctx: WorkflowContext, payload: dict) -> int:
        return int(await ctx.step.run("double", lambda: payload["n"] * 2))

    # The journal as the previous polos_nb made it: migrations up to 10, a run done by a
    # process that owned it, and a worker of that version, alive, in the workers table.
    with monkeypatch.context() as old:
        old.setattr(_postgres, "MIGRATIONS", MIGRATIONS[:-1])
        old.setattr(_postgres, "SCHEMA_VERSION", SCHEMA_VERSION - 1)
        old.setenv("POLOS_JOURNAL_SHARED", "0")
        owner = PolosClient(journal=url)
        try:
            done = owner.invoke_sync(pgwait_before_upgrade, {"n": 21})
            assert asyncio.run(owner.wait_for_result(done.id, timeout=30)) == 42
        finally:
            owner.close()
    with psycopg.connect(url, autocommit=True) as conn:
        assert conn.execute("SELECT max(version) FROM polos_schema_migrations").fetchone() == (
            SCHEMA_VERSION - 1,
        )
        columns = {
            r[0]
            for r in conn.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = 'workers'"
            ).fetchall()
        }
        assert "workflows" not in columns
        # What a worker of the previous version writes when it joins.
        conn.execute(
            "INSERT INTO workers (id, pid, host, started_at, heartbeat_at, lease_seconds)"
            " VALUES ('old-worker', NULL, 'elsewhere', now(), now(), 600)"
        )

    client = PolosClient(journal=url)  # shared: migrates to the current schema
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            assert conn.execute("SELECT max(version) FROM polos_schema_migrations").fetchone() == (
                SCHEMA_VERSION,
            )
            assert conn.execute(
                "SELECT workflows FROM workers WHERE id = 'old-worker'"
            ).fetchone() == (None,)
            # The older worker's heartbeat still works on the upgraded table.
            beat = conn.execute("UPDATE workers SET heartbeat_at = now() WHERE id = 'old-worker'")
            assert beat.rowcount == 1
        old_run = client.get_execution_sync(done.id)
        assert old_run.status == "completed" and old_run.result == 42
        assert old_run.waiting_for_worker is False

        # The older worker does not say what it defines: it might define anything, so a
        # start it might take is not called stranded.
        with caplog.at_level(logging.WARNING, logger=LOGGER):
            handle = client.invoke_sync("shared_job", {"n": 3})
        assert _warnings(caplog, "shared_job") == []
        assert client.get_execution_sync(handle.id).waiting_for_worker is False

        with psycopg.connect(url, autocommit=True) as conn:  # the older worker leaves
            conn.execute("DELETE FROM workers WHERE id = 'old-worker'")
        _wait_for(
            lambda: client.get_execution_sync(handle.id).waiting_for_worker,
            timeout=30,
            what="the run to be reported waiting for a worker",
        )
        workers.start()
        assert asyncio.run(client.wait_for_result(handle.id, timeout=60)) == 3
    finally:
        client.close()


def test_a_journal_one_process_owns_still_refuses_the_start(tmp_path: Path) -> None:
    client = PolosClient(journal=str(tmp_path / "journal.duckdb"))
    try:
        with pytest.raises(WorkflowNotFoundError):
            client.invoke_sync("shared_job", {"n": 1})
        assert client.list_executions_sync() == []
    finally:
        client.close()

"""One conformance suite, two journals: every test here runs on a DuckDB file and on a
PostgreSQL database (``backend`` parameter), through the public API and the journal
interface only, and must behave the same on both."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from polos_nb import BatchWorkflowInput, PolosClient, WorkflowContext, workflow
from polos_nb.contracts import llm_step_key
from polos_nb.engine.journal import Insert, Update, open_journal
from polos_nb.engine.journal._migrations import SCHEMA_VERSION
from polos_nb.errors import UserError
from tests.journal import conformance_child

ROOT = Path(__file__).resolve().parents[2]


def uid(name: str) -> str:
    return f"{name}_{uuid.uuid4().hex[:10]}"


async def wait_status(client: PolosClient, exec_id: str, *statuses: str, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while True:
        info = await client.get_execution(exec_id)
        if info.status in statuses:
            return info
        if time.monotonic() > deadline:
            raise AssertionError(f"execution {exec_id} is {info.status}, expected {statuses}")
        await asyncio.sleep(0.02)


# ---------------------------------------------------------------------- the interface
def test_a_new_journal_is_migrated_to_the_current_schema(journal_location: str) -> None:
    journal = open_journal(journal_location)
    try:
        rows = journal.query("SELECT max(version) FROM polos_schema_migrations").result()
        assert rows == [(SCHEMA_VERSION,)]
    finally:
        journal.close()
    again = open_journal(journal_location)  # reopening applies nothing twice
    try:
        rows = again.query("SELECT count(*) FROM polos_schema_migrations").result()
        assert rows == [(SCHEMA_VERSION,)]
    finally:
        again.close()


def test_one_owner_at_a_time(journal_location: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # PostgreSQL: one owner when asked (several workers share it otherwise:
    # test_postgres_workers.py); the probe process inherits the setting.
    monkeypatch.setenv("POLOS_JOURNAL_SHARED", "0")
    probe = (
        "import sys\n"
        "from polos_nb.engine.journal import open_journal\n"
        "from polos_nb.errors import JournalLockedError\n"
        "try:\n"
        "    open_journal(sys.argv[1]).close()\n"
        "except JournalLockedError as exc:\n"
        "    print('locked', exc.pid)\n"
        "else:\n"
        "    print('opened')\n"
    )

    def other_process() -> str:
        out = subprocess.run(
            [sys.executable, "-c", probe, journal_location],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=ROOT,
        )
        assert out.returncode == 0, out.stderr
        return out.stdout.strip()

    journal = open_journal(journal_location)
    try:
        assert other_process() == f"locked {os.getpid()}"  # names the owner
    finally:
        journal.close()
    assert other_process() == "opened"  # released by close


def test_rows_written_are_read_back_unchanged(journal_location: str) -> None:
    journal = open_journal(journal_location)
    now = dt.datetime(2026, 5, 1, 12, 30, tzinfo=dt.UTC)
    payload = '{"b": 1, "a": [1, 2.5, "x"], "nested": {"z": null}}'
    columns = (
        "id",
        "workflow_id",
        "workflow_type",
        "status",
        "payload",
        "root_execution_id",
        "root_workflow_id",
        "created_at",
        "updated_at",
        "seq",
    )
    try:
        journal.submit(
            [
                Insert(
                    "executions",
                    columns,
                    ("e1", "wf", "workflow", "queued", payload, "e1", "wf", now, now, 1),
                )
            ]
        ).result()
        journal.submit(
            [Update("executions", "id", "e1", ("status", "seq"), ("running", 2))]
        ).result()
        row = journal.execution("e1").result()
        assert row is not None
        assert row.status == "running" and row.payload == payload  # JSON text kept as written
        assert row.created_at == now and row.created_at.utcoffset() == dt.timedelta(0)
        assert journal.execution("missing").result() is None
        assert journal.find_ids("e").result() == ["e1"]
        (outcome,) = journal.outcomes(["e1", "nope"]).result()
        assert outcome.id == "e1" and outcome.status == "running"
        recovery = journal.recovery().result()
        assert recovery.max_seq == 2 and [e.id for e in recovery.executions] == ["e1"]
    finally:
        journal.close()


def test_a_failed_transaction_leaves_nothing(journal_location: str) -> None:
    journal = open_journal(journal_location)
    now = dt.datetime(2026, 5, 1, tzinfo=dt.UTC)
    cols = ("seq", "topic", "topic_seq", "event_type", "data", "execution_id", "created_at")
    try:
        journal.submit([Insert("events", cols, (1, "t", 1, "x", None, None, now))]).result()
        with pytest.raises(Exception):  # noqa: B017 (the backends word it differently)
            journal.submit(
                [
                    Insert("events", cols, (2, "t", 2, "x", None, None, now)),
                    Insert("events", cols, (1, "t", 3, "dup", None, None, now)),  # same seq
                ]
            ).result()
        assert [e.seq for e in journal.topic_events("t").result()] == [1]
        # the journal still takes writes afterwards
        journal.submit([Insert("events", cols, (3, "t", 2, "x", None, None, now))]).result()
        assert [e.topic_seq for e in journal.topic_events("t").result()] == [1, 2]
    finally:
        journal.close()


def test_users_sql_only_reads(journal_location: str) -> None:
    journal = open_journal(journal_location)
    try:
        assert journal.query("SELECT count(*) FROM executions").result() == [(0,)]
        frame = journal.query(  # what %polos sql shows
            "SELECT 1 AS one, 'x' AS two", lambda cursor: cursor.fetchdf()
        ).result()
        assert list(frame.columns) == ["one", "two"] and frame.iloc[0].tolist() == [1, "x"]
        with pytest.raises(UserError):
            journal.query("DELETE FROM executions")
        with pytest.raises(UserError):
            journal.query("SELECT * FROM no_such_table").result()
    finally:
        journal.close()


# ---------------------------------------------------------------------- the engine on it
async def test_steps_retries_and_results(journal_location: str) -> None:
    wf_id = uid("conf_steps")
    calls: list[str] = []

    def flaky(n: int) -> int:
        calls.append(f"flaky{n}")
        if len(calls) < 2:
            raise ValueError("first time fails")
        return n * 10

    @workflow(id=wf_id)
    async def flow(ctx: WorkflowContext, payload: dict) -> dict:
        a = await ctx.step.run("a", flaky, payload["n"], base_delay=0.01)
        b = await ctx.step.uuid("b")
        return {"a": a, "b_len": len(b)}

    client = PolosClient(journal=journal_location)
    try:
        handle = await flow.invoke(client, {"n": 4})
        assert await client.wait_for_result(handle.id, timeout=20) == {"a": 40, "b_len": 36}
        steps = client.runtime.journal.steps(handle.id).result()
        assert sorted((s.step_key, s.attempt, s.status) for s in steps) == [
            ("a", 1, "retrying"),
            ("a", 2, "completed"),
            ("b", 1, "completed"),
        ]
    finally:
        client.close()
    assert calls == ["flaky4", "flaky4"]


async def test_suspend_survives_closing_and_reopening(journal_location: str) -> None:
    wf_id = uid("conf_suspend")
    effects: list[str] = []

    @workflow(id=wf_id)
    async def flow(ctx: WorkflowContext) -> str:
        await ctx.step.run("before", lambda: effects.append("before"))
        answer = await ctx.step.suspend("approve")
        await ctx.step.run("after", lambda: effects.append("after"))
        return answer.data["who"]

    client = PolosClient(journal=journal_location)
    handle = await flow.invoke(client)
    await wait_status(client, handle.id, "waiting")
    client.close()

    client = PolosClient(journal=journal_location)  # a new engine takes the run up
    try:
        await wait_status(client, handle.id, "waiting")
        await client.resume(wf_id, handle.id, "approve", {"who": "ada"})
        assert await client.wait_for_result(handle.id, timeout=20) == "ada"
    finally:
        client.close()
    assert effects == ["before", "after"]  # the completed step did not run again


async def test_channel_context_and_start_keys_survive_reopening(journal_location: str) -> None:
    # what channels rely on (a Slack-started run answers its thread, a Slack event retried
    # after a restart starts no second run): the journal's channel_context, channel_runs
    # and started_by_key, read the same on both backends
    parent_id, child_id, plain_id = uid("conf_chan"), uid("conf_chan_kid"), uid("conf_plain")
    context = {"channel_id": "slack", "source": {"channel": "C0TEAM", "thread_ts": "17.000100"}}

    @workflow(id=child_id)
    async def kid(ctx: WorkflowContext) -> str:
        return ctx.execution_id

    @workflow(id=parent_id)
    async def parent(ctx: WorkflowContext) -> str:
        [done] = await ctx.step.batch_invoke_and_wait("kid", [BatchWorkflowInput(id=child_id)])
        await ctx.step.suspend("go")
        return str(done.result)

    @workflow(id=plain_id)
    async def plain(ctx: WorkflowContext) -> str:
        return "plain"

    client = PolosClient(journal=journal_location)
    try:
        first = await client.invoke(parent, channel_context=context, idempotency_key="Ev-1")
        again = await client.invoke(parent, channel_context=context, idempotency_key="Ev-1")
        assert again.id == first.id
        other = await plain.invoke(client)
        assert await client.wait_for_result(other.id, timeout=20) == "plain"
        await wait_status(client, first.id, "waiting")
        assert await client.runtime.channel_context(first.id) == context
        assert await client.runtime.channel_context(other.id) is None
        [row] = await client.runtime.channel_runs()
        assert (row["id"], row["workflow_id"], row["status"]) == (first.id, parent_id, "waiting")
        assert row["channel_context"] == context
    finally:
        client.close()

    client = PolosClient(journal=journal_location)  # the key and the context were journaled
    try:
        retried = await client.invoke(parent, channel_context=context, idempotency_key="Ev-1")
        assert retried.id == first.id
        assert [e.id for e in await client.list_executions(workflow_id=parent_id)] == [first.id]
        found = client.runtime.journal.started_by_key("Ev-1").result()
        assert found is not None and found.id == first.id
        assert client.runtime.journal.started_by_key("Ev-unknown").result() is None
        await client.resume(parent_id, first.id, "go", {})
        kid_run = await client.wait_for_result(first.id, timeout=20)
        assert kid_run != first.id
        # a child's context is its root's: its output goes back to the same thread
        assert await client.runtime.channel_context(kid_run) == context
        assert await client.runtime.channel_runs() == []  # over: not active any more
        assert [r["id"] for r in await client.runtime.channel_runs(active_only=False)] == [first.id]
    finally:
        client.close()


async def test_child_workflows_and_events(journal_location: str) -> None:
    child_id, parent_id, topic = uid("conf_child"), uid("conf_parent"), uid("topic")

    @workflow(id=child_id)
    async def child(ctx: WorkflowContext, payload: dict) -> int:
        return await ctx.step.run("double", lambda: payload["x"] * 2)

    @workflow(id=parent_id)
    async def parent(ctx: WorkflowContext) -> list:
        results = await ctx.step.batch_invoke_and_wait(
            "kids", [BatchWorkflowInput(id=child_id, payload={"x": i}) for i in range(3)]
        )
        await ctx.step.publish_event("pub", topic, {"done": True})
        return [r.result for r in results]

    @workflow(id=uid("conf_listener"))
    async def listener(ctx: WorkflowContext) -> Any:
        event = await ctx.step.wait_for_event("listen", topic, timeout=60)
        return event.data

    client = PolosClient(journal=journal_location)
    try:
        waiting = await listener.invoke(client)
        await wait_status(client, waiting.id, "waiting")
        assert await parent.run(client, timeout=30) == [0, 2, 4]
        assert await client.wait_for_result(waiting.id, timeout=30) == {"done": True}
        kids = client.runtime.journal.list_infos(workflow_id=child_id).result()
        assert len(kids) == 3 and {k.status for k in kids} == {"completed"}
    finally:
        client.close()


def test_a_killed_process_leaves_runs_a_new_one_finishes(
    journal_location: str, tmp_path: Path
) -> None:
    counter = tmp_path / "counter.txt"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    child = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.journal.conformance_child",
            "start",
            journal_location,
            str(counter),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        # The child prints the execution id, then does step one and blocks in step two.
        assert child.stdout is not None
        exec_id = child.stdout.readline().strip()
        deadline = time.monotonic() + 60
        while "two" not in (counter.read_text() if counter.exists() else ""):
            assert time.monotonic() < deadline, "the child never reached step two"
            assert child.poll() is None, "the child ended early"
            time.sleep(0.05)
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(timeout=30)
        if child.stdout is not None:
            child.stdout.close()
    assert exec_id

    conformance_child.BLOCK.clear()
    client = PolosClient(journal=journal_location)
    try:
        result = asyncio.run(_result(client, exec_id))
    finally:
        client.close()
    assert result == {"one": 1, "two": 2, "three": 3}
    lines = counter.read_text().split()
    assert lines.count("one") == 1  # journaled before the kill: never again
    assert lines.count("two") == 2  # interrupted once, run again once
    assert lines.count("three") == 1


async def _result(client: PolosClient, exec_id: str) -> Any:
    return await client.wait_for_result(exec_id, timeout=60)


async def test_the_run_read_api_and_public_class_names(journal_location: str) -> None:
    """The client's read API (run record, pending suspensions, id resolution, users' SQL)
    and the class names in typed JSON are the same on both backends."""
    child_id, parent_id = uid("rr_child"), uid("rr_parent")

    @workflow(id=child_id)
    async def child(ctx: WorkflowContext, n: int) -> int:
        return await ctx.step.run("double", lambda: n * 2)

    @workflow(id=parent_id)
    async def parent(ctx: WorkflowContext) -> dict:
        answer = await ctx.step.suspend("ok", {"amount": 3})
        got = await ctx.step.invoke_and_wait("kid", child, 5)
        return {"answer": answer, "got": got}

    client = PolosClient(journal=journal_location)
    try:
        handle = await parent.invoke(client)
        await wait_status(client, handle.id, "waiting")
        pending = await client.pending_suspensions(handle.id)
        assert [(p.key, p.data["amount"]) for p in pending] == [("ok", 3)]
        assert await client.resolve_run_id(handle.id[:-4]) == handle.id
        await client.resume(parent_id, handle.id, "ok", {"yes": True})
        result = await client.wait_for_result(handle.id, timeout=20)
        assert result["got"] == 10 and result["answer"].data == {"yes": True}
        record = await client.run_record(handle.id)
        assert [i.workflow_id for i in record.tree] == [parent_id, child_id]
        assert {s.key for s in record.steps} >= {"ok", "kid", "double"}
        types = [e.event_type for e in record.events]
        assert types[0] == "workflow_start" and types[-1] == "workflow_finish"
        assert [e.journal_seq for e in await client.run_events(handle.id)] == [
            e.journal_seq for e in record.events
        ]
        assert await client.pending_suspensions(handle.id) == []
        query = client.query(
            f"SELECT output FROM steps WHERE execution_id = '{handle.id}' AND step_key = 'ok'"
        ).result(30)
        assert query.columns == ["output"]
        assert '"polos_nb:EventPayload"' in str(query.rows[0][0])
    finally:
        client.close()


async def test_the_run_reader_pages_and_counts(journal_location: str) -> None:
    """The typed run reads the JupyterLab extension shows (pages of runs, counts per status,
    model-call outputs, open suspensions per run) are the same on both backends."""
    wf_id = uid("reader")

    @workflow(id=wf_id)
    async def flow(ctx: WorkflowContext, n: int) -> int:
        await ctx.step.run(llm_step_key(1), lambda: {"usage": {"input_tokens": n}})
        await ctx.step.run("plain", lambda: n)
        if n == 2:
            await ctx.step.suspend("ask", {"q": n})
        return n

    client = PolosClient(journal=journal_location)
    try:
        ids = []
        for n in (1, 2, 3):
            handle = await flow.invoke(client, n)
            await wait_status(client, handle.id, "waiting" if n == 2 else "completed")
            ids.append(handle.id)
        reads = client.run_reader()

        def look() -> tuple[Any, ...]:
            return (
                reads.run_counts(),
                [i.id for i in reads.runs()],
                [i.id for i in reads.runs(status="completed", offset=1, limit=5)],
                sorted((r, o["usage"]["input_tokens"]) for r, o in reads.step_outputs(ids, "llm:")),
                reads.pending_counts(ids),
            )

        counts, newest, completed, outputs, waiting = await asyncio.to_thread(look)
        assert counts == {"completed": 2, "waiting": 1}
        assert newest == ids[::-1] and completed == [ids[0]]
        assert outputs == sorted(zip(ids, (1, 2, 3), strict=True))
        assert waiting == {ids[1]: 1}
        await client.resume(wf_id, ids[1], "ask", {})
        assert await client.wait_for_result(ids[1], timeout=20) == 2
    finally:
        client.close()

"""Group commit on the DuckDB journal and batched delivery of its outcomes to the engine.

Submissions that queue up while the writer is busy share one transaction; inserts of one
shape become one statement, statements that touch the same rows keep their order, and a
bad submission in a merged group fails alone. The engine then gets all the outcomes of a
group with one wake-up (``polos_nb.engine._delivery``). The writer is held busy with a
read that blocks on a ``threading.Event``, so what queues behind it is exact, not timed.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime as dt
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from polos_nb import PolosClient, WorkflowContext, workflow
from polos_nb.engine._delivery import Delivery
from polos_nb.engine.journal import Delete, Insert, Update
from polos_nb.engine.journal._duckdb import DuckDBJournal
from polos_nb.errors import JournalError
from tests.engine.helpers import rows, until

EVENT_COLUMNS = ("seq", "topic", "topic_seq", "event_type", "data", "execution_id", "created_at")
NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def event(seq: int, topic: str = "t") -> Insert:
    return Insert("events", EVENT_COLUMNS, (seq, topic, seq, "x", None, None, NOW))


class _Counting:
    """The journal's DuckDB connection, counting the statements the writer runs."""

    def __init__(self, con: Any) -> None:
        self._con = con
        self.statements: list[str] = []
        self.parsed: list[str] = []
        self.cursors: list[_Counting] = []
        self.own: list[str] = []  # the statements run on this connection itself

    def execute(self, sql: Any, *args: Any) -> Any:
        text = getattr(sql, "query", sql)  # SQL text or a parsed statement
        self.statements.append(text)
        self.own.append(text)
        return self._con.execute(sql, *args)

    def extract_statements(self, sql: str) -> Any:
        self.parsed.append(sql)
        return self._con.extract_statements(sql)

    def cursor(self) -> _Counting:
        """Another connection to the database; its statements count here too (``on`` says where)."""
        other = _Counting(self._con.cursor())
        other.statements, other.parsed = self.statements, self.parsed
        self.cursors.append(other)
        return other

    def __getattr__(self, name: str) -> Any:
        return getattr(self._con, name)


class _Held:
    """Keeps the journal's writer busy until released, so submissions queue behind it."""

    def __init__(self, journal: DuckDBJournal) -> None:
        self.inside = threading.Event()
        self.gate = threading.Event()

        def hold(con: Any) -> None:
            self.inside.set()
            assert self.gate.wait(30), "the test never released the writer"

        self.done = journal.read(hold)
        assert self.inside.wait(30)

    def release(self) -> None:
        self.gate.set()
        self.done.result(30)


@pytest.fixture
def journal(tmp_path: Path) -> Any:
    j = DuckDBJournal(str(tmp_path / "group.duckdb"))
    counting = j.read(lambda con: _Counting(con)).result()
    j._con = counting  # the writer reads it per transaction; swapped before any write
    yield j
    j.close()


def _statements(journal: DuckDBJournal, verb: str) -> list[str]:
    return [s for s in journal._con.statements if s.lstrip().upper().startswith(verb)]


def test_inserts_queued_together_become_one_statement_and_one_commit(journal):
    held = _Held(journal)
    futures = [journal.submit([event(seq)]) for seq in range(1, 11)]
    before = journal.commits
    held.release()
    for f in futures:
        f.result(30)
    assert journal.commits == before + 1  # ten submissions, one fsync'd commit
    inserts = _statements(journal, "INSERT INTO EVENTS")
    assert len(inserts) == 1, inserts
    assert journal.read(lambda con: con.execute("SELECT count(*) FROM events").fetchall()).result(
        30
    ) == [(10,)]


def test_the_writer_parses_a_statement_once_and_binds_each_rows_values(journal, monkeypatch):
    import polos_nb.engine.journal._duckdb as duck

    monkeypatch.setattr(duck, "_PARSED", {})
    for seq in range(1, 6):  # one at a time: five commits of the same one-row INSERT
        journal.submit([event(seq, topic=f"topic-{seq}")]).result(30)
    inserts = _statements(journal, "INSERT INTO EVENTS")
    assert len(inserts) == 5 and len(set(inserts)) == 1
    assert journal._con.parsed == inserts[:1]  # parsed for the first, reused after
    got = journal.read(
        lambda con: con.execute("SELECT seq, topic, topic_seq FROM events ORDER BY seq").fetchall()
    ).result(30)
    assert got == [(seq, f"topic-{seq}", seq) for seq in range(1, 6)]


def test_a_lone_insert_runs_without_the_optimizer_and_updates_with_it(journal):
    """A step record's INSERT commits on a connection with DuckDB's optimizer off; an
    UPDATE (which finds its row with the optimizer's help) stays on the main one."""
    cols = ("id", "workflow_id", "workflow_type", "status", "root_execution_id")
    cols += ("root_workflow_id", "created_at", "updated_at", "seq")
    journal.submit(
        [Insert("executions", cols, ("x", "w", "workflow", "queued", "x", "w", NOW, NOW, 1))]
    ).result(30)
    journal.submit([Update("executions", "id", "x", ("status",), ("running",))]).result(30)
    journal.submit([event(1)]).result(30)
    main = journal._con
    [inserts] = main.cursors
    assert inserts.own[0] == "PRAGMA disable_optimizer"
    assert [s.split(" (")[0] for s in inserts.own[1:]] == [
        "INSERT INTO executions",
        "INSERT INTO events",
    ]
    assert any(s.startswith("UPDATE executions") for s in main.own)
    assert not any(s.startswith("INSERT") for s in main.own)
    got = journal.read(lambda con: con.execute("SELECT id, status FROM executions").fetchall())
    assert got.result(30) == [("x", "running")]


def test_a_transaction_of_inserts_only_runs_without_the_optimizer(journal):
    """A run's row and its start event (inserts into two tables) commit together on the
    connection without the optimizer; a transaction with an UPDATE in it stays on the main one."""
    cols = ("id", "workflow_id", "workflow_type", "status", "root_execution_id")
    cols += ("root_workflow_id", "created_at", "updated_at", "seq")
    journal.submit(
        [
            Insert("executions", cols, ("x", "w", "workflow", "running", "x", "w", NOW, NOW, 1)),
            event(2),
        ]
    ).result(30)
    finish = [Update("executions", "id", "x", ("status",), ("completed",)), event(3)]
    journal.submit(finish).result(30)
    main = journal._con
    [inserts] = main.cursors
    assert [s.split(" (")[0] for s in inserts.own[1:]] == [
        "BEGIN TRANSACTION",
        "INSERT INTO executions",
        "INSERT INTO events",
        "COMMIT",
    ]
    assert [s.split(" ")[0] for s in main.own if not s.startswith("SELECT")] == [
        "BEGIN",
        "UPDATE",
        "INSERT",
        "COMMIT",
    ]
    got = journal.read(lambda con: con.execute("SELECT count(*) FROM events").fetchall())
    assert got.result(30) == [(2,)]


def test_a_failed_transaction_of_inserts_leaves_nothing(journal):
    cols = ("id", "workflow_id", "workflow_type", "status", "root_execution_id")
    cols += ("root_workflow_id", "created_at", "updated_at", "seq")
    row = Insert("executions", cols, ("x", "w", "workflow", "running", "x", "w", NOW, NOW, 1))
    journal.submit([row]).result(30)
    with pytest.raises(JournalError):  # the second row's key exists: the event goes too
        journal.submit([event(2), row]).result(30)
    got = journal.read(lambda con: con.execute("SELECT count(*) FROM events").fetchall())
    assert got.result(30) == [(0,)]
    journal.submit([event(3)]).result(30)  # the connection is usable again


def test_a_delete_between_inserts_of_its_table_keeps_its_place(journal):
    # Merging the second insert into the first would let the delete remove both rows.
    held = _Held(journal)
    futures = [
        journal.submit([event(1, "a")]),
        journal.submit([Delete("events", (("topic", "a"),))]),
        journal.submit([event(2, "a")]),
        journal.submit([event(3, "b")]),
    ]
    held.release()
    for f in futures:
        f.result(30)
    got = journal.read(
        lambda con: con.execute("SELECT seq FROM events ORDER BY seq").fetchall()
    ).result(30)
    assert got == [(2,), (3,)]


def test_an_update_follows_the_insert_of_its_row_in_a_merged_group(journal):
    cols = (
        "id",
        "workflow_id",
        "workflow_type",
        "status",
        "root_execution_id",
        "root_workflow_id",
        "created_at",
        "updated_at",
        "seq",
    )

    def execution(ident: str) -> Insert:
        return Insert(
            "executions", cols, (ident, "w", "workflow", "queued", ident, "w", NOW, NOW, 1)
        )

    def running(ident: str) -> Update:
        return Update("executions", "id", ident, ("status",), ("running",))

    held = _Held(journal)
    futures = [
        journal.submit([execution("x")]),
        journal.submit([running("x"), execution("y")]),
        journal.submit([running("y")]),  # its row is inserted by the submission before
    ]
    held.release()
    for f in futures:
        f.result(30)
    got = journal.read(
        lambda con: con.execute("SELECT id, status FROM executions ORDER BY id").fetchall()
    ).result(30)
    assert got == [("x", "running"), ("y", "running")]


def test_a_bad_submission_in_a_merged_group_fails_alone(journal):
    fired: list[tuple[str, int]] = []
    journal.fault_hook = lambda point, n: fired.append((point, n))
    held = _Held(journal)
    good_before = journal.submit([event(1)])
    bad = journal.submit([event(2), event(1)])  # seq 1 is taken: the whole submission fails
    good_after = journal.submit([event(3)])
    before = journal.commits
    held.release()
    good_before.result(30)
    good_after.result(30)
    with pytest.raises(JournalError):
        bad.result(30)
    got = journal.read(
        lambda con: con.execute("SELECT seq FROM events ORDER BY seq").fetchall()
    ).result(30)
    assert got == [(1,), (3,)]  # nothing of the bad submission, all of the others
    commits = journal.commits - before
    assert commits == 2  # the merged try failed; each good one then committed alone
    # the fault hooks still fire around each commit, once ("before" also for the tries
    # that then failed: a crash there loses nothing that was reported durable)
    after = [i for i, (point, _) in enumerate(fired) if point == "after_commit"]
    assert [fired[i][1] for i in after] == [before + 1, before + 2]
    assert all(fired[i - 1] == ("before_commit", fired[i][1]) for i in after)


def test_after_a_group_for_the_engine_the_writer_waits_for_its_turn(journal, monkeypatch):
    from polos_nb.engine.journal import _duckdb

    monkeypatch.setattr(_duckdb, "ENGINE_TURN_SECONDS", 30.0)  # only engine_done ends the wait
    transactions: list[list[Any]] = []
    journal.write_hook = lambda ops: transactions.append(list(ops))
    held = _Held(journal)
    first = [journal.submit([event(1)]), journal.submit([event(2)])]
    journal.expect_engine()  # as the engine's delivery does while this group settles
    held.release()
    for f in first:
        f.result(30)
    # the writer now waits for the engine's turn: these two queue behind it
    later = [journal.submit([event(3)]), journal.submit([event(4)])]
    journal.engine_done()
    for f in later:
        f.result(30)
    assert [len(t) for t in transactions] == [2, 2]  # the two share one commit


def test_without_a_turn_to_wait_for_the_writer_goes_on(journal, monkeypatch):
    from polos_nb.engine.journal import _duckdb

    monkeypatch.setattr(_duckdb, "ENGINE_TURN_SECONDS", 30.0)
    journal.submit([event(1)]).result(30)  # no expect_engine: nothing to wait for
    journal.submit([event(2)]).result(30)  # would hang for 30 s if the writer waited
    journal.expect_engine()
    journal.submit([event(3)]).result(30)  # a lone submission: no turn to wait for either
    journal.submit([event(4)]).result(30)


# ---------------------------------------------------------------------- batched delivery
class _LoopThread:
    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(30)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(30)
        self.loop.close()


@pytest.fixture
def loop_thread() -> Any:
    lt = _LoopThread()
    yield lt
    lt.close()


def test_outcomes_settled_together_wake_the_loop_once_in_order(loop_thread):
    delivery = Delivery(loop_thread.loop)
    wakeups: list[int] = []
    settle = delivery._settle

    def counting_settle() -> None:
        wakeups.append(len(delivery._ready))
        settle()

    delivery._settle = counting_settle  # type: ignore[method-assign]
    futures: list[concurrent.futures.Future[Any]] = [concurrent.futures.Future() for _ in range(5)]
    order: list[int] = []

    async def waiters() -> list[asyncio.Task[Any]]:
        async def one(i: int) -> Any:
            value = await delivery.wait(futures[i])
            order.append(i)
            return value

        return [asyncio.ensure_future(one(i)) for i in range(5)]

    tasks = loop_thread.run(waiters())
    busy, go = threading.Event(), threading.Event()
    loop_thread.loop.call_soon_threadsafe(lambda: (busy.set(), go.wait(30)))
    assert busy.wait(30)  # the loop is busy: every outcome below arrives before it looks
    for i, f in enumerate(futures):
        if i == 3:
            f.set_exception(JournalError("refused"))
        else:
            f.set_result(i * 10)
    go.set()

    async def outcomes() -> list[Any]:
        return await asyncio.gather(*tasks, return_exceptions=True)

    got = loop_thread.run(outcomes())
    assert got[:3] == [0, 10, 20] and got[4] == 40
    assert isinstance(got[3], JournalError)
    assert wakeups == [5]  # one wake-up for the five outcomes
    assert order == [0, 1, 2, 4]  # resumed in the order the journal settled them


def test_cancelling_a_waiter_cancels_the_journal_future(loop_thread):
    delivery = Delivery(loop_thread.loop)
    future: concurrent.futures.Future[Any] = concurrent.futures.Future()

    async def cancel_it() -> None:
        task = asyncio.ensure_future(delivery.wait(future))
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    loop_thread.run(cancel_it())
    assert future.cancelled()  # a backend may skip the write nobody waits for


def test_an_already_settled_future_and_another_loop(loop_thread):
    delivery = Delivery(loop_thread.loop)
    done: concurrent.futures.Future[Any] = concurrent.futures.Future()
    done.set_result("ready")

    async def on_engine() -> Any:
        return await delivery.wait(done)

    assert loop_thread.run(on_engine()) == "ready"

    async def elsewhere() -> Any:  # not the engine loop: plain asyncio.wrap_future
        return await delivery.wait(done)

    assert asyncio.run(elsewhere()) == "ready"


def test_delivery_rings_on_the_settling_thread_and_hands_the_turn_back_after_the_tasks(
    loop_thread,
):
    log: list[str] = []
    delivery = Delivery(
        loop_thread.loop,
        on_ring=lambda: log.append(f"ring on {threading.current_thread().name}"),
        on_turn=lambda: log.append("turn"),
    )
    futures: list[concurrent.futures.Future[Any]] = [concurrent.futures.Future() for _ in range(3)]

    async def waiters() -> list[asyncio.Task[Any]]:
        async def one(i: int) -> None:
            await delivery.wait(futures[i])
            log.append(f"task {i} went on")  # up to its next await: its next write

        return [asyncio.ensure_future(one(i)) for i in range(3)]

    tasks = loop_thread.run(waiters())

    def settle_all() -> None:
        for f in futures:
            f.set_result(None)

    settler = threading.Thread(target=settle_all, name="settler")
    busy, go = threading.Event(), threading.Event()
    loop_thread.loop.call_soon_threadsafe(lambda: (busy.set(), go.wait(30)))
    assert busy.wait(30)
    settler.start()
    settler.join(30)
    go.set()

    async def done() -> None:
        await asyncio.gather(*tasks)
        await asyncio.sleep(0)

    loop_thread.run(done())
    assert log == ["ring on settler", "task 0 went on", "task 1 went on", "task 2 went on", "turn"]


async def test_a_group_of_step_commits_resumes_its_workflows_with_one_wakeup(
    journal_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from polos_nb.engine.journal import _duckdb

    monkeypatch.setattr(_duckdb, "ENGINE_TURN_SECONDS", 30.0)  # only the engine ends its turn
    client = PolosClient(journal=journal_path)
    try:
        runtime = client.runtime
        journal = runtime.journal
        assert isinstance(journal, DuckDBJournal)
        n = 8
        inside = 0
        gate = asyncio.Event()

        async def wait_gate() -> str:
            nonlocal inside
            inside += 1
            await gate.wait()
            return "through"

        wf_id = f"group_{uuid.uuid4().hex[:8]}"

        @workflow(id=wf_id)
        async def gated(ctx: WorkflowContext, payload: dict) -> str:
            result = await ctx.step.run("gate", wait_gate)
            # Work that holds the engine loop a while (CPU-bound code would): an idle writer
            # not waiting for the engine's turn would commit the first finish on its own.
            time.sleep(0.01)
            return result

        handles = [await client.invoke(wf_id, {}) for _ in range(n)]
        await until(lambda: inside == n, what="every run inside its step")

        submitted: list[concurrent.futures.Future[None]] = []
        submit = journal.submit

        def counting_submit(ops: Any) -> Any:
            future = submit(ops)
            submitted.append(future)
            return future

        journal.submit = counting_submit  # type: ignore[method-assign]
        counting = journal.read(lambda con: _Counting(con)).result()
        journal._con = counting
        if journal._inserts is not None:  # the connection of lone inserts, made already
            inserts = _Counting(journal._inserts)
            inserts.statements = counting.statements
            journal._inserts = inserts
        transactions: list[list[Any]] = []
        journal.write_hook = lambda ops: transactions.append(list(ops))
        wakeups: list[int] = []
        settle = runtime.delivery._settle

        def counting_settle() -> None:
            wakeups.append(len(runtime.delivery._ready))
            settle()

        runtime.delivery._settle = counting_settle  # type: ignore[method-assign]

        held = _Held(journal)
        runtime.loop.call_soon_threadsafe(gate.set)
        await until(lambda: len(submitted) == n, what="the n step commits queued")
        busy, go = threading.Event(), threading.Event()
        runtime.loop.call_soon_threadsafe(lambda: (busy.set(), go.wait(30)))
        assert busy.wait(30)  # the engine loop looks only once every outcome is in
        commits = journal.commits
        held.release()
        concurrent.futures.wait(submitted, timeout=30)
        assert all(f.done() and f.exception() is None for f in submitted)
        # n step submissions queued together: one transaction, one INSERT, one commit
        assert journal.commits == commits + 1
        assert len(transactions) == 1 and len(transactions[0]) == n
        writes = [
            s.split("(")[0].strip() for s in counting.statements if not s.startswith("SELECT")
        ]
        assert writes == ["INSERT INTO steps"]
        go.set()
        results = [await client.wait_for_result(h.id, timeout=30) for h in handles]
        assert results == ["through"] * n
        assert wakeups[0] == n  # and came back to the engine with one wake-up
        # The runs then finished in that same turn of the engine, and the writer waited for
        # the turn: the n finishes (status update + lifecycle event each) share one commit.
        finishes = transactions[1]
        assert len(finishes) == 2 * n
        assert {type(op).__name__ for op in finishes} == {"Update", "Insert"}
        got = await rows(client, "SELECT count(*) FROM steps WHERE step_key = 'gate'")
        assert got == [(n,)]
    finally:
        client.close()


async def test_results_of_many_runs_reach_the_callers_loop_with_one_wakeup(
    client: PolosClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A program awaiting many runs at once (``asyncio.gather``) gets the results that the
    engine settled together with one wake-up of its own loop, not one per run."""
    n = 12
    wf_id = f"callers_{uuid.uuid4().hex[:8]}"

    @workflow(id=wf_id)
    async def doubled(ctx: WorkflowContext, payload: dict) -> int:
        return await ctx.step.run("double", lambda: payload["x"] * 2)

    handles = [await client.invoke(wf_id, {"x": i}) for i in range(n)]
    loop = asyncio.get_running_loop()
    wakeups: list[str] = []
    threadsafe = loop.call_soon_threadsafe

    def counting(callback: Any, *args: Any, **kwargs: Any) -> Any:
        wakeups.append(threading.current_thread().name)
        return threadsafe(callback, *args, **kwargs)

    monkeypatch.setattr(loop, "call_soon_threadsafe", counting)
    waiters = [asyncio.ensure_future(client.wait_for_result(h.id)) for h in handles]
    await asyncio.sleep(0)  # each waiter is now waiting on the engine
    for h in handles:  # this loop is held (as a busy cell would be) until every run ended
        client.call(client.runtime.wait_terminal(h.id))
    from polos_nb.engine import _delivery

    delivery = _delivery._CALLERS[loop]
    deadline = time.monotonic() + 30
    while len(delivery._ready) < n:  # the engine settles the waiters right after the runs end
        assert time.monotonic() < deadline, "the waiters' outcomes did not arrive"
        time.sleep(0.01)
    assert await asyncio.gather(*waiters) == [i * 2 for i in range(n)]
    assert len(wakeups) == 1, wakeups


def test_a_callers_loop_that_is_gone_is_not_kept_alive(journal_path: Path) -> None:
    import gc
    import weakref

    from polos_nb.engine import _delivery

    client = PolosClient(journal=journal_path)
    try:
        wf_id = f"gone_{uuid.uuid4().hex[:8]}"

        @workflow(id=wf_id)
        async def one(ctx: WorkflowContext, payload: dict) -> int:
            return 1

        loops: list[weakref.ref[asyncio.AbstractEventLoop]] = []
        gc.collect()
        before = set(_delivery._CALLERS)  # loops other tests left open (an IPython shell's)

        async def main() -> int:
            loops.append(weakref.ref(asyncio.get_running_loop()))
            return await one.run(client, {})

        assert asyncio.run(main()) == 1
        assert asyncio.run(main()) == 1
        gc.collect()
        assert [ref() for ref in loops] == [None, None]
        assert set(_delivery._CALLERS) <= before  # both entries went with their loops
    finally:
        client.close()

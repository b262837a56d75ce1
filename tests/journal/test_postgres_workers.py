"""Several workers on one PostgreSQL journal (the default; ``POLOS_JOURNAL_SHARED=1``).

Worker processes (``workers_child.py``) share the runs a client starts: each run is claimed
by one worker, a worker killed with SIGKILL has its runs taken over by another once its
lease lapses (a completed step is not run again), a resume sent from any process reaches
the worker that drives the run, an event triggers its workflow once whatever the number of
workers, and a worker whose lease was taken cannot write any more.
"""

from __future__ import annotations

import asyncio
import collections
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from polos_nb import PolosClient, events
from polos_nb.engine.journal import Insert, open_journal
from polos_nb.engine.journal._pg_workers import LEADER_LOCK, WorkerFencedError
from polos_nb.errors import JournalError, JournalLockedError, UserError

from .test_postgres_restart import PrivateServer

ROOT = Path(__file__).resolve().parents[2]
LEASE = "5"
"""Seconds without a heartbeat before a worker is presumed dead (short, for the tests; a
killed worker's runs move at once anyway, its process being gone from this machine). Long
enough to outlast the pauses of a loaded two-core machine, where a 1-2 s lease lapsed."""


@pytest.fixture
def shared(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POLOS_JOURNAL_SHARED", "1")
    monkeypatch.setenv("POLOS_WORKER_LEASE", LEASE)


class Workers:
    """Worker subprocesses of one journal, started and stopped by a test."""

    def __init__(self, url: str, counter: Path) -> None:
        self.url, self.counter = url, counter
        self.lease = LEASE
        self.max_runs: int | None = None
        self.procs: list[subprocess.Popen[str]] = []
        self.logs: dict[int, Path] = {}

    def start(self) -> subprocess.Popen[str]:
        return self.start_many(1)[0]

    def start_many(self, count: int) -> list[subprocess.Popen[str]]:
        """Start ``count`` workers at once (they open the journal together)."""
        path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
        env = {
            **os.environ,
            "PYTHONPATH": path,
            "POLOS_JOURNAL_SHARED": "1",
            "POLOS_WORKER_LEASE": self.lease,
            "WORKER_MAX_RUNS": str(self.max_runs or ""),
        }
        procs = []
        for _ in range(count):
            # Each worker's log goes to its own file: what it said (a lapsed lease) is read back.
            with open(self.counter.with_name(f"worker-{len(self.logs)}.log"), "w") as log_file:
                proc = subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "tests.journal.workers_child",
                        self.url,
                        str(self.counter),
                    ],
                    cwd=ROOT,
                    env=env,
                    stdout=subprocess.PIPE,
                    stderr=log_file,
                    text=True,
                )
            self.logs[proc.pid] = Path(log_file.name)
            procs.append(proc)
        self.procs.extend(procs)
        for proc in procs:
            assert proc.stdout is not None
            line = proc.stdout.readline().strip()
            assert line.startswith("ready "), f"worker did not start: {line!r}"
        return procs

    def kill(self, proc: subprocess.Popen[str]) -> None:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=30)
            if proc.stdout is not None:
                proc.stdout.close()

    def lapsed(self) -> set[int]:
        """Pids of the workers that said they missed their lease (each then joined again)."""
        return {pid for pid, log in self.logs.items() if "missed its lease" in log.read_text()}

    def lines(self) -> list[tuple[str, int]]:
        if not self.counter.exists():
            return []
        out = []
        for line in self.counter.read_text().splitlines():
            what, pid = line.rsplit(" ", 1)
            out.append((what, int(pid)))
        return out


@pytest.fixture
def workers(postgres_db: str, tmp_path: Path, shared: None) -> Iterator[Workers]:
    group = Workers(postgres_db, tmp_path / "counter.txt")
    try:
        yield group
    finally:
        group.stop_all()


def _wait_for(predicate, timeout: float = 90.0, what: str = "") -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_workers_share_runs_and_take_over_a_killed_workers_runs(workers: Workers) -> None:
    procs = [workers.start() for _ in range(3)]
    client = PolosClient(journal=workers.url)  # defines none of the workflows: starts only
    try:
        handles = [client.invoke_sync("shared_job", {"n": n, "pause": 0.05}) for n in range(30)]
        victim = procs[0]
        # Kill a worker while it is in the middle of its runs.
        _wait_for(
            lambda: sum(1 for _, pid in workers.lines() if pid == victim.pid) >= 3,
            what="the first worker to run steps",
        )
        workers.kill(victim)
        results = asyncio.run(_results(client, [h.id for h in handles]))
    finally:
        client.close()
    assert results == list(range(30))
    lines = workers.lines()
    runs_by_pid = collections.defaultdict(set)
    for what, pid in lines:
        runs_by_pid[pid].add(what.split(":")[0])
    assert len([p for p in runs_by_pid if p != victim.pid]) >= 2, "the runs were not shared"
    counts = collections.Counter(what for what, _ in lines)
    for handle in handles:
        for key in ("a", "b", "c"):
            assert counts[f"{handle.id}:{key}"] >= 1
    # A step ran twice only if the killed worker was in it when it died: at most one per
    # run that worker held, and never a step the killed worker did not run.
    twice = [what for what, n in counts.items() if n > 1]
    victim_steps = {what for what, pid in lines if pid == victim.pid}
    assert all(what in victim_steps for what in twice)
    assert len(twice) <= len(runs_by_pid[victim.pid])


async def _results(client: PolosClient, ids: list[str]) -> list[int]:
    return list(await asyncio.gather(*(client.wait_for_result(i, timeout=120) for i in ids)))


def test_a_resume_from_another_process_reaches_the_worker_that_drives_the_run(
    workers: Workers,
) -> None:
    proc = workers.start()
    client = PolosClient(journal=workers.url)
    try:
        handle = client.invoke_sync("shared_approval", {"order": "A-1"})
        _wait_for(
            lambda: client.get_execution_sync(handle.id).status == "waiting",
            what="the run to suspend",
        )
        client.resume_sync("shared_approval", handle.id, "approve", {"approved": True})
        result = asyncio.run(client.wait_for_result(handle.id, timeout=60))
    finally:
        client.close()
    assert result == {"order": "A-1", "approved": True, "pid": proc.pid}
    counts = collections.Counter(what for what, _ in workers.lines())
    assert counts[f"{handle.id}:before"] == 1 and counts[f"{handle.id}:after"] == 1


def test_a_run_another_worker_drives_streams_live_here(workers: Workers) -> None:
    proc = workers.start()
    client = PolosClient(journal=workers.url)  # a notebook kernel, say: it drives none of it

    async def watch(execution_id: str) -> list[tuple[str, str | None]]:
        seen = []
        async for event in client.stream_events(execution_id):
            data = event.data if isinstance(event.data, dict) else {}
            seen.append((event.event_type or "", data.get("step_key")))
        return seen

    try:
        handle = client.invoke_sync("shared_job", {"n": 7, "pause": 0.4})
        seen = asyncio.run(asyncio.wait_for(watch(handle.id), 60))
    finally:
        client.close()
    assert [key for kind, key in seen if kind == "step_finish"] == ["a", "b", "c"]
    assert seen[-1][0] == "workflow_finish"
    assert {pid for what, pid in workers.lines()} == {proc.pid}


def test_a_notebook_run_view_follows_a_run_another_worker_drives(workers: Workers) -> None:
    """A kernel on the journal (``%polos show``): the run's view fills in as the worker goes."""
    from polos_nb.notebook import _run

    workers.start()
    client = PolosClient(journal=workers.url)
    try:
        handle = client.invoke_sync("shared_job", {"n": 3, "pause": 1.0})
        view = _run.show(handle.id, client=client)
        _wait_for(lambda: "a" in view.state.steps, what="the view to show the first step")
        assert not view.state.done  # it was live, not read once at the end
        _wait_for(lambda: view.state.done, what="the view to end")
        steps = {key: step.get("status") for key, step in view.state.steps.items()}
    finally:
        _run.forget_runs()
        client.close()
    assert view.state.status == "completed"
    assert steps == {"a": "completed", "b": "completed", "c": "completed"}


def test_subscribers_of_all_events_hear_of_runs_other_workers_drive(workers: Workers) -> None:
    """What the JupyterLab runs panel of a kernel on the journal listens to."""
    workers.start()
    client = PolosClient(journal=workers.url)
    heard: list[tuple[str, str]] = []
    try:
        unsubscribe = client.subscribe_all(lambda e: heard.append((e.event_type or "", e.topic)))
        handle = client.invoke_sync("shared_job", {"n": 1, "pause": 0.0})
        asyncio.run(client.wait_for_result(handle.id, timeout=60))
        _wait_for(
            lambda: ("workflow_finish", f"workflow/shared_job/{handle.id}") in heard,
            what="the run's end to be heard",
        )
        unsubscribe()
    finally:
        client.close()
    kinds = [kind for kind, topic in heard if topic.endswith(handle.id)]
    assert kinds[0] == "workflow_start" and kinds.count("workflow_finish") == 1


def test_a_cancel_from_another_process_reaches_the_worker_that_drives_the_run(
    workers: Workers,
) -> None:
    workers.start()
    client = PolosClient(journal=workers.url)
    try:
        handle = client.invoke_sync("shared_approval", {"order": "B-2"})
        _wait_for(
            lambda: client.get_execution_sync(handle.id).status == "waiting",
            what="the run to suspend",
        )
        assert asyncio.run(client.cancel(handle.id)) is True
        _wait_for(
            lambda: client.get_execution_sync(handle.id).status == "cancelled",
            what="the run to be cancelled",
        )
        assert asyncio.run(client.cancel(handle.id)) is False  # over: nothing to cancel
    finally:
        client.close()
    counts = collections.Counter(what for what, _ in workers.lines())
    assert counts[f"{handle.id}:before"] == 1 and counts[f"{handle.id}:after"] == 0


def test_an_event_published_in_one_process_wakes_a_run_waiting_in_another(
    workers: Workers,
) -> None:
    proc = workers.start()
    client = PolosClient(journal=workers.url)
    try:
        handle = client.invoke_sync("shared_waiter", {"topic": "shared-signals"})
        _wait_for(
            lambda: any(w == f"{handle.id}:armed" for w, _ in workers.lines()),
            what="the run to start waiting",
        )
        time.sleep(0.5)  # its wait is committed right after the step
        asyncio.run(events.publish(client, "shared-signals", {"data": {"go": 1}}))
        result = asyncio.run(client.wait_for_result(handle.id, timeout=60))
    finally:
        client.close()
    assert result == {"got": {"go": 1}, "pid": proc.pid}


def test_a_worker_claims_no_more_runs_than_its_maximum(workers: Workers) -> None:
    workers.max_runs = 2  # Worker(..., max_concurrent_workflows=2)
    workers.start()
    client = PolosClient(journal=workers.url)
    try:
        ids = [client.invoke_sync("shared_job", {"n": n, "pause": 0.2}).id for n in range(6)]
        results = asyncio.run(_results(client, ids))
    finally:
        client.close()
    assert results == list(range(6))
    active: set[str] = set()
    most = 0
    for what, _pid in workers.lines():  # file order
        run, _, key = what.partition(":")
        if key == "a":
            active.add(run)
        elif key == "c":
            active.discard(run)
        most = max(most, len(active))
    assert most == 2


def _owners(url: str, ids: list[str]) -> dict[str, int]:
    """The pid of the live worker that owns each of ``ids`` (runs no worker owns are left out)."""
    import psycopg

    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT e.id, w.pid FROM executions e JOIN workers w ON w.id = e.owner"
            " WHERE e.id = ANY(%s)",
            [ids],
        ).fetchall()
    return {str(run): int(pid) for run, pid in rows}


def _alive(url: str, pids: list[int]) -> bool:
    """Whether a worker of each of ``pids`` is registered and within its lease."""
    import psycopg

    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT pid FROM workers WHERE pid = ANY(%s)"
            " AND heartbeat_at >= now() - make_interval(secs => lease_seconds)",
            [pids],
        ).fetchall()
    return {int(r[0]) for r in rows} == set(pids)


def test_a_queue_limit_holds_across_workers(workers: Workers, tmp_path: Path) -> None:
    """Six runs of a queue limited to one, three owned by each of two workers: one runs at a
    time across both, and each worker runs its own.

    Which worker claims which run is not promised (any live worker takes the oldest
    unowned runs, up to eight trees a claim): both workers are alive before the runs are
    started, and each claims at most three (``max_concurrent_workflows=3``); the first run
    holds the slot until every run is claimed, so each worker owns three."""
    gate = tmp_path / "gate"
    workers.max_runs = 3
    procs = [workers.start() for _ in range(2)]
    _wait_for(lambda: _alive(workers.url, [p.pid for p in procs]), what="both workers alive")
    client = PolosClient(journal=workers.url)  # defines none of the workflows: starts only
    try:
        ids = [client.invoke_sync("shared_fifo", {"n": 0, "gate": str(gate)}).id]
        ids += [client.invoke_sync("shared_fifo", {"n": n}).id for n in range(1, 6)]
        _wait_for(lambda: len(_owners(workers.url, ids)) == 6, what="every run to be claimed")
        owned = collections.Counter(_owners(workers.url, ids).values())
        assert sorted(owned.values()) == [3, 3], owned
        gate.touch()
        results = asyncio.run(_results(client, ids))
    finally:
        client.close()
    assert results == list(range(6))
    lines = [(w, pid) for w, pid in workers.lines() if w.endswith((":start", ":end"))]
    assert {pid for _, pid in lines} == {p.pid for p in procs}, "each worker runs its own"
    running = None
    for what, _pid in lines:  # file order: one run between its start and its end, at most
        run, _, edge = what.partition(":")
        if edge == "start":
            assert running is None, f"{run} started while {running} ran (limit 1)"
            running = run
        else:
            assert running == run
            running = None


def _queued_across_workers(
    workers: Workers, client: PolosClient, gate: Path, later: int = 4
) -> tuple[str, list[str], subprocess.Popen[str]]:
    """A run holds the ``shared_fifo`` queue's one slot (on a worker of its own) until
    ``gate`` exists; runs 0 and 1 then wait for it on a second worker (``early``), runs 2..
    on a third. Returns the holder's id, the waiting runs' ids in the order they were
    started, and ``early``, once every waiting run was refused the slot."""
    import psycopg

    def owners(ids: list[str]) -> dict[str, int]:
        return _owners(workers.url, ids)

    workers.max_runs = 1
    holder_worker = workers.start()
    holder = client.invoke_sync("shared_fifo", {"n": -1, "gate": str(gate)}).id
    _wait_for(
        lambda: (f"{holder}:start", holder_worker.pid) in workers.lines(),
        what="the run that holds the slot to start",
    )
    workers.max_runs = 2
    early = workers.start()
    ids = [client.invoke_sync("shared_fifo", {"n": n}).id for n in range(2)]
    _wait_for(lambda: len(owners(ids)) == 2, what="the early runs to be claimed")
    assert set(owners(ids).values()) == {early.pid}
    workers.max_runs = None
    late = workers.start()
    ids += [client.invoke_sync("shared_fifo", {"n": n}).id for n in range(2, 2 + later)]
    _wait_for(lambda: len(owners(ids)) == len(ids), what="the later runs to be claimed")
    assert set(owners(ids[2:]).values()) == {late.pid}

    def all_refused() -> bool:
        with psycopg.connect(workers.url) as conn:
            if conn.execute("SELECT to_regclass('queue_waiters')").fetchone()[0] is None:
                return True  # a journal without the table: the pause below only
            (count,) = conn.execute(
                "SELECT count(*) FROM queue_waiters WHERE execution_id = ANY(%s)", [ids]
            ).fetchone()
        return int(count) == len(ids)

    _wait_for(all_refused, what="every waiting run to be refused the slot")
    time.sleep(1.5)  # a worker round: each waiting run has asked for the slot by now
    return holder, ids, early


def _starts(workers: Workers, ids: list[str]) -> list[str]:
    order = [what.partition(":")[0] for what, _ in workers.lines() if what.endswith(":start")]
    return [run for run in order if run in ids]


def test_a_limited_queue_admits_runs_across_workers_in_the_order_they_were_queued(
    workers: Workers, tmp_path: Path
) -> None:
    """Runs waiting on three workers for a queue limited to one are admitted in the order
    they were started, also when the oldest waiters' worker is slow to ask (it is stopped
    while the slot is given back: the other worker's later runs must not take it)."""
    gate = tmp_path / "gate"
    client = PolosClient(journal=workers.url)  # defines none of the workflows: starts only
    early = None
    try:
        holder, ids, early = _queued_across_workers(workers, client, gate)
        os.kill(early.pid, signal.SIGSTOP)  # well within its lease
        try:
            gate.touch()  # the holder ends: its slot is given back
            _wait_for(
                lambda: f"{holder}:end" in {w for w, _ in workers.lines()},
                what="the holder to end",
            )
            time.sleep(1.0)  # the other worker asks for the slot meanwhile (a round or more)
        finally:
            os.kill(early.pid, signal.SIGCONT)
        results = asyncio.run(_results(client, ids))
    finally:
        if early is not None:
            os.kill(early.pid, signal.SIGCONT)
        client.close()
    assert results == list(range(len(ids)))
    assert _starts(workers, ids) == ids


def test_a_run_queued_behind_its_workers_own_run_keeps_its_place(
    workers: Workers, tmp_path: Path
) -> None:
    """Run 1 waits on the worker whose run holds the slot (behind it, for that worker's own
    count of the limit: it has not asked for the slot across workers yet); a later run 2
    waits on another worker and asks for the slot first when it is given back (the queue's
    lock is held meanwhile, so the later worker's request is first in line for it). Run 1
    still goes first: its place was written with the slot's return."""
    import psycopg

    gate = tmp_path / "gate"
    client = PolosClient(journal=workers.url)
    try:
        workers.max_runs = 2
        first = workers.start()
        holder = client.invoke_sync("shared_fifo", {"n": 0, "gate": str(gate)}).id
        _wait_for(
            lambda: (f"{holder}:start", first.pid) in workers.lines(),
            what="the run that holds the slot to start",
        )
        behind = client.invoke_sync("shared_fifo", {"n": 1}).id
        _wait_for(lambda: _owners(workers.url, [behind]) == {behind: first.pid}, what="run 1")
        workers.max_runs = None
        second = workers.start()
        later = client.invoke_sync("shared_fifo", {"n": 2}).id
        _wait_for(lambda: _owners(workers.url, [later]) == {later: second.pid}, what="run 2")
        with psycopg.connect(workers.url, autocommit=True) as conn:

            def waiting_rows(ids: list[str]) -> int:
                return int(
                    conn.execute(
                        "SELECT count(*) FROM queue_waiters WHERE execution_id = ANY(%s)", [ids]
                    ).fetchone()[0]
                )

            _wait_for(lambda: waiting_rows([later]) == 1, what="run 2 to be refused the slot")
            assert waiting_rows([behind]) == 0  # it has not asked (nor been written) yet
            (key,) = conn.execute(
                "SELECT hashtextextended(%s, 0)", ["polos_nb queue shared-fifo-q\x1f"]
            ).fetchone()

            def blocked() -> int:
                return int(
                    conn.execute(
                        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"
                        " AND NOT granted AND classid = %s::bigint::oid"
                        " AND objid = %s::bigint::oid AND objsubid = 1",
                        [(key >> 32) & 0xFFFFFFFF, key & 0xFFFFFFFF],
                    ).fetchone()[0]
                )

            conn.execute("SELECT pg_advisory_lock(%s)", [key])  # the queue's decisions wait
            try:
                # The second worker asks again every second: its request waits for the lock.
                _wait_for(lambda: blocked() == 1, what="run 2 to ask for the slot again")
                gate.touch()  # the holder ends and gives the slot back; run 1 asks
                _wait_for(lambda: blocked() == 2, what="run 1 to ask for the slot")
            finally:
                conn.execute("SELECT pg_advisory_unlock(%s)", [key])
        results = asyncio.run(_results(client, [holder, behind, later]))
    finally:
        client.close()
    assert results == [0, 1, 2]
    assert _starts(workers, [holder, behind, later]) == [holder, behind, later]


def test_a_waiter_whose_worker_was_killed_does_not_block_a_limited_queue(
    workers: Workers, tmp_path: Path
) -> None:
    """The oldest runs waiting for the slot are on a worker killed with SIGKILL, and a
    later waiter is cancelled: neither holds the queue up. The other worker's runs are
    admitted, and the killed worker's runs are taken over and run too, one at a time."""
    gate = tmp_path / "gate"
    client = PolosClient(journal=workers.url)
    try:
        _holder, ids, early = _queued_across_workers(workers, client, gate, later=3)
        cancelled = ids.pop(2)  # queued before the last two, on a live worker
        assert asyncio.run(client.cancel(cancelled)) is True
        workers.kill(early)
        gate.touch()
        started = time.monotonic()
        results = asyncio.run(_results(client, ids))
        took = time.monotonic() - started
        assert client.get_execution_sync(cancelled).status == "cancelled"
    finally:
        client.close()
    assert results == [0, 1, 3, 4]
    assert sorted(_starts(workers, ids)) == sorted(ids)
    assert _starts(workers, [cancelled]) == []
    assert took < 30, f"the queue was held up {took:.1f} s"
    running = None
    for what, _pid in workers.lines():  # file order: one run between its start and its end
        run, _, edge = what.partition(":")
        if run not in ids:
            continue
        if edge == "start":
            assert running is None, f"{run} started while {running} ran (limit 1)"
            running = run
        elif edge == "end":
            assert running == run
            running = None


def test_an_event_triggers_its_workflow_once_across_workers(workers: Workers) -> None:
    for _ in range(2):
        workers.start()
    client = PolosClient(journal=workers.url)
    try:
        _wait_for(lambda: _leader_count(client) == 1, what="one worker to lead")
        time.sleep(1.5)  # the leader registered its trigger's cursor
        for n in range(5):
            asyncio.run(events.publish(client, "shared-orders", {"data": {"n": n}}))
        _wait_for(
            lambda: sum(1 for w, _ in workers.lines() if w.endswith(":seen")) >= 5,
            what="five triggered runs",
        )
        time.sleep(2.0)  # a second worker firing too would show up by now
    finally:
        client.close()
    seen = [w for w, _ in workers.lines() if w.endswith(":seen")]
    assert len(seen) == 5 and len(set(seen)) == 5


def test_a_schedule_fires_once_across_workers(workers: Workers) -> None:
    """A schedule due a few seconds after three workers started together: it fires once
    (each worker would fire it at the same moment if each armed it)."""
    import datetime as dt

    import psycopg

    PolosClient(journal=workers.url).close()  # the tables
    with psycopg.connect(workers.url, autocommit=True) as conn:
        due_at = conn.execute("SELECT now() + interval '5 seconds'").fetchone()[0]
        conn.execute(
            "INSERT INTO schedules (id, workflow_id, key, cron, timezone, catch_up, status,"
            " last_fire_at, next_fire_at, created_at, updated_at) VALUES ('tick',"
            " 'shared_tick', 'global', '0 0 1 1 *', 'UTC', 'all', 'active', NULL, %s, now(),"
            " now())",
            [due_at],
        )
    workers.start_many(3)
    _wait_for(
        lambda: any(w.endswith(":ticked") for w, _ in workers.lines()), what="the schedule to fire"
    )
    time.sleep(2.5)  # a second worker firing too would show up by now
    ticked = [w for w, _ in workers.lines() if w.endswith(":ticked")]
    assert len(ticked) == 1
    with psycopg.connect(workers.url, autocommit=True) as conn:
        runs, last = conn.execute(
            "SELECT (SELECT count(*) FROM executions WHERE workflow_id = 'shared_tick'),"
            " (SELECT last_fire_at FROM schedules WHERE id = 'tick')"
        ).fetchone()
    assert runs == 1 and last == due_at.astimezone(dt.UTC)


def _leader_count(client: PolosClient) -> int:
    """Sessions holding this database's leader lock (other databases on the server have
    their own)."""
    rows = client.runtime.journal.query(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
        " AND mode = 'ExclusiveLock'"
        " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        f" AND (classid::bigint << 32 | objid::bigint) = {LEADER_LOCK}"
    ).result()
    return int(rows[0][0])


def test_a_worker_whose_lease_was_taken_writes_no_more(postgres_db: str, shared: None) -> None:
    journal = open_journal(postgres_db)
    other = open_journal(postgres_db)
    try:
        assert journal.worker_id and other.worker_id and journal.worker_id != other.worker_id
        # Another worker decided this one is dead (its heartbeat lapsed) and removed it.
        other.read(
            lambda con: con.execute("DELETE FROM workers WHERE id = ?", [journal.worker_id])
        ).result()
        row = Insert(
            "requests",
            ("id", "execution_id", "body", "created_at"),
            ("r1", "x", '{"op": "none"}', "2026-01-01T00:00:00+00:00"),
        )
        with pytest.raises(WorkerFencedError, match="lost its lease"):
            journal.submit([row]).result()
        with pytest.raises(WorkerFencedError):
            journal.probe().result()
        other.submit([row]).result()  # the live worker still writes
    finally:
        journal.close()
        other.close()


def test_a_fenced_worker_lets_its_runs_go_and_joins_again(workers: Workers) -> None:
    """A worker presumed dead (its row removed, as another worker's claim does after a
    lapsed lease) stops driving its runs, joins again under a new id and, being the only
    worker, claims its old run back: the run goes on without re-running a completed step."""
    import psycopg

    workers.start()
    client = PolosClient(journal=workers.url)
    try:
        handle = client.invoke_sync("shared_approval", {"order": "C-3"})
        _wait_for(
            lambda: client.get_execution_sync(handle.id).status == "waiting",
            what="the run to suspend",
        )
        with psycopg.connect(workers.url, autocommit=True) as conn:
            (old,) = conn.execute(
                "SELECT owner FROM executions WHERE id = %s", [handle.id]
            ).fetchone()
            conn.execute("DELETE FROM workers WHERE id = %s", [old])

            def owned_anew() -> bool:
                row = conn.execute(
                    "SELECT e.owner FROM executions e JOIN workers w ON w.id = e.owner"
                    " WHERE e.id = %s",
                    [handle.id],
                ).fetchone()
                return row is not None and row[0] != old

            _wait_for(owned_anew, what="the worker to join again and claim its run")
        client.resume_sync("shared_approval", handle.id, "approve", {"approved": True})
        result = asyncio.run(client.wait_for_result(handle.id, timeout=60))
    finally:
        client.close()
    assert result["approved"] is True
    counts = collections.Counter(what for what, _ in workers.lines())
    assert counts[f"{handle.id}:before"] == 1 and counts[f"{handle.id}:after"] == 1


def test_each_worker_is_judged_by_its_own_lease(
    postgres_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker with a short lease does not presume dead a worker whose longer lease has
    not lapsed (its heartbeat is older than the short lease, as it should be)."""
    monkeypatch.setenv("POLOS_JOURNAL_SHARED", "1")
    monkeypatch.setenv("POLOS_WORKER_LEASE", "60")
    patient = open_journal(postgres_db)
    monkeypatch.setenv("POLOS_WORKER_LEASE", "0.5")
    hasty = open_journal(postgres_db)
    try:
        time.sleep(1.5)  # the patient one beats every 20 s; the hasty lease is long over
        hasty.claim(["any_workflow"], 1).result()  # a claim removes the dead
        alive = hasty.read(
            lambda con: con.execute("SELECT id FROM workers ORDER BY id").fetchall()
        ).result()
        assert sorted(r[0] for r in alive) == sorted([patient.worker_id, hasty.worker_id])
        row = Insert(
            "requests",
            ("id", "execution_id", "body", "created_at"),
            ("r2", "x", '{"op": "none"}', "2026-01-01T00:00:00+00:00"),
        )
        patient.submit([row]).result()  # not fenced
    finally:
        hasty.close()
        patient.close()


def test_single_owner_and_shared_workers_do_not_mix(
    postgres_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POLOS_JOURNAL_SHARED", "0")
    owner = open_journal(postgres_db)  # one owner
    try:
        monkeypatch.setenv("POLOS_JOURNAL_SHARED", "1")
        with pytest.raises(JournalLockedError):
            open_journal(postgres_db)
    finally:
        owner.close()
    monkeypatch.delenv("POLOS_JOURNAL_SHARED")  # workers share by default
    worker = open_journal(postgres_db)
    try:
        assert worker.worker_id is not None
        monkeypatch.setenv("POLOS_JOURNAL_SHARED", "0")
        with pytest.raises(JournalLockedError):
            open_journal(postgres_db)
    finally:
        worker.close()


def test_polos_journal_shared_must_be_one_or_zero(
    postgres_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POLOS_JOURNAL_SHARED", "maybe")
    with pytest.raises(UserError, match="POLOS_JOURNAL_SHARED must be 1"):
        open_journal(postgres_db)


def test_polos_worker_lease_must_be_seconds(
    postgres_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POLOS_JOURNAL_SHARED", "1")
    for bad in ("soon", "0.1", "-3"):
        monkeypatch.setenv("POLOS_WORKER_LEASE", bad)
        with pytest.raises(UserError, match="POLOS_WORKER_LEASE must be a number of seconds"):
            open_journal(postgres_db)


def test_a_restarted_worker_takes_its_runs_up_without_waiting_for_the_lease(
    workers: Workers,
) -> None:
    """A worker killed on this machine is seen dead at once (its process is gone), so the
    next worker here claims its runs without waiting for the (long) lease."""
    workers.lease = "600"
    victim = workers.start()
    client = PolosClient(journal=workers.url)
    try:
        handle = client.invoke_sync("shared_approval", {"order": "D-4"})
        _wait_for(
            lambda: client.get_execution_sync(handle.id).status == "waiting",
            what="the run to suspend",
        )
        workers.kill(victim)
        workers.start()
        client.resume_sync("shared_approval", handle.id, "approve", {"approved": True})
        result = asyncio.run(client.wait_for_result(handle.id, timeout=60))
    finally:
        client.close()
    assert result["approved"] is True and result["pid"] != victim.pid


def test_soak_three_workers_two_hundred_runs_fifty_kills(workers: Workers) -> None:
    """3 workers, 200 runs started in waves, a worker killed with SIGKILL 50 times (and
    replaced at once). Every run completes with its result; a step ran again only where a
    killed worker was in it (each earlier run of a step was by a worker then killed, or one
    that missed its lease on a stalled machine and said so); the
    journal holds one completed record per step; and the 50 runs of a queue limited to one
    never overlapped while their workers lived."""
    import random

    import psycopg

    rng = random.Random(15)
    live = [workers.start() for _ in range(3)]
    client = PolosClient(journal=workers.url)
    killed: set[int] = set()
    handles, limited = [], []
    try:
        for wave in range(50):  # runs start in waves, so that kills find runs mid-way
            handles += [
                client.invoke_sync("shared_job", {"n": n, "pause": 0.3})
                for n in range(3 * wave, 3 * wave + 3)
            ]
            limited.append(client.invoke_sync("shared_limited", {"n": wave}))
            time.sleep(rng.uniform(0.1, 0.4))
            victim = live.pop(rng.randrange(len(live)))
            with open(workers.counter, "a") as f:  # where the kill falls among the steps
                f.write(f"KILL {victim.pid}\n")
            workers.kill(victim)
            killed.add(victim.pid)
            live.append(workers.start())
        results = asyncio.run(_results(client, [h.id for h in handles + limited]))
    finally:
        client.close()
    assert results == list(range(150)) + list(range(50))
    lines = workers.lines()
    by_step: dict[str, list[int]] = collections.defaultdict(list)
    for what, pid in lines:
        by_step[what].append(pid)
    # A worker that missed its lease (the machine stalled it longer than the lease) is presumed
    # dead as a killed one is: its step in flight may run again elsewhere. It says so in its log.
    lapsed = workers.lapsed()
    for handle in handles:
        for key in ("a", "b", "c"):
            pids = by_step[f"{handle.id}:{key}"]
            assert pids, f"{handle.id}:{key} never ran"
            assert all(pid in killed or pid in lapsed for pid in pids[:-1]), (
                f"{handle.id}:{key} ran again although the worker that ran it lived"
                f" and held its lease: {pids}"
            )
    assert len(killed) == 50
    # The journal: one completed record per step, whatever ran twice.
    with psycopg.connect(workers.url) as conn:
        doubled = conn.execute(
            "SELECT execution_id, step_key, count(*) FROM steps WHERE status = 'completed'"
            " GROUP BY execution_id, step_key HAVING count(*) > 1"
        ).fetchall()
    assert doubled == []
    # The limited queue: at each start, no other run of it in progress on a live worker.
    limited_ids = {h.id for h in limited}
    running: dict[str, int] = {}
    dead: set[int] = set()
    for what, pid in lines:
        if what == "KILL":  # written just before the kill: what that worker writes after dies
            dead.add(pid)
            running = {run: p for run, p in running.items() if p != pid}
            continue
        run, _, key = what.partition(":")
        if run not in limited_ids or pid in dead or pid in lapsed:
            continue
        if key == "start":
            others = {r: p for r, p in running.items() if r != run}
            assert not others, f"{run} started while {others} ran (limit 1)"
            running[run] = pid
        elif key == "end":
            running.pop(run, None)
    moved = [
        h.id for h in handles if len({pid for k in "abc" for pid in by_step[f"{h.id}:{k}"]}) > 1
    ]
    assert moved, "no run was taken over by another worker: the kills missed every run"
    reruns = sum(len(pids) - 1 for what, pids in by_step.items() if what != "KILL")
    print(
        f"soak: {len(moved)} runs taken over, {reruns} interrupted steps run again,"
        f" {len(lapsed)} workers missed their lease"
    )


def test_workers_go_on_after_a_server_restart(
    private_server: PrivateServer, tmp_path: Path
) -> None:
    """Two workers and a client; the server stops mid-run and starts again: every run
    completes, and a step ran twice only where a worker was in it when the server went."""
    group = Workers(private_server.url, tmp_path / "counter.txt")
    group.lease = "10"  # longer than the restart: nobody is presumed dead meanwhile
    os.environ["POLOS_JOURNAL_SHARED"] = "1"
    os.environ["POLOS_WORKER_LEASE"] = group.lease
    try:
        for _ in range(2):
            group.start()
        client = PolosClient(journal=private_server.url)
        try:
            ids = [client.invoke_sync("shared_job", {"n": n, "pause": 0.5}).id for n in range(6)]
            _wait_for(lambda: len(group.lines()) >= 4, what="the runs to start")
            private_server.stop()
            time.sleep(2.0)
            private_server.start()
            deadline = time.monotonic() + 120
            while True:
                try:
                    statuses = [client.get_execution_sync(i).status for i in ids]
                except JournalError:
                    statuses = []
                if statuses == ["completed"] * 6:
                    break
                assert time.monotonic() < deadline, f"runs after the restart: {statuses}"
                time.sleep(0.2)
            results = asyncio.run(_results(client, ids))
        finally:
            client.close()
    finally:
        group.stop_all()
        os.environ.pop("POLOS_JOURNAL_SHARED", None)
        os.environ.pop("POLOS_WORKER_LEASE", None)
    assert results == list(range(6))
    counts = collections.Counter(what for what, _ in group.lines())
    for exec_id in ids:
        runs = [counts[f"{exec_id}:{k}"] for k in "abc"]
        assert all(n >= 1 for n in runs) and sum(runs) <= 4, (exec_id, runs)


def test_a_block_of_sequence_numbers_waits_for_the_server_to_return(
    private_server: PrivateServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker whose block of sequence numbers runs out while the server is away waits for
    the server (as its writes do) and goes on numbering from a fresh block: the step that
    asked for the number is held, not failed."""
    import threading

    monkeypatch.setenv("POLOS_JOURNAL_SHARED", "1")
    monkeypatch.setenv("POLOS_WORKER_LEASE", "30")
    journal = open_journal(private_server.url)
    try:
        seat = journal.seat  # type: ignore[attr-defined]
        first, last = seat.seq_block()
        got: list[tuple[int, int]] = []
        private_server.stop()
        asker = threading.Thread(target=lambda: got.append(seat.seq_block()), daemon=True)
        asker.start()
        asker.join(2.0)
        assert asker.is_alive() and not got, "the block was not held while the server was away"
        private_server.start()
        asker.join(60)
        assert not asker.is_alive(), "the block still waits after the server returned"
        (fresh_first, fresh_last) = got[0]
        assert fresh_first > last and fresh_last - fresh_first == last - first
    finally:
        journal.close()


def test_the_leader_sweeps_requests_their_senders_left(workers: Workers) -> None:
    """A resume request whose sender died before reading the answer stays in ``requests``;
    the leading worker deletes such rows once they are older than any sender waits, and
    keeps a request that is still fresh."""
    import psycopg

    with psycopg.connect(workers.url, autocommit=True) as conn:
        workers.start()  # migrates and leads
        for request_id, age in (("stale", "1 hour"), ("fresh", "0 seconds")):
            conn.execute(
                "INSERT INTO requests (id, execution_id, body, answer, created_at, answered_at)"
                " VALUES (%s, 'gone', '{\"op\": \"cancel\"}', '{\"ok\": true}',"
                f" now() - interval '{age}', now())",
                [request_id],
            )

        def left() -> set[str]:
            return {row[0] for row in conn.execute("SELECT id FROM requests").fetchall()}

        _wait_for(lambda: "stale" not in left(), timeout=30, what="the stale request to go")
        assert left() == {"fresh"}


def test_a_claimed_run_whose_take_up_failed_is_taken_up_next_round(
    postgres_db: str, shared: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The journal failed the read that takes a claimed run up (the server went away right
    after the claim committed): the run is this worker's, so the worker takes it up at its
    next round rather than leave it owned by a live worker that does not drive it."""
    import uuid

    from polos_nb import WorkflowContext, workflow
    from polos_nb.engine import _workflow
    from polos_nb.engine._blocking import Blocking
    from polos_nb.errors import JournalUnavailableError

    real = Blocking.reload
    failed: list[str] = []

    async def reload_once_failing(
        self: Blocking, exec_id: str, *, taken_over: bool = False
    ) -> None:
        if taken_over and not failed:
            failed.append(exec_id)
            raise JournalUnavailableError(postgres_db, "the server went away (a test's fault)")
        await real(self, exec_id, taken_over=taken_over)

    monkeypatch.setattr(Blocking, "reload", reload_once_failing)
    workflow_id = f"defined_later_{uuid.uuid4().hex[:8]}"
    client = PolosClient(journal=postgres_db)
    try:
        handle = client.invoke_sync(workflow_id, {"n": 7})  # defined nowhere yet: unowned

        @workflow(id=workflow_id)  # now defined here: this worker claims the run
        async def defined_later(ctx: WorkflowContext, payload: dict) -> int:
            return int(payload["n"]) * 6

        result = asyncio.run(client.wait_for_result(handle.id, timeout=30))
    finally:
        _workflow.unregister(workflow_id)
        client.close()
    assert failed == [handle.id] and result == 42


def test_a_claim_whose_reply_was_lost_is_taken_up_next_round(
    postgres_db: str, shared: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The claim committed but its reply never came (the connection broke at the commit):
    the worker owns runs it does not know of. After a failed claim it looks for such runs
    at its next round and takes them up."""
    import uuid

    from polos_nb import WorkflowContext, workflow
    from polos_nb.engine import _workflow
    from polos_nb.engine.journal._postgres import PostgresJournal
    from polos_nb.errors import JournalUnavailableError

    real = PostgresJournal.claim
    lost: list[list[str]] = []

    def claim_losing_its_reply(self: PostgresJournal, workflow_ids, limit):  # type: ignore[no-untyped-def]
        future = real(self, workflow_ids, limit)
        if lost or not future.result():
            return future
        lost.append(future.result())
        raise JournalUnavailableError(
            postgres_db, "the connection broke at the commit (a test's fault)"
        )

    monkeypatch.setattr(PostgresJournal, "claim", claim_losing_its_reply)
    workflow_id = f"claimed_unawares_{uuid.uuid4().hex[:8]}"
    client = PolosClient(journal=postgres_db)
    try:
        handle = client.invoke_sync(workflow_id, {"n": 5})  # defined nowhere yet: unowned

        @workflow(id=workflow_id)
        async def claimed_unawares(ctx: WorkflowContext, payload: dict) -> int:
            return int(payload["n"]) + 1

        result = asyncio.run(client.wait_for_result(handle.id, timeout=30))
    finally:
        _workflow.unregister(workflow_id)
        client.close()
    assert lost == [[handle.id]] and result == 6

"""Crash tests: real child processes, real SIGKILL, a real DuckDB journal (D1, D6, D7, D8, D11, D13, D14).

Each test launches ``tests/engine/crash_child.py`` with ``sys.executable``. A child that
is killed reports return code -9, which the tests assert, so none can pass without the
crash actually happening. Between a kill and the recovery the journal is read with a
plain read-only DuckDB connection, to know exactly what was committed at the instant of
the kill.
"""

from __future__ import annotations

import collections
import concurrent.futures
import datetime as dt
import json
import os
import random
import select
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from polos_nb import PolosClient
from polos_nb.engine.journal._duckdb import read_journal
from polos_nb.testing import FakeClock
from tests.engine import crash_child
from tests.engine.crash_child import FAKE_START, expected_main_result

ROOT = Path(__file__).resolve().parents[2]
KILLED = -signal.SIGKILL
RUN_STEPS_MAIN = ("a", "b", "c", "d")
RUN_STEPS_LEAF = ("leaf-work",)

pytestmark = pytest.mark.slow


# ====================================================================== helpers
def launch(
    mode: str, args: dict[str, Any], *, cycle: int = 0, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CRASH_CYCLE": str(cycle), "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "tests.engine.crash_child", mode, json.dumps(args)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def last_json(proc: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    assert lines, f"child printed nothing (rc={proc.returncode}); stderr:\n{proc.stderr}"
    return json.loads(lines[-1])


def assert_killed(proc: subprocess.CompletedProcess[str]) -> None:
    assert proc.returncode == KILLED, (
        f"expected SIGKILL (-9), got {proc.returncode}; stderr:\n{proc.stderr[-3000:]}"
    )


def assert_ok(proc: subprocess.CompletedProcess[str]) -> None:
    assert proc.returncode == 0, (
        f"child failed (rc={proc.returncode}); stderr:\n{proc.stderr[-3000:]}"
    )


class Snapshot:
    """Everything committed in the journal: the ``.duckdb`` file and its step log.

    Read the way polos_nb reads a journal at rest (``read_journal``): step records that
    were durable only in ``<journal>.steplog`` when the process was killed are written into
    the file first, as the next process to open it would do (docs/promises.md, "The step
    log"). A plain connection to the file alone would miss them.
    """

    def __init__(self, path: Path) -> None:
        # raises if the file cannot be opened (D14)
        read_journal(str(path), lambda con: self._read(con))

    def _read(self, con: Any) -> None:
        self.executions = {
            r[0]: {
                "workflow_id": r[1],
                "status": r[2],
                "payload": r[3],
                "result": r[4],
                "parent": r[5],
            }
            for r in con.execute(
                "SELECT id, workflow_id, status, payload, result, parent_execution_id FROM executions"
            ).fetchall()
        }
        self.step_rows = {
            (r[0], r[1], r[2]): (r[3], r[4], r[5], r[6])
            for r in con.execute(
                "SELECT execution_id, step_key, attempt, status, kind, output, seq FROM steps"
            ).fetchall()
        }
        self.events = {
            r[0]: (r[1], r[2], r[3], r[4])
            for r in con.execute(
                "SELECT seq, topic, topic_seq, event_type, data FROM events"
            ).fetchall()
        }
        self.waits = con.execute(
            "SELECT execution_id, step_key, kind, wake_at, resolved_at FROM waits"
        ).fetchall()
        self.mailbox = con.execute("SELECT execution_id, step_key, data FROM mailbox").fetchall()

    def completed(self) -> set[tuple[str, str]]:
        """(execution_id, step_key) of every step whose completion is committed."""
        return {
            (eid, key) for (eid, key, _), row in self.step_rows.items() if row[0] == "completed"
        }

    def output(self, execution_id: str, key: str) -> Any:
        rows = [
            row for (eid, k, _), row in self.step_rows.items() if eid == execution_id and k == key
        ]
        assert len(rows) == 1, f"{key}: {rows}"
        return json.loads(rows[0][2])

    def roots(self, workflow_id: str) -> list[str]:
        return [
            eid
            for eid, e in self.executions.items()
            if e["workflow_id"] == workflow_id and e["parent"] is None
        ]

    def assert_contains(self, earlier: Snapshot) -> None:
        """No committed record is lost or changed (D14)."""
        for key, row in earlier.step_rows.items():
            assert self.step_rows.get(key) == row, (
                f"step row {key} was {row}, now {self.step_rows.get(key)}"
            )
        for seq, row in earlier.events.items():
            assert self.events.get(seq) == row, f"event {seq} was {row}, now {self.events.get(seq)}"
        for eid in earlier.executions:
            assert eid in self.executions, f"execution {eid} disappeared"
            if earlier.executions[eid]["status"] in ("completed", "failed", "cancelled"):
                assert self.executions[eid] == earlier.executions[eid]

    def assert_topic_sequences_unique(self) -> None:
        by_topic: dict[str, list[int]] = collections.defaultdict(list)
        for topic, topic_seq, _, _ in self.events.values():
            by_topic[topic].append(topic_seq)
        for topic, seqs in by_topic.items():
            assert len(seqs) == len(set(seqs)), (
                f"topic {topic} has duplicate sequence numbers: {sorted(seqs)}"
            )


def read_counter(path: Path) -> list[tuple[int, str, str]]:
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        cycle, eid, key = line.split(" ")
        out.append((int(cycle), eid, key))
    return out


def counts(lines: list[tuple[int, str, str]]) -> collections.Counter[tuple[str, str]]:
    return collections.Counter((eid, key) for _, eid, key in lines)


def run_steps_of(snap: Snapshot, main_id: str) -> list[tuple[str, str]]:
    """The side-effecting steps of one crash_main run and of its child."""
    steps = [(main_id, key) for key in RUN_STEPS_MAIN]
    leaves = [eid for eid, e in snap.executions.items() if e["parent"] == main_id]
    assert len(leaves) == 1, f"crash_main {main_id} has children {leaves}"
    steps += [(leaves[0], key) for key in RUN_STEPS_LEAF]
    return steps


async def recover_in_process(
    journal: Path, execution_id: str | None, payload: dict[str, Any]
) -> tuple[str, Any]:
    """Reopen the journal here (crash_child's workflows are imported, so it resumes) and wait."""
    client = PolosClient(journal=journal)
    try:
        if execution_id is None:  # the start itself was never committed: the caller starts again
            execution_id = (await crash_child.crash_main.invoke(client, payload)).id
        return execution_id, await client.wait_for_result(execution_id, timeout=60)
    finally:
        client.close()


# ====================================================================== 1. every write boundary
@pytest.mark.timeout(240)
@pytest.mark.parametrize("steplog", ["", "1"], ids=["duckdb", "steplog"])
@pytest.mark.parametrize("when", ["before", "after"])
async def test_sigkill_at_every_commit_boundary(
    tmp_path: Path, when: str, steplog: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the step log on (``POLOS_JOURNAL_STEPLOG=1``), an append to it and each bulk
    write of its rows into DuckDB are commits too: the kills land on both."""
    monkeypatch.setenv("POLOS_JOURNAL_STEPLOG", steplog)
    x = 5
    ref = launch(
        "count",
        {"journal": str(tmp_path / "ref.duckdb"), "counter": str(tmp_path / "ref.txt"), "x": x},
    )
    assert_ok(ref)
    total = last_json(ref)["commits"]
    assert total >= 10, f"the reference run made only {total} commits"
    ref_result = last_json(ref)["result"]
    assert ref_result == expected_main_result(x, ref_result["uid"])

    killed = 0
    for n in range(1, total + 1):
        case = tmp_path / f"{when}-{n}"
        case.mkdir()
        journal, counter = case / "journal.duckdb", case / "effects.txt"
        payload = {"counter": str(counter), "x": x}
        proc = launch("kill", {**payload, "journal": str(journal), "n": n, "when": when}, cycle=1)
        if proc.returncode == 3:
            # Group commit merged writes, so this run made fewer than n commits: only legal at the tail.
            assert n > total - 4, f"n={n}: the run finished without reaching commit {n}/{total}"
            continue
        assert_killed(proc)
        killed += 1

        before = Snapshot(journal)
        committed = before.completed()
        mains = before.roots("crash_main")
        if not mains:
            assert (n, when) == (1, "before"), f"n={n} {when}: the start was committed but is gone"
        main_id = mains[0] if mains else None
        lines_before = read_counter(counter)

        monkeypatch.setenv("CRASH_CYCLE", "2")
        main_id, result = await recover_in_process(journal, main_id, payload)

        after = Snapshot(journal)
        after.assert_contains(before)
        after.assert_topic_sequences_unique()
        uid = after.output(main_id, "uid")
        if (main_id, "uid") in committed:
            assert uid == before.output(main_id, "uid")
        assert result == expected_main_result(x, uid), f"n={n} {when}"
        assert {e["status"] for e in after.executions.values()} == {"completed"}
        assert [t for t, *_ in after.events.values()].count(f"crash/{main_id}") == 1, (
            "publish_event not exactly once"
        )

        lines = read_counter(counter)
        assert lines[: len(lines_before)] == lines_before
        per_step = counts(lines)
        for step in run_steps_of(after, main_id):
            runs = [c for c, eid, key in lines if (eid, key) == step]
            assert runs, f"n={n} {when}: step {step} never ran"
            assert len(runs) == len(set(runs)), (
                f"n={n} {when}: step {step} ran twice in one process: {runs}"
            )
            if step in committed:
                assert per_step[step] == 1, (
                    f"n={n} {when}: committed step {step} ran {per_step[step]} times"
                )
            else:
                assert per_step[step] <= 2, f"n={n} {when}: step {step} ran {per_step[step]} times"
        assert set(per_step) == set(run_steps_of(after, main_id))
    assert killed >= total - 3, f"only {killed} of {total} kill points were reached"


# ====================================================================== 2. randomized soak
class _Lines:
    """JSON lines from a pipe, with a timeout (no buffered-reader/select mismatch)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.buf = b""

    def next(self, timeout: float) -> dict[str, Any]:
        end = time.monotonic() + timeout
        while b"\n" not in self.buf:
            ready, _, _ = select.select([self.fd], [], [], max(0.0, end - time.monotonic()))
            assert ready, "the soak server stopped answering"
            chunk = os.read(self.fd, 65536)
            assert chunk, "the soak server exited"
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)


def _soak_lane(lane: Path, seed: int, kills_wanted: int, deadline: float) -> dict[str, int]:
    """Kill cycles on one journal until ``kills_wanted`` SIGKILLs, then a clean run; check everything."""
    rng = random.Random(seed)
    lane.mkdir()
    journal, counter = lane / "soak.duckdb", lane / "effects.txt"
    base = {"journal": str(journal), "counter": str(counter)}
    kills = clean = cycle = 0
    committed_in: dict[
        tuple[str, str], int
    ] = {}  # step -> the cycle in which its completion became durable
    previous: Snapshot | None = None

    def after_cycle() -> Snapshot:
        nonlocal previous
        snap = Snapshot(journal)  # the journal opens cleanly after every kill (D14)
        if previous is not None:
            snap.assert_contains(previous)  # and every committed record is still there, unchanged
        for step in snap.completed():
            committed_in.setdefault(step, cycle)
        previous = snap
        return snap

    with open(lane / "stderr.txt", "w") as stderr:
        server = subprocess.Popen(
            [sys.executable, "-m", "tests.engine.crash_child", "soak_server"],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,
        )
    reader = _Lines(server.stdout.fileno())  # type: ignore[union-attr]
    try:
        while kills < kills_wanted:
            cycle += 1
            assert time.monotonic() < deadline, f"soak too slow: {kills} kills in {cycle} cycles"
            args = {**base, "target_active": 3, "x0": cycle * 10, "kill_n": 0, "when": "after"}
            external = (
                rng.random() < 0.5
            )  # half the kills land at a random instant, half at a commit boundary
            if not external:
                args["kill_n"] = rng.randint(1, 16)
                args["when"] = rng.choice(["before", "after"])
            server.stdin.write(json.dumps({"cycle": cycle, "args": args}).encode() + b"\n")  # type: ignore[union-attr]
            server.stdin.flush()  # type: ignore[union-attr]
            pid = ready = code = None
            while code is None:
                msg = reader.next(timeout=120)
                if "pid" in msg:
                    pid = msg["pid"]
                elif "ready" in msg:
                    ready = True
                elif "exit" in msg:
                    assert msg["exit"] == pid
                    code = msg["code"]
                if external and pid is not None and ready:
                    external = False
                    time.sleep(rng.uniform(0.0, 0.2))
                    os.kill(
                        pid, signal.SIGKILL
                    )  # our own worker, by its id (not reaped yet, so never a reused pid)
            if code == KILLED:
                kills += 1
            else:
                assert code == 0, (
                    f"{lane.name} cycle {cycle}: worker failed ({code}):\n"
                    + ((lane / "stderr.txt").read_text()[-3000:])
                )
                clean += 1
            after_cycle()
    finally:
        server.stdin.close()  # type: ignore[union-attr]
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        server.stdout.close()  # type: ignore[union-attr]
    assert server.returncode == 0, (lane / "stderr.txt").read_text()[-3000:]

    # Final run, no kill: everything left over must finish.
    cycle += 1
    final = launch(
        "soak", {**base, "target_active": 0, "x0": 0, "kill_n": 0, "when": "after"}, cycle=cycle
    )
    assert_ok(final)
    snap = after_cycle()
    snap.assert_topic_sequences_unique()

    mains = snap.roots("crash_main")
    assert len(mains) >= 10
    reran = assert_each_step_once(snap, counter, committed_in)
    return {"kills": kills, "clean": clean, "workflows": len(mains), "reran": reran}


def assert_each_step_once(
    snap: Snapshot, counter: Path, committed_in: dict[tuple[str, str], int]
) -> int:
    """Every crash_main run completed correctly; each step ran at most once per process and
    never after the cycle in which its completion became durable (D1, D6). Returns how
    many steps ran more than once (each time in a process killed before the commit)."""
    mains = snap.roots("crash_main")
    statuses = collections.Counter(e["status"] for e in snap.executions.values())
    assert set(statuses) == {"completed"}, f"executions not completed: {statuses}"
    lines = read_counter(counter)
    per_step = counts(lines)
    reran = 0
    for main_id in mains:
        payload = json.loads(snap.executions[main_id]["payload"])
        result = json.loads(snap.executions[main_id]["result"])
        assert result == expected_main_result(payload["x"], snap.output(main_id, "uid"))
        topic_events = [t for t, *_ in snap.events.values() if t == f"crash/{main_id}"]
        assert len(topic_events) == 1, f"{main_id}: publish_event gave {len(topic_events)} events"
        for step in run_steps_of(snap, main_id):
            runs = sorted(c for c, eid, key in lines if (eid, key) == step)
            assert runs, f"step {step} never ran"
            # At most once per process; every earlier run was in a process killed before its commit.
            assert len(runs) == len(set(runs)) == per_step[step], (
                f"step {step} ran in cycles {runs}"
            )
            # Its completion became durable in cycle `done`: it ran there, and never after (D1, D6).
            done = committed_in[step]
            assert runs[-1] == done, (
                f"step {step} ran in cycles {runs} but was committed in cycle {done}"
            )
            reran += len(runs) > 1
    assert set(per_step) <= {s for m in mains for s in run_steps_of(snap, m)}
    return reran


class _Cycles:
    """Kill cycles on one journal: a snapshot after each, checked against the one before."""

    def __init__(self, journal: Path) -> None:
        self.journal = journal
        self.cycle = 0
        self.committed_in: dict[tuple[str, str], int] = {}
        self.previous: Snapshot | None = None

    def after(self) -> Snapshot:
        snap = Snapshot(self.journal)  # the journal opens cleanly after every kill (D14)
        if self.previous is not None:
            snap.assert_contains(self.previous)  # every committed record is still there
        snap.assert_topic_sequences_unique()
        for step in snap.completed():
            self.committed_in.setdefault(step, self.cycle)
        self.previous = snap
        return snap


@pytest.mark.timeout(540)
def test_randomized_sigkill_soak(tmp_path: Path) -> None:
    """At least 200 SIGKILLs of processes running concurrent workflows, over two journals in parallel."""
    seed = int(os.environ.get("CRASH_SOAK_SEED", "20260101"))
    kills_wanted = int(os.environ.get("CRASH_SOAK_KILLS", "200"))
    lanes = 2
    started = time.monotonic()
    deadline = started + 450  # ~100 s on an idle 2-core machine; generous for loaded CI hosts
    with concurrent.futures.ThreadPoolExecutor(lanes) as pool:
        futures = [
            pool.submit(
                _soak_lane, tmp_path / f"lane{i}", seed + i, -(-kills_wanted // lanes), deadline
            )
            for i in range(lanes)
        ]
        stats = [f.result() for f in futures]
    total = {k: sum(s[k] for s in stats) for k in stats[0]}
    assert total["kills"] >= kills_wanted
    print(f"soak: {total} in {time.monotonic() - started:.1f}s")


# ====================================================================== 3. suspend across a restart
@pytest.mark.timeout(120)
def test_suspend_then_resume_in_another_process(tmp_path: Path) -> None:
    journal, counter = tmp_path / "journal.duckdb", tmp_path / "effects.txt"
    a = launch("suspend_start", {"journal": str(journal), "counter": str(counter)}, cycle=1)
    assert_killed(a)
    exec_id = last_json(a)["id"]
    snap = Snapshot(journal)
    assert snap.executions[exec_id]["status"] == "waiting"
    assert [(w[1], w[2], w[4]) for w in snap.waits if w[0] == exec_id] == [
        ("approval", "suspend", None)
    ]
    assert {("before-1"), ("before-2")} <= {k for e, k in snap.completed() if e == exec_id}

    b = launch(
        "resume",
        {"journal": str(journal), "id": exec_id, "data": {"approved": True}, "wait": True},
        cycle=2,
    )
    assert_ok(b)
    assert last_json(b)["result"] == {
        "first": 1,
        "second": 2,
        "resume": {"approved": True},
        "after": {"approved": True},
    }
    final = Snapshot(journal)
    final.assert_contains(snap)
    assert final.executions[exec_id]["status"] == "completed"
    assert counts(read_counter(counter)) == {
        (exec_id, "before-1"): 1,
        (exec_id, "before-2"): 1,
        (exec_id, "after"): 1,
    }
    assert [c for c, _, k in read_counter(counter) if k == "after"] == [2]


@pytest.mark.timeout(120)
def test_early_resume_survives_restarts(tmp_path: Path) -> None:
    journal, counter = tmp_path / "journal.duckdb", tmp_path / "effects.txt"
    topic = "crash/gate"
    a = launch(
        "suspend_start",
        {"journal": str(journal), "counter": str(counter), "gate_topic": topic},
        cycle=1,
    )
    assert_killed(a)
    exec_id = last_json(a)["id"]
    snap_a = Snapshot(journal)
    assert [(w[1], w[2]) for w in snap_a.waits if w[0] == exec_id] == [("gate", "event")], (
        "not parked at the gate"
    )

    # B delivers the resume before the run reached its suspension, then dies.
    b = launch(
        "resume",
        {"journal": str(journal), "id": exec_id, "data": {"approved": True, "early": True}},
        cycle=2,
    )
    assert_killed(b)
    assert last_json(b) == {"resumed": True}
    snap_b = Snapshot(journal)
    snap_b.assert_contains(snap_a)
    assert [(m[0], m[1]) for m in snap_b.mailbox] == [(exec_id, "approval")], (
        "early resume not journaled"
    )
    assert (exec_id, "approval") not in snap_b.completed()

    # C opens the gate; the run reaches its suspension and takes the early payload.
    c = launch(
        "publish_and_wait", {"journal": str(journal), "id": exec_id, "topic": topic}, cycle=3
    )
    assert_ok(c)
    assert last_json(c)["result"] == {
        "first": 1,
        "second": 2,
        "resume": {"approved": True, "early": True},
        "after": {"approved": True, "early": True},
    }
    final = Snapshot(journal)
    final.assert_contains(snap_b)
    assert final.executions[exec_id]["status"] == "completed"
    assert final.mailbox == []
    assert counts(read_counter(counter)) == {
        (exec_id, "before-1"): 1,
        (exec_id, "before-2"): 1,
        (exec_id, "after"): 1,
    }


# ====================================================================== 4. durable sleep across a restart
def _nap_start(tmp_path: Path) -> tuple[Path, Path, str, dt.datetime]:
    journal, counter = tmp_path / "journal.duckdb", tmp_path / "effects.txt"
    a = launch(
        "nap_start", {"journal": str(journal), "counter": str(counter), "seconds": 3600}, cycle=1
    )
    assert_killed(a)
    exec_id = last_json(a)["id"]
    wake_at = FAKE_START + dt.timedelta(hours=1)
    assert last_json(a)["timers"] == [wake_at.isoformat()]
    snap = Snapshot(journal)
    [(_, key, kind, journaled, resolved)] = [w for w in snap.waits if w[0] == exec_id]
    assert (key, kind, resolved) == ("nap", "sleep", None)
    assert journaled == wake_at, f"journaled wake time {journaled} != {wake_at}"
    return journal, counter, exec_id, wake_at


@pytest.mark.timeout(120)
async def test_durable_sleep_keeps_journaled_wake_time_before_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    journal, counter, exec_id, wake_at = _nap_start(tmp_path)
    monkeypatch.setenv("CRASH_CYCLE", "2")
    restart = wake_at - dt.timedelta(minutes=30)  # restart half an hour into the nap
    clock = FakeClock(start=restart)
    client = PolosClient(journal=journal, clock=clock)
    try:
        # Re-armed at the journaled time, not an hour after the restart.
        assert clock.pending_timers() == [wake_at]
        clock.set(wake_at - dt.timedelta(seconds=1))
        assert (await client.get_execution(exec_id)).status == "waiting"
        assert clock.pending_timers() == [wake_at]
        assert (exec_id, "after") not in counts(read_counter(counter))
        clock.set(wake_at)
        result = await client.wait_for_result(exec_id, timeout=30)
    finally:
        client.close()
    assert result == {"woke_ms": int(wake_at.timestamp() * 1000)}
    assert counts(read_counter(counter)) == {(exec_id, "before"): 1, (exec_id, "after"): 1}


@pytest.mark.timeout(120)
async def test_durable_sleep_wakes_at_once_when_restarted_after_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    journal, counter, exec_id, wake_at = _nap_start(tmp_path)
    monkeypatch.setenv("CRASH_CYCLE", "2")
    restart = wake_at + dt.timedelta(minutes=5)
    client = PolosClient(journal=journal, clock=FakeClock(start=restart))
    try:
        result = await client.wait_for_result(exec_id, timeout=30)  # the clock never moves here
    finally:
        client.close()
    assert result == {"woke_ms": int(restart.timestamp() * 1000)}
    assert counts(read_counter(counter)) == {(exec_id, "before"): 1, (exec_id, "after"): 1}


# ====================================================================== 5. kills during recovery
@pytest.mark.timeout(300)
def test_sigkill_during_recovery(tmp_path: Path) -> None:
    """Reopening a journal recovers its interrupted runs; a SIGKILL at each of the first
    commits after the open (the recovery's own writes: re-armed waits, resumed runs) loses
    nothing and runs no committed step again."""
    journal, counter = tmp_path / "journal.duckdb", tmp_path / "effects.txt"
    base = {"journal": str(journal), "counter": str(counter)}
    cycles = _Cycles(journal)
    cycles.cycle = 1
    proc = launch("prepare", {**base, "runs": 5, "x0": 100, "kill_n": 14}, cycle=1)
    assert_killed(proc)
    cycles.after()
    kills = 0
    for n, when in [
        (1, "before"),
        (1, "after"),
        (2, "before"),
        (2, "after"),
        (3, "after"),
        (4, "before"),
        (5, "after"),
        (6, "before"),
        (8, "after"),
        (10, "after"),
    ]:
        cycles.cycle += 1
        proc = launch("recover", {**base, "kill_n": n, "when": when}, cycle=cycles.cycle)
        if proc.returncode == KILLED:
            kills += 1
        else:  # everything finished before commit n: only possible once little is left
            assert_ok(proc)
        cycles.after()
    assert kills >= 6, f"only {kills} kills landed during recovery"
    cycles.cycle += 1
    assert_ok(launch("recover", base, cycle=cycles.cycle))
    snap = cycles.after()
    assert len(snap.roots("crash_main")) == 5
    assert_each_step_once(snap, counter, cycles.committed_in)


# ====================================================================== 6. kills during %polos sql
@pytest.mark.timeout(300)
def test_sigkill_during_a_sql_query(tmp_path: Path) -> None:
    """A process runs workflows and a slow read-only %polos sql query beside them; it is
    SIGKILLed while the query runs. The journal loses nothing and the runs finish once."""
    rng = random.Random(int(os.environ.get("CRASH_SOAK_SEED", "20260101")))
    journal, counter = tmp_path / "journal.duckdb", tmp_path / "effects.txt"
    base = {"journal": str(journal), "counter": str(counter)}
    cycles = _Cycles(journal)
    kills = 0
    while kills < 4:
        cycles.cycle += 1
        assert cycles.cycle <= 8, "the kills did not land"
        args = {**base, "target_active": 3, "x0": cycles.cycle * 10}
        child = subprocess.Popen(
            [sys.executable, "-m", "tests.engine.crash_child", "sql_kill", json.dumps(args)],
            cwd=ROOT,
            env={**os.environ, "CRASH_CYCLE": str(cycles.cycle), "PYTHONPATH": str(ROOT)},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        try:
            lines = _Lines(child.stdout.fileno())  # type: ignore[union-attr]
            assert lines.next(timeout=120) == {"query": "running"}
            time.sleep(rng.uniform(0.3, 1.5))  # the query sleeps 5 s: it is still running
            os.kill(child.pid, signal.SIGKILL)  # our own child, by its id, not reaped yet
            child.wait(timeout=60)
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
            leftover = child.stdout.read().decode() if child.stdout else ""  # type: ignore[union-attr]
            errors = child.stderr.read().decode() if child.stderr else ""  # type: ignore[union-attr]
            child.stdout.close()  # type: ignore[union-attr]
            child.stderr.close()  # type: ignore[union-attr]
        assert child.returncode == KILLED, errors[-3000:]
        assert '"query": "done"' not in leftover, "the query had finished before the kill"
        kills += 1
        cycles.after()
    cycles.cycle += 1
    assert_ok(launch("recover", base, cycle=cycles.cycle))
    snap = cycles.after()
    assert len(snap.roots("crash_main")) >= 3
    assert_each_step_once(snap, counter, cycles.committed_in)

"""The step log in front of the DuckDB journal (``polos_nb.engine.journal._steplog``).

With ``POLOS_JOURNAL_STEPLOG=1`` (or ``DuckDBJournal(path, steplog=True)``) a transaction of
step records is durable once it is appended to ``<journal>.steplog`` and fdatasync'd; the
rows reach DuckDB later, before any other read or write. These tests use real files and a
real child process killed with SIGKILL: what the log acknowledged is in the journal after
the next open (whatever that opener's setting), once, and nothing else changes for a reader.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import duckdb
import pytest

from polos_nb import PolosClient, WorkflowContext, workflow
from polos_nb.engine.journal import Insert, Update
from polos_nb.engine.journal._duckdb import DuckDBJournal, read_journal
from polos_nb.engine.journal._steplog import StepLog, encode, log_path, read_records
from polos_nb.errors import JournalError

STEP_COLUMNS = (
    "seq",
    "execution_id",
    "root_execution_id",
    "position",
    "step_key",
    "kind",
    "attempt",
    "status",
    "input_hash",
    "output",
    "error",
    "state",
    "started_at",
    "ended_at",
    "run_attempt",
)
NOW = dt.datetime(2026, 1, 1, 12, 0, 0, 123456, tzinfo=dt.UTC)


@pytest.fixture
def no_idle_apply(monkeypatch: pytest.MonkeyPatch) -> None:
    """The writer applies the log only when it must (another write, a read, close)."""
    from polos_nb.engine.journal import _duckdb

    monkeypatch.setattr(_duckdb, "APPLY_IDLE_SECONDS", 60.0)


def step(seq: int, output: str | None = '{"v":1}') -> Insert:
    values = (seq, "ex1", "ex1", seq, f"s{seq}", "step", 1, "completed", None, output, None, None)
    return Insert("steps", STEP_COLUMNS, (*values, NOW, NOW, 1))


def seqs(journal: DuckDBJournal) -> list[int]:
    return journal.read(
        lambda con: [r[0] for r in con.execute("SELECT seq FROM steps ORDER BY seq").fetchall()]
    ).result()


def raw_seqs(path: Path) -> list[int]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return [r[0] for r in con.execute("SELECT seq FROM steps ORDER BY seq").fetchall()]
    finally:
        con.close()


@pytest.mark.usefixtures("no_idle_apply")
def test_a_step_record_is_durable_in_the_log_and_read_back_from_duckdb(tmp_path: Path) -> None:
    path = tmp_path / "j.duckdb"
    journal = DuckDBJournal(str(path), steplog=True)
    try:
        before = journal.commits
        journal.submit([step(1)]).result()
        journal.submit([step(2), step(3)]).result()
        assert journal.commits == before + 2
        # acknowledged from the log: its records are on disk before DuckDB has the rows
        assert os.path.getsize(log_path(str(path))) > 0
        rows, _ = read_records(Path(log_path(str(path))).read_bytes())
        assert [r.values[0] for r in rows] == [1, 2, 3]
        assert rows[0].values[12] == NOW  # datetimes come back as they went in
        # a read sees every write submitted before it: the rows are applied first
        assert seqs(journal) == [1, 2, 3]
        assert os.path.getsize(log_path(str(path))) == 0
    finally:
        journal.close()
    assert not os.path.exists(log_path(str(path)))  # a clean close leaves the .duckdb alone
    assert raw_seqs(path) == [1, 2, 3]


def test_another_write_applies_the_logged_rows_first(tmp_path: Path) -> None:
    path = tmp_path / "j.duckdb"
    journal = DuckDBJournal(str(path), steplog=True)
    try:
        journal.submit([step(1)]).result()
        # an UPDATE that only matches once the logged row is in DuckDB
        journal.submit([Update("steps", "seq", 1, ("status",), ("failed",)), step(2)]).result()
        rows = journal.read(
            lambda con: con.execute("SELECT seq, status FROM steps ORDER BY seq").fetchall()
        ).result()
        assert rows == [(1, "failed"), (2, "completed")]
    finally:
        journal.close()


def test_the_writer_applies_the_log_when_idle(tmp_path: Path) -> None:
    path = tmp_path / "j.duckdb"
    journal = DuckDBJournal(str(path), steplog=True)
    try:
        journal.submit([step(1)]).result()
        deadline = dt.datetime.now() + dt.timedelta(seconds=5)
        while os.path.getsize(log_path(str(path))) and dt.datetime.now() < deadline:
            time.sleep(0.01)
        assert os.path.getsize(log_path(str(path))) == 0
        assert seqs(journal) == [1]
    finally:
        journal.close()


CHILD = textwrap.dedent(
    """
    import os, signal, sys
    sys.path.insert(0, {root!r})
    from tests.engine.test_steplog import step
    from polos_nb.engine.journal import _duckdb
    from polos_nb.engine.journal._duckdb import DuckDBJournal
    _duckdb.APPLY_IDLE_SECONDS = 60.0  # keep the rows in the log until the kill
    journal = DuckDBJournal({path!r}, steplog=True)
    journal.submit([step(1)]).result()
    journal.read(lambda con: None).result()  # step 1 applied to DuckDB
    for seq in range(2, 12):
        journal.submit([step(seq)]).result()  # acknowledged: in the log
    print("acknowledged", flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
    """
)


def _crash_child(path: Path) -> None:
    root = str(Path(__file__).resolve().parents[2])
    proc = subprocess.run(
        [sys.executable, "-c", CHILD.format(root=root, path=str(path))],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert "acknowledged" in proc.stdout


def test_rows_acknowledged_before_a_sigkill_are_in_the_journal_after_reopening(
    tmp_path: Path,
) -> None:
    path = tmp_path / "j.duckdb"
    _crash_child(path)
    assert os.path.getsize(log_path(str(path))) > 0  # the crash left rows in the log
    journal = DuckDBJournal(str(path))  # the step log off here: a crashed one is read all the same
    try:
        assert seqs(journal) == list(range(1, 12))
    finally:
        journal.close()
    assert raw_seqs(path) == list(range(1, 12))
    assert not os.path.exists(log_path(str(path)))


def test_the_step_log_is_off_unless_asked_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("POLOS_JOURNAL_STEPLOG", raising=False)
    journal = DuckDBJournal(str(tmp_path / "off.duckdb"))
    try:
        journal.submit([step(1)]).result()
        assert not os.path.exists(log_path(str(tmp_path / "off.duckdb")))
        assert journal.steplog_on is False
    finally:
        journal.close()
    assert raw_seqs(tmp_path / "off.duckdb") == [1]  # a DuckDB commit, as always
    monkeypatch.setenv("POLOS_JOURNAL_STEPLOG", "1")
    journal = DuckDBJournal(str(tmp_path / "on.duckdb"))
    try:
        assert journal.steplog_on is True
        journal.submit([step(1)]).result()
        assert os.path.exists(log_path(str(tmp_path / "on.duckdb")))
    finally:
        journal.close()
    memory = DuckDBJournal(":memory:")
    try:
        assert memory.steplog_on is False  # nothing to gain without a disk
    finally:
        memory.close()


@pytest.mark.usefixtures("no_idle_apply")
def test_reads_see_logged_rows_while_duckdb_refuses_them(tmp_path: Path) -> None:
    """A full disk: DuckDB cannot commit the logged rows. Reads still see them (in a
    transaction rolled back), other writes fail with the journal's error, and once DuckDB
    takes writes again the rows go in and nothing was lost or doubled."""
    from polos_nb.errors import JournalUnavailableError

    path = tmp_path / "j.duckdb"
    journal = DuckDBJournal(str(path), steplog=True)
    full = [False]

    def disk(event: str, n: int) -> None:
        if full[0] and event == "before_commit" and journal._pending:
            raise OSError(28, "No space left on device")

    try:
        journal.submit([step(1), step(2)]).result()
        journal.fault_hook = disk
        full[0] = True
        assert seqs(journal) == [1, 2]  # the apply failed; the read saw them all the same
        assert journal._pending  # still waiting for DuckDB
        with pytest.raises(JournalUnavailableError, match="space"):
            journal.submit([Update("steps", "seq", 1, ("status",), ("failed",))]).result()
        full[0] = False
        assert seqs(journal) == [1, 2]
        assert not journal._pending
        assert os.path.getsize(log_path(str(path))) == 0
    finally:
        journal.fault_hook = None
        journal.close()
    assert raw_seqs(path) == [1, 2]


def test_a_reader_at_rest_writes_in_a_log_left_by_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "j.duckdb"
    _crash_child(path)
    got = read_journal(
        str(path),
        lambda con: [r[0] for r in con.execute("SELECT seq FROM steps ORDER BY seq").fetchall()],
    )
    assert got == list(range(1, 12))
    assert not os.path.exists(log_path(str(path)))


def test_replaying_the_log_twice_inserts_each_row_once(tmp_path: Path) -> None:
    """A crash after an apply but before the log was emptied leaves rows DuckDB has."""
    path = tmp_path / "j.duckdb"
    journal = DuckDBJournal(str(path), steplog=True)
    journal.submit([step(1), step(2)]).result()
    journal.close()
    assert raw_seqs(path) == [1, 2]
    # the log as such a crash leaves it: rows 1-2 already applied, row 3 not
    Path(log_path(str(path))).write_bytes(encode([step(1), step(2)]) + encode([step(3)]))
    journal = DuckDBJournal(str(path), steplog=True)
    try:
        assert seqs(journal) == [1, 2, 3]
    finally:
        journal.close()


def test_a_torn_last_record_is_left_out_and_nothing_after_it_is_read(tmp_path: Path) -> None:
    """The write a crash interrupted was never acknowledged: it is dropped, whole."""
    path = tmp_path / "j.duckdb"
    DuckDBJournal(str(path), steplog=True).close()
    whole = encode([step(1)])
    torn = encode([step(2)])[:-3]
    Path(log_path(str(path))).write_bytes(whole + torn)
    journal = DuckDBJournal(str(path), steplog=True)
    try:
        assert seqs(journal) == [1]
    finally:
        journal.close()
    bad_crc = bytearray(encode([step(5)]))
    bad_crc[-2] ^= 0xFF
    rows, length = read_records(encode([step(4)]) + bytes(bad_crc) + encode([step(6)]))
    assert [r.values[0] for r in rows] == [4]
    assert length == len(encode([step(4)]))


@pytest.mark.usefixtures("no_idle_apply")
def test_a_failed_append_leaves_no_partial_record(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A write the disk refused (here: its fdatasync) fails that commit with a journal
    error, is cut back out of the log, and later commits work once the disk does."""
    from polos_nb.engine.journal import _steplog
    from polos_nb.errors import JournalUnavailableError

    path = tmp_path / "j.duckdb"
    journal = DuckDBJournal(str(path), steplog=True)
    try:
        journal.submit([step(1)]).result()
        size = os.path.getsize(log_path(str(path)))
        real = _steplog._datasync

        def failing(fd: int) -> None:
            raise OSError(5, "Input/output error")

        monkeypatch.setattr(_steplog, "_datasync", failing)
        with pytest.raises(JournalUnavailableError, match="Input/output error"):
            journal.submit([step(2)]).result()
        assert os.path.getsize(log_path(str(path))) == size  # nothing of it stays
        monkeypatch.setattr(_steplog, "_datasync", real)
        journal.submit([step(3)]).result()
        rows, length = read_records(Path(log_path(str(path))).read_bytes())
        assert [r.values[0] for r in rows] == [1, 3]
        assert length == os.path.getsize(log_path(str(path)))
        assert seqs(journal) == [1, 3]
    finally:
        journal.close()
    log = StepLog(str(tmp_path / "x.steplog"))
    try:
        with pytest.raises(TypeError):  # a value the log cannot hold: refused before writing
            log.append([Insert("steps", ("seq",), (object(),))])
        assert log.size == 0 == os.path.getsize(tmp_path / "x.steplog")
    finally:
        log.close(remove=True)


def test_other_transactions_are_duckdb_commits(tmp_path: Path) -> None:
    """Only transactions of step records alone go through the log: one with an event (or
    an execution row, an update...) is committed by DuckDB, as its outcome may depend on
    what DuckDB holds (a key taken)."""
    path = tmp_path / "j.duckdb"
    journal = DuckDBJournal(str(path), steplog=True)
    try:
        event = Insert(
            "events",
            ("seq", "topic", "topic_seq", "event_type", "data", "execution_id", "created_at"),
            (2, "t", 1, "x", None, None, NOW),
        )
        journal.submit([step(1), event]).result()
        assert os.path.getsize(log_path(str(path))) == 0
        assert seqs(journal) == [1]
        with pytest.raises(JournalError):  # the key is taken: DuckDB says so, not later
            journal.submit([step(3), event]).result()
        assert seqs(journal) == [1]
    finally:
        journal.close()


@workflow(id="steplog_counted")
async def counted(ctx: WorkflowContext, payload: dict) -> int:
    total = 0
    for i in range(payload["n"]):
        total += await ctx.step.run(f"s{i}", lambda i=i: i)
    return total


async def test_a_workflow_run_through_the_log_reads_back_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POLOS_JOURNAL_STEPLOG", "1")
    path = tmp_path / "j.duckdb"
    client = PolosClient(journal=str(path))
    try:
        assert client.runtime.journal.steplog_on  # type: ignore[attr-defined]
        assert await counted.run(client, {"n": 30}) == sum(range(30))
    finally:
        client.close()
    assert not os.path.exists(log_path(str(path)))
    con = duckdb.connect(str(path), read_only=True)
    try:
        keys = con.execute("SELECT step_key FROM steps WHERE step_key LIKE 's%'").fetchall()
    finally:
        con.close()
    assert sorted(k for (k,) in keys) == sorted(f"s{i}" for i in range(30))

"""Journal paths (issue 9, items 7 and 8): the right error for every file that is not a
usable journal, with nothing touched; and a closed journal is one self-contained file."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import duckdb
import pytest

from polos_nb import (
    JournalCorruptError,
    JournalError,
    JournalUnavailableError,
    PolosClient,
    WorkflowContext,
    workflow,
)

ROOT = Path(__file__).resolve().parents[2]


def _state(directory: Path) -> dict[str, tuple[int, str]]:
    """Every file under ``directory`` with its size and content hash."""
    out = {}
    for path in sorted(directory.rglob("*")):
        if path.is_file():
            data = path.read_bytes()
            out[str(path.relative_to(directory))] = (len(data), hashlib.sha256(data).hexdigest())
    return out


def _journal_with_runs(path: Path, runs: int = 4, steps: int = 40) -> list[str]:
    wf_id = f"files_{uuid.uuid4().hex[:8]}"

    @workflow(id=wf_id)
    async def flow(ctx: WorkflowContext) -> int:
        for i in range(steps):
            await ctx.step.run(f"s{i}", lambda: "x" * 200)
        return steps

    client = PolosClient(journal=path)
    try:
        ids = [client.invoke_sync(flow).id for _ in range(runs)]
        for eid in ids:
            assert client.wait_for_result_sync(eid, timeout=60) == steps
    finally:
        client.close()
    return ids


def _csv(p: Path) -> None:
    p.write_text("id,status\n1,completed\n2,failed\n")


def _tsv(p: Path) -> None:
    p.write_text("id\tstatus\n1\tcompleted\n")


def _json(p: Path) -> None:
    p.write_text(json.dumps([{"id": 1, "status": "completed"}]))


def _sqlite(p: Path) -> None:
    con = sqlite3.connect(p)
    con.execute("CREATE TABLE executions (id TEXT)")
    con.commit()
    con.close()


def _empty(p: Path) -> None:
    p.write_bytes(b"")


def _text(p: Path) -> None:
    p.write_text("just some notes\n")


def _truncated(cut: Callable[[int], int]) -> Callable[[Path], None]:
    def make(p: Path) -> None:
        _journal_with_runs(p)
        data = p.read_bytes()
        p.write_bytes(data[: cut(len(data))])

    return make


def _flipped(offset: Callable[[int], int]) -> Callable[[Path], None]:
    def make(p: Path) -> None:
        _journal_with_runs(p)
        data = bytearray(p.read_bytes())
        data[offset(len(data))] ^= 0xFF
        p.write_bytes(bytes(data))

    return make


NOT_JOURNALS: list[tuple[str, str, Callable[[Path], None], type[Exception], str]] = [
    ("csv", "runs.csv", _csv, JournalCorruptError, "CSV text"),
    ("csv named .duckdb", "j.duckdb", _csv, JournalCorruptError, "CSV text"),
    ("tsv", "runs.tsv", _tsv, JournalCorruptError, "TSV"),
    ("json", "runs.json", _json, JournalCorruptError, "JSON text"),
    ("sqlite", "j.sqlite", _sqlite, JournalCorruptError, "SQLite database"),
    ("sqlite named .duckdb", "j.duckdb", _sqlite, JournalCorruptError, "SQLite database"),
    ("empty file", "j.duckdb", _empty, JournalCorruptError, "empty"),
    ("plain text", "j.duckdb", _text, JournalCorruptError, "text file"),
    ("truncated to 100 bytes", "j.duckdb", _truncated(lambda n: 100), JournalCorruptError, ""),
    ("truncated to 12 KiB", "j.duckdb", _truncated(lambda n: 12288), JournalCorruptError, ""),
    ("truncated to half", "j.duckdb", _truncated(lambda n: n // 2), JournalCorruptError, ""),
    ("last block cut", "j.duckdb", _truncated(lambda n: n - 4096), JournalCorruptError, ""),
    ("header bit flipped", "j.duckdb", _flipped(lambda n: 20), JournalCorruptError, "checksum"),
    ("magic bit flipped", "j.duckdb", _flipped(lambda n: 9), JournalCorruptError, "DuckDB"),
    ("block header flipped", "j.duckdb", _flipped(lambda n: 4100), JournalCorruptError, ""),
    ("data block flipped", "j.duckdb", _flipped(lambda n: n - 100), JournalCorruptError, ""),
]


def _use(path: Path) -> None:
    """Open the journal and read everything a user can: runs, each run, its steps."""
    client = PolosClient(journal=path)
    try:
        for info in client.list_executions_sync(limit=1000):
            client.get_execution_sync(info.id)
        client.runtime.journal.read(
            lambda con: [con.execute(f"SELECT * FROM {t}").fetchall() for t in ("steps", "events")]
        ).result()
    finally:
        client.close()


@pytest.mark.parametrize(
    ("what", "name", "make", "error", "says"), NOT_JOURNALS, ids=[r[0] for r in NOT_JOURNALS]
)
def test_a_file_that_is_not_a_usable_journal_is_refused_untouched(
    tmp_path: Path,
    what: str,
    name: str,
    make: Callable[[Path], None],
    error: type[Exception],
    says: str,
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    path = home / name
    make(path)
    before = _state(home)
    with pytest.raises(JournalError) as info:
        _use(path)
    assert type(info.value) is error, f"{what}: {type(info.value).__name__}: {info.value}"
    message = str(info.value)
    assert str(path) in message and says in message, f"{what}: {message}"
    assert "move the file aside" in message  # what to do
    assert _state(home) == before, f"{what}: the file or its directory was changed"
    # Nothing was downloaded either: no DuckDB extension directory appeared for the file.
    assert "download" not in message.lower()


def test_a_directory_is_not_a_journal(tmp_path: Path) -> None:
    with pytest.raises(JournalError, match="is a directory. Give a file path"):
        PolosClient(journal=tmp_path)


_AS_NOBODY = r"""
import json, os, sys
import duckdb
from polos_nb import PolosClient, JournalError
duckdb.connect(":memory:").close()
if os.getuid() == 0:
    os.setegid(65534)
    os.seteuid(65534)
out = []
for path in sys.argv[1:]:
    try:
        PolosClient(journal=path).close()
        out.append(["opened", ""])
    except JournalError as exc:
        out.append([type(exc).__name__, str(exc)])
print(json.dumps(out))
"""


@pytest.fixture
def open_tmp() -> Iterator[Path]:
    """A temporary directory every user can reach (pytest's own is private to its owner)."""
    path = Path(tempfile.mkdtemp(prefix="polos-ro-"))
    os.chmod(path, 0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_read_only_places_say_so_and_are_left_alone(open_tmp: Path) -> None:
    """A read-only directory or file is "cannot be written", not "corrupt".

    As root, permissions do not apply, so the check runs in a child process whose
    effective user is ``nobody``; as any other user it runs as that user.
    """
    tmp_path = open_tmp
    ro_dir = tmp_path / "ro_dir"
    ro_dir.mkdir()
    existing = tmp_path / "ro_file_dir"
    existing.mkdir()
    _journal_with_runs(existing / "j.duckdb", runs=1, steps=2)
    os.chmod(existing / "j.duckdb", 0o444)
    os.chmod(existing, 0o555)
    os.chmod(ro_dir, 0o555)
    before = _state(tmp_path)
    try:
        proc = subprocess.run(
            [
                sys.executable,
                "-c",
                _AS_NOBODY,
                str(ro_dir / "new.duckdb"),
                str(ro_dir / "sub" / "new.duckdb"),
                str(existing / "j.duckdb"),
            ],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        os.chmod(ro_dir, 0o755)
        os.chmod(existing, 0o755)
        os.chmod(existing / "j.duckdb", 0o644)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads(proc.stdout.strip().splitlines()[-1])
    for kind, message in results:
        assert kind == "JournalUnavailableError", message
        assert "corrupt" not in message.lower() and "move the file aside" not in message
        assert "writable location" in message
    assert "not writable" in results[0][1]
    assert "permission denied" in results[2][1]
    assert _state(tmp_path) == before


def test_unavailable_error_is_a_journal_error() -> None:
    error = JournalUnavailableError("/x/j.duckdb", "no space is left on the device")
    assert isinstance(error, JournalError)
    assert "Free space" in str(error)


# ---------------------------------------------------------------------- item 8
def _nothing(client: PolosClient, path: Path) -> object:
    return None


def _a_query(client: PolosClient, path: Path) -> object:
    assert client.runtime.journal.query("SELECT count(*) FROM steps").result(timeout=30)
    return None


def _another_connection(client: PolosClient, path: Path) -> object:
    # DuckDB shares one database per file within a process: a connection a user opens
    # would keep it alive (unchecked) after the engine's own connection closes. The
    # journal's connection settings make DuckDB refuse such a connection now.
    try:
        return duckdb.connect(str(path))
    except duckdb.ConnectionException:
        return None


CLOSES: list[tuple[str, Callable[[PolosClient, Path], object]]] = [
    ("nothing else open", _nothing),
    ("after a user's query", _a_query),
    ("another connection in this process", _another_connection),
]


@pytest.mark.parametrize(("what", "meanwhile"), CLOSES, ids=[c[0] for c in CLOSES])
def test_a_closed_journal_is_one_self_contained_file(
    tmp_path: Path, what: str, meanwhile: Callable[[PolosClient, Path], object]
) -> None:
    path = tmp_path / "j.duckdb"
    wf_id = f"copy_{uuid.uuid4().hex[:8]}"

    @workflow(id=wf_id)
    async def flow(ctx: WorkflowContext) -> int:
        for i in range(25):
            await ctx.step.run(f"s{i}", lambda: "x" * 200)
        return 25

    client = PolosClient(journal=path)
    keep = meanwhile(client, path)
    ids = [client.invoke_sync(flow).id for _ in range(3)]
    for eid in ids:
        client.wait_for_result_sync(eid, timeout=60)
    client.close()
    try:
        wal = Path(str(path) + ".wal")
        assert not wal.exists() or wal.stat().st_size == 0, f"{what}: commits left in the .wal"
        copy_dir = tmp_path / "copy"
        copy_dir.mkdir()
        shutil.copy(path, copy_dir / "j.duckdb")  # the .duckdb file alone, as the docs say
    finally:
        if keep is not None:
            keep.close()  # type: ignore[attr-defined]
    con = duckdb.connect(str(copy_dir / "j.duckdb"), read_only=True)
    try:
        rows = con.execute(
            "SELECT id, status FROM executions WHERE parent_execution_id IS NULL"
        ).fetchall()
        steps = con.execute("SELECT count(*) FROM steps WHERE status = 'completed'").fetchone()
    finally:
        con.close()
    assert sorted(rows) == sorted((i, "completed") for i in ids), what
    assert steps == (3 * 25,), what

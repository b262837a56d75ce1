"""A hot standby on a PostgreSQL journal: a second process started with POLOS_JOURNAL_WAIT
waits while the owner lives, and when the owner is killed it takes the journal over and
finishes the owner's run (the completed step is not run again)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from polos_nb.engine.journal import open_journal
from polos_nb.errors import UserError

ROOT = Path(__file__).resolve().parents[2]


def _env(**extra: str) -> dict[str, str]:
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    # A standby waits for the single owner (POLOS_JOURNAL_SHARED=0); workers share instead.
    return {**os.environ, "PYTHONPATH": path, "POLOS_JOURNAL_SHARED": "0", **extra}


def _child(*args: str, **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.journal.conformance_child", *args],
        cwd=ROOT,
        env=_env(**env),
        stdout=subprocess.PIPE,
        text=True,
    )


def _stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.kill()
        proc.wait(timeout=30)
    if proc.stdout is not None:
        proc.stdout.close()


def test_a_standby_takes_over_a_killed_owners_runs(postgres_db: str, tmp_path: Path) -> None:
    counter, opened = tmp_path / "counter.txt", tmp_path / "opened"
    owner = _child("start", postgres_db, str(counter))
    standby = None
    try:
        assert owner.stdout is not None
        exec_id = owner.stdout.readline().strip()
        deadline = time.monotonic() + 60
        while "two" not in (counter.read_text() if counter.exists() else ""):
            assert time.monotonic() < deadline and owner.poll() is None, (
                "the owner never got to step two"
            )
            time.sleep(0.05)
        standby = _child("standby", postgres_db, exec_id, str(opened), POLOS_JOURNAL_WAIT="forever")
        assert standby.stdout is not None
        assert standby.stdout.readline().strip() == "waiting"
        time.sleep(3.0)  # longer than the grace a dying owner gets: the standby still waits
        assert not opened.exists() and standby.poll() is None
        os.kill(owner.pid, signal.SIGKILL)
        owner.wait(timeout=30)
        line = standby.stdout.readline().strip()  # the standby owns the journal and finished
        assert standby.wait(timeout=120) == 0
    finally:
        _stop(owner)
        if standby is not None:
            _stop(standby)
    assert opened.exists()
    assert json.loads(line) == {"one": 1, "two": 2, "three": 3}
    lines = counter.read_text().split()
    assert lines.count("one") == 1  # committed by the owner: not run again
    assert lines.count("two") == 2  # interrupted by the kill: run again once, by the standby
    assert lines.count("three") == 1


def test_polos_journal_wait_must_be_seconds(
    postgres_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POLOS_JOURNAL_SHARED", "0")
    monkeypatch.setenv("POLOS_JOURNAL_WAIT", "soon")
    with pytest.raises(UserError, match="POLOS_JOURNAL_WAIT"):
        open_journal(postgres_db)

"""Reading a journal another process holds: its owner answers the typed run reads.

``read_runs(path, reader, owner_timeout=...)`` on a journal that a running script owns
hands each read to that script through the journal's inbox (engine/_inbox.py). The owner
here is a real second process holding a real DuckDB journal.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from polos_nb import JournalLockedError
from polos_nb.engine import ExecutionInfo, PendingSuspension, read_runs

pytestmark = pytest.mark.timeout(180)

ROOT = Path(__file__).resolve().parents[2]
CREDENTIAL = "sk-held-journal-7f3a9c2e5b1d"

OWNER = """
import asyncio, os
from polos_nb import Polos, workflow, WorkflowContext
from polos_nb.features import events

@workflow(id="refund_request")
async def refund_request(ctx: WorkflowContext, payload: dict) -> dict:
    await ctx.step.run("look_up", lambda: {"customer": "C-9"})
    answer = await ctx.step.suspend(
        "manager_review",
        data={"amount": payload["amount"], "key": os.environ["SHOP_API_KEY"]},
    )
    return {"refunded": answer.get("data", {}).get("approved", False)}

async def main():
    async with Polos(log_file="polos.log") as polos:
        handle = await refund_request.invoke(polos, {"amount": 80})
        async for event in events.stream_workflow(polos, handle.root_workflow_id, handle.id):
            if event.event_type == "suspend_manager_review":
                break
        print("EXECUTION", handle.id, flush=True)
        await asyncio.sleep(300)

asyncio.run(main())
"""


@pytest.fixture
def owner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    journal = tmp_path / "shop.duckdb"
    script = tmp_path / "owner.py"
    script.write_text(OWNER)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "POLOS_"))}
    env.update({"POLOS_JOURNAL": str(journal), "PYTHONPATH": str(ROOT), "SHOP_API_KEY": CREDENTIAL})
    monkeypatch.delenv("SHOP_API_KEY", raising=False)  # only the owner knows it
    proc = subprocess.Popen(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    try:
        assert line.startswith("EXECUTION "), line + (proc.stderr.read() if proc.stderr else "")
        yield proc, str(journal), line.split()[1]
    finally:
        proc.kill()
        proc.wait(timeout=30)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


def test_the_owner_answers_the_typed_reads_without_credentials(
    owner: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from polos_nb.engine import _inbox

    proc, journal, run_id = owner
    replies: list[tuple[int, str]] = []
    take = _inbox._take_reply

    def watching(request: Path, reply: Path) -> dict[str, Any] | None:
        if reply.exists():
            replies.append((reply.stat().st_mode & 0o777, reply.read_text()))
        return take(request, reply)

    monkeypatch.setattr(_inbox, "_take_reply", watching)
    with pytest.raises(JournalLockedError):  # as before, without owner_timeout
        read_runs(journal, lambda reads: reads.run_counts())

    def look(reads: Any) -> Any:
        return (
            reads.owner_pid,
            reads.run_counts(),
            reads.runs(limit=5),
            reads.execution(run_id),
            reads.pending_suspensions(run_id),
            reads.run_events(run_id),
            reads.pending_counts([run_id]),
            reads.step_outputs([run_id], "look_"),
        )

    pid, counts, runs, info, pending, events, waiting, outputs = read_runs(
        journal, look, owner_timeout=10
    )
    assert pid == proc.pid
    assert counts == {"waiting": 1} and waiting == {run_id: 1}
    assert [r.id for r in runs] == [run_id] and isinstance(runs[0], ExecutionInfo)
    assert info.status == "waiting" and info.payload == {"amount": 80}
    assert info.created_at.tzinfo is not None or info.created_at.year > 2000  # a datetime
    [suspension] = pending
    assert isinstance(suspension, PendingSuspension) and suspension.key == "manager_review"
    assert suspension.data["amount"] == 80
    assert suspension.data["key"] != CREDENTIAL  # never the owner's credential
    assert outputs == [(run_id, {"customer": "C-9"})]
    types = [e.event_type for e in events]
    assert "suspend_manager_review" in types
    seqs = [e.journal_seq for e in events if e.journal_seq is not None]
    assert seqs and seqs == sorted(seqs)  # the journal order comes along

    assert len(replies) == 7  # one reply per read
    assert all(mode == 0o600 for mode, _ in replies)
    assert not any(CREDENTIAL in text for _, text in replies)
    assert proc.poll() is None
    assert not list(Path(journal + ".inbox").glob("*.json"))  # every reply was taken


def test_a_read_for_an_owner_that_died_raises_the_lock_error_at_once(tmp_path: Path) -> None:
    from polos_nb.engine._inbox import OwnerRunReader

    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait(timeout=30)
    reads = OwnerRunReader(JournalLockedError(str(tmp_path / "old.duckdb"), gone.pid), timeout=60)
    started = time.monotonic()
    with pytest.raises(JournalLockedError):
        reads.run_counts()
    assert time.monotonic() - started < 30
    assert not list((tmp_path / "old.duckdb.inbox").glob("*.json"))


def test_the_owner_answers_no_request_its_sender_gave_up(tmp_path: Path) -> None:
    from polos_nb.engine import _inbox

    folder = tmp_path / "j.duckdb.inbox"
    folder.mkdir()
    withdrawn = folder / "a.request.json"
    _inbox._answer(withdrawn, folder / "a.reply.json", {"ok": True})
    assert not (folder / "a.reply.json").exists()
    old_tmp = folder / ".b.reply.json.1.2.tmp"
    old_tmp.write_text("{")
    long_ago = time.time() - _inbox.STALE_REPLY_SECONDS - 5
    os.utime(old_tmp, (long_ago, long_ago))
    assert _inbox._requests(folder) == [] and not old_tmp.exists()

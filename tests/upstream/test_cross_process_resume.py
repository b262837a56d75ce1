"""A second process answers a suspension while the first one still runs the workflow.

Upstream's order example approves a run from a separate script
(``PolosClient(project_id=..., api_url=...).resume(...)``) while ``main.py`` keeps
polling for the result. Here the journal belongs to ``main.py``'s process, so such a
client hands its resume to that process (the journal's inbox) and waits for its answer.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from polos_nb import JournalLockedError, PolosClient, ResumeError, events

ROOT = Path(__file__).resolve().parents[2]

OWNER = """
import asyncio, sys
from polos_nb import Polos, workflow, WorkflowContext
from polos_nb.features import events

@workflow(id="refund_request")
async def refund_request(ctx: WorkflowContext, payload: dict) -> dict:
    manager = await ctx.step.suspend("manager_review", data={"amount": payload["amount"]})
    finance = await ctx.step.suspend("finance_review", data={"amount": payload["amount"]})
    return {"amount": payload["amount"],
            "refunded": manager.get("data", {}).get("approved", False),
            "note": finance.get("data", {}).get("note")}

async def main():
    async with Polos(log_file="polos.log") as polos:
        handle = await refund_request.invoke(polos, {"amount": 80})
        async for event in events.stream_workflow(polos, handle.root_workflow_id, handle.id):
            if event.event_type == "suspend_manager_review":
                break
        print("EXECUTION", handle.id, flush=True)
        while True:
            await asyncio.sleep(0.2)
            execution = await polos.get_execution(handle.id)
            if execution.get("status") in ("completed", "failed"):
                break
        print("RESULT", execution.get("status"), execution.get("result"), flush=True)

asyncio.run(main())
"""


def _start_owner(
    tmp_path: Path, journal: Path, program: str = OWNER
) -> tuple[subprocess.Popen[str], str]:
    script = tmp_path / "owner.py"
    script.write_text(program)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "POLOS_"))}
    env.update({"POLOS_JOURNAL": str(journal), "PYTHONPATH": str(ROOT)})
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
    assert line.startswith("EXECUTION "), line + (proc.stderr.read() if proc.stderr else "")
    return proc, line.split()[1]


def _stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.wait(timeout=30)
    for stream in (proc.stdout, proc.stderr):
        if stream is not None:
            stream.close()


def test_a_second_process_approves_a_running_workflow(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    journal = tmp_path / "shop.duckdb"
    proc, execution_id = _start_owner(tmp_path, journal)
    try:
        monkeypatch.delenv("POLOS_JOURNAL", raising=False)

        async def approve() -> None:
            client = PolosClient(str(journal), project_id="shop", api_url="http://localhost:8080")
            await client.resume(
                suspend_workflow_id="refund_request",
                suspend_execution_id=execution_id,
                suspend_step_key="manager_review",
                data={"approved": True},
            )
            # Answering twice is refused by the owner, and the refusal comes back here.
            with pytest.raises(ResumeError, match="answered by process"):
                await client.resume(
                    suspend_workflow_id="refund_request",
                    suspend_execution_id=execution_id,
                    suspend_step_key="manager_review",
                    data={"approved": False},
                )
            # Anything but a resume needs the journal itself.
            with pytest.raises(JournalLockedError, match=f"process {proc.pid}"):
                await client.get_execution(execution_id)
            # The second review may not be reached yet: the owner keeps an early resume.
            await client.resume(
                suspend_workflow_id="refund_request",
                suspend_execution_id=execution_id,
                suspend_step_key="finance_review",
                data={"note": "regular customer"},
            )
            client.close()

        asyncio.run(approve())
        out, err = proc.communicate(timeout=120)
    finally:
        _stop(proc)
    assert proc.returncode == 0, err
    assert "RESULT completed {'amount': 80, 'refunded': True, 'note': 'regular customer'}" in out, (
        out + err
    )
    assert not list((tmp_path / "shop.duckdb.inbox").glob("*.json"))  # nothing left behind


LISTENER = """
import asyncio
from polos_nb import Polos, workflow, WorkflowContext

@workflow(id="await_delivery")
async def await_delivery(ctx: WorkflowContext, payload: dict) -> dict:
    event = await ctx.step.wait_for_event("delivered", topic="parcels/delivered", timeout=120)
    return {"parcel": event.data["parcel"], "type": event.event_type}

async def main():
    async with Polos(log_file="polos.log") as polos:
        handle = await await_delivery.invoke(polos, {})
        print("EXECUTION", handle.id, flush=True)
        execution = await handle.get(polos)
        while execution.get("status") not in ("completed", "failed"):
            await asyncio.sleep(0.2)
            execution = await handle.get(polos)
        print("RESULT", execution.get("result"), flush=True)

asyncio.run(main())
"""


def test_a_second_process_publishes_an_event_a_running_workflow_waits_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    journal = tmp_path / "parcels.duckdb"
    proc, _ = _start_owner(tmp_path, journal, LISTENER)
    try:
        monkeypatch.delenv("POLOS_JOURNAL", raising=False)
        monkeypatch.setenv("POLOS_PROJECT_ID", "parcels")  # an upstream-style client

        async def publish() -> int:
            client = PolosClient(str(journal))
            try:
                return await events.publish(
                    client=client,
                    topic="parcels/delivered",
                    event_data=events.EventData(event_type="delivered", data={"parcel": "P-7"}),
                )
            finally:
                client.close()

        assert asyncio.run(publish()) >= 1
        out, err = proc.communicate(timeout=120)
    finally:
        _stop(proc)
    assert proc.returncode == 0, err
    assert "RESULT {'parcel': 'P-7', 'type': 'delivered'}" in out, out + err


def test_a_client_without_upstream_settings_still_refuses_a_locked_journal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    journal = tmp_path / "shop.duckdb"
    proc, _ = _start_owner(tmp_path, journal)
    try:
        monkeypatch.delenv("POLOS_PROJECT_ID", raising=False)
        monkeypatch.delenv("POLOS_API_URL", raising=False)
        with pytest.raises(JournalLockedError) as info:
            PolosClient(journal)
        assert info.value.pid == proc.pid
    finally:
        _stop(proc)


def test_a_client_takes_the_journal_over_when_its_owner_has_exited(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    journal = tmp_path / "shop.duckdb"
    proc, execution_id = _start_owner(tmp_path, journal)
    monkeypatch.delenv("POLOS_JOURNAL", raising=False)
    try:
        client = PolosClient(str(journal), project_id="shop")  # the owner still runs
        with pytest.raises(JournalLockedError):
            asyncio.run(client.get_execution(execution_id))
    finally:
        _stop(proc)  # the run waits in the journal, which is free now

    async def approve_and_look() -> str:
        await client.resume(
            suspend_workflow_id="refund_request",
            suspend_execution_id=execution_id,
            suspend_step_key="manager_review",
            data={"approved": True},
        )
        with pytest.raises(ResumeError):  # delivered once, here
            await client.resume(
                suspend_workflow_id="refund_request",
                suspend_execution_id=execution_id,
                suspend_step_key="manager_review",
                data={"approved": True},
            )
        return str((await client.get_execution(execution_id)).get("status"))

    try:
        assert asyncio.run(approve_and_look()) in ("waiting", "running", "pending", "queued")
    finally:
        client.close()


def test_a_resume_for_an_owner_that_died_raises_the_lock_error(tmp_path: Path) -> None:
    from polos_nb.engine._inbox import forward_resume

    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait(timeout=30)
    locked = JournalLockedError(str(tmp_path / "old.duckdb"), gone.pid)
    started = time.monotonic()
    with pytest.raises(JournalLockedError):
        asyncio.run(forward_resume(locked, None, "run-1", "review", {"approved": True}))
    assert time.monotonic() - started < 60  # it did not wait for the full timeout
    assert not list((tmp_path / "old.duckdb.inbox").glob("*.json"))


def test_the_owner_removes_replies_nobody_collected(tmp_path: Path) -> None:
    from polos_nb.engine import _inbox

    folder = tmp_path / "j.duckdb.inbox"
    folder.mkdir()
    old, fresh = folder / "a.reply.json", folder / "b.reply.json"
    for reply in (old, fresh):
        reply.write_text('{"ok": true}')
    long_ago = time.time() - _inbox.STALE_REPLY_SECONDS - 5
    os.utime(old, (long_ago, long_ago))
    (folder / "c.request.json").write_text("{}")
    assert [p.name for p in _inbox._requests(folder)] == ["c.request.json"]
    assert not old.exists() and fresh.exists()


def test_a_request_waiting_in_the_inbox_is_readable_by_its_user_only(tmp_path: Path) -> None:
    from polos_nb.engine._inbox import forward_resume

    folder = tmp_path / "j.duckdb.inbox"
    locked = JournalLockedError(str(tmp_path / "j.duckdb"), os.getpid())  # alive, never answers
    modes: list[int] = []

    async def scenario() -> None:
        sending = asyncio.ensure_future(
            forward_resume(locked, None, "run-1", "review", {"card": "4111"}, timeout=1.5)
        )
        while not modes and not sending.done():
            for request in folder.glob("*.request.json"):
                modes.append(request.stat().st_mode & 0o777)
            await asyncio.sleep(0.02)
        with pytest.raises(JournalLockedError):
            await sending

    asyncio.run(scenario())
    assert modes == [0o600]
    assert folder.stat().st_mode & 0o077 == 0

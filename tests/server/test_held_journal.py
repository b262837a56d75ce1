"""The approval page and a journal that a running script holds.

DuckDB lets one process open a journal file. While a script (``main.py``) runs its
workflows, the server asks that process, through the journal's inbox, for what the page
shows, and hands it the page's answers. Each test runs the script as a real second
process on a real journal under the server's root.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .helpers import fetch_error, get_json, poll, run

pytestmark = pytest.mark.timeout(240)

ROOT = Path(__file__).resolve().parents[2]
PROJECT = ROOT / "tests" / "upstream" / "projects" / "approval_page"

DEPLOY = """
import asyncio, json, time
from deploy_workflows import deploy_workflow
from polos_nb import Polos
from polos_nb.features import events

async def main():
    async with Polos(log_file="polos.log") as polos:
        handle = await deploy_workflow.invoke(
            polos, {"service": "api-gateway", "version": "2.4.0", "environment": "production"}
        )
        async for event in events.stream_workflow(polos, handle.root_workflow_id, handle.id):
            if event.event_type == "suspend_approve_deploy":
                break
        print("EXECUTION", handle.id, flush=True)
        while True:
            await asyncio.sleep(0.2)
            execution = await polos.get_execution(handle.id)
            if execution.get("status") in ("completed", "failed"):
                break
        result = execution.get("result")
        result = result.model_dump() if hasattr(result, "model_dump") else result
        print("RESULT", execution.get("status"), json.dumps(result), flush=True)
        while True:  # keeps the journal until it is stopped
            await asyncio.sleep(0.2)

asyncio.run(main())
"""

BUSY = """
import asyncio, sys, time
from deploy_workflows import deploy_workflow
from polos_nb import Polos
from polos_nb.features import events

async def hog():
    time.sleep(120)  # blocking code on the engine's event loop: nothing else runs there

async def main():
    async with Polos(log_file="polos.log") as polos:
        handle = await deploy_workflow.invoke(
            polos, {"service": "api-gateway", "version": "2.4.0", "environment": "production"}
        )
        async for event in events.stream_workflow(polos, handle.root_workflow_id, handle.id):
            if event.event_type == "suspend_approve_deploy":
                break
        print("EXECUTION", handle.id, flush=True)
        await asyncio.to_thread(sys.stdin.readline)
        polos.submit(hog())
        print("BUSY", flush=True)
        await asyncio.sleep(300)

asyncio.run(main())
"""


HOLDER = """
import sys, time
import duckdb

con = duckdb.connect(sys.argv[1])  # holds the journal, as a duckdb shell would
print("EXECUTION -", flush=True)
time.sleep(300)
"""


def _start(program: str, journal: Path, cwd: Path, *args: str) -> tuple[subprocess.Popen[str], str]:
    script = cwd / "main.py"
    script.write_text(program)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "POLOS_"))}
    env.update(
        {"POLOS_JOURNAL": str(journal), "PYTHONPATH": os.pathsep.join([str(ROOT), str(PROJECT)])}
    )
    proc = subprocess.Popen(
        [sys.executable, str(script), *args],
        cwd=cwd,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("EXECUTION "):
        proc.kill()
        raise AssertionError(line + (proc.stderr.read() if proc.stderr else ""))
    return proc, line.split()[1]


def _stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.wait(timeout=30)
    for stream in (proc.stdin, proc.stdout, proc.stderr):
        if stream is not None:
            stream.close()


@pytest.fixture
def script_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "script"
    folder.mkdir()
    return folder


@pytest.fixture
def deploys(
    jp_root_dir: Path, script_dir: Path
) -> Iterator[tuple[subprocess.Popen[str], str, Path]]:
    """main.py, running: its deployment waits for approval in a journal it holds."""
    journal = jp_root_dir / "deploys" / ".polos" / "deploys.duckdb"
    journal.parent.mkdir(parents=True)
    proc, run_id = _start(DEPLOY, journal, script_dir)
    try:
        yield proc, run_id, journal
    finally:
        _stop(proc)


def test_the_page_shows_and_answers_a_run_a_running_script_holds(
    deploys: tuple[subprocess.Popen[str], str, Path],
    jp_fetch: Any,
    jp_asyncio_loop: Any,
    hub: Any,
) -> None:
    proc, run_id, journal = deploys

    async def scenario() -> None:
        async def waiting() -> Any:
            state = await get_json(jp_fetch, "polos", "api", "state")
            return state if state["approvals"] else None

        state = await poll(waiting, timeout=60, what="the held run's approval")
        [source] = state["sources"]
        assert source["kind"] == "journal" and source["journal"] == "deploys/.polos/deploys.duckdb"
        assert source["status"] == "ok" and source["held_by"] == proc.pid, source
        assert source["counts"] == {"waiting": 1}
        [approval] = state["approvals"]
        assert approval["root_execution_id"] == run_id and approval["key"] == "approve_deploy"

        # the sidebar's reads go through the script too
        page = await get_json(jp_fetch, "polos", "api", "runs", source=source["id"])
        assert [(r["id"], r["status"], r["pending"]) for r in page["runs"]] == [
            (run_id, "waiting", 1)
        ]
        detail = await get_json(jp_fetch, "polos", "api", "run", source=source["id"], id=run_id)
        assert detail["status"] == "waiting" and detail["input"]["service"] == "api-gateway"

        # the page renders the form the script's run waits with
        html = (await jp_fetch("polos", "approve", run_id, "approve_deploy")).body.decode()
        assert "Deploy api-gateway v2.4.0" in html and "production" in html
        assert 'name="approver"' in html and 'name="reason"' in html
        assert 'value="approve"' in html and 'name="approved"' not in html

        # a wrong answer is checked here, against that form: nothing reaches the script
        status, body = await fetch_error(
            jp_fetch,
            "polos",
            "api",
            "answer",
            method="POST",
            body=json.dumps(
                {"execution_id": run_id, "key": "approve_deploy", "decision": "approve"}
            ),
        )
        assert status == 400 and "approver" in body["errors"], body

        form = urllib.parse.urlencode(
            {"approver": "Ada", "reason": "ship it", "decision": "approve"}
        )
        response = await jp_fetch(
            "polos", "approve", run_id, "approve_deploy", method="POST", body=form
        )
        assert "Answered" in response.body.decode()

        # the same form posted again is refused, whatever the page knew when it was sent
        status, text = await fetch_error(
            jp_fetch, "polos", "approve", run_id, "approve_deploy", method="POST", body=form
        )
        assert status in (404, 409) and "answered already" in str(text), (status, text)

    run(jp_asyncio_loop, scenario())
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.startswith("RESULT completed "), line
    result = json.loads(line.split(" ", 2)[2])
    assert result["approved_by"] == "Ada" and result["reason"] == "ship it"
    assert result["status"] == "deployed"

    async def again() -> None:
        # the script still holds the journal: it refuses a second answer itself
        source_id = f"journal:{journal}"
        status, body = await fetch_error(
            jp_fetch,
            "polos",
            "api",
            "answer",
            method="POST",
            body=json.dumps(
                {
                    "execution_id": run_id,
                    "key": "approve_deploy",
                    "decision": "reject",
                    "data": {"approver": "Eve"},
                    "source": source_id,
                }
            ),
        )
        assert status == 409 and "answered already" in body["message"], body
        assert f"process {proc.pid}" in body["message"]

        async def gone() -> Any:
            state = await get_json(jp_fetch, "polos", "api", "state")
            [source] = state["sources"]
            return (
                state if not state["approvals"] and source["counts"] == {"completed": 1} else None
            )

        await poll(gone, timeout=60, what="the answered run to leave the inbox")

    run(jp_asyncio_loop, again())
    assert proc.poll() is None  # the script ran on throughout
    inbox = Path(str(journal) + ".inbox")
    assert not [p.name for p in inbox.iterdir()], "requests or replies left behind"
    assert inbox.stat().st_mode & 0o077 == 0


def _waiting_deployment(journal: Path) -> str:
    """A deployment waiting for approval in ``journal``, which no process has open after."""
    import importlib.util
    import time

    from polos_nb import PolosClient
    from polos_nb.engine import unregister_workflow

    spec = importlib.util.spec_from_file_location("held_deploys", PROJECT / "deploy_workflows.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    payload = {"service": "api-gateway", "version": "2.4.0", "environment": "production"}
    client = PolosClient(journal=journal)
    try:
        handle = client.runtime.call(module.deploy_workflow.invoke(client, payload))
        for _ in range(400):
            if client.runtime.call(client.get_execution(handle.id)).status == "waiting":
                break
            time.sleep(0.05)
    finally:
        client.close()
        unregister_workflow("deploy_with_approval")
    return str(handle.id)


def test_a_process_that_does_not_answer_leaves_its_journal_locked(
    jp_root_dir: Path,
    script_dir: Path,
    jp_fetch: Any,
    jp_asyncio_loop: Any,
    hub: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from polos_nb.server import _journals

    monkeypatch.setattr(_journals, "OWNER_TIMEOUT", 1.0, raising=False)
    journal = jp_root_dir / "held" / ".polos" / "held.duckdb"
    journal.parent.mkdir(parents=True)
    run_id = _waiting_deployment(journal)
    proc, _ = _start(HOLDER, journal, script_dir, str(journal))
    try:

        async def scenario() -> None:
            async def locked() -> Any:
                state = await get_json(jp_fetch, "polos", "api", "state")
                sources = [s for s in state["sources"] if s["status"] == "locked"]
                return (state, sources[0]) if sources else None

            state, source = await poll(locked, timeout=60, what="the journal to show as locked")
            assert f"process {proc.pid}" in source["error"], source
            assert "did not answer within 1 s" in source["error"], source
            assert state["approvals"] == [] and source["held_by"] is None

            status, html = await fetch_error(jp_fetch, "polos", "approve", run_id, "approve_deploy")
            assert status == 404 and "did not answer within 1 s" in html, html

        run(jp_asyncio_loop, scenario())
    finally:
        _stop(proc)
    inbox = Path(str(journal) + ".inbox")
    assert not list(inbox.glob("*.json"))  # the unanswered requests were withdrawn


def test_an_answer_a_busy_script_does_not_take_is_not_lost(
    jp_root_dir: Path,
    script_dir: Path,
    jp_fetch: Any,
    jp_asyncio_loop: Any,
    hub: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from polos_nb.server import _journals

    monkeypatch.setattr(_journals, "OWNER_TIMEOUT", 1.0, raising=False)
    journal = jp_root_dir / "busy" / ".polos" / "busy.duckdb"
    journal.parent.mkdir(parents=True)
    proc, run_id = _start(BUSY, journal, script_dir)
    form = urllib.parse.urlencode({"approver": "Ada", "reason": "ok", "decision": "approve"})
    try:

        async def shown() -> None:
            async def waiting() -> Any:
                state = await get_json(jp_fetch, "polos", "api", "state")
                return state if state["approvals"] else None

            await poll(waiting, timeout=60, what="the held run's approval")

        run(jp_asyncio_loop, shown())
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
        assert proc.stdout.readline().startswith("BUSY")  # its event loop is blocked now

        async def refused() -> None:
            status, html = await fetch_error(
                jp_fetch, "polos", "approve", run_id, "approve_deploy", method="POST", body=form
            )
            assert status == 409, (status, html)
            assert "did not answer within 1 s" in html and "Nothing was delivered" in html

        run(jp_asyncio_loop, refused())
    finally:
        _stop(proc)

    async def answered_at_rest() -> None:
        # the script has gone: the same answer is delivered into the journal, once
        response = await jp_fetch(
            "polos", "approve", run_id, "approve_deploy", method="POST", body=form
        )
        assert "Answered" in response.body.decode()

    run(jp_asyncio_loop, answered_at_rest())

"""Upstream-style programs (tests/upstream/projects/*/main.py) run unchanged apart from the
import: as scripts (``python main.py``) and pasted into a notebook cell of a real kernel.

This is the proof for every gap at once: each main.py is written the way upstream
Polos's examples are (``async with Polos(log_file=...)``, ``asyncio.run(main())``,
``resume_data.get("data", {})``, ``event.data["tool_call"]["function"]["name"]`` …).
"""

from __future__ import annotations

import os
import queue
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROJECTS = Path(__file__).resolve().parent / "projects"

# project -> (stdin lines, substrings the output must contain, in order)
SCRIPTS: dict[str, tuple[list[str], list[str]]] = {
    "weather": (
        [],
        ["Invoking weather_agent...", "It's 72°F and partly cloudy in New York.", "Steps: 2"],
    ),
    "streaming": (
        [],
        [
            "Topic: workflow/storyteller/",
            "Once upon a time, a small robot found a brush.",
            "[Tool Called: look_up]",
            "Snow on the high peaks",
            "[Agent completed]",
            "Final text: Reading builds vocabulary, sharpens focus, and lowers stress.",
        ],
    ),
    "suspend_resume": (
        ["REQ-9", "250", "maybe", "y", "boss@example.com", "fine by me"],
        [
            "Request REQ-9: $250.00",
            "Please enter 'y' or 'n'",
            "Resume event published!",
            "Status: approved",
            "Approved: True",
            "Approver: boss@example.com",
            "Comments: fine by me",
        ],
    ),
    "approvals": (
        ["Ada and Bob", "y", "n", "Bob is away"],
        [
            "[Using ask_user...]",
            "Agent Question: Who should get the report?",
            '"send_email" tool',
            'Input: {"to": "ada@example.com", "subject": "Report"}',
            "/polos/approve/",
            'Input: {"to": "bob@example.com", "subject": "Report"}',
            "Final status: completed",
            "Answer: Sent the report to Ada. Bob's email was not approved.",
            '["completed", "completed", "failed"]',
        ],
    ),
    "hooks": (
        [],
        [
            "[hook] Agent started - workflow: logged_agent",
            "[hook] Tool completed: calculate",
            "[hook] Agent completed - steps: 2, tools: ['calculate']",
            "Result: 42 * 17 = 714.",
            "Error: ",
            "Empty prompt not allowed",
            "Result: Write to me at [EMAIL REDACTED] any time.",
        ],
    ),
    "scheduled": (
        [],
        [
            "user-alice: 0 8 * * * (America/New_York) -> created True",
            "user-bob: 0 9 * * * (Europe/London) -> created True",
            "Timestamp: 2026-03-02T03:00:00+00:00",
            "Records cleaned: 42",
        ],
    ),
    "refunds": (
        [],
        [
            "T-1: done, notified=True",
            "Waiting for a supervisor: rf_T-2",
            "Status: completed",
            "T-2: done, reviewed=True, notified=True, refund=rf_T-2",
        ],
    ),
    "chat": (
        ["convert 10 EUR", "count one two three", "what did I ask?", "quit"],
        [
            '[Using to_usd...] Done: {"usd":10.8,"rate":1.08}',
            '[Using word_count...] Done: {"words": 3}',
            'You said before: ["convert 10 EUR", "count one two three"]',
            'Streamed plan: {"goal":"tea","steps":["boil water","steep 3 minutes"],',
            "Plan steps: ['boil water', 'steep 3 minutes'] (Plan)",
        ],
    ),
    "pipelines": (
        [],
        [
            "Graded: 2, average: 6.0",
            "Failed: ['empty essay']",
            "Uploads: ['uploaded ada on attempt 2']",
            "Skipped: ['broken: StepExecutionError']",
            "Ack: {'topic': 'grades/ack/ada', 'seen': {'student': 'ada', 'mark': 9}}",
            "Digest of 3 comments: ['great', 'needs sources', 'late']",
        ],
    ),
    "blog": (
        [],
        [
            "[AGENT FINISH] grammar_reviewer: \"Grammar: fix 'its' -> 'it's'.\"",
            '[WORKFLOW FINISH] word_count: {"words": 9}',
            "[AGENT FINISH] final_editor:",
            '[WORKFLOW FINISH] blog_review: {"final_text": "Taking short breaks keeps you sharp.',
        ],
    ),
}


def _copy(project: str, tmp_path: Path) -> Path:
    target = tmp_path / project
    shutil.copytree(PROJECTS / project, target)
    return target


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "JPY_"))}
    env.update(
        {
            "POLOS_JOURNAL": str(tmp_path / "journal.duckdb"),
            "LITELLM_LOCAL_MODEL_COST_MAP": "True",
            "POLOS_NB_ALLOW_MODEL_REQUESTS": "0",
            "PYTHONPATH": str(ROOT),
        }
    )
    return env


def _in_order(text: str, expected: list[str]) -> None:
    position = 0
    for piece in expected:
        found = text.find(piece, position)
        assert found >= 0, f"{piece!r} not found (in order) in:\n{text}"
        position = found + len(piece)


# Run by test_projects_sandbox_and_channels.py (Docker, a second process, Slack's side).
OTHER_PROJECTS = [
    "approval_page",
    "exec_security",
    "local_sandbox",
    "sandbox_tools",
    "session_sandbox",
    "slack_channel",
]


def test_every_project_is_upstream_style() -> None:
    projects = sorted([*SCRIPTS, *OTHER_PROJECTS])
    assert projects == sorted(p.name for p in PROJECTS.iterdir() if p.is_dir())
    for project in projects:
        main = (PROJECTS / project / "main.py").read_text()
        assert main.rstrip().endswith('if __name__ == "__main__":\n    asyncio.run(main())')
        if project == "slack_channel":  # upstream's example 23 serves until Ctrl+C
            assert 'log_file="polos.log",' in main and "await polos.serve()" in main
        else:
            assert 'async with Polos(log_file="polos.log") as polos:' in main
        assert "polos_nb.testing" not in main  # scripted models live in the agent modules


@pytest.mark.parametrize("project", sorted(SCRIPTS))
def test_main_py_runs_as_a_script(project: str, tmp_path: Path) -> None:
    stdin, expected = SCRIPTS[project]
    cwd = _copy(project, tmp_path)
    proc = subprocess.run(
        [sys.executable, "main.py"],
        cwd=cwd,
        env=_env(tmp_path),
        input="".join(line + "\n" for line in stdin),
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    _in_order(proc.stdout, expected)
    assert "Polos started" in (cwd / "polos.log").read_text()


# ---------------------------------------------------------------------- in a notebook cell
@pytest.fixture
def kernel(tmp_path: Path) -> Iterator[object]:
    from tests.notebook.kernel_harness import Kernel

    k = Kernel(tmp_path, {"POLOS_JOURNAL": str(tmp_path / "kernel.duckdb")})
    try:
        yield k
    finally:
        k.close()


def _run_with_input(k: object, code: str, answers: list[str], timeout: float = 240) -> str:
    """Run a cell that calls input(); answer each prompt in order; return its output text."""
    kc = k.kc  # type: ignore[attr-defined]
    msg_id = kc.execute(code, allow_stdin=True)
    pending = list(answers)
    deadline = time.monotonic() + timeout
    while pending and time.monotonic() < deadline:
        try:
            msg = kc.get_stdin_msg(timeout=1)
        except queue.Empty:
            continue
        if msg["msg_type"] == "input_request":
            kc.input(pending.pop(0))
    assert not pending, f"the cell asked for fewer inputs than {answers}"
    reply, outputs = k.wait(msg_id, timeout=max(1.0, deadline - time.monotonic()))  # type: ignore[attr-defined]
    text = k.text(outputs)  # type: ignore[attr-defined]
    assert reply["status"] == "ok", text
    return text


@pytest.mark.kernel
@pytest.mark.timeout(600)
def test_main_py_pasted_into_notebook_cells(kernel: object, tmp_path: Path) -> None:
    k = kernel
    # 1. The first cell imports polos_nb itself and ends with asyncio.run(main()): it runs
    #    nested on the kernel's loop (nothing of polos_nb was loaded when it was parsed).
    weather = _copy("weather", tmp_path)
    k.run(f"import os; os.chdir({str(weather)!r}); import sys; sys.path.insert(0, '')")  # type: ignore[attr-defined]
    out = k.text(k.run((weather / "main.py").read_text(), timeout=240))  # type: ignore[attr-defined]
    _in_order(out, SCRIPTS["weather"][1])
    # 2. Now polos_nb is loaded: a pasted main.py is rewritten to await main() on the
    #    kernel's loop. Interactive prompts (input()) work in both ways.
    approvals = _copy("approvals", tmp_path)
    k.run(f"os.chdir({str(approvals)!r})")  # type: ignore[attr-defined]
    text = _run_with_input(k, (approvals / "main.py").read_text(), SCRIPTS["approvals"][0])
    _in_order(text, SCRIPTS["approvals"][1])


@pytest.mark.kernel
@pytest.mark.timeout(600)
def test_widgets_stay_clickable_while_asyncio_run_waits(kernel: object) -> None:
    k = kernel
    k.run(  # type: ignore[attr-defined]
        """
import polos_nb
from polos_nb import workflow, WorkflowContext
from polos_nb.notebook import start

@workflow(id="review_order")
async def review_order(ctx: WorkflowContext, payload: dict) -> dict:
    d = await ctx.step.suspend("review", data={"_form": {"title": "Ship?", "fields": [
        {"key": "approved", "type": "boolean", "label": "Ship"}]}})
    return {"order": payload["order"], "approved": d.data["approved"]}

run = start("review_order", {"order": 7})
"""
    )
    k.poll("len(run.state.pending)", 1)  # type: ignore[attr-defined]
    comm_id = k.value("run.widget().model_id")  # type: ignore[attr-defined]
    waiting = k.send(  # type: ignore[attr-defined]
        """
import asyncio
from polos_nb import Polos

async def main():
    async with Polos(log_file="polos.log") as polos:
        execution = await polos.get_execution(run.id)
        while execution.get("status") not in ("completed", "failed"):
            await asyncio.sleep(0.1)
            execution = await polos.get_execution(run.id)
        print("RESULT", execution.get("result"))

if __name__ == "__main__":
    asyncio.run(main())
"""
    )
    time.sleep(1.0)  # the cell is waiting inside asyncio.run(main()) when the click arrives
    k.click(  # type: ignore[attr-defined]
        comm_id,
        {"kind": "submit", "key": "review", "decision": "submit", "data": {"approved": True}},
    )
    reply, outputs = k.wait(waiting, timeout=120)  # type: ignore[attr-defined]
    text = k.text(outputs)  # type: ignore[attr-defined]
    assert reply["status"] == "ok", text
    assert "RESULT {'order': 7, 'approved': True}" in text

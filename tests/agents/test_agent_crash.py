"""Crash an agent mid-run with SIGKILL, resume it in a new process: no LLM call and no
tool call is repeated, and the final answer is the same (D1, D19, D21).

Each test runs ``tests/agents/crash_agent_child.py`` in real subprocesses; a killed child
must report return code -9, so no test can pass without the crash really happening.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import duckdb
import pytest

ROOT = Path(__file__).resolve().parents[2]
KILLED = -signal.SIGKILL
EXPECTED = "final: a1 | b2"

pytestmark = pytest.mark.slow


def launch(
    mode: str, args: dict[str, Any], counter: Path, crash: str = ""
) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "AGENT_CRASH_COUNTER": str(counter),
        "AGENT_CRASH_POINT": crash,
        "POLOS_NB_ALLOW_MODEL_REQUESTS": "0",
    }
    return subprocess.run(
        [sys.executable, "-m", "tests.agents.crash_agent_child", mode, json.dumps(args)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def lines(proc: subprocess.CompletedProcess[str]) -> list[dict[str, Any]]:
    return [json.loads(x) for x in proc.stdout.splitlines() if x.startswith("{")]


def counted(counter: Path) -> list[str]:
    return counter.read_text().splitlines() if counter.exists() else []


def committed_steps(journal: Path, execution_id: str) -> list[str]:
    con = duckdb.connect(str(journal), read_only=True)
    try:
        rows = con.execute(
            "SELECT step_key FROM steps WHERE execution_id = ? AND status = 'completed' ORDER BY seq",
            [execution_id],
        ).fetchall()
    finally:
        con.close()
    return [r[0] for r in rows]


def test_reference_run_without_crash(tmp_path: Path) -> None:
    counter = tmp_path / "count.txt"
    proc = launch("start", {"journal": str(tmp_path / "j.duckdb"), "prompt": "go"}, counter)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert lines(proc)[-1] == {"result": EXPECTED, "llm_calls": 2}
    assert counted(counter) == ["llm 1", "tool a 1", "tool b 2", "llm 4"]


@pytest.mark.parametrize(
    ("crash", "steps_at_crash", "counted_at_crash"),
    [
        ("after_llm", ["llm:1"], ["llm 1"]),
        ("after_one_tool", ["llm:1", "tool:1:c1:tool_a"], ["llm 1", "tool a 1"]),
    ],
)
def test_crash_mid_run_then_resume(
    tmp_path: Path, crash: str, steps_at_crash: list[str], counted_at_crash: list[str]
) -> None:
    journal, counter = tmp_path / "j.duckdb", tmp_path / "count.txt"
    first = launch("start", {"journal": str(journal), "prompt": "go"}, counter, crash=crash)
    assert first.returncode == KILLED, first.stderr[-3000:]
    run_id = lines(first)[0]["id"]
    assert committed_steps(journal, run_id) == steps_at_crash
    assert counted(counter) == counted_at_crash

    second = launch("recover", {"journal": str(journal), "id": run_id}, counter)
    assert second.returncode == 0, second.stderr[-3000:]
    assert lines(second)[-1] == {"result": EXPECTED, "tools": ["a1", "b2"]}
    # Every LLM call and every tool side effect happened exactly once across both processes.
    assert sorted(counted(counter)) == sorted(["llm 1", "tool a 1", "tool b 2", "llm 4"])
    assert committed_steps(journal, run_id) == [
        "llm:1",
        "tool:1:c1:tool_a",
        "tool:1:c2:tool_b",
        "llm:2",
    ]


def test_crash_while_waiting_for_ask_user(tmp_path: Path) -> None:
    journal, counter = tmp_path / "j.duckdb", tmp_path / "count.txt"
    first = launch(
        "start", {"journal": str(journal), "prompt": "trip", "die_when_waiting": True}, counter
    )
    assert first.returncode == KILLED, first.stderr[-3000:]
    run_id = lines(first)[0]["id"]
    assert counted(counter) == ["llm 1"]

    resume = {"key": "ask_user:1:q1", "data": {"response": "Lisbon"}}
    second = launch("recover", {"journal": str(journal), "id": run_id, "resume": resume}, counter)
    assert second.returncode == 0, second.stderr[-3000:]
    assert lines(second)[-1] == {
        "result": 'final: {"response": "Lisbon"}',
        "tools": [{"response": "Lisbon"}],
    }
    assert counted(counter) == ["llm 1", "llm 3"]

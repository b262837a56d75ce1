"""Sandbox lifecycle across processes: idle sandboxes are swept; a crashed process's
containers are reaped and its workspaces kept; an agent killed (SIGKILL) while an approval
is pending resumes in a new process, and every command runs exactly once."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from polos_nb import DockerEnvironmentConfig, SandboxToolsConfig, sandbox_tools
from polos_nb.sandbox import get_sandbox_manager, parse_duration

from .conftest import ROOT, Ctx, by_id, call, our_containers

KILLED = -signal.SIGKILL


def launch(mode: str, args: dict[str, Any], workspaces: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "POLOS_WORKSPACES_DIR": str(workspaces),
        "POLOS_NB_ALLOW_MODEL_REQUESTS": "0",
    }
    return subprocess.run(
        [sys.executable, "-m", "tests.sandbox.sandbox_child", mode, json.dumps(args)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def lines(proc: subprocess.CompletedProcess[str]) -> list[dict[str, Any]]:
    return [json.loads(x) for x in proc.stdout.splitlines() if x.startswith("{")]


def test_durations() -> None:
    assert parse_duration("90s") == 90 and parse_duration("30m") == 1800
    assert parse_duration("1h") == 3600 and parse_duration("3d") == 3 * 86400
    assert parse_duration("2.5") == 2.5
    from polos_nb.errors import UserError

    with pytest.raises(UserError, match="30m"):
        parse_duration("soon")


def test_idle_sandboxes_are_swept_and_come_back_with_their_files(
    docker_ready: str, workspaces: Path, no_leaks: None
) -> None:
    tools = by_id(
        sandbox_tools(
            SandboxToolsConfig(
                env="docker",
                idle_destroy_timeout="1s",
                docker=DockerEnvironmentConfig(image=docker_ready),
            )
        )
    )
    ctx = Ctx("idle-run")
    manager = get_sandbox_manager()

    async def go() -> None:
        await call(tools["exec"], ctx, command="echo kept > note.txt")
        sandbox = next(s for s in manager.sandboxes() if s.scope_key == "run-idle-run")
        name = sandbox._env.container_name  # type: ignore[union-attr]
        assert any(c.name == name for c in our_containers())
        assert manager.sweep() == []  # not idle yet
        await asyncio.sleep(1.3)
        assert manager.sweep() == [sandbox.id]
        assert not any(c.name == name for c in our_containers())
        out = await call(tools["exec"], ctx, command="cat note.txt")  # recreated lazily
        assert out["stdout"] == "kept\n"
        manager.root_finished("idle-run")

    asyncio.run(go())


def test_a_killed_process_leaves_no_container_and_keeps_its_workspace(
    docker_ready: str, workspaces: Path, no_leaks: None
) -> None:
    proc = launch("orphan", {}, workspaces)
    assert proc.returncode == KILLED, proc.stderr[-3000:]
    info = lines(proc)[0]
    assert any(c.name == info["container"] for c in our_containers())  # left behind
    # Containers of live processes are not touched; the dead one's is removed.
    tools = by_id(
        sandbox_tools(
            SandboxToolsConfig(env="docker", docker=DockerEnvironmentConfig(image=docker_ready))
        )
    )
    asyncio.run(call(tools["exec"], Ctx("alive-run"), command="true"))
    removed = get_sandbox_manager().reap_orphans()
    assert info["container"] in removed
    assert not any(c.name == info["container"] for c in our_containers())
    assert Path(info["workspace"], "kept.txt").read_text() == "kept"
    assert any("alive-run" in c.name for c in our_containers())
    get_sandbox_manager().root_finished("alive-run")


def test_crash_with_an_approval_pending_then_answer_after_restart(
    docker_ready: str, tmp_path: Path, workspaces: Path
) -> None:
    journal = tmp_path / "j.duckdb"
    first = launch("start", {"journal": str(journal)}, workspaces)
    assert first.returncode == KILLED, first.stderr[-3000:]
    out = lines(first)
    run_id = out[0]["id"]
    assert out[1]["pending"]  # it died waiting for the approval of "python3 step.py b"
    workspace = next(workspaces.glob(f"*/run-{run_id}"))
    assert (workspace / "count.txt").read_text() == "a\n"

    second = launch("recover", {"journal": str(journal), "id": run_id}, workspaces)
    assert second.returncode == 0, second.stderr[-3000:]
    result = lines(second)[-1]
    assert result["answered"] == ["python3 step.py b", "cat count.txt"]
    assert result["outputs"]["a"]["stdout"] == "ran a\n"
    assert result["outputs"]["b"]["stdout"] == "ran b\n"
    assert result["outputs"]["c"]["stdout"] == "a\nb\n"
    assert result["result"] == "finished"
    # Each command ran exactly once across both processes (its side effect counts it).
    assert (workspace / "count.txt").read_text() == "a\nb\n"
    # The dead process's container was reaped; the new one went with its run.
    deadline = time.monotonic() + 30
    while [c for c in our_containers() if run_id in c.name]:
        assert time.monotonic() < deadline, [c.name for c in our_containers()]
        time.sleep(0.05)

"""Upstream-style programs with sandboxes, approval pages and Slack (upstream examples 18,
19, 21, 22, 23, 24), each ``main.py`` run unchanged as a script.

Beyond what the script prints, each test checks what really happened: the files the
agent wrote in its workspace (a host directory under ``$POLOS_WORKSPACES_DIR``), that a
command approved once ran once, that an answer given from outside reached the run, that
Slack (a loopback fake, reached through ``$SLACK_API_URL``) got the messages.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.upstream.test_projects import _copy, _env, _in_order

DOCKER_IMAGE = "polos-nb-sandbox:py3"


def _docker_host() -> str | None:
    if os.environ.get("DOCKER_HOST"):
        return os.environ["DOCKER_HOST"]
    for env_file in (
        Path(__file__).resolve().parents[2] / ".cache" / "docker.env",
        Path("/tmp/polos_nb-docker/env"),
    ):
        if env_file.exists():
            for line in env_file.read_text().splitlines():
                if line.startswith("DOCKER_HOST="):
                    return line.split("=", 1)[1].strip()
    return None


@pytest.fixture(scope="module")
def docker_host() -> str:
    """The engine scripts/setup_docker.sh starts; skipped without it (failed in CI)."""
    host = _docker_host()
    problem = None
    try:
        import docker

        if not host:
            problem = "no Docker engine: run `bash scripts/setup_docker.sh`"
        else:
            client = docker.DockerClient(base_url=host, timeout=20)
            try:
                client.images.get(DOCKER_IMAGE)
            finally:
                client.close()
    except Exception as exc:
        problem = f"the Docker engine at {host} cannot run {DOCKER_IMAGE}: {exc}"
    if problem:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the Docker tests, but {problem}", pytrace=False)
        pytest.skip(problem)
    assert host is not None
    return host


def _run(
    project: str, tmp_path: Path, stdin: tuple[str, ...] | list[str] = (), **env: str
) -> tuple[str, Path, Path]:
    """Run the project's main.py; returns its output, its directory and the workspaces."""
    cwd = _copy(project, tmp_path)
    workspaces = tmp_path / "workspaces"
    proc = subprocess.run(
        [sys.executable, "main.py"],
        cwd=cwd,
        env={
            **_env(tmp_path),
            "POLOS_WORKSPACES_DIR": str(workspaces),
            "POLOS_SANDBOX_PULL": "0",
            **env,
        },
        input="".join(line + "\n" for line in stdin),
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Polos started" in (cwd / "polos.log").read_text()
    return proc.stdout, cwd, workspaces


def _workspace(workspaces: Path) -> Path:
    """The one workspace the run used."""
    (workspace,) = [p for p in workspaces.glob("sandbox-*/*") if p.is_dir()]
    return workspace


def test_18_sandbox_tools_write_and_run_code_in_a_container(
    docker_host: str, tmp_path: Path
) -> None:
    out, _, workspaces = _run("sandbox_tools", tmp_path, DOCKER_HOST=docker_host)
    _in_order(
        out,
        [
            "Invoking coding agent...",
            "[Using write...]",
            "[Using exec...]",
            "[Using write...]",
            "[Using exec...]",
            "[Using glob...]",
            "the first 10 Fibonacci numbers are 0 1 1 2 3 5 8 13 21 34.",
            '"stdout": "Hello from the sandbox!\\n"',
            '"stdout": "0 1 1 2 3 5 8 13 21 34\\n"',
            '"/workspace/fibonacci.py"',
        ],
    )
    workspace = _workspace(workspaces)
    assert workspace.name.startswith("run-")  # scope "execution": one per run
    assert (workspace / "hello.py").read_text() == 'print("Hello from the sandbox!")\n'
    assert (workspace / "fibonacci.py").exists()


def test_19_exec_security_asks_outside_the_allowlist(docker_host: str, tmp_path: Path) -> None:
    answers = ["n", "no network in here: colour it with ANSI codes", "1", "y"]
    out, _, workspaces = _run("exec_security", tmp_path, answers, DOCKER_HOST=docker_host)
    _in_order(
        out,
        [
            "[Using write...]",
            "[Using exec...]",  # python3 greet.py Ada: allowlisted, no question
            "[Using exec...]",
            "COMMAND APPROVAL REQUIRED",
            "Command:     pip install colorama",
            "Directory:   /workspace",
            "Environment: docker",
            "-> Rejected.",
            "[Using ask_user...]",
            "Pick a colour",
            "1. Green",
            "[Using edit...]",
            "[Using exec...]",
            "Command:     python3 greet.py Ada > greeting.txt",  # a redirection: not simple
            "-> Approved.",
            "[Using exec...]",  # cat greeting.txt: allowlisted
            "Agent Completed",
            '"stderr": "Command rejected by user: pip install colorama\\nUser feedback: '
            'no network in here: colour it with ANSI codes"',
        ],
    )
    assert out.count("COMMAND APPROVAL REQUIRED") == 2
    # the approved command ran once, in the container
    greeting = (_workspace(workspaces) / "greeting.txt").read_text()
    assert greeting == "\x1b[32mHello, Ada!\x1b[0m\n"
    assert '"colour": "32"' in out  # the ask_user answer reached the model


def test_21_local_sandbox_asks_before_every_command_and_write(tmp_path: Path) -> None:
    answers = ["y", "y", "n", "name it fib.py", "y", "y"]
    out, _, workspaces = _run("local_sandbox", tmp_path, answers)
    _in_order(
        out,
        [
            "WRITE APPROVAL REQUIRED",
            "Path: hello.py",
            'Content:\nprint("Hello from the local sandbox!")',
            "-> Approved.",
            "COMMAND APPROVAL REQUIRED",
            "Command:   python3 hello.py",
            f"Directory: {workspaces}",
            "-> Approved.",
            "WRITE APPROVAL REQUIRED",
            "Path: fibonacci.py",
            "-> Rejected.",
            "Path: fib.py",
            "-> Approved.",
            "Command:   python3 fib.py",
            "-> Approved.",
            "[Using read...]",
            "Agent Completed",
            '"stdout": "Hello from the local sandbox!\\n"',
            "The user rejected this write of fibonacci.py. User feedback: name it fib.py",
            '"stdout": "0 1 1 2 3 5 8 13 21 34 \\n"',
            # outside the workspace: refused, not asked (a difference from upstream)
            "SandboxPathError: Refused: '/etc/hostname' is outside",
        ],
    )
    assert "PATH OUTSIDE WORKSPACE" not in out
    workspace = _workspace(workspaces)
    assert sorted(p.name for p in workspace.iterdir()) == ["fib.py", "hello.py"]


def test_24_session_sandbox_is_shared_by_two_runs(docker_host: str, tmp_path: Path) -> None:
    out, _, workspaces = _run("session_sandbox", tmp_path, DOCKER_HOST=docker_host)
    _in_order(
        out,
        [
            "Run 1: create math_utils and test it",
            "[Using exec...]",
            '"stdout": "All tests passed!\\n"',
            "Run 2: extend math_utils (same sandbox)",
            "[Using exec...]",
            # run 2 lists what run 1 wrote
            '"stdout": "__pycache__\\nmath_utils.py\\ntest_math.py\\n"',
            '"stdout": "All tests passed!\\n"',
        ],
    )
    workspace = _workspace(workspaces)  # one workspace for both runs: the session's
    assert workspace.name.startswith("session-")
    assert "def subtract(a, b):" in (workspace / "math_utils.py").read_text()
    assert "assert subtract(9, 4) == 5" in (workspace / "test_math.py").read_text()


def test_22_approval_page_link_and_an_answer_from_another_process(tmp_path: Path) -> None:
    """main.py prints the approval page's link and waits; the answer comes from another
    process (what the page's Submit delivers): the run owned by main.py goes on with it.

    The page itself (served by the Jupyter server extension) is exercised with this
    project's workflow in tests/server/test_server_extension.py: it cannot read a journal
    a running script holds.
    """
    cwd = _copy("approval_page", tmp_path)
    env = {**_env(tmp_path), "POLOS_APPROVAL_BASE_URL": "http://localhost:8080"}
    main = subprocess.Popen(
        [sys.executable, "main.py"],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert main.stdout is not None
        lines: list[str] = []
        while not any("Open this URL" in line for line in lines):
            line = main.stdout.readline()
            assert line, "".join(lines) + main.stderr.read()  # type: ignore[union-attr]
            lines.append(line)
        execution_id = next(line.split()[-1] for line in lines if line.startswith("Execution ID:"))
        assert (
            f"Open this URL in your browser: http://localhost:8080/polos/approve/"
            f"{execution_id}/approve_deploy\n"
        ) in lines[-1]
        answer = subprocess.run(
            [sys.executable, "answer_deploy.py", execution_id, "Ada", "ship it"],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert answer.returncode == 0, answer.stdout + answer.stderr
        out, err = main.communicate(timeout=120)
    finally:
        if main.poll() is None:
            main.kill()
            main.communicate()
    assert main.returncode == 0, out + err
    _in_order(
        "".join(lines) + out,
        [
            "Waiting for approval of Deploy api-gateway v2.4.0",
            "Workflow completed!",
            "Service:     api-gateway",
            "Status:      deployed",
            "Approved by: Ada",
            "Reason:      ship it",
        ],
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_23_slack_channel_a_mention_runs_the_agent_and_its_approval_is_a_button(
    tmp_path: Path,
) -> None:
    """main.py only serves (``await polos.serve()``); Slack, played by signed requests to
    the request URLs ``serve()`` opens on the worker port, mentions the bot and clicks
    Approve; the Slack Web API is a loopback fake reached through ``$SLACK_API_URL``."""
    from tests.channels.fakes import BOT_TOKEN, SIGNING_SECRET, FakeSlack
    from tests.channels.test_slack_requests import SlackSide, buttons

    cwd = _copy("slack_channel", tmp_path)
    port = _free_port()
    with FakeSlack() as slack:
        env = {
            **_env(tmp_path),
            "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_API_URL": slack.api_url,
            "SLACK_CHANNEL": "#general",
            "POLOS_WORKER_PORT": str(port),
            "PYTHONFAULTHANDLER": "1",
        }
        main = subprocess.Popen(
            [sys.executable, "main.py"],
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            # Ctrl+C as from a terminal: a suite started in the background (`cmd &` in a
            # script) ignores SIGINT, and its children inherit that, so main.py would never
            # see the Ctrl+C below (Python keeps an inherited SIG_IGN).
            preexec_fn=_sigint_as_from_a_terminal,
        )
        side = SlackSide(f"http://127.0.0.1:{port}", slack)
        try:
            text = "<@U0BOT> @slack-assistant Send an email to alice@example.com about Q1"
            deadline = time.monotonic() + 120
            while True:  # until serve() listens (a refused connection reaches nothing)
                assert main.poll() is None, main.communicate()
                try:
                    answer = await side.mention(text, event_id="Ev23", ts="1700000300.000300")
                    break
                except httpx.ConnectError:
                    assert time.monotonic() < deadline, "main.py never served Slack's URLs"
                    await asyncio.sleep(0.2)
            # 503: not started within Slack's three seconds (a loaded machine); the start
            # goes on, and Slack would retry (harmlessly)
            assert answer.status_code in (200, 503), answer.text
            approval = await slack.until(
                lambda: [c for c in slack.of("chat.postMessage") if c.body.get("blocks")],
                timeout=120,
                what="the approval message",
            )
            (call,) = approval
            # in the thread of the mention, with the tool's input and the buttons
            assert call.body["channel"] == "C0TEAM"
            assert call.body["thread_ts"] == "1700000300.000300"
            assert call.body["blocks"][0]["text"]["text"] == "Approve tool: send_email"
            assert "alice@example.com" in json.dumps(call.body["blocks"])
            assert (await side.click(buttons(call)["polos_approve"])).status_code == 200
            await slack.until(
                lambda: any(
                    c.body.get("text") == "Sent the Q1 report to alice@example.com."
                    for c in slack.of("chat.postMessage")
                ),
                timeout=120,
                what="the agent's answer in the thread",
            )
            thread = [
                c.body["text"]
                for c in slack.of("chat.postMessage")
                if c.body.get("thread_ts") == "1700000300.000300" and not c.body.get("blocks")
            ]
            assert thread == [
                "🔧 Calling tool: `send_email`",
                "Sent the Q1 report to alice@example.com.",
            ]
            # Ctrl+C ends serve(), which stops Polos
            main.send_signal(signal.SIGINT)
            try:
                out, err = main.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                main.send_signal(signal.SIGABRT)  # faulthandler prints every thread's stack
                out, err = main.communicate(timeout=30)
                raise AssertionError(f"main.py did not stop after Ctrl+C:\n{err[-6000:]}") from None
        finally:
            await side.http.aclose()
            if main.poll() is None:
                main.kill()
                main.communicate()
    _in_order(out, ["Starting Slack Channel Example...", "Agent: slack-assistant"])
    assert "KeyboardInterrupt" in err  # as upstream's script: asyncio.run re-raises it
    log = (cwd / "polos.log").read_text()
    _in_order(log, ["Polos started", "serving its request URLs at", "Polos stopped"])
    # the token never reaches the log
    assert BOT_TOKEN not in log and SIGNING_SECRET not in log


def _sigint_as_from_a_terminal() -> None:
    """In a child before it runs: SIGINT back to its default action (see its caller)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)

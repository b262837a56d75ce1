"""Agents with sandbox tools, end to end on real runs: code written, edited and run in
Docker; approvals that show the command or the diff; approve once, approve always for a
pattern, reject with feedback the model reads; several sandboxes side by side; the
session and execution scopes."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest

from polos_nb import (
    Agent,
    DockerEnvironmentConfig,
    ExecToolConfig,
    LocalEnvironmentConfig,
    PolosClient,
    SandboxToolsConfig,
    sandbox_tools,
)
from polos_nb.sandbox import get_sandbox_manager
from polos_nb.testing import FakeToolCall, ScriptedModel

from .conftest import our_containers
from .helpers import next_approval, tool_messages, uid


def _docker_tools(image: str, **exec_options: object) -> list:
    return sandbox_tools(
        SandboxToolsConfig(
            env="docker",
            docker=DockerEnvironmentConfig(image=image, memory="256m"),
            exec=ExecToolConfig(**exec_options),  # type: ignore[arg-type]
        )
    )


async def _wait_gone(name: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while any(c.name == name for c in our_containers()):
        assert time.monotonic() < deadline, f"container {name} still there"
        await asyncio.sleep(0.05)


async def test_coding_agent_in_docker_with_allowlist_and_approvals(
    client: PolosClient, docker_ready: str, workspaces: Path, no_leaks: None
) -> None:
    tools = _docker_tools(docker_ready, security="allowlist", allowlist=["python3 *"])
    model = ScriptedModel(
        uid("coder"),
        [
            FakeToolCall("write", {"path": "app.py", "content": "print('v1')\n"}, id="w1"),
            FakeToolCall("exec", {"command": "python3 app.py"}, id="x1"),  # allowlisted
            FakeToolCall("exec", {"command": "python3 app.py > out.txt"}, id="x2"),  # redirect
            FakeToolCall("exec", {"command": "ls -la"}, id="x3"),  # not on the list
            FakeToolCall("exec", {"command": "ls -l"}, id="x4"),  # remembered pattern
            FakeToolCall("edit", {"path": "app.py", "old_text": "v1", "new_text": "v2"}, id="e1"),
            FakeToolCall("exec", {"command": "python3 app.py"}, id="x5"),
            "All done.",
        ],
    )
    agent = Agent(id=uid("coder"), provider="fake", model=model, tools=tools)
    handle = await agent.invoke(client, "Write app.py and run it")

    redirect = await next_approval(client, handle.id)
    form = redirect.data["_form"]
    assert redirect.data["_source"] == "exec_security" and redirect.data["_tool"] == "exec"
    assert form["context"]["command"] == "python3 app.py > out.txt"
    assert "'>' redirects output" in form["context"]["reason"]
    assert form["context"]["input"]["command"] == "python3 app.py > out.txt"
    redirect.reject("Print to stdout instead of writing a file.")

    listing = await next_approval(client, handle.id)
    assert listing.data["_form"]["context"]["command"] == "ls -la"
    assert "matches no allowlist pattern" in listing.data["_form"]["context"]["reason"]
    listing.approve({"approved": True, "allow_always": True, "pattern": "ls *"})

    result = await client.wait_for_result(handle.id, timeout=120)
    outs = {r.tool_call_id: r for r in result.tool_results}
    assert outs["x1"].result["stdout"] == "v1\n"
    rejected = outs["x2"].result
    assert rejected["exit_code"] == -1
    assert "User feedback: Print to stdout instead" in rejected["stderr"]
    assert "app.py" in outs["x3"].result["stdout"]
    assert "app.py" in outs["x4"].result["stdout"]  # ran without asking
    assert outs["e1"].result["replacements"] == 1 and "+print('v2')" in outs["e1"].result["diff"]
    assert outs["x5"].result["stdout"] == "v2\n"
    # The model saw the rejection and its feedback as the tool result.
    seen = [json.loads(m) for m in tool_messages(model) if m.startswith("{")]
    assert any("Print to stdout instead" in s.get("stderr", "") for s in seen)
    # Only two approvals were asked (x4 matched the remembered pattern).
    assert (await client.get_execution(handle.id)).status == "completed"
    sandbox_dir = next(workspaces.glob(f"*/run-{handle.id}"))
    assert (sandbox_dir / "app.py").read_text() == "print('v2')\n"
    assert not (sandbox_dir / "out.txt").exists()
    # Execution scope: the container goes when the run ends; the workspace stays.
    for c in our_containers():
        assert handle.id not in c.name
    assert not [s for s in get_sandbox_manager().sandboxes() if handle.id in s.scope_key]


async def test_two_sandboxes_with_different_configs_coexist(
    client: PolosClient, docker_ready: str, workspaces: Path, tmp_path: Path, no_leaks: None
) -> None:
    in_docker = sandbox_tools(
        SandboxToolsConfig(
            env="docker",
            docker=DockerEnvironmentConfig(image=docker_ready, env={"WHERE": "container"}),
        )
    )
    host_dir = tmp_path / "host"
    host_dir.mkdir()
    on_host = sandbox_tools(
        SandboxToolsConfig(
            env="local",
            local=LocalEnvironmentConfig(cwd=str(host_dir)),
            exec=ExecToolConfig(security="allow-always", timeout=30),
            file_approval="none",
        )
    )
    assert [t.id for t in in_docker] == [t.id for t in on_host]  # same names, separate tools

    def script(name: str) -> ScriptedModel:
        return ScriptedModel(
            uid(name),
            [
                FakeToolCall("write", {"path": "who.txt", "content": name}, id="w"),
                FakeToolCall("exec", {"command": 'echo "${WHERE:-host}"; pwd'}, id="x"),
                "ok",
            ],
        )

    a = Agent(id=uid("in-docker"), provider="fake", model=script("docker"), tools=in_docker)
    b = Agent(id=uid("on-host"), provider="fake", model=script("local"), tools=on_host)
    ra, rb = await asyncio.gather(a.run(client, "go"), b.run(client, "go"))
    xa = next(r for r in ra.tool_results if r.tool_name == "exec").result
    xb = next(r for r in rb.tool_results if r.tool_name == "exec").result
    assert xa["stdout"] == "container\n/workspace\n"
    assert xb["stdout"] == f"host\n{host_dir}\n"
    assert (host_dir / "who.txt").read_text() == "local"
    assert (next(workspaces.glob(f"*/run-{ra.agent_run_id}")) / "who.txt").read_text() == "docker"


async def test_session_scope_keeps_one_sandbox_across_runs(
    client: PolosClient, docker_ready: str, workspaces: Path
) -> None:
    tools = sandbox_tools(
        SandboxToolsConfig(
            env="docker", scope="session", docker=DockerEnvironmentConfig(image=docker_ready)
        )
    )
    model = ScriptedModel(
        uid("session"),
        [
            FakeToolCall("exec", {"command": "echo one > notes.txt; cat /etc/hostname"}, id="a"),
            "first",
            FakeToolCall("exec", {"command": "cat notes.txt; cat /etc/hostname"}, id="b"),
            "second",
        ],
    )
    agent = Agent(id=uid("session"), provider="fake", model=model, tools=tools)
    first = await agent.run(client, "one", session_id="s-42")
    second = await agent.run(client, "two", session_id="s-42")
    host1 = first.tool_results[0].result["stdout"].strip()
    out2 = second.tool_results[0].result["stdout"].split()
    assert out2 == ["one", host1]  # same files, same container
    sandbox = next(s for s in get_sandbox_manager().sandboxes() if s.scope_key == "session-s-42")
    assert sandbox.initialized
    assert (workspaces / sandbox.name / "session-s-42" / "notes.txt").read_text() == "one\n"
    sandbox.destroy_sync()


async def test_local_defaults_ask_before_commands_and_file_changes(
    client: PolosClient, tmp_path: Path
) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "main.py").write_text("x = 1\n")
    tools = sandbox_tools(
        SandboxToolsConfig(env="local", local=LocalEnvironmentConfig(cwd=str(ws)))
    )
    model = ScriptedModel(
        uid("local"),
        [
            FakeToolCall(
                "edit", {"path": "main.py", "old_text": "x = 1", "new_text": "x = 2"}, id="e"
            ),
            FakeToolCall("write", {"path": "new.py", "content": "print(1)\n"}, id="w"),
            FakeToolCall("exec", {"command": "cat main.py"}, id="x"),
            FakeToolCall("read", {"path": "main.py"}, id="r"),  # reads need no approval
            "done",
        ],
    )
    agent = Agent(id=uid("local"), provider="fake", model=model, tools=tools)
    handle = await agent.invoke(client, "go")

    edit = await next_approval(client, handle.id)
    assert edit.data["_tool"] == "edit"
    assert "-x = 1\n+x = 2" in edit.data["_form"]["context"]["diff"]
    assert "```diff" in edit.data["_form"]["description"]
    assert (ws / "main.py").read_text() == "x = 1\n"  # nothing written before the answer
    edit.approve()

    write = await next_approval(client, handle.id)
    assert "+print(1)" in write.data["_form"]["context"]["diff"]
    # upstream's context.input: the tool's arguments, a write's content included
    assert write.data["_form"]["context"]["input"] == {"path": "new.py", "content": "print(1)\n"}
    write.reject("Do not create new files.")

    command = await next_approval(client, handle.id)
    assert command.data["_form"]["context"]["command"] == "cat main.py"
    assert command.data["_form"]["context"]["reason"] == "every command needs approval"
    command.approve()

    result = await client.wait_for_result(handle.id, timeout=60)
    outs = {r.tool_call_id: r for r in result.tool_results}
    assert (ws / "main.py").read_text() == "x = 2\n"
    assert not (ws / "new.py").exists()
    assert (
        outs["w"].status == "failed"
        and "User feedback: Do not create new files." in outs["w"].error
    )
    assert outs["x"].result["stdout"] == "x = 2\n"
    assert outs["r"].result["content"] == "x = 2"


async def test_an_unreachable_image_is_a_clear_error(
    client: PolosClient, docker_ready: str, workspaces: Path
) -> None:
    tools = sandbox_tools(
        SandboxToolsConfig(
            env="docker", docker=DockerEnvironmentConfig(image="polos-nb-no-such-image:1")
        )
    )
    model = ScriptedModel(uid("noimg"), [FakeToolCall("exec", {"command": "ls"}, id="x"), "ok"])
    agent = Agent(id=uid("noimg"), provider="fake", model=model, tools=tools)
    result = await agent.run(client, "go")
    error = result.tool_results[0].error
    assert "SandboxError" in error and "polos-nb-no-such-image:1" in error
    assert "setup_docker.sh" in error


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (
            SandboxToolsConfig(env="local", exec=ExecToolConfig(security="allowlist")),
            "allowlist=[...]",
        ),
        (
            SandboxToolsConfig(
                env="local", exec=ExecToolConfig(security="allowlist", allowlist=["ls 'x"])
            ),
            "cannot be read",
        ),
    ],
)
def test_bad_configurations_are_refused_up_front(config: SandboxToolsConfig, message: str) -> None:
    from polos_nb.errors import UserError

    with pytest.raises(UserError, match=message.replace("[", r"\[").replace("]", r"\]")):
        sandbox_tools(config)


def test_unknown_config_fields_raise() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="memroy"):
        DockerEnvironmentConfig(image="x", memroy="1g")  # type: ignore[call-arg]

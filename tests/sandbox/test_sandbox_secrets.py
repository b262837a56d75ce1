"""Credentials given to a sandbox are never journaled (issue 9, item 5).

A token set in the container's environment (``DockerEnvironmentConfig(env=...)``) is what
a coding agent's commands can print; the journal then holds ``[redacted]`` where the
command's output held the token.
"""

from __future__ import annotations

import uuid
from pathlib import Path

from polos_nb import (
    Agent,
    DockerEnvironmentConfig,
    E2BEnvironmentConfig,
    ExecOptions,
    PolosClient,
    SandboxToolsConfig,
    _serde,
    sandbox_tools,
)
from polos_nb.testing import FakeToolCall, ScriptedModel
from tests.engine.helpers import rows
from tests.hardening.test_secrets import new_key, scan_journal

from .helpers import uid


async def test_a_token_in_the_container_environment_is_not_journaled(
    tmp_path: Path, docker_ready: str, workspaces: Path, no_leaks: None
) -> None:
    key = new_key("ghp")
    tools = sandbox_tools(
        SandboxToolsConfig(
            env="docker",
            docker=DockerEnvironmentConfig(
                image=docker_ready, memory="256m", env={"GITHUB_TOKEN": key}
            ),
        )
    )
    model = ScriptedModel(
        uid("printenv"),
        [FakeToolCall("exec", {"command": 'echo "token=$GITHUB_TOKEN"'}, id="p1"), "Done."],
    )
    path = tmp_path / "j.duckdb"
    client = PolosClient(journal=path)
    try:
        agent = Agent(id=uid("printenv"), provider="fake", model=model, tools=tools)
        result = await agent.run(client, "Show the token", timeout=120)
        assert result.result == "Done."
        [outcome] = result.tool_results
        assert outcome.status == "completed", outcome
        stored = await rows(
            client,
            "SELECT output FROM steps WHERE execution_id = ? AND output LIKE '%stdout%'",
            [result.agent_run_id],
        )
        # The command did print it: its output is journaled with the token cut out.
        assert any("[redacted]" in row[0] for row in stored), stored
    finally:
        client.close()
    assert scan_journal(path, key) == []


def test_sandbox_configurations_register_their_credentials() -> None:
    e2b_key = new_key("e2b")
    env_token = new_key("tok")
    exec_password = new_key("pw")
    E2BEnvironmentConfig(api_key=e2b_key, env={"HOME": "/home/user-" + uuid.uuid4().hex})
    DockerEnvironmentConfig(image="img", env={"DEPLOY_TOKEN": env_token})
    ExecOptions(env={"DB_PASSWORD": exec_password})
    text = _serde.dumps(f"{e2b_key} {env_token} {exec_password}")
    assert text == '"[redacted] [redacted] [redacted]"'
    # A plain environment entry is not a credential.
    plain = "/home/user-" + uuid.uuid4().hex
    DockerEnvironmentConfig(image="img", env={"HOME": plain})
    assert plain in _serde.dumps(plain + "!")

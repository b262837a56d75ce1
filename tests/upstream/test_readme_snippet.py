"""Upstream Polos's README shows a coding agent built on a Docker sandbox; with ``polos``
changed to ``polos_nb`` in its import, that code builds the same agent here."""

from __future__ import annotations


def test_the_readme_coding_agent_builds() -> None:
    from polos_nb import Agent, DockerConfig, SandboxToolsConfig, sandbox_tools

    sandbox = sandbox_tools(
        SandboxToolsConfig(
            env="docker",
            docker=DockerConfig(image="node:20-slim", memory="2g"),
        )
    )
    coding_agent = Agent(
        id="coding_agent",
        provider="anthropic",
        model="claude-sonnet-4-5",
        system_prompt="You are a coding agent.",
        tools=sandbox,
    )
    names = sorted(t.id for t in coding_agent.tools)
    assert names == ["edit", "exec", "glob", "grep", "read", "write"]
    docker = sandbox[0].sandbox.config.docker  # the tools share one sandbox and its config
    assert isinstance(docker, DockerConfig)
    assert (docker.image, docker.memory) == ("node:20-slim", "2g")

"""The sandbox's configuration and result types, with upstream Polos's names and fields.

Fields marked *(polos_nb)* are additions; everything else is upstream's contract.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from polos_nb import _secrets

__all__ = [
    "DockerConfig",
    "DockerEnvironmentConfig",
    "E2BEnvironmentConfig",
    "EnvironmentInfo",
    "ExecOptions",
    "ExecResult",
    "ExecToolConfig",
    "GlobOptions",
    "GrepMatch",
    "GrepOptions",
    "LocalEnvironmentConfig",
    "SandboxScope",
    "SandboxToolsConfig",
]

_STRICT = ConfigDict(extra="forbid")


class _KeepsCredentials(BaseModel):
    """A configuration whose credential-named fields and ``env`` entries (``GITHUB_TOKEN``,
    ``api_key``...) are registered as credentials: a command that prints them, or an error
    that echoes them, is journaled and displayed with ``[redacted]`` instead."""

    @model_validator(mode="after")
    def _register_credentials(self) -> Any:
        _secrets.register_kwargs(dict(self))
        _secrets.register_kwargs(getattr(self, "env", None) or {})
        return self


SandboxScope = Literal["execution", "session"]
"""``"execution"``: one sandbox per root run, removed when it ends; ``"session"``: one per session."""


class ExecOptions(_KeepsCredentials):
    """Options of one command run by :meth:`ExecutionEnvironment.exec`."""

    model_config = _STRICT

    cwd: str | None = Field(default=None, description="Working directory for the command")
    env: dict[str, str] | None = Field(default=None, description="Environment variables to set")
    timeout: int | None = Field(default=None, description="Timeout in seconds (default: 300)")
    stdin: str | None = Field(default=None, description="Data to pipe to stdin")


class ExecResult(BaseModel):
    """What a command did: exit code, output (ANSI codes stripped, long output truncated)."""

    exit_code: int = Field(description="Process exit code (0 = success)")
    stdout: str = Field(description="Standard output")
    stderr: str = Field(description="Standard error")
    duration_ms: int = Field(description="Execution duration in milliseconds")
    truncated: bool = Field(description="Whether output was truncated due to size limits")


class GlobOptions(BaseModel):
    """Options of a file search by pattern."""

    model_config = _STRICT

    cwd: str | None = Field(default=None, description="Working directory for the search")
    ignore: list[str] | None = Field(default=None, description="Glob patterns to exclude")


class GrepOptions(BaseModel):
    """Options of a content search."""

    model_config = _STRICT

    cwd: str | None = Field(default=None, description="Working directory for the search")
    include: list[str] | None = Field(
        default=None, description='File glob patterns to include (e.g., "*.py")'
    )
    max_results: int | None = Field(default=None, description="Maximum number of matches to return")
    context_lines: int | None = Field(
        default=None, description="Number of context lines around each match"
    )


class GrepMatch(BaseModel):
    """One line that matched a content search."""

    path: str = Field(description="File path")
    line: int = Field(description="Line number of the match (1-based)")
    text: str = Field(description="The matching line text")
    context: str | None = Field(default=None, description="Context lines around the match")


class EnvironmentInfo(BaseModel):
    """What kind of environment a sandbox is, and where its commands start."""

    type: Literal["local", "docker", "e2b"] = Field(description="Environment type")
    cwd: str = Field(description="Current working directory")
    sandbox_id: str | None = Field(default=None, description="Container id (Docker)")
    os: str | None = Field(default=None, description="Operating system info")


class DockerEnvironmentConfig(_KeepsCredentials):
    """A Docker container: the image, the host directory mounted as its workspace, limits.

    The container has no network unless ``network`` names one (``"bridge"``, ``"host"``).
    ``memory``, ``cpus`` and ``pids_limit`` bound what commands can use; a fork bomb hits
    ``pids_limit`` and stays inside the container.
    """

    model_config = _STRICT

    image: str = Field(description='Docker image to use (e.g., "python:3.12-slim")')
    workspace_dir: str | None = Field(
        default=None,
        description="Host directory to mount as workspace (auto-managed when omitted)",
    )
    container_workdir: str | None = Field(
        default=None, description='Working directory inside the container (default: "/workspace")'
    )
    env: dict[str, str] | None = Field(
        default=None, description="Environment variables to set in the container"
    )
    memory: str | None = Field(
        default=None, description='Memory limit (e.g., "512m", "2g"; default "1g", no swap)'
    )
    cpus: str | None = Field(default=None, description='CPU limit (e.g., "1", "0.5"; default "1")')
    network: str | None = Field(default=None, description='Network mode (default: "none")')
    setup_command: str | None = Field(
        default=None,
        description='Command to run after container creation (e.g., "pip install -e .")',
    )
    pids_limit: int | None = Field(
        default=None,
        description="(polos_nb) Most processes at once in the container (default 256)",
    )


DockerConfig = DockerEnvironmentConfig
"""Another name of :class:`DockerEnvironmentConfig`, as upstream Polos's README spells it
(``SandboxToolsConfig(env="docker", docker=DockerConfig(image=..., memory="2g"))``)."""


class E2BEnvironmentConfig(_KeepsCredentials):
    """Upstream's E2B cloud sandbox: accepted for compatibility, not implemented (as upstream)."""

    model_config = _STRICT

    template: str | None = None
    api_key: str | None = None
    timeout: int | None = None
    cwd: str | None = None
    env: dict[str, str] | None = None
    setup_command: str | None = None


class LocalEnvironmentConfig(BaseModel):
    """Commands and files on this machine, in ``cwd``; file tools confined to ``path_restriction``.

    ``path_restriction`` defaults to ``cwd``; ``False`` lifts it. Paths are resolved
    (symbolic links included) before the check, so a link cannot lead outside.
    """

    model_config = _STRICT

    cwd: str | None = Field(
        default=None, description="Working directory (default: auto-provisioned workspace)"
    )
    path_restriction: str | Literal[False] | None = Field(
        default=None,
        description=(
            "Restrict file operations to this directory (default: cwd). "
            "Set to False to explicitly disable path restriction."
        ),
    )


class ExecToolConfig(BaseModel):
    """The exec tool's security mode, allowlist, timeout and output limit.

    ``security``: ``"allow-always"`` runs every command; ``"allowlist"`` runs a command
    without asking only when it is one simple command matching a pattern of ``allowlist``
    (``"ls"``, ``"python3 *"``: ``*`` matches anything); ``"approval-always"`` asks a
    human before every command. Default: ``"allow-always"`` in Docker,
    ``"approval-always"`` on the host.
    """

    model_config = _STRICT

    security: Literal["allow-always", "allowlist", "approval-always"] | None = Field(
        default=None,
        description="Security mode: allow-always, allowlist, or always require approval",
    )
    allowlist: list[str] | None = Field(
        default=None, description="Allowed command patterns (for allowlist mode)"
    )
    timeout: int | None = Field(
        default=None, description="Default command timeout in seconds (default: 300)"
    )
    max_output_chars: int | None = Field(
        default=None,
        description="Maximum output characters before truncation (default: 100000)",
    )


class SandboxToolsConfig(BaseModel):
    """Everything :func:`sandbox_tools` needs: which environment, its lifetime, the tools' rules.

    ``file_approval``: ``"always"`` asks a human (showing the diff) before every write and
    edit, ``"none"`` never asks. Default: ``"always"`` for ``env="local"`` (as upstream's
    documentation says), ``"none"`` for Docker.
    """

    model_config = _STRICT

    env: Literal["local", "docker", "e2b"] | None = Field(
        default=None, description='Environment type (default: "docker")'
    )
    scope: SandboxScope | None = Field(
        default=None,
        description='Sandbox lifecycle scope (default: "execution"). '
        '"session" reuses the sandbox across executions sharing the same session_id.',
    )
    id: str | None = Field(
        default=None,
        description="Sandbox name (default: derived from this configuration); names the workspace",
    )
    idle_destroy_timeout: str | None = Field(
        default=None,
        description='Idle time before the sandbox is removed (default: "1h"); "90s", "30m", "1h", "3d"',
    )
    cwd: str | None = Field(default=None, description="Working directory override")
    tools: list[Literal["exec", "read", "write", "edit", "glob", "grep"]] | None = Field(
        default=None, description="Subset of tools to include (default: all)"
    )
    docker: DockerEnvironmentConfig | None = Field(
        default=None, description="Docker environment configuration"
    )
    e2b: E2BEnvironmentConfig | None = Field(
        default=None, description="E2B environment configuration"
    )
    local: LocalEnvironmentConfig | None = Field(
        default=None, description="Local environment configuration"
    )
    exec: ExecToolConfig | None = Field(default=None, description="Exec tool configuration")
    file_approval: Literal["always", "none"] | None = Field(
        default=None,
        description="Approval mode for file-mutating tools (write, edit). "
        "Defaults to 'always' for the local env, 'none' for Docker.",
    )

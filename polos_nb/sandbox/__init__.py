"""Sandbox tools: exec, read, write, edit, glob and grep in a Docker container or on the host.

```python
from polos_nb import Agent, sandbox_tools, SandboxToolsConfig, DockerEnvironmentConfig

tools = sandbox_tools(SandboxToolsConfig(
    env="docker", docker=DockerEnvironmentConfig(image="polos-nb-sandbox:py3")))
agent = Agent(id="coder", provider="openai", model="gpt-4o-mini", tools=tools)
```

This package imports the tools layer and the foundation only; approvals are raised as
``ApprovalRequired`` and the agent layer turns them into durable suspensions. Only
:mod:`polos_nb.sandbox._docker` imports the ``docker`` SDK (the ``sandbox`` extra), and
only when a Docker sandbox is used. See docs/sandbox.md.
"""

from typing import Any

from ._environment import ExecutionEnvironment
from ._local import LocalEnvironment
from ._output import is_binary, parse_grep_output, strip_ansi, truncate_output
from ._sandbox import (
    ManagedSandbox,
    SandboxManager,
    get_sandbox_manager,
    parse_duration,
    workspaces_dir,
)
from ._security import (
    assert_safe_path,
    evaluate_allowlist,
    is_within_restriction,
    parse_simple_command,
)
from ._tools import (
    create_edit_tool,
    create_exec_tool,
    create_glob_tool,
    create_grep_tool,
    create_read_tool,
    create_write_tool,
    sandbox_tools,
)
from ._types import (
    DockerConfig,
    DockerEnvironmentConfig,
    E2BEnvironmentConfig,
    EnvironmentInfo,
    ExecOptions,
    ExecResult,
    ExecToolConfig,
    GlobOptions,
    GrepMatch,
    GrepOptions,
    LocalEnvironmentConfig,
    SandboxScope,
    SandboxToolsConfig,
)

__all__ = [
    "DockerConfig",
    "DockerEnvironment",
    "DockerEnvironmentConfig",
    "E2BEnvironmentConfig",
    "EnvironmentInfo",
    "ExecOptions",
    "ExecResult",
    "ExecToolConfig",
    "ExecutionEnvironment",
    "GlobOptions",
    "GrepMatch",
    "GrepOptions",
    "LocalEnvironment",
    "LocalEnvironmentConfig",
    "ManagedSandbox",
    "SandboxManager",
    "SandboxScope",
    "SandboxToolsConfig",
    "assert_safe_path",
    "create_edit_tool",
    "create_exec_tool",
    "create_glob_tool",
    "create_grep_tool",
    "create_read_tool",
    "create_write_tool",
    "evaluate_allowlist",
    "get_sandbox_manager",
    "is_binary",
    "is_within_restriction",
    "parse_duration",
    "parse_grep_output",
    "parse_simple_command",
    "sandbox_tools",
    "strip_ansi",
    "truncate_output",
    "workspaces_dir",
]


def __getattr__(name: str) -> Any:
    # DockerEnvironment needs the docker SDK: import it only when asked for.
    if name == "DockerEnvironment":
        try:
            from ._docker import DockerEnvironment
        except ImportError as exc:
            from polos_nb.errors import SandboxError

            raise SandboxError(
                f"DockerEnvironment needs the docker SDK ({exc}): pip install 'polos_nb[sandbox]'."
            ) from None
        return DockerEnvironment
    raise AttributeError(f"module 'polos_nb.sandbox' has no attribute {name!r}")

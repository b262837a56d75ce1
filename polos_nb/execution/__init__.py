"""Upstream's ``polos.execution`` path: the sandbox tools under their upstream names.

The implementation lives in :mod:`polos_nb.sandbox`; every name here is the same object
as there (``from polos_nb.sandbox import ...`` is the polos_nb spelling). As in
``polos_nb.sandbox``, ``DockerEnvironment`` imports the ``docker`` SDK only when asked for.
Upstream's ``Sandbox`` protocol is not offered (see docs/coming-from-polos.md).
"""

from typing import Any

from polos_nb.sandbox import (
    DockerEnvironmentConfig,
    E2BEnvironmentConfig,
    EnvironmentInfo,
    ExecOptions,
    ExecResult,
    ExecToolConfig,
    ExecutionEnvironment,
    GlobOptions,
    GrepMatch,
    GrepOptions,
    LocalEnvironment,
    LocalEnvironmentConfig,
    ManagedSandbox,
    SandboxManager,
    SandboxScope,
    SandboxToolsConfig,
    assert_safe_path,
    create_edit_tool,
    create_exec_tool,
    create_glob_tool,
    create_grep_tool,
    create_read_tool,
    create_write_tool,
    evaluate_allowlist,
    is_binary,
    is_within_restriction,
    parse_duration,
    parse_grep_output,
    strip_ansi,
    truncate_output,
)

# Imported from the submodule so that the name stays the function once
# ``polos_nb.execution.sandbox_tools`` (the module of the same name) is imported.
from .sandbox_tools import sandbox_tools

__all__ = [
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
    "is_binary",
    "is_within_restriction",
    "parse_duration",
    "parse_grep_output",
    "sandbox_tools",
    "strip_ansi",
    "truncate_output",
]


def __getattr__(name: str) -> Any:
    # DockerEnvironment needs the docker SDK: polos_nb.sandbox imports it only when asked for.
    if name == "DockerEnvironment":
        import polos_nb.sandbox

        return polos_nb.sandbox.DockerEnvironment
    raise AttributeError(f"module 'polos_nb.execution' has no attribute {name!r}")

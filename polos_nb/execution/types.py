"""Upstream's module path for the sandbox configuration and result models.

The implementation lives in :mod:`polos_nb.sandbox`; these are the same classes.
"""

from polos_nb.sandbox import (
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

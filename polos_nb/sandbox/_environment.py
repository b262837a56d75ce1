"""``ExecutionEnvironment``: what every sandbox (Docker, local) offers the six tools."""

from __future__ import annotations

import asyncio
import os
from abc import ABC, abstractmethod
from typing import Literal

from polos_nb.errors import SandboxFileError

from . import _files
from ._output import DEFAULT_MAX_CHARS, is_binary
from ._paths import SafeRoot
from ._types import EnvironmentInfo, ExecOptions, ExecResult, GlobOptions, GrepMatch, GrepOptions

__all__ = ["DEFAULT_TIMEOUT_SECONDS", "HARD_OUTPUT_BYTES", "ExecutionEnvironment"]

DEFAULT_TIMEOUT_SECONDS = 300
HARD_OUTPUT_BYTES = 64 * 1024 * 1024
"""A command that prints more than this is stopped (its output is kept truncated)."""


class ExecutionEnvironment(ABC):
    """Where a sandbox's commands run and its files live. Tools use only this interface.

    File operations go through :class:`SafeRoot` (``self.root``): paths are resolved,
    links included, and refused if they lead outside the workspace.
    """

    root: SafeRoot
    max_output_chars: int = DEFAULT_MAX_CHARS

    @property
    @abstractmethod
    def type(self) -> Literal["local", "docker", "e2b"]:
        """``"docker"`` or ``"local"``."""

    @abstractmethod
    async def exec(self, command: str, opts: ExecOptions | None = None) -> ExecResult:
        """Run a shell command (``sh -c``) with a timeout and output limits."""

    @abstractmethod
    async def initialize(self, labels: dict[str, str] | None = None) -> None:
        """Create what the environment needs (the container); idempotent."""

    @abstractmethod
    async def destroy(self) -> None:
        """Remove what :meth:`initialize` created (the container; never the workspace)."""

    def initialize_sync(self, labels: dict[str, str] | None = None) -> None:
        """:meth:`initialize` for threads without an event loop."""
        asyncio.run(self.initialize(labels))

    def destroy_sync(self) -> None:
        """:meth:`destroy` for any thread (no event loop needed)."""
        asyncio.run(self.destroy())

    @abstractmethod
    def get_cwd(self) -> str:
        """Where commands start and relative paths begin, as the model sees it."""

    @abstractmethod
    def get_info(self) -> EnvironmentInfo:
        """Environment metadata."""

    # ------------------------------------------------------------------ files (shared)
    def cwd_components(self) -> list[str]:
        """The working directory as components below ``self.root``."""
        return self.root.resolve(self.get_cwd(), [])

    def _read_file_sync(self, path: str) -> str:
        comps = self.root.resolve(path, self.cwd_components())
        fd = self.root.open_file(comps, path, os.O_RDONLY)
        with os.fdopen(fd, "rb") as f:
            data = f.read()
        if is_binary(data):
            raise SandboxFileError(f"Cannot read binary file: {path}")
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            raise SandboxFileError(f"{path!r} is not valid UTF-8 text.") from None

    async def read_file(self, path: str) -> str:
        """The whole text of a file (binary and non-UTF-8 files raise ``SandboxFileError``)."""
        return await asyncio.to_thread(self._read_file_sync, path)

    def _write_file_sync(self, path: str, content: str) -> None:
        comps = self.root.resolve(path, self.cwd_components())
        _files.write_text(self.root, comps, path, content)

    async def write_file(self, path: str, content: str) -> None:
        """Write a text file, creating parent directories."""
        await asyncio.to_thread(self._write_file_sync, path, content)

    def _exists_sync(self, path: str) -> bool:
        comps = self.root.resolve(path, self.cwd_components())
        return os.path.lexists(self.root.host_path(comps))

    async def file_exists(self, path: str) -> bool:
        """Whether the path exists (inside the workspace)."""
        return await asyncio.to_thread(self._exists_sync, path)

    async def glob(self, pattern: str, opts: GlobOptions | None = None) -> list[str]:
        """Files matching ``pattern`` (``*.py`` at any depth, ``src/**/*.ts`` by path)."""
        o = opts or GlobOptions()
        out = await asyncio.to_thread(
            _files.glob_files, self.root, pattern, self.cwd_components(), o.cwd, o.ignore
        )
        return list(out["files"])

    async def grep(self, pattern: str, opts: GrepOptions | None = None) -> list[GrepMatch]:
        """Lines matching the regular expression ``pattern``, in text files below ``cwd``."""
        o = opts or GrepOptions()
        out = await asyncio.to_thread(
            _files.grep_files,
            self.root,
            pattern,
            self.cwd_components(),
            o.cwd,
            o.include,
            o.max_results,
            o.context_lines,
        )
        return [GrepMatch.model_validate(m) for m in out["matches"]]

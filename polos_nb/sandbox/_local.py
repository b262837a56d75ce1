"""The local environment: commands and files on this machine, confined to ``path_restriction``.

Commands run with ``sh -c`` in their own process group (a timeout kills the whole group),
with a scrubbed environment: only ``PATH``, ``HOME``, ``USER``, ``LOGNAME``, ``LANG``,
``LC_*``, ``TERM``, ``TMPDIR`` and ``SHELL`` are passed on, plus what the call sets, so
API keys in the notebook's environment do not reach the agent's commands (or the
journal through their output). A command itself is not confined — it can touch any
file its user can — which is why ``exec`` asks for approval by default on the host.
"""

from __future__ import annotations

import asyncio
import os
import selectors
import signal
import subprocess
import time
from typing import Literal

from polos_nb.errors import SandboxError, UserError

from ._environment import DEFAULT_TIMEOUT_SECONDS, HARD_OUTPUT_BYTES, ExecutionEnvironment
from ._output import DEFAULT_MAX_CHARS, OutputCollector
from ._paths import SafeRoot
from ._types import EnvironmentInfo, ExecOptions, ExecResult, LocalEnvironmentConfig

__all__ = ["LocalEnvironment", "run_process"]

_PASS_ENV = ("PATH", "HOME", "USER", "LOGNAME", "LANG", "TERM", "TMPDIR", "SHELL")


def _scrubbed_env(extra: dict[str, str] | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k in _PASS_ENV or k.startswith("LC_")}
    env.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin")
    env.update(extra or {})
    return env


def run_process(
    argv: list[str],
    *,
    cwd: str,
    env: dict[str, str],
    stdin: str | None,
    timeout: float,
    max_chars: int,
) -> ExecResult:
    """Run a process group with a timeout and bounded output; kill the group on either limit."""
    start = time.monotonic()
    proc = subprocess.Popen(
        argv,
        cwd=cwd,
        env=env,
        stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    if stdin is not None and proc.stdin is not None:
        try:
            proc.stdin.write(stdin.encode())
            proc.stdin.close()
        except BrokenPipeError:
            pass
    out, err = OutputCollector(max_chars), OutputCollector(max_chars)
    sel = selectors.DefaultSelector()
    assert proc.stdout is not None and proc.stderr is not None
    sel.register(proc.stdout, selectors.EVENT_READ, out)
    sel.register(proc.stderr, selectors.EVENT_READ, err)
    killed: str | None = None
    exited_at: float | None = None
    deadline = start + timeout
    while sel.get_map():
        now = time.monotonic()
        if now >= deadline:
            killed = f"[Process killed: timeout of {timeout:g} s exceeded]"
            break
        if out.total + err.total > HARD_OUTPUT_BYTES:
            killed = (
                f"[Process killed: it printed more than {HARD_OUTPUT_BYTES // (1024 * 1024)} MiB]"
            )
            break
        if exited_at is None and proc.poll() is not None:
            exited_at = now
        if exited_at is not None and now - exited_at > 1.0:
            break  # the shell exited; a background child still holds the pipes
        for key, _ in sel.select(timeout=0.1):
            chunk = os.read(key.fd, 65536)
            if chunk:
                key.data.feed(chunk)
            else:
                sel.unregister(key.fileobj)
    sel.close()
    if killed:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    try:
        code = proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        code = -1
    proc.stdout.close()
    proc.stderr.close()
    stdout, t1 = out.text()
    stderr, t2 = err.text()
    if killed:
        code = 137
        stderr = (stderr + "\n" if stderr else "") + killed
    return ExecResult(
        exit_code=code,
        stdout=stdout,
        stderr=stderr,
        duration_ms=int((time.monotonic() - start) * 1000),
        truncated=t1 or t2 or (killed is not None and "printed" in killed),
    )


class LocalEnvironment(ExecutionEnvironment):
    """Run commands and touch files on this machine (see the module help for what is confined)."""

    def __init__(
        self,
        config: LocalEnvironmentConfig | None = None,
        max_output_chars: int | None = None,
        *,
        default_timeout: int | None = None,
    ) -> None:
        self._config = config or LocalEnvironmentConfig()
        self._cwd = os.path.abspath(self._config.cwd or os.getcwd())
        restriction = self._config.path_restriction
        if restriction is False:
            root = "/"
        else:
            root = os.path.abspath(restriction) if restriction else self._cwd
        self.root = SafeRoot(root)
        self.max_output_chars = max_output_chars or DEFAULT_MAX_CHARS
        self._timeout = default_timeout or DEFAULT_TIMEOUT_SECONDS

    @property
    def type(self) -> Literal["local"]:
        return "local"

    async def initialize(self, labels: dict[str, str] | None = None) -> None:
        self.initialize_sync(labels)

    def initialize_sync(self, labels: dict[str, str] | None = None) -> None:
        """Check the working directory exists and lies inside ``path_restriction``."""
        if not os.path.isdir(self._cwd):
            what = "is not a directory" if os.path.exists(self._cwd) else "does not exist"
            raise SandboxError(f"The local sandbox's working directory {self._cwd} {what}.")
        real = os.path.realpath(self._cwd)
        if real != self.root.host and not real.startswith(self.root.host.rstrip("/") + "/"):
            raise UserError(
                f"LocalEnvironmentConfig: cwd {self._cwd} is outside path_restriction {self.root.host}; "
                "put cwd inside it (or set path_restriction=False)."
            )

    async def destroy(self) -> None:
        """Nothing to remove: the workspace stays."""

    def destroy_sync(self) -> None:
        """Nothing to remove: the workspace stays."""

    def get_cwd(self) -> str:
        return self._cwd

    def get_info(self) -> EnvironmentInfo:
        return EnvironmentInfo(type="local", cwd=self._cwd, os=os.uname().sysname)

    async def exec(self, command: str, opts: ExecOptions | None = None) -> ExecResult:
        return await asyncio.to_thread(self.exec_sync, command, opts or ExecOptions())

    def exec_sync(self, command: str, o: ExecOptions) -> ExecResult:
        """:meth:`exec` for threads (blocks)."""
        cwd = self._cwd
        if o.cwd:
            comps = self.root.resolve(o.cwd, self.cwd_components())
            cwd = self.root.host_path(comps)
            if not os.path.isdir(cwd):
                raise SandboxError(f"The command's cwd {o.cwd!r} is not a directory.")
        return run_process(
            ["/bin/sh", "-c", command],
            cwd=cwd,
            env=_scrubbed_env(o.env),
            stdin=o.stdin,
            timeout=float(o.timeout or self._timeout),
            max_chars=self.max_output_chars,
        )

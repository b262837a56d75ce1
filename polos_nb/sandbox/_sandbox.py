"""Sandbox lifecycle: created lazily, shared by one run (or one session), swept when idle.

One :class:`SandboxManager` per process holds every live sandbox, keyed by the sandbox's
name (``SandboxToolsConfig.id``, or one derived from the configuration) and its scope
key (``run-<root execution id>`` or ``session-<session id>``). So several
``sandbox_tools(...)`` sets with different configurations live side by side, and the
tools of one set share one environment per run.

Workspaces are host directories under :func:`workspaces_dir` (``$POLOS_WORKSPACES_DIR``,
default ``~/.polos/workspaces``): ``<dir>/<sandbox name>/<scope key>``. Their names do
not depend on the process, so a run that resumes after a crash or a kernel restart, or
the next run of a session, finds its files again. Destroying a sandbox removes its
container, never its workspace.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import hashlib
import json
import logging
import os
import re
import threading
import time

from polos_nb.errors import SandboxError, UserError

from ._environment import ExecutionEnvironment
from ._local import LocalEnvironment
from ._security import NotSimpleCommand, match_pattern, parse_pattern, parse_simple_command
from ._types import (
    DockerEnvironmentConfig,
    LocalEnvironmentConfig,
    SandboxScope,
    SandboxToolsConfig,
)

__all__ = [
    "DEFAULT_IDLE_TIMEOUT",
    "ApprovalMemory",
    "ManagedSandbox",
    "SandboxManager",
    "get_sandbox_manager",
    "parse_duration",
    "workspaces_dir",
]

log = logging.getLogger("polos_nb.sandbox")

WORKSPACES_DIR_ENV = "POLOS_WORKSPACES_DIR"
SWEEP_SECONDS_ENV = "POLOS_SANDBOX_SWEEP_SECONDS"
DEFAULT_IDLE_TIMEOUT = "1h"
DEFAULT_SWEEP_SECONDS = 60.0
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*(s|m|h|d)?$")


def parse_duration(text: str) -> float:
    """Seconds in ``"90s"``, ``"30m"``, ``"1h"``, ``"3d"`` (a bare number is seconds)."""
    m = _DURATION.match(str(text).strip())
    if not m:
        raise UserError(f'Invalid duration {text!r}: write it like "90s", "30m", "1h" or "3d".')
    return float(m.group(1)) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2) or "s"]


def workspaces_dir() -> str:
    """Where auto-managed workspaces live: ``$POLOS_WORKSPACES_DIR`` or ``~/.polos/workspaces``."""
    return os.path.abspath(
        os.environ.get(WORKSPACES_DIR_ENV)
        or os.path.join(os.path.expanduser("~"), ".polos", "workspaces")
    )


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", text)[:120] or "_"


def sandbox_name(config: SandboxToolsConfig) -> str:
    """``config.id``, or ``sandbox-<hash of the configuration>`` (stable across processes)."""
    if config.id:
        return _safe(config.id)
    digest = hashlib.sha256(config.model_dump_json().encode()).hexdigest()[:10]
    return f"sandbox-{digest}"


class ApprovalMemory:
    """ "Approve always" answers of one sandbox: command patterns, exact commands, file writes.

    Kept in a JSON file beside the workspaces (``<dir>/.approvals/...``), outside any
    container's mount, so a later run of the session, or the same run after a restart,
    does not ask again.
    """

    def __init__(self, path: str | None) -> None:
        self.path = path
        self._lock = threading.Lock()
        self.patterns: list[str] = []
        self.exact: list[str] = []
        self.files = False
        if path and os.path.exists(path):
            try:
                with open(path) as f:
                    data = json.load(f)
                self.patterns = [str(p) for p in data.get("patterns", [])]
                self.exact = [str(c) for c in data.get("exact", [])]
                self.files = bool(data.get("files", False))
            except (OSError, ValueError):
                log.warning("ignoring unreadable approval memory %s", path)

    def _save(self) -> None:
        if not self.path:
            return
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        tmp = f"{self.path}.{os.getpid()}.tmp"
        with open(tmp, "w") as f:
            json.dump({"patterns": self.patterns, "exact": self.exact, "files": self.files}, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)

    def allows(self, command: str) -> bool:
        """Whether an earlier "always" answer covers ``command``."""
        if command.strip() in self.exact:
            return True
        try:
            words = parse_simple_command(command)
        except NotSimpleCommand:
            return False
        return any(match_pattern(parse_pattern(p), words) for p in self.patterns)

    def remember_command(self, command: str, pattern: str | None) -> str:
        """Remember an "always" answer; returns what was remembered (a pattern or the command)."""
        with self._lock:
            remembered = command.strip()
            simple = True
            try:
                parse_simple_command(command)
            except NotSimpleCommand:
                simple = False
            if simple and pattern and pattern.strip():
                try:
                    parse_pattern(pattern)
                    remembered = pattern.strip()
                except UserError:
                    pass
            if simple and remembered not in self.patterns and remembered != command.strip():
                self.patterns.append(remembered)
            elif remembered not in self.exact:
                self.exact.append(remembered)
            self._save()
            return remembered

    def allow_files(self) -> None:
        with self._lock:
            self.files = True
            self._save()


class ManagedSandbox:
    """One sandbox: its configuration, workspace, environment (made on first use), activity."""

    def __init__(
        self,
        config: SandboxToolsConfig,
        name: str,
        scope_key: str,
        session_id: str | None = None,
    ) -> None:
        self.config = config
        self.name = name
        self.scope_key = scope_key
        self.id = f"{name}/{scope_key}"
        self.scope: SandboxScope = config.scope or "execution"
        self.session_id = session_id
        self.env_type = config.env or "docker"
        self.workspace = self._workspace()
        self.approvals = ApprovalMemory(
            os.path.join(workspaces_dir(), ".approvals", name, f"{scope_key}.json")
        )
        self.active_execution_ids: set[str] = set()
        self.last_activity_at = time.monotonic()
        self.in_flight = 0
        self.destroyed = False
        self._env: ExecutionEnvironment | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        state = "destroyed" if self.destroyed else ("ready" if self._env else "lazy")
        return f"<ManagedSandbox {self.id} {self.env_type} {state} workspace={self.workspace}>"

    @property
    def initialized(self) -> bool:
        return self._env is not None

    @property
    def idle_timeout(self) -> float:
        return parse_duration(self.config.idle_destroy_timeout or DEFAULT_IDLE_TIMEOUT)

    def _workspace(self) -> str:
        cfg = self.config
        if self.env_type == "docker" and cfg.docker and cfg.docker.workspace_dir:
            return os.path.abspath(cfg.docker.workspace_dir)
        if self.env_type == "local" and cfg.local and cfg.local.cwd:
            return os.path.abspath(cfg.local.cwd)
        if self.env_type == "local" and cfg.cwd:
            return os.path.abspath(cfg.cwd)
        return os.path.join(workspaces_dir(), self.name, self.scope_key)

    def _make_env(self) -> ExecutionEnvironment:
        cfg = self.config
        exec_cfg = cfg.exec
        max_chars = exec_cfg.max_output_chars if exec_cfg else None
        timeout = exec_cfg.timeout if exec_cfg else None
        os.makedirs(self.workspace, exist_ok=True)
        if self.env_type == "docker":
            from ._docker import DockerEnvironment

            docker_cfg = cfg.docker or DockerEnvironmentConfig(image=default_image())
            docker_cfg = docker_cfg.model_copy(update={"workspace_dir": self.workspace})
            return DockerEnvironment(
                docker_cfg, max_chars, default_timeout=timeout, name=f"{self.name}-{self.scope_key}"
            )
        if self.env_type == "local":
            local = cfg.local or LocalEnvironmentConfig()
            local = local.model_copy(update={"cwd": self.workspace})
            return LocalEnvironment(local, max_chars, default_timeout=timeout)
        raise SandboxError(f"env={self.env_type!r} is not implemented; use 'docker' or 'local'.")

    async def get_environment(self) -> ExecutionEnvironment:
        """The environment, created (and its container started) on first use."""
        if self.destroyed:
            raise SandboxError(f"Sandbox {self.id} has been destroyed.")
        self.last_activity_at = time.monotonic()
        env = self._env
        if env is None:
            env = await asyncio.to_thread(self._create_env)
        return env

    def _create_env(self) -> ExecutionEnvironment:
        with self._lock:
            if self._env is not None:
                return self._env
            env = self._make_env()
            labels = {"polos_nb.sandbox": self.id, "polos_nb.scope": self.scope}
            if self.session_id:
                labels["polos_nb.session"] = self.session_id
            env.initialize_sync(labels)
            self._env = env
            return env

    def destroy_sync(self) -> None:
        """Remove the container (if any); the workspace stays. The sandbox can be used again."""
        with self._lock:
            env, self._env = self._env, None
        if env is not None:
            try:
                env.destroy_sync()
            except Exception as exc:
                log.warning("could not destroy sandbox %s: %s", self.id, exc)

    async def destroy(self) -> None:
        """Remove the container (the workspace stays)."""
        await asyncio.to_thread(self.destroy_sync)


def default_image() -> str:
    """The image when ``DockerEnvironmentConfig`` is not given: ``$POLOS_SANDBOX_IMAGE`` or upstream's."""
    return os.environ.get("POLOS_SANDBOX_IMAGE") or "node:20-slim"


class SandboxManager:
    """Every sandbox of this process: lazy creation, scope rules, idle sweep, orphan reaping."""

    def __init__(self) -> None:
        self._sandboxes: dict[tuple[str, str], ManagedSandbox] = {}
        self._lock = threading.Lock()
        self._sweeper: threading.Thread | None = None
        self._used_docker = False
        self._reaped = False

    def sandboxes(self) -> list[ManagedSandbox]:
        """The live sandboxes (created or not yet created)."""
        with self._lock:
            return list(self._sandboxes.values())

    def get_or_create(
        self,
        config: SandboxToolsConfig,
        name: str,
        scope_key: str,
        *,
        session_id: str | None = None,
        execution_id: str | None = None,
    ) -> ManagedSandbox:
        """The sandbox for ``(name, scope_key)``, made on first use (its container later still)."""
        with self._lock:
            sandbox = self._sandboxes.get((name, scope_key))
            if sandbox is None or sandbox.destroyed:
                sandbox = ManagedSandbox(config, name, scope_key, session_id)
                self._sandboxes[(name, scope_key)] = sandbox
            if execution_id:
                sandbox.active_execution_ids.add(execution_id)
            if sandbox.env_type == "docker":
                self._used_docker = True
            self._start_sweeper()
        if sandbox.env_type == "docker" and not self._reaped:
            self._reaped = True
            self.reap_orphans()
        return sandbox

    def root_finished(self, root_execution_id: str) -> list[str]:
        """A root run ended: destroy the execution-scoped sandboxes it used; returns their ids."""
        done = []
        with self._lock:
            for key, sandbox in list(self._sandboxes.items()):
                sandbox.active_execution_ids.discard(root_execution_id)
                if sandbox.scope == "execution" and sandbox.scope_key == f"run-{root_execution_id}":
                    del self._sandboxes[key]
                    sandbox.destroyed = True
                    done.append(sandbox)
        for sandbox in done:
            sandbox.destroy_sync()
        return [s.id for s in done]

    def sweep(self) -> list[str]:
        """Destroy sandboxes idle past their ``idle_destroy_timeout`` and reap orphaned
        containers of dead processes. Runs by itself every ``$POLOS_SANDBOX_SWEEP_SECONDS``
        (default 60); returns the ids of the sandboxes destroyed."""
        now = time.monotonic()
        idle = []
        with self._lock:
            for sandbox in self._sandboxes.values():
                if (
                    sandbox.initialized
                    and sandbox.in_flight == 0
                    and now - sandbox.last_activity_at > sandbox.idle_timeout
                ):
                    idle.append(sandbox)
        for sandbox in idle:
            log.info("destroying idle sandbox %s", sandbox.id)
            sandbox.destroy_sync()  # it stays registered: the next tool call recreates it
        if self._used_docker:
            self.reap_orphans()
        return [s.id for s in idle]

    def reap_orphans(self) -> list[str]:
        """Remove containers left by processes that died (see ``_docker.reap_orphans``)."""
        try:
            from ._docker import reap_orphans

            return reap_orphans()
        except Exception as exc:  # no engine: nothing to reap
            log.debug("orphan reaping skipped: %s", exc)
            return []

    def destroy_all(self) -> None:
        """Remove every container of this process (at exit); workspaces stay."""
        with self._lock:
            sandboxes = list(self._sandboxes.values())
        for sandbox in sandboxes:
            sandbox.destroy_sync()

    def _start_sweeper(self) -> None:
        if self._sweeper is not None and self._sweeper.is_alive():
            return
        try:
            interval = float(os.environ.get(SWEEP_SECONDS_ENV) or DEFAULT_SWEEP_SECONDS)
        except ValueError:
            interval = DEFAULT_SWEEP_SECONDS

        def loop() -> None:
            while True:
                time.sleep(max(0.05, interval))
                with contextlib.suppress(Exception):
                    self.sweep()

        self._sweeper = threading.Thread(target=loop, name="polos-sandbox-sweep", daemon=True)
        self._sweeper.start()


_MANAGER = SandboxManager()
atexit.register(_MANAGER.destroy_all)


def get_sandbox_manager() -> SandboxManager:
    """This process's :class:`SandboxManager`."""
    return _MANAGER

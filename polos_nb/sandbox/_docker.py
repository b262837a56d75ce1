"""The Docker environment: one container per sandbox, through the ``docker`` SDK.

The only module of polos_nb that imports ``docker``. The container runs ``sleep infinity``
under an init process, with the workspace bind-mounted at ``/workspace``; commands run
with ``docker exec`` and file tools work on the host side of the mount. Defaults: no
network, 1 GiB of memory and no swap, one CPU, 256 processes, ``no-new-privileges``.

Every container carries labels naming its owner process (host, boot, pid and the pid's
start time). A container whose owner is gone — a kernel restart, a crash — is an orphan:
:func:`reap_orphans` removes it the next time any process uses the sandbox, and the
workspace (a host directory) stays for the run or session that comes back to it.
"""

from __future__ import annotations

import asyncio
import os
import posixpath
import re
import select
import socket
import struct
import threading
import time
import uuid
from typing import Any, Literal

import docker
import docker.errors

from polos_nb.errors import SandboxError

from ._environment import DEFAULT_TIMEOUT_SECONDS, HARD_OUTPUT_BYTES, ExecutionEnvironment
from ._output import DEFAULT_MAX_CHARS, OutputCollector
from ._paths import SafeRoot
from ._types import DockerEnvironmentConfig, EnvironmentInfo, ExecOptions, ExecResult

__all__ = [
    "DEFAULT_CONTAINER_WORKDIR",
    "LABEL_MANAGED",
    "LABEL_OWNER",
    "DockerEnvironment",
    "docker_client",
    "owner_alive",
    "owner_label",
    "reap_orphans",
]

DEFAULT_CONTAINER_WORKDIR = "/workspace"
DEFAULT_MEMORY = "1g"
DEFAULT_CPUS = "1"
DEFAULT_PIDS_LIMIT = 256
LABEL_MANAGED = "polos_nb.managed"
LABEL_OWNER = "polos_nb.owner"
LABEL_SANDBOX = "polos_nb.sandbox"
LABEL_WORKSPACE = "polos_nb.workspace"
DOCKER_ROOT_ENV = "POLOS_DOCKER_ROOT"
DEFAULT_DOCKER_ROOT = "/tmp/polos_nb-docker"

_clients: dict[str, docker.DockerClient] = {}
_clients_lock = threading.Lock()


# ---------------------------------------------------------------------- the engine
def docker_host() -> str:
    """Where the Docker engine is: ``$DOCKER_HOST``, else the private engine that
    ``scripts/setup_docker.sh`` started (``$POLOS_DOCKER_ROOT/env``), else the system one."""
    if os.environ.get("DOCKER_HOST"):
        return os.environ["DOCKER_HOST"]
    env_file = os.path.join(os.environ.get(DOCKER_ROOT_ENV, DEFAULT_DOCKER_ROOT), "env")
    try:
        with open(env_file) as f:
            for line in f:
                if line.startswith("DOCKER_HOST="):
                    return line.split("=", 1)[1].strip()
    except OSError:
        pass
    return "unix:///var/run/docker.sock"


def docker_client() -> docker.DockerClient:
    """A connected client (one per engine address per process); ``SandboxError`` if none answers."""
    host = docker_host()
    with _clients_lock:
        client = _clients.get(host)
        if client is not None:
            return client
        try:
            client = docker.DockerClient(base_url=host, timeout=120)
            client.ping()
        except Exception as exc:
            raise SandboxError(
                f"No Docker engine answers at {host} ({type(exc).__name__}: {exc}). Start one: "
                "`bash scripts/setup_docker.sh` (in a polos_nb checkout) installs and starts a private "
                "engine, or set DOCKER_HOST to a running one. env='local' needs no Docker."
            ) from None
        _clients[host] = client
        return client


# ---------------------------------------------------------------------- owners and orphans
def _boot_id() -> str:
    try:
        with open("/proc/sys/kernel/random/boot_id") as f:
            return f.read().strip()
    except OSError:
        return "unknown"


def _start_time(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def owner_label(pid: int | None = None) -> str:
    """``host/boot/pid/start``: names a process uniquely across pid reuse and reboots."""
    pid = os.getpid() if pid is None else pid
    return f"{socket.gethostname()}/{_boot_id()}/{pid}/{_start_time(pid) or '?'}"


def owner_alive(label: str) -> bool | None:
    """Whether the owner process is alive; ``None`` when it ran on another host (unknown)."""
    try:
        host, boot, pid_s, start = label.split("/")
        pid = int(pid_s)
    except ValueError:
        return None
    if host != socket.gethostname():
        return None
    if boot != _boot_id():
        return False
    return _start_time(pid) == start


def reap_orphans(client: docker.DockerClient | None = None) -> list[str]:
    """Remove polos_nb containers whose owner process is gone; returns their names.

    Containers of live processes, and of processes on other hosts, are left alone.
    Workspaces are never touched.
    """
    client = client or docker_client()
    removed: list[str] = []
    try:
        containers = client.containers.list(
            all=True, filters={"label": f"{LABEL_MANAGED}=true"}, ignore_removed=True
        )
    except docker.errors.DockerException:
        return removed
    for c in containers:
        if owner_alive(c.labels.get(LABEL_OWNER, "")) is False:
            try:
                c.remove(force=True)
                removed.append(c.name)
            except docker.errors.NotFound:
                pass
            except docker.errors.DockerException:
                continue
    return removed


# ---------------------------------------------------------------------- the environment
def _nano_cpus(cpus: str) -> int:
    try:
        value = float(cpus)
    except ValueError:
        raise SandboxError(
            f"DockerEnvironmentConfig.cpus must be a number such as '1' or '0.5' (got {cpus!r})."
        ) from None
    return int(value * 1e9)


class DockerEnvironment(ExecutionEnvironment):
    """A container with the workspace mounted; commands by ``docker exec`` (see module help)."""

    def __init__(
        self,
        config: DockerEnvironmentConfig,
        max_output_chars: int | None = None,
        *,
        default_timeout: int | None = None,
        name: str = "sandbox",
    ) -> None:
        if not config.workspace_dir:
            raise SandboxError(
                "DockerEnvironment needs a workspace_dir (the host directory to mount)."
            )
        self._config = config
        self._workdir = config.container_workdir or DEFAULT_CONTAINER_WORKDIR
        self._workspace = os.path.realpath(config.workspace_dir)
        self.root = SafeRoot(self._workspace, self._workdir)
        self.max_output_chars = max_output_chars or DEFAULT_MAX_CHARS
        self._timeout = default_timeout or DEFAULT_TIMEOUT_SECONDS
        safe = re.sub(r"[^a-zA-Z0-9_.-]", "-", name)[:40] or "sandbox"
        self._name = f"polos_nb-{safe}-{uuid.uuid4().hex[:8]}"
        self._container: Any = None
        self._labels: dict[str, str] = {}
        self._lock = threading.Lock()

    @property
    def type(self) -> Literal["docker"]:
        return "docker"

    @property
    def container_name(self) -> str:
        return self._name

    def get_container_name(self) -> str:
        """The container's name (upstream's accessor)."""
        return self._name

    def get_cwd(self) -> str:
        return self._workdir

    def get_info(self) -> EnvironmentInfo:
        cid = self._container.id[:12] if self._container is not None else None
        return EnvironmentInfo(type="docker", cwd=self._workdir, sandbox_id=cid, os="linux")

    # ------------------------------------------------------------------ lifecycle
    def _ensure_image(self, client: docker.DockerClient) -> None:
        image = self._config.image
        try:
            client.images.get(image)
            return
        except docker.errors.ImageNotFound:
            pass
        if os.environ.get("POLOS_SANDBOX_PULL", "1") == "0":
            raise SandboxError(
                f"The Docker image {image!r} is not on the engine at {docker_host()} (pulling is "
                "off: POLOS_SANDBOX_PULL=0). Pull or build it first; offline, "
                "`bash scripts/setup_docker.sh` builds 'polos-nb-sandbox:py3' (busybox + Python 3)."
            )
        try:
            client.images.pull(image)
        except docker.errors.DockerException as exc:
            raise SandboxError(
                f"The Docker image {image!r} is not on the engine at {docker_host()} and cannot be "
                f"pulled ({str(exc)[:200]}). Pull or build it first; offline, "
                "`bash scripts/setup_docker.sh` builds 'polos-nb-sandbox:py3' (busybox + Python 3)."
            ) from None

    def _create(self) -> None:
        client = docker_client()
        self._ensure_image(client)
        cfg = self._config
        memory = cfg.memory or DEFAULT_MEMORY
        labels = {
            LABEL_MANAGED: "true",
            LABEL_OWNER: owner_label(),
            LABEL_WORKSPACE: self._workspace,
            **self._labels,
        }
        try:
            self._container = client.containers.run(
                cfg.image,
                ["sleep", "infinity"],
                name=self._name,
                detach=True,
                init=True,
                labels=labels,
                network_mode=cfg.network or "none",
                mem_limit=memory,
                memswap_limit=memory,
                nano_cpus=_nano_cpus(cfg.cpus or DEFAULT_CPUS),
                pids_limit=cfg.pids_limit or DEFAULT_PIDS_LIMIT,
                working_dir=self._workdir,
                environment=cfg.env or {},
                volumes={self._workspace: {"bind": self._workdir, "mode": "rw"}},
                security_opt=["no-new-privileges"],
            )
        except docker.errors.DockerException as exc:
            raise SandboxError(
                f"Docker could not start a container from {cfg.image!r}: {exc}"
            ) from None

    def initialize_sync(self, labels: dict[str, str] | None = None) -> None:
        self._initialize_sync(labels)

    def _initialize_sync(self, labels: dict[str, str] | None) -> None:
        with self._lock:
            if self._container is not None:
                return
            self._labels = dict(labels or {})
            os.makedirs(self._workspace, exist_ok=True)
            self._create()
        if self._config.setup_command:
            result = self._exec_sync(self._config.setup_command, ExecOptions())
            if result.exit_code != 0:
                self._destroy_sync()
                raise SandboxError(
                    f"The sandbox's setup_command failed (exit {result.exit_code}): {result.stderr.strip()[-2000:]}"
                )

    async def initialize(self, labels: dict[str, str] | None = None) -> None:
        await asyncio.to_thread(self._initialize_sync, labels)

    def _destroy_sync(self) -> None:
        with self._lock:
            container, self._container = self._container, None
        if container is None:
            return
        try:
            container.remove(force=True)
        except docker.errors.NotFound:
            pass

    async def destroy(self) -> None:
        await asyncio.to_thread(self._destroy_sync)

    def destroy_sync(self) -> None:
        """Remove the container now (from any thread)."""
        self._destroy_sync()

    def is_running(self) -> bool:
        """Whether the container exists and runs."""
        container = self._container
        if container is None:
            return False
        try:
            container.reload()
        except docker.errors.NotFound:
            return False
        return bool(container.status == "running")

    def _restart(self) -> None:
        """Kill every process of the container and start it again (the workspace stays)."""
        container = self._container
        if container is None:
            return
        try:
            container.kill()
        except docker.errors.APIError:
            pass
        for _ in range(50):
            container.reload()
            if container.status != "running":
                break
            time.sleep(0.1)
        container.start()

    # ------------------------------------------------------------------ commands
    def _exec_sync(self, command: str, o: ExecOptions) -> ExecResult:
        if self._container is None:
            self._initialize_sync(self._labels)
        try:
            return self._exec_once(command, o)
        except docker.errors.APIError as exc:
            # The container is gone or stopped (removed by hand, idle-swept): make it again.
            if exc.status_code not in (404, 409):
                raise
            self._destroy_sync()
            self._initialize_sync(self._labels)
            return self._exec_once(command, o)

    def _exec_once(self, command: str, o: ExecOptions) -> ExecResult:
        api = docker_client().api
        start = time.monotonic()
        workdir = (
            posixpath.normpath(posixpath.join(self._workdir, o.cwd)) if o.cwd else self._workdir
        )
        exec_id = api.exec_create(
            self._container.id,
            ["/bin/sh", "-c", command],
            stdin=o.stdin is not None,
            workdir=workdir,
            environment=o.env or None,
        )["Id"]
        stream = api.exec_start(exec_id, socket=True)
        sock: socket.socket = getattr(stream, "_sock", stream)
        out, err = OutputCollector(self.max_output_chars), OutputCollector(self.max_output_chars)
        timeout = float(o.timeout or self._timeout)
        killed: str | None = None
        try:
            if o.stdin is not None:
                sock.sendall(o.stdin.encode())
                sock.shutdown(socket.SHUT_WR)
            killed = self._pump(api, exec_id, sock, out, err, start + timeout, timeout)
        finally:
            try:
                stream.close()
                sock.close()
            except OSError:
                pass
        if killed:
            self._restart()
            code = 137
        else:
            code = api.exec_inspect(exec_id).get("ExitCode")
            code = 0 if code is None else int(code)
        stdout, t1 = out.text()
        stderr, t2 = err.text()
        if killed:
            stderr = (stderr + "\n" if stderr else "") + killed
        return ExecResult(
            exit_code=code,
            stdout=stdout,
            stderr=stderr,
            duration_ms=int((time.monotonic() - start) * 1000),
            truncated=t1 or t2 or (killed is not None and "printed" in killed),
        )

    def _pump(
        self,
        api: Any,
        exec_id: str,
        sock: socket.socket,
        out: OutputCollector,
        err: OutputCollector,
        deadline: float,
        timeout: float,
    ) -> str | None:
        """Read the multiplexed stream until it ends; returns why it was cut short, if it was."""
        buf = b""
        last_data = time.monotonic()
        exited_at: float | None = None
        restart_note = " (the sandbox's processes were restarted; its files are kept)"
        while True:
            now = time.monotonic()
            if now >= deadline:
                return f"[Process killed: timeout of {timeout:g} s exceeded]{restart_note}"
            if out.total + err.total > HARD_OUTPUT_BYTES:
                return (
                    f"[Process killed: it printed more than {HARD_OUTPUT_BYTES // (1024 * 1024)} MiB]"
                    + restart_note
                )
            ready, _, _ = select.select([sock], [], [], min(0.25, max(0.0, deadline - now)))
            if ready:
                chunk = sock.recv(262144)
                if not chunk:
                    return None
                last_data = time.monotonic()
                buf += chunk
                while len(buf) >= 8:
                    kind, size = buf[0], struct.unpack(">I", buf[4:8])[0]
                    if len(buf) < 8 + size:
                        break
                    (err if kind == 2 else out).feed(buf[8 : 8 + size])
                    buf = buf[8 + size :]
                continue
            if time.monotonic() - last_data > 1.0:
                # Quiet for a second: has the command exited while a background child
                # still holds its output open? Then stop reading after a grace period.
                if exited_at is None and not api.exec_inspect(exec_id).get("Running", True):
                    exited_at = time.monotonic()
                if exited_at is not None and time.monotonic() - exited_at > 1.0:
                    return None
                last_data = time.monotonic()

    async def exec(self, command: str, opts: ExecOptions | None = None) -> ExecResult:
        return await asyncio.to_thread(self._exec_sync, command, opts or ExecOptions())

"""A real JupyterLab server for the browser tests, started on a free loopback port.

One server per test session (``jupyter_server`` fixture in ``conftest.py``). It serves a
temporary root directory; each test copies the notebooks it needs into its own folder
there, so each notebook gets a fresh journal (``.polos/<notebook>.duckdb`` beside it).
Its Jupyter config, data, runtime, settings and workspace directories are temporary too,
so nothing a test does (a theme switch, a trusted notebook) leaks into the user's setup.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class JupyterServer:
    """``jupyter lab`` on 127.0.0.1 with a token, news and update checks off."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.root = base / "root"
        self.home = base / "home"
        self.root.mkdir(parents=True)
        self.home.mkdir(parents=True)
        self.token = secrets.token_hex(16)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.log_path = base / "jupyterlab.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.env = self._env()

    def _env(self) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("PYTEST_", "JPY_", "JUPYTER", "POLOS_JOURNAL"))
        }
        dirs = {
            "JUPYTER_CONFIG_DIR": "config",
            "JUPYTER_DATA_DIR": "data",
            "JUPYTER_RUNTIME_DIR": "runtime",
            "JUPYTERLAB_SETTINGS_DIR": "settings",
            "JUPYTERLAB_WORKSPACES_DIR": "workspaces",
            "IPYTHONDIR": "ipython",
        }
        for name, sub in dirs.items():
            path = self.home / sub
            path.mkdir(exist_ok=True)
            env[name] = str(path)
        # news_url=None stops the feed, but JupyterLab 4 still asks once whether to fetch
        # it: answer "no" in the user settings (a toast would cover the screenshots).
        # And render every cell (no windowing): tests address cells by position.
        user = {
            "apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
            "notebook-extension/tracker": {"windowingMode": "none"},
        }
        for name, values in user.items():
            path = self.home / "settings" / "@jupyterlab" / f"{name}.jupyterlab-settings"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(values))
        env.update(
            {
                "JUPYTER_TOKEN": self.token,
                "LITELLM_LOCAL_MODEL_COST_MAP": "True",
                "POLOS_NB_ALLOW_MODEL_REQUESTS": "0",
                "PYTHONPATH": str(ROOT),
                "PYDEVD_DISABLE_FILE_VALIDATION": "1",
                # notebook 09's sandboxes: never pull an image, workspaces stay in the test's
                # directory (the engine comes from $DOCKER_HOST or scripts/setup_docker.sh)
                "POLOS_SANDBOX_PULL": "0",
                "POLOS_WORKSPACES_DIR": str(self.base / "workspaces"),
            }
        )
        return env

    # ------------------------------------------------------------------ lifecycle
    def start(self, timeout: float = 180.0) -> None:
        args = [
            sys.executable,
            "-m",
            "jupyterlab",
            f"--config={ROOT / 'jupyter_config.json'}",
            "--no-browser",
            "--ip=127.0.0.1",
            f"--port={self.port}",
            "--ServerApp.port_retries=0",
            f"--ServerApp.root_dir={self.root}",
            "--LabApp.expose_app_in_browser=True",  # window.jupyterapp: the tests drive it
            "--JupyterNotebookApp.expose_app_in_browser=True",  # the same in Notebook 7
            # A kernel shut down by a test stays down (no "restart the kernel?" retries).
            "--MappingKernelManager.cull_idle_timeout=0",
        ]
        if hasattr(os, "getuid") and os.getuid() == 0:
            args.append("--ServerApp.allow_root=True")
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                args,
                cwd=self.root,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"JupyterLab exited with {self.proc.returncode}:\n{self.log_tail()}"
                )
            try:
                self.api("GET", "api/status")
                return
            except (OSError, urllib.error.URLError):
                time.sleep(0.25)
        self.stop()
        raise RuntimeError(f"JupyterLab did not answer within {timeout:.0f} s:\n{self.log_tail()}")

    def stop(self) -> None:
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        for kernel in self._kernels_quietly():
            try:
                self.api("DELETE", f"api/kernels/{kernel['id']}")
            except Exception:
                pass
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)

    def log_tail(self, n: int = 8000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-n:]
        except OSError:
            return ""

    # ------------------------------------------------------------------ REST
    def api(self, method: str, path: str, body: Any = None, timeout: float = 30.0) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            self.url + path,
            data=data,
            method=method,
            headers={"Authorization": f"token {self.token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=timeout) as response:
            raw = response.read()
        return json.loads(raw) if raw else None

    def _kernels_quietly(self) -> list[dict[str, Any]]:
        try:
            return list(self.api("GET", "api/kernels"))
        except Exception:
            return []

    def sessions(self, under: str = "") -> list[dict[str, Any]]:
        """The server's sessions (open notebooks with a kernel), optionally under a folder."""
        return [s for s in self.api("GET", "api/sessions") if s["path"].startswith(under)]

    def shutdown_sessions(self, under: str) -> None:
        """Shut down every session (and its kernel) whose notebook lives under ``under``."""
        for session in self.sessions(under):
            try:
                self.api("DELETE", f"api/sessions/{session['id']}")
            except Exception:
                pass

    # ------------------------------------------------------------------ files
    def folder(self, name: str) -> Path:
        path = self.root / name
        if path.exists():
            shutil.rmtree(path)
        path.mkdir(parents=True)
        return path

    def copy_notebook(self, name: str, folder: Path, *, trust: bool = True) -> str:
        """Copy ``notebooks/<name>`` into ``folder`` (trusted, as scripts/start.sh does);
        returns its path relative to the server root."""
        source = NOTEBOOKS / name
        target = folder / source.name
        shutil.copy(source, target)
        if trust:
            self.trust(target)
        return target.relative_to(self.root).as_posix()

    def trust(self, *paths: Path) -> None:
        subprocess.run(
            [sys.executable, "-m", "jupyter", "trust", *map(str, paths)],
            env=self.env,
            check=True,
            capture_output=True,
        )

    def read_notebook(self, rel: str) -> dict[str, Any]:
        return dict(json.loads((self.root / rel).read_text()))

"""The main job, as a new user runs it: `bash scripts/start.sh` reaches a working JupyterLab."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow


def _busy_port() -> socket.socket:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(1)
    return sock


def test_start_opens_jupyterlab_on_a_free_port_without_the_token_in_ps(tmp_path: Path) -> None:
    busy = _busy_port()
    busy_port = busy.getsockname()[1]
    token = "polos-test-token-" + os.urandom(6).hex()
    env = {
        **os.environ,
        "POLOS_PORT": str(busy_port),
        "POLOS_TOKEN": token,
        "POLOS_WORKSPACE": str(tmp_path / "workspace"),
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
        "JUPYTER_DATA_DIR": str(tmp_path / "data"),  # the notebook signatures db
    }
    proc = subprocess.Popen(
        ["bash", "scripts/start.sh"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    lines: list[str] = []
    url = None
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            match = re.search(r"polos_nb: JupyterLab is ready: (\S+)", line)
            if match:
                url = match.group(1)
                break
        assert url, "no URL printed:\n" + "".join(lines[-40:])
        port = int(re.search(r":(\d+)/", url).group(1))  # type: ignore[union-attr]
        assert port != busy_port, "the busy port must be skipped"
        assert url.endswith(f"/lab?token={token}")
        # It answers: the lab, Notebook 7's tree, and the notebooks were copied.
        for path in ("lab", "tree"):
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/{path}?token={token}") as r:
                assert r.status == 200
        copied = sorted(p.name for p in (tmp_path / "workspace").glob("*.ipynb"))
        assert copied == sorted(p.name for p in (ROOT / "notebooks").glob("*.ipynb"))
        # ...and trusted: their saved run snapshots render as saved (item 9 of issue 11)
        import nbformat
        from nbformat.sign import NotebookNotary

        notary = NotebookNotary(data_dir=str(tmp_path / "data"))
        for name in copied:
            nb = nbformat.read(tmp_path / "workspace" / name, as_version=4)
            assert notary.check_signature(nb), f"{name} is not trusted"
        # The token is on no process's command line.
        ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=True)
        assert token not in ps.stdout
    finally:
        if proc.stdout is not None:
            proc.stdout.close()
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        busy.close()


def test_tracked_notebooks_and_journals_are_ignored_by_git(tmp_path: Path) -> None:
    for path in (
        "notebooks/.ipynb_checkpoints/01_quickstart-checkpoint.ipynb",
        "notebooks/.polos/01_quickstart.duckdb",
        "workspace/01_quickstart.ipynb",
        "j.duckdb.wal",
    ):
        out = subprocess.run(
            ["git", "check-ignore", "-q", path], cwd=ROOT, check=False, capture_output=True
        )
        assert out.returncode == 0, f"{path} should be git-ignored"

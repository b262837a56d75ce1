"""PostgreSQL restarted mid-run (on a private server of its own): the write that failed is
held, the engine probes until the server is back, and the run goes on from its last
committed step."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from polos_nb import PolosClient, WorkflowContext, workflow


def _pg_bin() -> Path | None:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
    return found[-1].parent if found else None


class PrivateServer:
    """A throwaway PostgreSQL cluster on a free loopback port (stopped and started at will)."""

    def __init__(self, root: Path, bin_dir: Path) -> None:
        self.root, self.bin = root, bin_dir
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        self._as_owner = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if os.geteuid() == 0:
            shutil.chown(root, "postgres")
        self._run(
            "initdb",
            "-D",
            str(root / "data"),
            "-A",
            "trust",
            "-U",
            "postgres",
            "--no-sync",
            "--no-instructions",
        )

    def _run(self, program: str, *args: str) -> None:
        subprocess.run(
            [*self._as_owner, str(self.bin / program), *args],
            check=True,
            capture_output=True,
            timeout=120,
            stdin=subprocess.DEVNULL,
        )

    def start(self) -> None:
        self._run(
            "pg_ctl",
            "-D",
            str(self.root / "data"),
            "-l",
            str(self.root / "log"),
            "-w",
            "-t",
            "60",
            "-o",
            f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.root}",
            "start",
        )

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.root / "data"), "-m", "fast", "-w", "stop")


@pytest.fixture
def private_server() -> Iterator[PrivateServer]:
    bin_dir = _pg_bin()
    if bin_dir is None:
        if os.environ.get("CI"):
            pytest.fail("CI must run the PostgreSQL tests: no PostgreSQL server binaries")
        pytest.skip("no PostgreSQL server binaries (bash scripts/setup_postgres.sh installs them)")
    root = Path(tempfile.mkdtemp(prefix="polos_nb-pg-restart-"))
    server = PrivateServer(root, bin_dir)
    server.start()
    try:
        yield server
    finally:
        try:
            server.stop()
        except subprocess.CalledProcessError:
            pass
        shutil.rmtree(root, ignore_errors=True)


async def test_a_postgres_restart_mid_run_holds_the_run_and_it_goes_on(
    private_server: PrivateServer, tmp_path: Path
) -> None:
    wf_id = f"pg_restart_{uuid.uuid4().hex[:8]}"
    effects: list[str] = []
    gate = threading.Event()
    entered = threading.Event()

    def step(key: str) -> str:
        effects.append(key)
        if key == "s3":
            entered.set()
            gate.wait(60)
        return key.upper()

    @workflow(id=wf_id)
    async def flow(ctx: WorkflowContext) -> list:
        return [await ctx.step.run(k, step, k) for k in ("s1", "s2", "s3", "s4")]

    client = PolosClient(journal=private_server.url)
    try:
        handle = await flow.invoke(client)
        assert await asyncio.to_thread(entered.wait, 60), "the run never reached s3"
        await asyncio.to_thread(private_server.stop)  # s1 and s2 are committed; s3 runs
        gate.set()  # s3 returns now: its commit fails, the run is held in memory
        await asyncio.sleep(1.0)
        assert effects == ["s1", "s2", "s3"]
        await asyncio.to_thread(private_server.start)
        deadline = time.monotonic() + 90
        while (info := await client.get_execution(handle.id)).status != "completed":
            assert time.monotonic() < deadline, f"the run is still {info.status} after the restart"
            await asyncio.sleep(0.1)
        result = await client.wait_for_result(handle.id, timeout=10)
        assert result == ["S1", "S2", "S3", "S4"]
        steps = client.runtime.journal.steps(handle.id).result()
        completed = [s.step_key for s in steps if s.status == "completed"]
        assert completed == ["s1", "s2", "s3", "s4"]  # each recorded once
    finally:
        client.close()
    # Committed steps never ran again; the step whose commit failed ran once more (D6).
    assert effects == ["s1", "s2", "s3", "s3", "s4"]
    deadline = time.monotonic() + 1  # nothing else runs afterwards
    while time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    assert len(effects) == 5

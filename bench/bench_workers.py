"""Several workers on one PostgreSQL journal: throughput with 1, 2 and 4 worker processes.

Run with ``.venv/bin/python bench/bench_workers.py`` after ``bash scripts/setup_postgres.sh``.
For each worker count a fresh database gets that many worker processes
(``bench/_shared_worker.py``, sharing the journal); a client in this process, which
defines none of the workflows, starts ``--runs`` runs of ``--steps`` no-op steps at once and
waits for every result. The figure is steps per second from the first start to the last
result, and its ratio to one worker, all in one run. This is a benchmark, not a test.

DBOS Transact runs the same workload on the same server, side by side: as many DBOS
executors (``bench/_dbos_queue_worker.py``, needs the ``bench`` extra) on a DBOS queue
polled every 50 ms, the runs enqueued by a ``DBOSClient``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402

from bench.bench_postgres import server_url  # noqa: E402
from polos_nb import PolosClient  # noqa: E402


def _database(url: str) -> tuple[str, str]:
    name = f"polos_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return name, f"{url.rpartition('/')[0]}/{name}"


def _drop(url: str, name: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def _round(client: PolosClient, runs: int, steps: int) -> float:
    start = time.perf_counter()
    handles = [await client.invoke("bench_shared_steps", {"steps": steps}) for _ in range(runs)]
    results = await asyncio.gather(*(client.wait_for_result(h.id, timeout=600) for h in handles))
    assert results == [steps] * runs
    return time.perf_counter() - start


def _workers(db: str, count: int, env: dict[str, str]) -> list[subprocess.Popen[str]]:
    procs = []
    for _ in range(count):
        proc = subprocess.Popen(
            [sys.executable, str(ROOT / "bench" / "_shared_worker.py"), db],
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        procs.append(proc)
    return procs


def measure(url: str, workers: int, runs: int, steps: int) -> float:
    name, db = _database(url)
    env = {**os.environ, "POLOS_JOURNAL_SHARED": "1"}
    procs: list[subprocess.Popen[str]] = []
    try:
        procs += _workers(db, workers, env)
        client = PolosClient(journal=db)
        try:
            asyncio.run(_round(client, 4, 2))  # warm-up: every worker has connected
            seconds = asyncio.run(_round(client, runs, steps))
        finally:
            client.close()
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()
        _drop(url, name)
    return runs * steps / seconds


def measure_takeover(url: str, how: str, lease: float, step: float = 0.5) -> float:
    """Seconds from a worker's end (``kill``: SIGKILL; ``stop``: SIGSTOP, a hung process
    whose lease lapses) in the middle of a run's step to that run completing on another
    worker, less the step's own time (it runs again there)."""
    import signal

    name, db = _database(url)
    env = {**os.environ, "POLOS_WORKER_LEASE": str(lease)}
    procs: list[subprocess.Popen[str]] = []
    try:
        first = _workers(db, 1, env)[0]
        procs.append(first)
        client = PolosClient(journal=db)
        try:
            handle = asyncio.run(client.invoke("bench_shared_sleep", {"seconds": 30.0}))
            with psycopg.connect(db, autocommit=True) as conn:
                while conn.execute(
                    "SELECT count(*) FROM steps WHERE execution_id = %s", [handle.id]
                ).fetchone()[0] == 0 and (
                    conn.execute(
                        "SELECT status FROM executions WHERE id = %s", [handle.id]
                    ).fetchone()[0]
                    != "running"
                ):
                    time.sleep(0.01)
                time.sleep(0.2)  # inside the step now
                # The run goes on elsewhere with a short step (the payload is the journal's).
                conn.execute(
                    "UPDATE executions SET payload = %s WHERE id = %s",
                    [json.dumps({"seconds": step}), handle.id],
                )
            procs += _workers(db, 1, env)
            start = time.perf_counter()
            os.kill(first.pid, signal.SIGKILL if how == "kill" else signal.SIGSTOP)
            asyncio.run(client.wait_for_result(handle.id, timeout=120))
            seconds = time.perf_counter() - start - step
        finally:
            client.close()
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()
        _drop(url, name)
    return seconds


def measure_dbos(url: str, workers: int, runs: int, steps: int) -> float | None:
    try:
        from dbos import DBOSClient
    except ImportError:
        return None
    name, db = _database(url)
    procs = []
    try:
        for i in range(workers):
            proc = subprocess.Popen(
                [sys.executable, str(ROOT / "bench" / "_dbos_queue_worker.py"), db, f"w{i}"],
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
            )
            assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
            procs.append(proc)
        client = DBOSClient(system_database_url=db)
        try:
            options: Any = {"workflow_name": "bench_steps", "queue_name": "bench_workers"}
            for handle in [client.enqueue(options, 2) for _ in range(4)]:  # warm-up
                handle.get_result()
            start = time.perf_counter()
            handles = [client.enqueue(options, steps) for _ in range(runs)]
            assert [h.get_result() for h in handles] == [steps] * runs
            seconds = time.perf_counter() - start
        finally:
            client.destroy()
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()
        _drop(url, name)
    return runs * steps / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=64)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--counts", default="1,2,4")
    parser.add_argument("--no-dbos", action="store_true", help="leave DBOS out")
    parser.add_argument("--no-takeover", action="store_true", help="leave takeover times out")
    args = parser.parse_args()
    os.environ["POLOS_JOURNAL_SHARED"] = "1"
    url = server_url()
    load = os.getloadavg()
    print(
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} cores,"
        f" Python {platform.python_version()}, load {load[0]:.1f}/{load[1]:.1f}/{load[2]:.1f};"
        f" {args.runs} runs x {args.steps} steps"
    )
    print(
        "| Workers | polos_nb steps/s | vs 1 worker | DBOS steps/s | vs 1 executor"
        " | polos_nb / DBOS |"
    )
    print("|---|---|---|---|---|---|")
    base = dbos_base = None
    for count in [int(c) for c in args.counts.split(",")]:
        rate = measure(url, count, args.runs, args.steps)
        dbos = None if args.no_dbos else measure_dbos(url, count, args.runs, args.steps)
        base = base or rate
        if dbos is not None:
            dbos_base = dbos_base or dbos
            peer = f"{dbos:.0f} | {dbos / dbos_base:.2f}x | {rate / dbos:.2f}x"
        else:
            peer = "- | - | -"
        print(f"| {count} | {rate:.0f} | {rate / base:.2f}x | {peer} |", flush=True)
    if not args.no_takeover:
        print()
        print("| A worker ends mid-step | run completed on another worker after (less the step) |")
        print("|---|---|")
        kills = sorted(measure_takeover(url, "kill", lease=15.0) for _ in range(3))
        print(
            "| SIGKILL, same machine (its process is gone: dead at once), median of 3"
            f" | {kills[1]:.2f} s (range {kills[0]:.2f}-{kills[2]:.2f}) |"
        )
        hung = measure_takeover(url, "stop", lease=3.0)
        print(
            f"| SIGSTOP (hung), lease 3 s (dead when the lease lapses) | {hung:.2f} s |", flush=True
        )


if __name__ == "__main__":
    main()

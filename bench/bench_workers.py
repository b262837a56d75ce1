"""Several workers on one PostgreSQL journal: throughput with 1, 2 and 4 worker processes.

Run with ``.venv/bin/python bench/bench_workers.py`` after ``bash scripts/setup_postgres.sh``.
For each worker count a fresh database gets that many worker processes
(``bench/_shared_worker.py``, ``POLOS_JOURNAL_SHARED=1``); a client in this process, which
defines none of the workflows, starts ``--runs`` runs of ``--steps`` no-op steps at once and
waits for every result. The figure is steps per second from the first start to the last
result, and its ratio to one worker, all in one run. This is a benchmark, not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import subprocess
import sys
import time
import uuid
from pathlib import Path

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


def measure(url: str, workers: int, runs: int, steps: int) -> float:
    name, db = _database(url)
    env = {**os.environ, "POLOS_JOURNAL_SHARED": "1"}
    procs = []
    try:
        for _ in range(workers):
            proc = subprocess.Popen(
                [sys.executable, str(ROOT / "bench" / "_shared_worker.py"), db],
                env=env,
                stdout=subprocess.PIPE,
                text=True,
            )
            assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
            procs.append(proc)
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=64)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--counts", default="1,2,4")
    args = parser.parse_args()
    os.environ["POLOS_JOURNAL_SHARED"] = "1"
    url = server_url()
    load = os.getloadavg()
    print(
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} cores,"
        f" Python {platform.python_version()}, load {load[0]:.1f}/{load[1]:.1f}/{load[2]:.1f};"
        f" {args.runs} runs x {args.steps} steps"
    )
    print("| Workers | Steps/s | vs 1 worker |")
    print("|---|---|---|")
    base = None
    for count in [int(c) for c in args.counts.split(",")]:
        rate = measure(url, count, args.runs, args.steps)
        base = base or rate
        print(f"| {count} | {rate:.0f} | {rate / base:.2f}x |", flush=True)


if __name__ == "__main__":
    main()

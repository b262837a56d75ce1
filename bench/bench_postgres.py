"""polos_nb on PostgreSQL: per-step overhead and concurrent throughput, DuckDB vs PostgreSQL
journals side by side, and DBOS Transact on the same PostgreSQL server.

Run with ``.venv/bin/python bench/bench_postgres.py`` after ``bash scripts/setup_postgres.sh``
(the URL comes from ``$POLOS_TEST_POSTGRES_URL`` or ``.cache/postgres.env``). DBOS needs the
``bench`` extra (``POLOS_EXTRAS=dev,bench bash scripts/bootstrap.sh``); without it that row
is left out. This is a benchmark, not a test. Each journal gets a fresh database (dropped
afterwards) on the one server; the DuckDB file lives in a temp directory on the same disk.

Figures, all from one run:

1. per-step overhead: (T(workflow with N no-op async steps) - T(workflow with 0 steps)) / N,
   through ``await wf.run(client, ...)``, on a DuckDB journal and on a PostgreSQL journal,
   rounds alternating between the two (paired), median of the rounds;
2. the same workload on DBOS with its system database on the same PostgreSQL server (in a
   subprocess: ``bench/_dbos_worker.py``);
3. throughput of 32 concurrent workflows of 20 steps each, on both journals.

Several worker processes sharing one PostgreSQL journal are measured by
``bench/bench_workers.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402

from polos_nb import PolosClient, WorkflowContext, workflow  # noqa: E402

CONCURRENT = 32
CONCURRENT_STEPS = 20


def server_url() -> str:
    url = os.environ.get("POLOS_TEST_POSTGRES_URL")
    env = ROOT / ".cache" / "postgres.env"
    if not url and env.exists():
        url = env.read_text().strip().partition("=")[2]
    if not url:
        sys.exit("No PostgreSQL server: run `bash scripts/setup_postgres.sh` first.")
    return url


def fresh_database(url: str, prefix: str) -> str:
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"{url.rpartition('/')[0]}/{name}"


def drop_database(url: str, db_url: str) -> None:
    name = db_url.rpartition("/")[2]
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def noop() -> None:
    return None


@workflow(id="bench_pg_steps")
async def steps_wf(ctx: WorkflowContext, payload: dict) -> int:
    for i in range(payload["n"]):
        await ctx.step.run(f"s{i}", noop)
    return payload["n"]


async def timed_run(client: PolosClient, n: int) -> float:
    t = time.perf_counter()
    assert await steps_wf.run(client, {"n": n}, timeout=600) == n
    return time.perf_counter() - t


async def per_step(clients: dict[str, PolosClient], n: int, rounds: int) -> dict[str, Any]:
    for client in clients.values():  # warm-up
        await timed_run(client, n)
        await timed_run(client, 0)
    per_round: dict[str, list[float]] = {name: [] for name in clients}
    for r in range(rounds):
        names = list(clients) if r % 2 == 0 else list(reversed(clients))
        for name in names:
            t0 = await timed_run(clients[name], 0)
            tn = await timed_run(clients[name], n)
            per_round[name].append((tn - t0) / n)
    return {
        name: {"per_step_ms": statistics.median(v) * 1e3, "rounds": len(v)}
        for name, v in per_round.items()
    }


async def throughput(client: PolosClient) -> float:
    t = time.perf_counter()
    handles = [await steps_wf.invoke(client, {"n": CONCURRENT_STEPS}) for _ in range(CONCURRENT)]
    for handle in handles:
        await client.wait_for_result(handle.id, timeout=600)
    return CONCURRENT * CONCURRENT_STEPS / (time.perf_counter() - t)


def dbos_on_postgres(url: str, n: int, rounds: int, work: str) -> dict[str, Any] | None:
    try:
        import dbos  # noqa: F401
    except ImportError:
        return None
    db = fresh_database(url, "bench_dbos")
    try:
        proc = subprocess.run(
            [sys.executable, str(ROOT / "bench" / "_dbos_worker.py"), work, str(n), str(rounds)],
            capture_output=True,
            text=True,
            timeout=900,
            env={**os.environ, "DBOS_BENCH_SYSTEM_DB": db},
        )
    finally:
        drop_database(url, db)
    for line in proc.stdout.splitlines():
        if line.startswith("DBOS_BENCH_JSON "):
            return json.loads(line.split(" ", 1)[1])
    print(proc.stderr[-2000:], file=sys.stderr)
    return None


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--no-dbos", action="store_true")
    parser.add_argument("--quick", action="store_true", help="20 steps, 3 rounds")
    args = parser.parse_args()
    if args.quick:
        args.steps, args.rounds = 20, 3
    url = server_url()
    with psycopg.connect(url) as conn:
        version = conn.execute("SHOW server_version").fetchone()[0]
        sync_commit = conn.execute("SHOW synchronous_commit").fetchone()[0]
    work = tempfile.mkdtemp(prefix="polos_nb-bench-pg-")
    pg_db = fresh_database(url, "bench_polos")
    clients = {
        "duckdb": PolosClient(journal=os.path.join(work, "journal.duckdb")),
        "postgres": PolosClient(journal=pg_db),
    }
    try:
        steps = await per_step(clients, args.steps, args.rounds)
        rates = {name: await throughput(client) for name, client in clients.items()}
    finally:
        for client in clients.values():
            client.close()
        drop_database(url, pg_db)
    dbos = None if args.no_dbos else dbos_on_postgres(url, args.steps, args.rounds, work)

    print(
        f"polos_nb journals, {args.steps} no-op async steps, {args.rounds} paired rounds; "
        f"PostgreSQL {version} (synchronous_commit={sync_commit}) on loopback, "
        f"{platform.machine()}, {os.cpu_count()} CPUs"
    )
    print(f"{'':32}{'per step (ms)':>16}{'steps/s, 32 concurrent runs':>32}")
    for name in clients:
        print(f"{'polos_nb, ' + name:32}{steps[name]['per_step_ms']:>16.3f}{rates[name]:>32.0f}")
    if dbos is not None:
        print(
            f"{'DBOS ' + str(dbos.get('dbos_version')) + ', PostgreSQL':32}"
            f"{dbos['async']['per_step_median_ms']:>16.3f}{'':>32}"
        )
        print(
            f"DBOS per step / polos_nb on PostgreSQL per step: "
            f"{dbos['async']['per_step_median_ms'] / steps['postgres']['per_step_ms']:.2f}"
        )
    print(
        "polos_nb PostgreSQL per step / DuckDB per step: "
        f"{steps['postgres']['per_step_ms'] / steps['duckdb']['per_step_ms']:.2f}"
    )


if __name__ == "__main__":
    asyncio.run(main())

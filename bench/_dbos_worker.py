"""DBOS Transact side of ``bench/bench_engine.py`` (run in its own subprocess).

Usage: ``python bench/_dbos_worker.py DIR N ROUNDS [CONC_ROUNDS]``. Launches DBOS with a SQLite system
database at ``DIR/dbos.sqlite`` (DBOS's default pragmas: rollback journal, synchronous
FULL), or with the system database ``$DBOS_BENCH_SYSTEM_DB`` when it is set (a PostgreSQL
URL, for ``bench/bench_postgres.py``), then measures per-step overhead as ``(T(N no-op steps) - T(0 steps)) / N`` for a
sync workflow with sync ``@DBOS.step`` steps and an async workflow with async steps,
alternating 0 / N runs (and the sync/async variants) round by round. With CONC_ROUNDS > 0
it then times CONC_ROUNDS rounds of 32 async workflows of 20 steps started together (the
throughput workload of ``bench_engine.py``). Prints one line
``DBOS_BENCH_JSON {...}`` on stdout; everything else DBOS logs goes to stderr.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import statistics
import sys
import time


def main() -> None:
    work, n, rounds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    conc_rounds = int(sys.argv[4]) if len(sys.argv) > 4 else 0
    real_stdout = sys.stdout
    sys.stdout = sys.stderr  # keep DBOS's own output off the JSON channel

    from dbos import DBOS, DBOSConfig

    db_path = os.path.join(work, "dbos.sqlite")
    config: DBOSConfig = {
        "name": "polos_nb_bench",
        "system_database_url": os.environ.get("DBOS_BENCH_SYSTEM_DB") or f"sqlite:///{db_path}",
        "log_level": "WARNING",
    }
    DBOS(config=config)

    @DBOS.step()
    def noop_step() -> None:
        return None

    @DBOS.workflow()
    def sync_wf(n: int) -> int:
        for _ in range(n):
            noop_step()
        return n

    @DBOS.step()
    async def anoop_step() -> None:
        return None

    @DBOS.workflow()
    async def async_wf(n: int) -> int:
        for _ in range(n):
            await anoop_step()
        return n

    DBOS.launch()
    logging.getLogger("dbos").setLevel(logging.WARNING)
    import dbos as _dbos_pkg

    results: dict[str, dict[str, list[float]]] = {
        "sync": {"t0": [], "tn": []},
        "async": {"t0": [], "tn": []},
    }

    def sync_run(k: int) -> float:
        t = time.perf_counter()
        assert sync_wf(k) == k
        return time.perf_counter() - t

    async def async_run(k: int) -> float:
        t = time.perf_counter()
        assert await async_wf(k) == k
        return time.perf_counter() - t

    async def drive() -> None:
        # warm-up
        for _ in range(2):
            sync_run(n)
            sync_run(0)
            await async_run(n)
            await async_run(0)
        for r in range(rounds):
            order = (0, n) if r % 2 == 0 else (n, 0)
            for k in order:
                results["sync"]["t0" if k == 0 else "tn"].append(sync_run(k))
            for k in order:
                results["async"]["t0" if k == 0 else "tn"].append(await async_run(k))

    conc_s: list[float] = []
    conc_workflows, conc_steps = 32, 20

    async def concurrent() -> None:
        await asyncio.gather(*(async_wf(conc_steps) for _ in range(4)))  # warm-up
        for _ in range(conc_rounds):
            t = time.perf_counter()
            done = await asyncio.gather(*(async_wf(conc_steps) for _ in range(conc_workflows)))
            conc_s.append(time.perf_counter() - t)
            assert done == [conc_steps] * conc_workflows

    asyncio.run(drive())
    if conc_rounds:
        asyncio.run(concurrent())
    out: dict[str, object] = {
        "n": n,
        "rounds": rounds,
        "dbos_version": getattr(_dbos_pkg, "__version__", None),
    }
    try:
        from importlib.metadata import version

        out["dbos_version"] = version("dbos")
    except Exception:
        pass
    for variant, r in results.items():
        per_round = [(tn - t0) / n for t0, tn in zip(r["t0"], r["tn"], strict=False)]
        out[variant] = {
            "t0_median_ms": statistics.median(r["t0"]) * 1e3,
            "tn_median_ms": statistics.median(r["tn"]) * 1e3,
            "per_step_median_ms": statistics.median(per_round) * 1e3,
            "per_step_of_medians_ms": (statistics.median(r["tn"]) - statistics.median(r["t0"]))
            / n
            * 1e3,
        }
    if conc_s:
        out["concurrent"] = {
            "workflows": conc_workflows,
            "steps": conc_steps,
            "round_ms": [x * 1e3 for x in conc_s],
            "steps_per_s_median": conc_workflows * conc_steps / statistics.median(conc_s),
        }
    if os.environ.get("DBOS_BENCH_SYSTEM_DB"):
        out["system_database"] = "postgresql"
    else:
        try:
            import sqlite3

            con = sqlite3.connect(db_path)
            out["sqlite_journal_mode"] = con.execute("PRAGMA journal_mode").fetchone()[0]
            con.close()
        except Exception as exc:  # informational only
            out["sqlite_journal_mode"] = f"? ({exc})"
    DBOS.destroy()
    real_stdout.write("DBOS_BENCH_JSON " + json.dumps(out) + "\n")
    real_stdout.flush()


if __name__ == "__main__":
    main()

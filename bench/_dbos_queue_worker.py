"""A DBOS Transact executor for ``bench_workers.py`` (its own process).

``python bench/_dbos_queue_worker.py <system database url> <executor id>`` launches DBOS on
the given PostgreSQL system database with the queue ``bench_workers`` (polled every 50 ms),
prints ``ready`` and serves until killed. The workflow ``bench_steps(n)`` runs n no-op async
steps, the same workload as ``_shared_worker.py``.
"""

from __future__ import annotations

import asyncio
import logging
import sys


def main() -> None:
    url, executor = sys.argv[1], sys.argv[2]
    real_stdout = sys.stdout
    sys.stdout = sys.stderr  # DBOS's own output stays off the ready line

    from dbos import DBOS, DBOSConfig

    config: DBOSConfig = {
        "name": "polos_nb_bench_workers",
        "system_database_url": url,
        "executor_id": executor,
        "log_level": "WARNING",
    }
    DBOS(config=config)

    @DBOS.step()
    async def noop(i: int) -> int:
        return i

    @DBOS.workflow(name="bench_steps")
    async def bench_steps(n: int) -> int:
        for i in range(n):
            await noop(i)
        return n

    DBOS.launch()
    DBOS.register_queue("bench_workers", polling_interval_sec=0.05)
    logging.getLogger("dbos").setLevel(logging.WARNING)
    print("ready", file=real_stdout, flush=True)

    async def forever() -> None:
        await asyncio.Event().wait()

    asyncio.run(forever())


if __name__ == "__main__":
    main()

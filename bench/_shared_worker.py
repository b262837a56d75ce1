"""A worker process for ``bench_workers.py``: defines ``bench_shared_steps`` and serves.

``python bench/_shared_worker.py <journal url>`` (a worker of the journal, PostgreSQL's default) prints
``ready`` once it is a worker of the journal, then serves until killed.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from polos_nb import PolosClient, Worker, WorkflowContext, workflow  # noqa: E402


async def _noop(i: int) -> int:
    return i


@workflow(id="bench_shared_steps")
async def bench_shared_steps(ctx: WorkflowContext, payload: dict) -> int:
    for i in range(int(payload["steps"])):
        await ctx.step.run(f"s{i}", _noop, i)
    return int(payload["steps"])


async def _sleep(seconds: float) -> float:
    await asyncio.sleep(seconds)
    return seconds


@workflow(id="bench_shared_sleep")
async def bench_shared_sleep(ctx: WorkflowContext, payload: dict) -> float:
    return await ctx.step.run("sleep", _sleep, float(payload["seconds"]))


def main() -> None:
    client = PolosClient(journal=sys.argv[1])
    worker = Worker(client, workflows=[bench_shared_steps, bench_shared_sleep])
    print("ready", flush=True)
    asyncio.run(worker.run())


if __name__ == "__main__":
    main()

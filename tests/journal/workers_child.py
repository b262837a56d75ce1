"""A worker process of a shared PostgreSQL journal (``test_postgres_workers.py``).

``python -m tests.journal.workers_child <journal url> <counter file>`` opens the journal as
one of several workers (the default for PostgreSQL; the test sets ``POLOS_JOURNAL_SHARED=1``), defines the workflows
below, prints ``ready <worker id>`` and serves until killed. Every step appends
``<execution id>:<step key> <pid>`` to the counter file (fsynced) before it returns, so the
test can count how often each step ran, and where. ``WORKER_MAX_RUNS`` (a number) becomes
``Worker(max_concurrent_workflows=...)``.
"""

from __future__ import annotations

import asyncio
import os
import sys

from polos_nb import PolosClient, Worker, WorkflowContext, workflow

COUNTER = ""


def _effect(line: str) -> None:
    with open(COUNTER, "a") as f:
        f.write(f"{line} {os.getpid()}\n")
        f.flush()
        os.fsync(f.fileno())


async def _step(line: str, pause: float) -> str:
    _effect(line)
    if pause:
        await asyncio.sleep(pause)
    return line


@workflow(id="shared_job")
async def shared_job(ctx: WorkflowContext, payload: dict) -> int:
    for key in ("a", "b", "c"):
        await ctx.step.run(key, _step, f"{ctx.execution_id}:{key}", payload.get("pause", 0.0))
    return int(payload["n"])


@workflow(id="shared_approval")
async def shared_approval(ctx: WorkflowContext, payload: dict) -> dict:
    await ctx.step.run("before", _step, f"{ctx.execution_id}:before", 0.0)
    got = await ctx.step.suspend("approve", data={"order": payload["order"]})
    await ctx.step.run("after", _step, f"{ctx.execution_id}:after", 0.0)
    return {"order": payload["order"], "approved": got.data["approved"], "pid": os.getpid()}


@workflow(id="shared_waiter")
async def shared_waiter(ctx: WorkflowContext, payload: dict) -> dict:
    await ctx.step.run("armed", _step, f"{ctx.execution_id}:armed", 0.0)
    event = await ctx.step.wait_for_event("wait", topic=payload["topic"])
    return {"got": event.data, "pid": os.getpid()}


@workflow(id="shared_limited", queue={"name": "shared-limited-q", "concurrency_limit": 1})
async def shared_limited(ctx: WorkflowContext, payload: dict) -> int:
    await ctx.step.run("start", _step, f"{ctx.execution_id}:start", 0.3)
    await ctx.step.run("end", _step, f"{ctx.execution_id}:end", 0.0)
    return int(payload["n"])


async def _gate(path: str) -> None:
    while not os.path.exists(path):
        await asyncio.sleep(0.05)


@workflow(id="shared_fifo", queue={"name": "shared-fifo-q", "concurrency_limit": 1})
async def shared_fifo(ctx: WorkflowContext, payload: dict) -> int:
    """Admission order: ``<id>:start`` is its first line; with ``gate`` (a path) it holds
    the queue's slot until that file exists."""
    await ctx.step.run("start", _step, f"{ctx.execution_id}:start", 0.0)
    if payload.get("gate"):
        await ctx.step.run("gate", _gate, payload["gate"])
    await ctx.step.run("end", _step, f"{ctx.execution_id}:end", 0.05)
    return int(payload["n"])


@workflow(id="shared_tick", schedule={"cron": "0 0 1 1 *", "catch_up": "all"})
async def shared_tick(ctx: WorkflowContext, payload: object) -> None:
    await ctx.step.run("ticked", _step, f"{ctx.execution_id}:ticked", 0.0)


@workflow(id="shared_on_order", trigger_on_event="shared-orders")
async def shared_on_order(ctx: WorkflowContext, payload: object) -> None:
    await ctx.step.run("seen", _step, f"{ctx.execution_id}:seen", 0.0)


def main() -> None:
    global COUNTER
    url, COUNTER = sys.argv[1], sys.argv[2]
    client = PolosClient(journal=url)
    most = int(os.environ.get("WORKER_MAX_RUNS") or 0) or None
    worker = Worker(
        client,
        max_concurrent_workflows=most,
        workflows=[
            shared_job,
            shared_approval,
            shared_waiter,
            shared_limited,
            shared_fifo,
            shared_tick,
            shared_on_order,
        ],
    )
    print("ready", client.runtime.workers.id, flush=True)
    asyncio.run(worker.run())


if __name__ == "__main__":
    main()

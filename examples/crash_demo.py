"""A workflow that survives SIGKILL.

Run it with ``bash scripts/start.sh``. A child process starts a five-step workflow and
is killed with SIGKILL in the middle of it. This process then opens the same journal,
defines the workflow again, and the run resumes where it stopped: every step's side
effect (a line in a counter file) happened once.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from polos_nb import PolosClient, WorkflowContext, workflow

WORK = Path(os.environ.get("POLOS_DEMO_DIR") or tempfile.mkdtemp(prefix="polos-demo-"))
JOURNAL = WORK / "demo.duckdb"
COUNTER = WORK / "side_effects.txt"


def side_effect(name: str) -> str:
    with open(COUNTER, "a") as f:
        f.write(name + "\n")
        f.flush()
        os.fsync(f.fileno())
    time.sleep(0.3)
    return f"{name} done"


@workflow(id="five_steps")
async def five_steps(ctx: WorkflowContext, payload: dict) -> list[str]:
    results = []
    for i in range(1, 6):
        results.append(await ctx.step.run(f"step-{i}", side_effect, f"step-{i}"))
    return results


async def child() -> None:
    client = PolosClient(journal=JOURNAL)
    handle = await five_steps.invoke(client, {})
    print(f"[child {os.getpid()}] started execution {handle.id}", flush=True)
    await handle


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        asyncio.run(child())
        return
    print(f"journal: {JOURNAL}")
    proc = subprocess.Popen(
        [sys.executable, __file__, "--child"], env={**os.environ, "POLOS_DEMO_DIR": str(WORK)}
    )
    while not COUNTER.exists() or len(COUNTER.read_text().splitlines()) < 3:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    print(
        f"killed the child with SIGKILL after {len(COUNTER.read_text().splitlines())} side effects"
    )

    async def resume() -> None:
        client = PolosClient(journal=JOURNAL)  # reopening resumes the interrupted run
        [info] = await client.list_executions(workflow_id="five_steps")
        result = await client.wait_for_result(info.id, timeout=60)
        print("result:", result)
        client.close()

    asyncio.run(resume())
    lines = COUNTER.read_text().splitlines()
    counts = {name: lines.count(name) for name in sorted(set(lines))}
    print("side effects per step:", counts)
    print("(a step killed before its result was committed may run twice; committed steps never do)")


if __name__ == "__main__":
    main()

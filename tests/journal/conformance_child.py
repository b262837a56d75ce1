"""Child-process side of the conformance suite's kill test (``test_conformance.py``).

``python -m tests.journal.conformance_child start <journal> <counter file>`` starts
``conformance_killed``, prints its execution id, and blocks in step ``two`` until killed.
``... standby <journal> <execution id> <flag file>`` opens the journal (with
``POLOS_JOURNAL_WAIT`` set, it waits for the owner to go), writes the flag file, and prints
the run's result as JSON once it finished.
Every step appends its key to the counter file (fsynced) before returning.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import threading
import time

from polos_nb import PolosClient, WorkflowContext, workflow

BLOCK = threading.Event()
"""Set in the child process: step ``two`` then hangs until the process is killed."""


def _effect(counter: str, key: str) -> None:
    with open(counter, "a") as f:
        f.write(key + "\n")
        f.flush()
        os.fsync(f.fileno())


async def _step(counter: str, key: str, value: int) -> int:
    _effect(counter, key)
    if key == "two" and BLOCK.is_set():
        await asyncio.sleep(3600)
    return value


@workflow(id="conformance_killed")
async def killed(ctx: WorkflowContext, payload: dict) -> dict:
    counter = payload["counter"]
    one = await ctx.step.run("one", _step, counter, "one", 1)
    two = await ctx.step.run("two", _step, counter, "two", 2)
    three = await ctx.step.run("three", _step, counter, "three", 3)
    return {"one": one, "two": two, "three": three}


def standby(journal: str, execution_id: str, opened: str) -> None:
    """Open the journal (waiting while another process owns it), then finish the run."""
    print("waiting", flush=True)
    client = PolosClient(journal=journal)
    with open(opened, "w") as f:
        f.write("opened\n")
    result = asyncio.run(client.wait_for_result(execution_id, timeout=120))
    client.close()
    print(json.dumps(result), flush=True)


def main() -> None:
    mode, journal, counter = sys.argv[1:4]
    if mode == "standby":
        standby(journal, counter, sys.argv[4])
        return
    assert mode == "start"
    BLOCK.set()
    client = PolosClient(journal=journal)
    handle = killed.invoke_sync(client, {"counter": counter})
    print(handle.id, flush=True)
    while True:
        time.sleep(1)


if __name__ == "__main__":
    main()

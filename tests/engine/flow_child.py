"""Child process for the flow-control crash tests (``tests/engine/test_triggers.py``).

Run a mode with::

    python -m tests.engine.flow_child <mode> '<json args>'

A mode that arms ``kill_at_commit`` ends with SIGKILL (return code -9); if the kill point
is never reached it prints one JSON line and exits with code 3. Workflows are defined by
functions (not at import time), so the test process can define the same ids itself.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from typing import Any

from polos_nb import EventPayload, PolosClient, Workflow, WorkflowContext, workflow
from polos_nb.engine import events
from polos_nb.testing import kill_at_commit


def define_trigger(wf_id: str, topic: str) -> Workflow:
    """An event-triggered workflow that returns what its event carried."""

    @workflow(id=wf_id, trigger_on_event=topic)
    async def on_event(ctx: WorkflowContext, event: EventPayload) -> dict:
        stamp = await ctx.step.uuid("stamp")
        return {"seq": event.sequence_id, "data": event.data, "stamp": stamp}

    return on_event


def _emit(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


async def mode_publish_kill(a: dict) -> None:
    """Define the trigger, open the journal, then publish one event with a SIGKILL armed
    just ``when`` (``before``/``after``) the journal's ``n``-th commit from then on."""
    define_trigger(
        a["wf_id"], a["topic"]
    )  # registered before the client: its cursor is committed at open
    client = PolosClient(journal=a["journal"])
    kill_at_commit(client, a["n"], a["when"])
    await events.publish(client, a["topic"], {"data": a["data"]})
    await asyncio.sleep(20)  # the trigger's commits happen meanwhile; the kill ends the process
    _emit({"survived": True})
    os._exit(3)


MODES = {"publish_kill": mode_publish_kill}


def main() -> None:
    mode, args = sys.argv[1], json.loads(sys.argv[2])
    asyncio.run(MODES[mode](args))


if __name__ == "__main__":
    main()

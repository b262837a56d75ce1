"""Refund two tickets; the large one waits for a supervisor, who answers from another
process (approve_refund.py, started here as a person would in a second terminal):
python main.py"""

import asyncio
import sys

from refund_workflows import RefundPayload, refund_ticket

from polos_nb import Polos
from polos_nb.features import events


async def wait_done(polos, handle):
    while True:
        await asyncio.sleep(0.2)
        execution = await polos.get_execution(handle.id)
        if execution.get("status") in ["completed", "failed"]:
            return execution


async def main():
    async with Polos(log_file="polos.log") as polos:
        small = await refund_ticket.run(polos, RefundPayload(ticket="T-1", amount=40.0))
        print(f"T-1: {small.status}, notified={small.notified}")

        handle = await refund_ticket.invoke(polos, RefundPayload(ticket="T-2", amount=350.0))
        async for event in events.stream_workflow(polos, handle.root_workflow_id, handle.id):
            if event.event_type.startswith("suspend_"):
                print(f"Waiting for a supervisor: {event.data.get('refund_id')}")
                break
        supervisor = await asyncio.create_subprocess_exec(
            sys.executable, "approve_refund.py", handle.id
        )
        await supervisor.wait()

        execution = await wait_done(polos, handle)
        result = execution.get("result", {})
        print(f"Status: {execution.get('status')}")
        print(
            f"T-2: {result.get('status')}, reviewed={result.get('reviewed')}, "
            f"notified={result.get('notified')}, refund={result.get('refund_id')}"
        )


if __name__ == "__main__":
    asyncio.run(main())

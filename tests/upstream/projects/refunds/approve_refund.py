"""Answer a refund waiting for a supervisor, from another process:

python approve_refund.py <execution_id> [--hold]
"""

import asyncio
import os
import sys

from polos_nb import PolosClient


async def main():
    execution_id = sys.argv[1]
    approved = "--hold" not in sys.argv
    client = PolosClient(
        project_id=os.getenv("POLOS_PROJECT_ID", "refund-desk"),
        api_url=os.getenv("POLOS_API_URL", "http://localhost:8080"),
    )
    await client.resume(
        suspend_workflow_id="refund_ticket",
        suspend_execution_id=execution_id,
        suspend_step_key="supervisor_check",
        data={"approved": approved},
    )
    print(f"Supervisor: {'approved' if approved else 'held'} {execution_id[:4]}...")


if __name__ == "__main__":
    asyncio.run(main())

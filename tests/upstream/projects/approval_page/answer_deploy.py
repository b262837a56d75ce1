"""Answer the deployment's approval from another process, as the page's Submit would:

python answer_deploy.py <execution_id> <approver> [<comments>]
"""

import asyncio
import os
import sys

from polos_nb import PolosClient


async def main():
    execution_id, approver = sys.argv[1], sys.argv[2]
    data = {"approved": True, "approver": approver}
    if len(sys.argv) > 3:
        data["reason"] = sys.argv[3]
    client = PolosClient(
        project_id=os.getenv("POLOS_PROJECT_ID", "deployments"),
        api_url=os.getenv("POLOS_API_URL", "http://localhost:8080"),
    )
    await client.resume(
        suspend_workflow_id="deploy_with_approval",
        suspend_execution_id=execution_id,
        suspend_step_key="approve_deploy",
        data=data,
    )
    print(f"Answered {execution_id}: approved by {approver}")


if __name__ == "__main__":
    asyncio.run(main())

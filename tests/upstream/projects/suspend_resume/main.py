"""Interactive suspend/resume demo: python main.py"""

import asyncio

from approval_workflows import ApprovalRequest, approval_workflow

from polos_nb import Polos
from polos_nb.features import events


def get_yes_no(prompt: str) -> bool:
    while True:
        response = input(f"{prompt} (y/n): ").strip().lower()
        if response in ("y", "yes"):
            return True
        if response in ("n", "no"):
            return False
        print("Please enter 'y' or 'n'")


async def run_approval_workflow(polos):
    request_id = input("Request ID [REQ-001]: ").strip() or "REQ-001"
    amount = float(input("Amount [1500.00]: ").strip() or "1500.00")
    handle = await approval_workflow.invoke(
        polos, ApprovalRequest(request_id=request_id, requester="alice@example.com", amount=amount)
    )
    print(f"Execution ID: {handle.id}")

    suspend_data = None
    async for event in events.stream_workflow(polos, handle.root_workflow_id, handle.id):
        if event.event_type.startswith("suspend_"):
            suspend_data = event.data
            print(f"Request {suspend_data.get('request_id')}: ${suspend_data.get('amount', 0):.2f}")
            print(f"Message: {suspend_data.get('message')}")
            break

    approved = get_yes_no("Do you approve this request?")
    approver = input("Your email [manager@example.com]: ").strip() or "manager@example.com"
    comments = input("Comments (optional): ").strip() or None

    await polos.resume(
        suspend_workflow_id=handle.root_workflow_id,
        suspend_execution_id=handle.id,
        suspend_step_key="await_approval",
        data={"approved": approved, "approver": approver, "comments": comments},
    )
    print("Resume event published!")

    execution = await polos.get_execution(handle.id)
    while execution.get("status") not in ("completed", "failed"):
        await asyncio.sleep(0.1)
        execution = await polos.get_execution(handle.id)

    output = execution.get("result", {})
    print(f"Status: {output.get('status')}")
    print(f"Approved: {output.get('approved')}")
    print(f"Approver: {output.get('approver')}")
    if output.get("comments"):
        print(f"Comments: {output.get('comments')}")


async def main():
    async with Polos(log_file="polos.log") as polos:
        await run_approval_workflow(polos)


if __name__ == "__main__":
    asyncio.run(main())

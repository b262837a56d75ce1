"""Start a deployment and print the page where a person approves it: python main.py"""

import asyncio
import os

from deploy_workflows import deploy_workflow

from polos_nb import Polos
from polos_nb.features import events


async def main():
    api_url = os.getenv("POLOS_API_URL", "http://localhost:8080")
    ui_url = os.getenv("POLOS_UI_URL", api_url)

    async with Polos(log_file="polos.log") as polos:
        print("Starting deployment workflow...")
        handle = await deploy_workflow.invoke(
            polos, {"service": "api-gateway", "version": "2.4.0", "environment": "production"}
        )
        print(f"Execution ID: {handle.id}")

        async for event in events.stream_workflow(polos, handle.root_workflow_id, handle.id):
            if event.event_type and event.event_type.startswith("suspend_"):
                data = event.data if isinstance(event.data, dict) else {}
                step_key = event.event_type[len("suspend_") :]
                approval_url = data.get("_approval_url")
                if approval_url:
                    display_url = approval_url.replace(api_url, ui_url)
                else:
                    display_url = f"{ui_url}/approve/{handle.id}/{step_key}"
                print("=" * 60)
                print(f"  Waiting for approval of {data['_form']['title']}")
                print(f"  Open this URL in your browser: {display_url}")
                print("=" * 60, flush=True)

        execution = await polos.get_execution(handle.id)
        if execution.get("status") == "completed":
            result = execution.get("result", {})
            print("Workflow completed!")
            print(f"  Service:     {result.get('service')}")
            print(f"  Version:     {result.get('version')}")
            print(f"  Status:      {result.get('status')}")
            print(f"  Approved by: {result.get('approved_by')}")
            if result.get("reason"):
                print(f"  Reason:      {result.get('reason')}")
        else:
            print(f"Workflow ended with status: {execution.get('status')}")
            if execution.get("error"):
                print(f"  Error: {execution['error']}")


if __name__ == "__main__":
    asyncio.run(main())

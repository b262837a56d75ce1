"""Run the coding agent in a Docker sandbox and stream what it does: python main.py"""

import asyncio
import json
import uuid

from coding_agents import coding_agent

from polos_nb import Polos
from polos_nb.features import events


async def stream_activity(polos, handle) -> None:
    async for event in events.stream_workflow(polos, handle.root_workflow_id, handle.id):
        if event.event_type == "text_delta":
            content = event.data.get("content") if isinstance(event.data, dict) else None
            if isinstance(content, str):
                print(content, end="", flush=True)
        elif event.event_type == "tool_call":
            tool_call = event.data.get("tool_call", {}) if isinstance(event.data, dict) else {}
            print(f"\n  [Using {tool_call.get('function', {}).get('name', 'unknown')}...]")


async def main():
    async with Polos(log_file="polos.log") as polos:
        task = (
            'Create hello.py that prints "Hello from the sandbox!" and run it. Then create '
            "fibonacci.py that prints the first 10 Fibonacci numbers, and run that too."
        )
        print("Invoking coding agent...")
        handle = await polos.invoke(
            coding_agent.id, {"input": task, "streaming": True}, session_id=str(uuid.uuid4())
        )
        print(f"Execution ID: {handle.id}")
        await stream_activity(polos, handle)

        execution = await polos.get_execution(handle.id)
        print("\n" + "-" * 60)
        if execution.get("status") == "completed":
            result = execution.get("result", "")
            if isinstance(result, str):
                print(f"Agent completed: {result}")
            else:
                print(f"Agent completed: {json.dumps(result, indent=2)}")
        else:
            print(f"Final status: {execution.get('status')}")
            if execution.get("result"):
                print(execution["result"])


if __name__ == "__main__":
    asyncio.run(main())

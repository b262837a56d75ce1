"""Two agent runs in one session share their sandbox: python main.py"""

import asyncio
import json
import uuid

from session_agents import coding_agent

from polos_nb import Polos
from polos_nb.features import events


def print_banner(text: str) -> None:
    print("\n" + "=" * 60)
    print(f"  {text}")
    print("=" * 60)


async def stream_activity(polos, handle) -> None:
    async for event in events.stream_workflow(polos, handle.root_workflow_id, handle.id):
        if event.event_type == "text_delta":
            content = event.data.get("content") if isinstance(event.data, dict) else None
            if isinstance(content, str):
                print(content, end="", flush=True)
        elif event.event_type == "tool_call":
            tool_call = event.data.get("tool_call", {}) if isinstance(event.data, dict) else {}
            print(f"\n  [Using {tool_call.get('function', {}).get('name', 'unknown')}...]")


async def run_agent(polos, task: str, session_id: str, label: str) -> None:
    print_banner(label)
    print(f"  Task: {task}")
    print(f"  Session ID: {session_id}")

    handle = await polos.invoke(
        coding_agent.id, {"input": task, "streaming": True}, session_id=session_id
    )
    print(f"Execution ID: {handle.id}")
    await stream_activity(polos, handle)

    execution = await polos.get_execution(handle.id)
    print("\n" + "-" * 60)
    if execution.get("status") == "completed":
        result = execution.get("result", "")
        print(result if isinstance(result, str) else json.dumps(result, indent=2))
    else:
        print(f"Final status: {execution.get('status')}")
        if execution.get("result"):
            print(execution["result"])


async def main():
    async with Polos(log_file="polos.log") as polos:
        session_id = str(uuid.uuid4())
        await run_agent(
            polos,
            "Create math_utils.py with add(a, b) and multiply(a, b), and test_math.py that "
            'checks them and prints "All tests passed!". Run the tests.',
            session_id,
            "Run 1: create math_utils and test it",
        )
        await run_agent(
            polos,
            "List the files in /workspace. Add subtract(a, b) to math_utils.py, test it in "
            "test_math.py, and run the tests again.",
            session_id,
            "Run 2: extend math_utils (same sandbox)",
        )


if __name__ == "__main__":
    asyncio.run(main())

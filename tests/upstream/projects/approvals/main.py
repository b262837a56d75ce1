"""Approve tool calls and answer the agent's questions from the terminal: python main.py"""

import asyncio
import json
import uuid

from assistant_agents import email_assistant

from polos_nb import Polos
from polos_nb.features import events


def ask_yes_no(prompt: str) -> bool:
    while True:
        answer = input(f"{prompt} (y/n): ").strip().lower()
        if answer in ("y", "yes"):
            return True
        if answer in ("n", "no"):
            return False


async def stream_events(polos, handle):
    async for event in events.stream_workflow(polos, handle.root_workflow_id, handle.id):
        if event.event_type and event.event_type.startswith("suspend_"):
            yield {"step_key": event.event_type[len("suspend_") :], "data": event.data}
        elif event.event_type == "text_delta":
            print(event.data.get("content", ""), end="", flush=True)
        elif event.event_type == "tool_call":
            fn = event.data.get("tool_call", {}).get("function", {})
            print(f"\n  [Using {fn.get('name', 'unknown')}...]")


async def handle_tool_approval(polos, handle, suspend):
    form = suspend["data"].get("_form", {})
    context = form.get("context", {})
    print(f'\n  The agent wants to use the "{context.get("tool")}" tool.')
    print(f"  Input: {json.dumps(context.get('input'))}")
    print(f"  Approve in the browser: {suspend['data'].get('_approval_url')}")
    approved = ask_yes_no("  Approve this tool call?")
    resume_data = {"approved": approved}
    if not approved:
        feedback = input("  Feedback: ").strip()
        if feedback:
            resume_data["feedback"] = feedback
    await polos.resume(
        suspend_workflow_id=handle.root_workflow_id,
        suspend_execution_id=handle.id,
        suspend_step_key=suspend["step_key"],
        data=resume_data,
    )


async def handle_ask_user(polos, handle, suspend):
    form = suspend["data"].get("_form", {})
    print(f"\n  {form.get('title', 'Agent Question')}: {form.get('description', '')}")
    resume_data = {}
    for field in form.get("fields", []):
        resume_data[field["key"]] = input(f"  {field['label']}: ")
    await polos.resume(
        suspend_workflow_id=handle.root_workflow_id,
        suspend_execution_id=handle.id,
        suspend_step_key=suspend["step_key"],
        data=resume_data,
    )


async def main():
    async with Polos(log_file="polos.log") as polos:
        handle = await polos.invoke(
            email_assistant.id,
            {"input": "Send the weekly report", "streaming": True},
            session_id=str(uuid.uuid4()),
        )
        async for suspend in stream_events(polos, handle):
            if suspend["step_key"].startswith("approve_"):
                await handle_tool_approval(polos, handle, suspend)
            elif suspend["step_key"].startswith("ask_user"):
                await handle_ask_user(polos, handle, suspend)
            else:
                print(f"\nReceived unexpected suspend: {suspend['step_key']}")

        execution = await polos.get_execution(handle.id)
        while execution.get("status") not in ("completed", "failed"):
            await asyncio.sleep(0.1)
            execution = await polos.get_execution(handle.id)
        print(f"\nFinal status: {execution.get('status')}")
        result = execution.get("result", {})
        print(f"Answer: {result.get('result')}")
        print(json.dumps([r["status"] for r in result.get("tool_results", [])]))


if __name__ == "__main__":
    asyncio.run(main())

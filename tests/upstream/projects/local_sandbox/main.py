"""Run a coding agent on this machine, approving its commands and file changes:
python main.py"""

import asyncio
import json
import uuid

from local_agents import coding_agent

from polos_nb import Polos
from polos_nb.features import events


def print_banner(text: str) -> None:
    print("\n" + "=" * 60)
    print(f"  {text}")
    print("=" * 60)


def ask(prompt: str) -> str:
    return input(prompt).strip()


def ask_yes_no(prompt: str) -> bool:
    while True:
        answer = input(f"{prompt} (y/n): ").strip().lower()
        if answer in ("y", "yes"):
            return True
        if answer in ("n", "no"):
            return False
        print("  Please enter 'y' or 'n'")


async def suspend_events(polos, handle):
    async for event in events.stream_workflow(polos, handle.root_workflow_id, handle.id):
        event_type = event.event_type
        if event_type == "text_delta":
            content = event.data.get("content") if isinstance(event.data, dict) else None
            if isinstance(content, str):
                print(content, end="", flush=True)
        elif event_type == "tool_call":
            tool_call = event.data.get("tool_call", {}) if isinstance(event.data, dict) else {}
            print(f"\n  [Using {tool_call.get('function', {}).get('name', 'unknown')}...]")
        elif event_type and event_type.startswith("suspend_"):
            yield {"step_key": event_type[len("suspend_") :], "data": event.data}


def decide(prompt: str, extra: dict | None = None) -> dict:
    approved = ask_yes_no(prompt)
    resume_data = {"approved": approved, **(extra or {})}
    if not approved:
        feedback = ask("  Feedback (tell the agent what to do instead): ")
        if feedback:
            resume_data["feedback"] = feedback
    print("  -> Approved. Resuming..." if approved else "  -> Rejected. Resuming...")
    return resume_data


async def answer(polos, handle, suspend: dict, resume_data: dict) -> None:
    await polos.resume(
        suspend_workflow_id=handle.root_workflow_id,
        suspend_execution_id=handle.id,
        suspend_step_key=suspend["step_key"],
        data=resume_data,
    )


async def handle_exec_approval(polos, handle, suspend: dict) -> None:
    context = suspend["data"].get("_form", {}).get("context", {})
    print_banner("COMMAND APPROVAL REQUIRED")
    print(f"    Command:   {context.get('command', 'unknown')}")
    if context.get("cwd"):
        print(f"    Directory: {context['cwd']}")
    resume_data = decide("  Approve this command?", {"allow_always": False})
    await answer(polos, handle, suspend, resume_data)


async def handle_file_approval(polos, handle, suspend: dict) -> None:
    context = suspend["data"].get("_form", {}).get("context", {})
    tool_name = str(context.get("tool", "unknown"))
    tool_input = context.get("input", {})
    print_banner(f"{tool_name.upper()} APPROVAL REQUIRED")
    if isinstance(tool_input, dict):
        if tool_input.get("path"):
            print(f"    Path: {tool_input['path']}")
        if tool_name == "write" and tool_input.get("content"):
            print(f"    Content:\n{tool_input['content']}")
        if tool_name == "edit":
            print(f"    Old text: {tool_input.get('old_text')}")
            print(f"    New text: {tool_input.get('new_text')}")
    await answer(polos, handle, suspend, decide("  Approve this operation?"))


async def handle_path_approval(polos, handle, suspend: dict) -> None:
    context = suspend["data"].get("_form", {}).get("context", {})
    print_banner(f"{str(context.get('tool', 'unknown')).upper()}: PATH OUTSIDE WORKSPACE")
    print(f"    Path:      {context.get('path')}")
    print(f"    Workspace: {context.get('restriction')}")
    await answer(polos, handle, suspend, decide("  Allow this access?"))


async def main():
    async with Polos(log_file="polos.log") as polos:
        print_banner("Local Sandbox Demo")
        task = (
            'Create hello.py that prints "Hello from the local sandbox!" and run it. Then '
            "create fibonacci.py that prints the first 10 Fibonacci numbers, and run that too."
        )
        print(f"  Task: {task}")

        handle = await polos.invoke(
            coding_agent.id, {"input": task, "streaming": True}, session_id=str(uuid.uuid4())
        )
        print(f"Execution ID: {handle.id}")

        async for suspend in suspend_events(polos, handle):
            step_key = suspend["step_key"]
            if step_key.startswith("approve_exec"):
                await handle_exec_approval(polos, handle, suspend)
            elif step_key.startswith(("approve_write", "approve_edit")):
                await handle_file_approval(polos, handle, suspend)
            elif step_key.startswith(("approve_read", "approve_glob", "approve_grep")):
                await handle_path_approval(polos, handle, suspend)
            else:
                print(f"Received unexpected suspend: {step_key}")

        execution = await polos.get_execution(handle.id)
        print("-" * 60)
        if execution.get("status") == "completed":
            print_banner("Agent Completed")
            result = execution.get("result", "")
            print(result if isinstance(result, str) else json.dumps(result, indent=2))
        else:
            print(f"Final status: {execution.get('status')}")
            if execution.get("result"):
                print(execution["result"])


if __name__ == "__main__":
    asyncio.run(main())

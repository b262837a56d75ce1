"""Approve (or reject, with feedback) the commands the agent runs outside its allowlist:
python main.py"""

import asyncio
import json
import sys
import uuid

from secure_agents import coding_agent

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


async def stream_events(polos, handle):
    async for event in events.stream_workflow(polos, handle.root_workflow_id, handle.id):
        event_type = event.event_type
        if event_type and event_type.startswith("suspend_"):
            yield {"step_key": event_type[len("suspend_") :], "data": event.data}
        elif event_type == "text_delta":
            content = event.data.get("content") if isinstance(event.data, dict) else None
            if isinstance(content, str):
                sys.stdout.write(content)
                sys.stdout.flush()
        elif event_type == "tool_call":
            tool_call = event.data.get("tool_call", {}) if isinstance(event.data, dict) else {}
            print(f"\n  [Using {tool_call.get('function', {}).get('name', 'unknown')}...]")


async def handle_approval(polos, handle, suspend: dict) -> None:
    form = suspend["data"].get("_form", {}) if isinstance(suspend["data"], dict) else {}
    context = form.get("context", {})
    print_banner("COMMAND APPROVAL REQUIRED")
    print(f"    Command:     {context.get('command', 'unknown')}")
    if context.get("cwd"):
        print(f"    Directory:   {context['cwd']}")
    if context.get("environment"):
        print(f"    Environment: {context['environment']}")

    approved = ask_yes_no("  Approve this command?")
    resume_data = {"approved": approved, "allow_always": False}
    if not approved:
        feedback = ask("  Feedback (tell the agent what to do instead): ")
        if feedback:
            resume_data["feedback"] = feedback
    print("  -> Approved." if approved else "  -> Rejected.")

    await polos.resume(
        suspend_workflow_id=handle.root_workflow_id,
        suspend_execution_id=handle.id,
        suspend_step_key=suspend["step_key"],
        data=resume_data,
    )


async def handle_ask_user(polos, handle, suspend: dict) -> None:
    form = suspend["data"].get("_form", {}) if isinstance(suspend["data"], dict) else {}
    print_banner(str(form.get("title", "Agent Question")))
    if form.get("description"):
        print(f"  {form['description']}")

    resume_data = {}
    for field in form.get("fields", []):
        if field.get("type") == "boolean":
            resume_data[field["key"]] = ask_yes_no(f"  {field['label']}")
        elif field.get("type") == "select" and field.get("options"):
            options = field["options"]
            for i, option in enumerate(options):
                print(f"    {i + 1}. {option['label']}")
            while True:
                choice = ask(f"  Enter choice (1-{len(options)}): ")
                if choice.isdigit() and 1 <= int(choice) <= len(options):
                    resume_data[field["key"]] = options[int(choice) - 1]["value"]
                    break
                print("  Invalid choice, try again.")
        else:
            answer = ask(f"  {field['label']}: ")
            resume_data[field["key"]] = int(answer) if field.get("type") == "number" else answer

    await polos.resume(
        suspend_workflow_id=handle.root_workflow_id,
        suspend_execution_id=handle.id,
        suspend_step_key=suspend["step_key"],
        data=resume_data,
    )


async def main():
    async with Polos(log_file="polos.log") as polos:
        print_banner("Exec Security Demo")
        task = (
            "Create greet.py that greets the name given as its argument, and run it. "
            "Then make the greeting colourful and run it again."
        )
        print(f"  Task: {task}")

        handle = await polos.invoke(
            coding_agent.id, {"input": task, "streaming": True}, session_id=str(uuid.uuid4())
        )
        print(f"Execution ID: {handle.id}")

        async for suspend in stream_events(polos, handle):
            if suspend["step_key"].startswith("approve_exec"):
                await handle_approval(polos, handle, suspend)
            elif suspend["step_key"].startswith("ask_user"):
                await handle_ask_user(polos, handle, suspend)
            else:
                print(f"Received unexpected suspend: {suspend['step_key']}")

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

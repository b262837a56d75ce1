"""Child-process side of the agent crash tests (``test_agent_crash.py``).

    python -m tests.agents.crash_agent_child <mode> '<json args>'

Every LLM call and every tool side effect appends a line to ``$AGENT_CRASH_COUNTER``
(open, append, fsync), so the tests can count them across processes. With
``$AGENT_CRASH_POINT`` set, the process SIGKILLs itself at that point of the run.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from typing import Any

from polos_nb import Agent, PolosClient, create_ask_user_tool, tool
from polos_nb.testing import FakeToolCall, FunctionModel

CRASH = os.environ.get("AGENT_CRASH_POINT", "")


def log(line: str) -> None:
    with open(os.environ["AGENT_CRASH_COUNTER"], "a") as f:
        f.write(line + "\n")
        f.flush()
        os.fsync(f.fileno())


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)
    time.sleep(60)


def brain(messages: list[dict[str, Any]], info: dict[str, Any]) -> Any:
    log(f"llm {len(messages)}")
    last = messages[-1]
    if last["role"] == "user" and last["content"].startswith("trip"):
        return FakeToolCall("ask_user", {"question": "Where to?"}, id="q1")
    if last["role"] == "user":
        return [
            FakeToolCall("tool_a", {"x": 1}, id="c1"),
            FakeToolCall("tool_b", {"x": 2}, id="c2"),
        ]
    return "final: " + " | ".join(m["content"] for m in messages if m["role"] == "tool")


model = FunctionModel(brain, name="crash-brain")


@tool(description="first tool")
async def tool_a(ctx: Any, x: int) -> str:
    if CRASH == "after_llm":
        die()  # llm:1 is committed; no tool has had its side effect
    log(f"tool a {x}")
    return f"a{x}"


@tool(description="second tool")
async def tool_b(ctx: Any, x: int) -> str:
    if CRASH == "after_one_tool":
        while not ctx.step.recorded("tool:1:c1:tool_a"):
            await asyncio.sleep(0.005)
        await asyncio.sleep(1.5)  # tool_a's step is committed by now; this one is not
        die()
    log(f"tool b {x}")
    return f"b{x}"


agent = Agent(
    id="crash-agent", provider="fake", model=model, tools=[tool_a, tool_b, create_ask_user_tool()]
)


def emit(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, default=str) + "\n")
    sys.stdout.flush()


async def mode_start(a: dict[str, Any]) -> None:
    """Start a run; print its id; then finish it (or die at ``$AGENT_CRASH_POINT``)."""
    client = PolosClient(journal=a["journal"])
    handle = await agent.invoke(client, a["prompt"])
    emit({"id": handle.id})
    if a.get("die_when_waiting"):
        while (await client.get_execution(handle.id)).status != "waiting":
            await asyncio.sleep(0.01)
        die()
    result = await client.wait_for_result(handle.id, timeout=120)
    emit({"result": result.result, "llm_calls": result.llm_calls})
    client.close()


async def mode_recover(a: dict[str, Any]) -> None:
    """Reopen the journal (which resumes the run), optionally answer ask_user, wait for the result."""
    client = PolosClient(journal=a["journal"])
    if a.get("resume"):
        await client.resume(agent.id, a["id"], a["resume"]["key"], a["resume"]["data"])
    result = await client.wait_for_result(a["id"], timeout=120)
    emit({"result": result.result, "tools": [r.result for r in result.tool_results]})
    client.close()


def main() -> None:
    mode, args = sys.argv[1], json.loads(sys.argv[2])
    asyncio.run({"start": mode_start, "recover": mode_recover}[mode](args))


if __name__ == "__main__":
    main()

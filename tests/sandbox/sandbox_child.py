"""Child process for the sandbox crash and orphan tests.

    python -m tests.sandbox.sandbox_child <mode> '<json args>'

``orphan``: make a Docker sandbox, print its container name, SIGKILL itself.
``start``: start the coding agent; once it waits for an approval, print and SIGKILL itself.
``recover``: reopen the journal (the run resumes), answer the approval, print the result.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from typing import Any

from polos_nb import (
    Agent,
    DockerEnvironmentConfig,
    ExecToolConfig,
    PolosClient,
    SandboxToolsConfig,
    pending_approvals,
    sandbox_tools,
)
from polos_nb.testing import FakeToolCall, FunctionModel

IMAGE = os.environ.get("POLOS_SANDBOX_TEST_IMAGE", "polos-nb-sandbox:py3")
STEP = "import sys\nopen('count.txt', 'a').write(sys.argv[1] + '\\n')\nprint('ran', sys.argv[1])\n"

tools = sandbox_tools(
    SandboxToolsConfig(
        env="docker",
        docker=DockerEnvironmentConfig(image=IMAGE),
        exec=ExecToolConfig(security="allowlist", allowlist=["python3 step.py a"]),
    )
)
SCRIPT: list[Any] = [
    FakeToolCall("write", {"path": "step.py", "content": STEP}, id="w"),
    FakeToolCall("exec", {"command": "python3 step.py a"}, id="a"),  # allowlisted
    FakeToolCall("exec", {"command": "python3 step.py b"}, id="b"),  # needs approval
    FakeToolCall("exec", {"command": "cat count.txt"}, id="c"),  # needs approval
    "finished",
]


def brain(messages: list[dict[str, Any]], info: Any) -> Any:
    # Stateless (a restarted process has a fresh model): the next step follows from the
    # number of tool results the conversation already holds.
    return SCRIPT[sum(1 for m in messages if m["role"] == "tool")]


model = FunctionModel(brain, name="sandbox-crash-brain")
agent = Agent(id="sandbox-crash-agent", provider="fake", model=model, tools=tools)


def emit(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, default=str) + "\n")
    sys.stdout.flush()


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)
    time.sleep(60)


async def mode_orphan(a: dict[str, Any]) -> None:
    from polos_nb.sandbox import get_sandbox_manager

    orphan_tools = {
        t.id: t
        for t in sandbox_tools(
            SandboxToolsConfig(
                env="docker", id="orphan", docker=DockerEnvironmentConfig(image=IMAGE)
            )
        )
    }

    class Ctx:
        execution_id = root_execution_id = "orphan-run"
        session_id = None

    tool = orphan_tools["write"]
    await tool.invoke(Ctx(), tool.parse_arguments({"path": "kept.txt", "content": "kept"}))
    sandbox = next(s for s in get_sandbox_manager().sandboxes() if s.name == "orphan")
    emit({"container": sandbox._env.container_name, "workspace": sandbox.workspace})  # type: ignore[union-attr]
    die()


async def mode_start(a: dict[str, Any]) -> None:
    client = PolosClient(journal=a["journal"])
    handle = await agent.invoke(client, "run the steps")
    emit({"id": handle.id})
    while not pending_approvals(handle.id, client=client):
        await asyncio.sleep(0.02)
    emit({"pending": pending_approvals(handle.id, client=client)[0].key})
    die()


async def mode_recover(a: dict[str, Any]) -> None:
    client = PolosClient(journal=a["journal"])
    answered = []
    keys: set[str] = set()
    while True:
        info = await client.get_execution(a["id"])
        if info.status in ("completed", "failed", "cancelled"):
            break
        pending = [p for p in pending_approvals(a["id"], client=client) if p.key not in keys]
        if pending:
            keys.add(pending[0].key)
            answered.append(pending[0].data["_form"]["context"]["command"])
            pending[0].approve()
        await asyncio.sleep(0.02)
    result = await client.wait_for_result(a["id"], timeout=120)
    emit(
        {
            "answered": answered,
            "outputs": {r.tool_call_id: r.result for r in result.tool_results},
            "result": result.result,
        }
    )
    client.close()


def main() -> None:
    mode, args = sys.argv[1], json.loads(sys.argv[2])
    modes = {"orphan": mode_orphan, "start": mode_start, "recover": mode_recover}
    asyncio.run(modes[mode](args))


if __name__ == "__main__":
    main()

"""Gap 1: the ``Polos`` object (client + in-process worker), as upstream examples use it."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest
from pydantic import BaseModel

from polos_nb import (
    Agent,
    MaxStepsConfig,
    Polos,
    PolosClient,
    WorkflowContext,
    max_steps,
    tool,
    workflow,
)
from polos_nb.errors import UserError
from polos_nb.testing import FakeToolCall, ScriptedModel

from .conftest import uid


class WeatherInput(BaseModel):
    city: str


class WeatherOutput(BaseModel):
    city: str
    temperature: int


@tool(description="Get the current weather information for a given city")
async def get_weather(ctx: WorkflowContext, input: WeatherInput) -> WeatherOutput:
    return WeatherOutput(city=input.city, temperature=72)


async def test_async_with_polos_runs_agents_and_workflows(tmp_path: Path) -> None:
    model = ScriptedModel(
        uid("weather"), [FakeToolCall("get_weather", {"city": "New York"}), "It is 72F."]
    )
    weather_agent = Agent(
        id=uid("weather_agent"),
        provider="fake",
        model=model,
        system_prompt="You are a helpful weather assistant.",
        tools=[get_weather],
        stop_conditions=[max_steps(MaxStepsConfig(count=10))],
    )

    @workflow(id=uid("approval_workflow"))
    async def approval_workflow(ctx: WorkflowContext, payload: dict) -> dict:
        decision = await ctx.step.suspend("await_approval", data={"amount": payload["amount"]})
        return {"status": "approved" if decision["data"]["approved"] else "rejected"}

    async with Polos(log_file="polos.log") as polos:
        result = await weather_agent.run(polos, "What's the weather like in New York?")
        assert result.result == "It is 72F."

        handle = await approval_workflow.invoke(polos, {"amount": 10})
        while (await polos.get_execution(handle.id)).get("status") != "waiting":
            await asyncio.sleep(0.02)
        await polos.resume(
            suspend_workflow_id=handle.root_workflow_id,
            suspend_execution_id=handle.id,
            suspend_step_key="await_approval",
            data={"approved": True},
        )
        while (execution := await polos.get_execution(handle.id)).get("status") != "completed":
            await asyncio.sleep(0.02)
        assert execution.get("result") == {"status": "approved"}

        raw = await polos.invoke(approval_workflow.id, {"amount": 3})
        assert await polos.cancel_execution(raw.id) is True
    # log_file: polos_nb's log records went to the file, not the console
    assert "Polos started" in (tmp_path / "polos.log").read_text()
    assert "Polos stopped" in (tmp_path / "polos.log").read_text()
    assert not polos.started


def test_sync_form() -> None:
    @workflow(id=uid("simple_workflow"))
    async def simple_workflow(ctx: WorkflowContext, payload: dict) -> str:
        greeting = await ctx.step.run("greet", lambda: f"Hello, {payload['name']}!")
        return greeting

    with Polos() as polos:
        assert simple_workflow.run_sync(polos, {"name": "Alice"}) == "Hello, Alice!"
        handle = simple_workflow.invoke_sync(polos, {"name": "Bob"})
        assert polos.wait_for_result_sync(handle.id, timeout=30) == "Hello, Bob!"
        assert polos.get_execution_sync(handle.id)["status"] == "completed"


async def test_start_stop_and_serve() -> None:
    polos = Polos()
    await polos.start()
    assert polos.started
    server = asyncio.create_task(polos.serve())
    await asyncio.sleep(0.05)
    assert not server.done()  # serves until stopped
    await polos.stop()
    await asyncio.wait_for(server, 10)
    assert not polos.started
    with pytest.raises(UserError, match="stopped"):
        await polos.start()


def test_upstream_constructor_arguments_are_accepted_and_recorded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("POLOS_DEPLOYMENT_ID", "from-env")
    polos = Polos(
        project_id="proj_1",
        api_url="http://localhost:8080",
        api_key="sk-upstream-secret",
        port=9000,
        max_concurrent_workflows=5,
        channels=None,
    )
    try:
        assert polos.project_id == "proj_1"
        assert polos.api_url == "http://localhost:8080"
        assert polos.api_key == "sk-upstream-secret"
        assert polos.deployment_id == "from-env"
        assert polos.port == 9000 and polos.max_concurrent_workflows == 5
        assert "sk-upstream-secret" not in repr(polos)
    finally:
        polos.close()
    with pytest.raises(UserError, match="channels"):
        Polos(channels=[object()])
    with pytest.raises(UserError, match="max_concurrent_workflows"):
        Polos(max_concurrent_workflows=0)


async def test_polos_client_with_upstream_arguments() -> None:
    @workflow(id=uid("order_processing_workflow"))
    async def order(ctx: WorkflowContext, payload: dict) -> dict:
        resp = await ctx.step.suspend("fraud_review", {"order": payload["id"]})
        return {"approved": resp.get("data", {}).get("approved")}

    async with Polos() as polos:
        handle = await order.invoke(polos, {"id": 7})
        client = PolosClient(project_id="proj_1", api_url="http://localhost:8080")
        while (await client.get_execution(handle.id))["status"] != "waiting":
            await asyncio.sleep(0.02)
        await client.resume(
            suspend_workflow_id=order.id,
            suspend_execution_id=handle.id,
            suspend_step_key="fraud_review",
            data={"approved": True},
        )
        assert await client.wait_for_result(handle.id, timeout=30) == {"approved": True}
        assert PolosClient("http://localhost:8080").api_url == "http://localhost:8080"
        client.close()


def test_log_file_leaves_the_root_logger_alone(tmp_path: Path) -> None:
    root_handlers = list(logging.getLogger().handlers)
    with Polos(log_file=tmp_path / "p.log"):
        logging.getLogger("polos_nb.engine").warning("to the file")
        assert logging.getLogger().handlers == root_handlers
    assert "to the file" in (tmp_path / "p.log").read_text()
    assert logging.getLogger("polos_nb").propagate is True


async def test_serve_ends_even_if_a_channels_request_server_does_not_stop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import threading

    from polos_nb.engine import _polos

    monkeypatch.setattr(_polos, "SERVER_CLOSE_SECONDS", 0.5)
    release = threading.Event()

    class StuckServer:
        url = "http://127.0.0.1:1"

        def close(self) -> None:
            release.wait(30)  # a request under way that never finishes

    class Channel:
        id = "stuck"

        async def notify(self, notification: object) -> None:
            return None

        def serve_requests(self, client: object, *, port: int) -> StuckServer:
            return StuckServer()

    polos = Polos(journal=str(tmp_path / "j.duckdb"), channels=[Channel()])
    serving = asyncio.create_task(polos.serve())
    try:
        for _ in range(200):
            if polos._serving is not None:
                break
            await asyncio.sleep(0.02)
        with caplog.at_level("WARNING", logger="polos_nb.engine"):
            serving.cancel()  # Ctrl+C in a script
            with pytest.raises(asyncio.CancelledError):
                await asyncio.wait_for(serving, 10)
        assert polos._closed
        assert "did not stop within" in caplog.text
    finally:
        release.set()
        if not polos._closed:
            await polos.stop()


def test_ctrl_c_that_reaches_another_thread_still_stops_serve(tmp_path: Path) -> None:
    """On Unix a Ctrl+C may land on any thread of the process; `await polos.serve()` in
    `asyncio.run` must still stop (its loop has nothing else to wake it)."""
    import subprocess
    import sys

    script = tmp_path / "serve.py"
    script.write_text(
        "import asyncio, signal, threading, time\n"
        "from polos_nb import Polos\n"
        "\n"
        "async def main():\n"
        "    polos = Polos(journal=" + repr(str(tmp_path / "j.duckdb")) + ")\n"
        "    def ctrl_c_on_this_thread():\n"
        "        time.sleep(1.0)\n"
        "        signal.pthread_kill(threading.get_ident(), signal.SIGINT)\n"
        "    threading.Thread(target=ctrl_c_on_this_thread, daemon=True).start()\n"
        "    print('serving', flush=True)\n"
        "    await polos.serve()\n"
        "\n"
        "try:\n"
        "    signal.signal(signal.SIGINT, signal.default_int_handler)  # as from a terminal\n"
        "    asyncio.run(main())\n"
        "except KeyboardInterrupt:\n"
        "    print('stopped by Ctrl+C', flush=True)\n"
    )
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert "stopped by Ctrl+C" in done.stdout, (done.stdout, done.stderr[-3000:])

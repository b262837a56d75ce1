"""Workflow hooks: ``@workflow(on_start=..., on_end=...)`` as upstream Polos runs them.

Upstream's ``workflow`` decorator and ``Workflow`` take ``on_start`` / ``on_end`` (a
``@hook`` function or a list of them): ``on_start`` sees the payload and may change it,
``on_end`` sees the result and may change it, and a ``HookResult.fail(...)`` fails the run.
"""

from __future__ import annotations

import asyncio

import pytest
from pydantic import BaseModel

from polos_nb import (
    HookContext,
    HookResult,
    Polos,
    Workflow,
    WorkflowContext,
    hook,
    workflow,
)
from polos_nb.errors import ExecutionFailedError

from .conftest import uid


class Order(BaseModel):
    item: str
    quantity: int = 1


async def test_on_start_changes_the_payload_and_on_end_the_result() -> None:
    seen: list[tuple[str, object]] = []

    @hook
    def at_least_two(ctx: WorkflowContext, hook_ctx: HookContext) -> HookResult:
        seen.append((hook_ctx.workflow_id, hook_ctx.current_payload))
        return HookResult.continue_with(modified_payload={"quantity": 2})

    @hook()
    async def audit(ctx: WorkflowContext, hook_ctx: HookContext) -> HookResult:
        seen.append(("end", hook_ctx.current_output))
        return HookResult.continue_with(modified_output={"audited": True})

    @workflow(id=uid("orders"), on_start=at_least_two, on_end=[audit])
    async def place_order(ctx: WorkflowContext, order: Order) -> dict:
        return {"item": order.item, "quantity": order.quantity}

    async with Polos() as polos:
        result = await place_order.run(polos, Order(item="pen"))
    assert result == {"item": "pen", "quantity": 2, "audited": True}
    assert seen == [
        (place_order.id, Order(item="pen", quantity=1)),
        ("end", {"item": "pen", "quantity": 2}),
    ]


async def test_a_failing_hook_fails_the_run() -> None:
    @hook
    def refuse_empty(ctx: WorkflowContext, hook_ctx: HookContext) -> HookResult:
        if not (hook_ctx.current_payload or {}).get("text"):
            return HookResult.fail("Empty text not allowed")
        return HookResult.continue_with()

    def shout(ctx: WorkflowContext, payload: dict) -> str:  # a plain def, as upstream allows
        return payload["text"].upper()

    wf = Workflow(id=uid("shout"), func=shout, on_start=[refuse_empty])
    async with Polos() as polos:
        assert await wf.run(polos, {"text": "hi"}) == "HI"
        with pytest.raises(ExecutionFailedError, match="Empty text not allowed"):
            await wf.run(polos, {"text": ""})


async def test_hooks_run_once_across_a_suspension() -> None:
    starts: list[object] = []
    ends: list[object] = []

    @hook
    def count_start(ctx: WorkflowContext, hook_ctx: HookContext) -> HookResult:
        starts.append(hook_ctx.current_payload)
        return HookResult.continue_with()

    @hook
    def count_end(ctx: WorkflowContext, hook_ctx: HookContext) -> HookResult:
        ends.append(hook_ctx.current_output)
        return HookResult.continue_with()

    @workflow(id=uid("confirmed"), on_start=[count_start], on_end=[count_end])
    async def confirmed(ctx: WorkflowContext, payload: dict) -> str:
        answer = await ctx.step.suspend("confirm", data={"question": "Go?"})
        return "yes" if answer.get("data", {}).get("ok") else "no"

    async with Polos() as polos:
        handle = await confirmed.invoke(polos, {"n": 1})
        for _ in range(200):
            if (await polos.get_execution(handle.id))["status"] == "waiting":
                break
            await asyncio.sleep(0.02)
        await polos.resume(confirmed.id, handle.id, "confirm", {"ok": True})
        assert await polos.wait_for_result(handle.id, timeout=30) == "yes"
    assert starts == [{"n": 1}]
    assert ends == ["yes"]


def test_hooks_that_are_not_functions_are_refused() -> None:
    def body(ctx: WorkflowContext, payload: dict) -> dict:
        return payload

    @hook
    def fine(ctx: WorkflowContext, hook_ctx: HookContext) -> HookResult:
        return HookResult.continue_with()

    with pytest.raises(TypeError, match="Invalid hook type"):
        Workflow(id=uid("bad"), func=body, on_start=[fine, "not a function"])
    with pytest.raises(TypeError, match="Invalid hooks type"):
        workflow(id=uid("bad"), on_end="not a function or a list")(body)
    assert Workflow(id=uid("good"), func=body, on_start=fine).on_start == [fine]


async def test_an_agents_hooks_are_its_attributes_and_run_once() -> None:
    from polos_nb import Agent
    from polos_nb.testing import ScriptedModel

    starts: list[object] = []

    @hook
    def log_start(ctx: WorkflowContext, hook_ctx: HookContext) -> HookResult:
        starts.append(hook_ctx.current_payload)
        return HookResult.continue_with()

    @hook
    def log_tool(ctx: WorkflowContext, hook_ctx: HookContext) -> HookResult:
        return HookResult.continue_with()

    agent = Agent(
        id=uid("hooked_agent"),
        provider="fake",
        model=ScriptedModel(uid("hooked"), ["Hello."]),
        on_start=[log_start],
        on_tool_start=log_tool,
    )
    assert [h.name for h in agent.on_start] == ["log_start"]
    assert [h.name for h in agent.on_tool_start] == ["log_tool"]
    assert agent.on_end == [] and agent.on_agent_step_start == []
    async with Polos() as polos:
        assert (await agent.run(polos, "Hi")).result == "Hello."
    assert len(starts) == 1 and starts[0]["input"] == "Hi"  # upstream's agent payload


async def test_a_run_journaled_without_hooks_resumes_once_they_are_added() -> None:
    """polos_nb used to keep on_start/on_end without running them: a run suspended then
    goes on after an upgrade (its journal has no on_start steps), with its on_end hooks."""
    ends: list[object] = []
    wf_id = uid("upgraded")

    @workflow(id=wf_id)
    async def before(ctx: WorkflowContext, payload: dict) -> str:
        await ctx.step.run("prepare", lambda: "ready")
        answer = await ctx.step.suspend("confirm")
        return "yes" if answer.get("data", {}).get("ok") else "no"

    @hook
    def never_now(ctx: WorkflowContext, hook_ctx: HookContext) -> HookResult:
        raise AssertionError("on_start must not run for a run that started without it")

    @hook
    def count_end(ctx: WorkflowContext, hook_ctx: HookContext) -> HookResult:
        ends.append(hook_ctx.current_output)
        return HookResult.continue_with()

    async with Polos() as polos:
        handle = await before.invoke(polos, {"n": 1})
        for _ in range(200):
            if (await polos.get_execution(handle.id))["status"] == "waiting":
                break
            await asyncio.sleep(0.02)

        @workflow(id=wf_id, on_start=[never_now], on_end=[count_end])
        async def after(ctx: WorkflowContext, payload: dict) -> str:
            await ctx.step.run("prepare", lambda: "ready")
            answer = await ctx.step.suspend("confirm")
            return "yes" if answer.get("data", {}).get("ok") else "no"

        await polos.resume(wf_id, handle.id, "confirm", {"ok": True})
        assert await polos.wait_for_result(handle.id, timeout=30) == "yes"
    assert ends == ["yes"]

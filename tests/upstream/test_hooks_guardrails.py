"""Gap 6: hooks and guardrails as upstream documents them."""

from __future__ import annotations

import pytest

from polos_nb import (
    Agent,
    GuardrailContext,
    GuardrailResult,
    HookContext,
    HookResult,
    Polos,
    WorkflowContext,
    guardrail,
    hook,
)
from polos_nb.errors import ExecutionFailedError
from polos_nb.testing import ScriptedModel

from .conftest import uid


async def test_hook_context_has_workflow_id_and_upstream_on_start_payload() -> None:
    execution_metrics: dict[str, dict] = {}

    @hook
    def log_start(ctx: WorkflowContext, hook_ctx: HookContext) -> HookResult:
        execution_metrics[hook_ctx.workflow_id] = {"step_count": 0}
        return HookResult.continue_with()

    @hook
    def validate_input(ctx: WorkflowContext, hook_ctx: HookContext) -> HookResult:
        payload = hook_ctx.current_payload or {}
        prompt = payload.get("input", "")
        if not prompt or not prompt.strip():
            return HookResult.fail("Empty prompt not allowed")
        return HookResult.continue_with(modified_payload={"input": prompt.strip() + " Be brief."})

    @hook
    def log_step_start(ctx: WorkflowContext, hook_ctx: HookContext) -> HookResult:
        execution_metrics[hook_ctx.workflow_id]["step_count"] += 1
        return HookResult.continue_with()

    model = ScriptedModel(uid("hooks"), ["Paris."])
    agent = Agent(
        id=uid("logged_agent"),
        provider="fake",
        model=model,
        on_start=[validate_input, log_start],
        on_agent_step_start=[log_step_start],
    )
    async with Polos() as polos:
        result = await agent.run(polos, "  What is the capital of France?  ")
        assert result.result == "Paris."
        assert execution_metrics == {agent.id: {"step_count": 1}}
        assert model.calls[0].messages[-1]["content"] == "What is the capital of France? Be brief."
        with pytest.raises(ExecutionFailedError, match="Empty prompt not allowed"):
            await agent.run(polos, "   ")


async def test_guardrail_fail_regenerates_with_feedback_then_fails_the_run() -> None:
    @guardrail
    def no_shouting(ctx: WorkflowContext, guardrail_ctx: GuardrailContext) -> GuardrailResult:
        if (guardrail_ctx.content or "").isupper():
            return GuardrailResult.fail("Do not shout.")
        return GuardrailResult.continue_with()

    model = ScriptedModel(uid("shouter"), ["HELLO", "Hello, calmly."])
    agent = Agent(id=uid("polite"), provider="fake", model=model, guardrails=[no_shouting])
    async with Polos() as polos:
        result = await agent.run(polos, "Greet me")
        assert result.result == "Hello, calmly."
        assert model.call_count == 2
        assert "Do not shout." in model.calls[1].messages[-1]["content"]

        stubborn = ScriptedModel(uid("stubborn"), ["NO", "NO!", "NOPE", "never used"])
        agent = Agent(
            id=uid("stubborn"),
            provider="fake",
            model=stubborn,
            guardrails=[no_shouting],
            guardrail_max_retries=2,
        )
        with pytest.raises(ExecutionFailedError, match="GuardrailFailedError.*Do not shout"):
            await agent.run(polos, "Greet me")
        assert stubborn.call_count == 3  # the first reply and two regenerations

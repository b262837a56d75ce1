"""Hooks and guardrails unit-tested by hand, the way upstream code tests its own: contexts
built from upstream's field names, results round-tripped through dicts, decorators used
with and without parentheses, and the decorated functions called directly."""

from __future__ import annotations

import pytest

from polos_nb import (
    GuardrailContext,
    GuardrailResult,
    HookAction,
    HookContext,
    HookResult,
    guardrail,
    hook,
)
from polos_nb.errors import SignatureError, UserError


@hook()
def block_deletes(ctx, hook_ctx: HookContext) -> HookResult:
    if hook_ctx.current_tool == "delete":
        return HookResult.fail(f"{hook_ctx.workflow_id} may not delete")
    return HookResult.continue_with()


@guardrail()
def no_shouting(ctx, g: GuardrailContext) -> GuardrailResult:
    if g.content and g.content.isupper():
        return GuardrailResult.fail("Please do not shout.")
    return GuardrailResult.continue_with()


def test_hook_context_from_upstream_fields() -> None:
    hc = HookContext(workflow_id="support_agent", current_tool="delete")
    assert hc.agent_id == "support_agent" and hc.session_id is None and hc.steps == []
    assert HookContext(agent_id="a").workflow_id == "a"
    result = block_deletes(None, hc)
    assert result.action == HookAction.FAIL and "support_agent" in result.error_message

    data = hc.to_dict()
    assert data["workflow_id"] == "support_agent" and data["current_tool"] == "delete"
    assert HookContext.from_dict(data) == hc
    assert HookContext.from_dict(hc) is hc
    with pytest.raises(TypeError, match="Cannot create HookContext"):
        HookContext.from_dict("support_agent")


def test_results_round_trip_through_dicts() -> None:
    failed = HookResult.fail("no")
    assert failed.to_dict()["action"] == "fail"
    back = HookResult.from_dict({"action": "fail", "error_message": "no"})
    assert back.action == HookAction.FAIL and back.error_message == "no"

    changed = GuardrailResult.continue_with(modified_content="calm")
    again = GuardrailResult.from_dict(changed.to_dict())
    assert again.modified_content == "calm" and again.action == HookAction.CONTINUE


def test_guardrail_context_from_upstream_fields_and_direct_call() -> None:
    g = GuardrailContext(content="HELLO", agent_workflow_id="writer", agent_run_id="r1")
    assert g.agent_id == "writer" and g.agent_workflow_id == "writer"
    assert GuardrailContext(agent_id="w").agent_workflow_id == "w"
    assert no_shouting(None, g).action == HookAction.FAIL
    assert no_shouting(None, GuardrailContext(content="hello")).action == HookAction.CONTINUE
    assert GuardrailContext.from_dict(g.to_dict()) == g


def test_wrong_parameter_counts_are_type_errors() -> None:
    with pytest.raises(TypeError, match="exactly 2 parameters"):

        @hook
        def one_param(ctx) -> None:
            return None

    with pytest.raises(SignatureError, match="exactly 2 parameters"):

        @guardrail
        def three_params(ctx, g, extra) -> None:
            return None

    assert issubclass(SignatureError, UserError)

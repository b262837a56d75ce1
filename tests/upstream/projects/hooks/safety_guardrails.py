"""Guardrails, as upstream's example 06 writes them."""

import re

from polos_nb import GuardrailContext, GuardrailResult, WorkflowContext, guardrail

EMAIL_PATTERN = re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}\b")


@guardrail
def block_prompt_injection(
    ctx: WorkflowContext, guardrail_ctx: GuardrailContext
) -> GuardrailResult:
    content = (guardrail_ctx.content or "").lower()
    for phrase in ("ignore previous instructions", "pretend you are"):
        if phrase in content:
            return GuardrailResult.fail(
                f"Response blocked: potential prompt injection detected ('{phrase}')"
            )
    return GuardrailResult.continue_with()


@guardrail
def redact_pii(ctx: WorkflowContext, guardrail_ctx: GuardrailContext) -> GuardrailResult:
    content = EMAIL_PATTERN.sub("[EMAIL REDACTED]", guardrail_ctx.content or "")
    if content != guardrail_ctx.content:
        return GuardrailResult.continue_with(modified_content=content)
    return GuardrailResult.continue_with()


@guardrail
def block_dangerous_tools(ctx: WorkflowContext, guardrail_ctx: GuardrailContext) -> GuardrailResult:
    for call in guardrail_ctx.tool_calls or []:
        if call.function.name in ("delete_file", "send_email"):
            return GuardrailResult.fail(f"Blocked: dangerous tool '{call.function.name}'")
    return GuardrailResult.continue_with()

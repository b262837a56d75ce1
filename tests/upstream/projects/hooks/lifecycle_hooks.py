"""Lifecycle hooks that log and validate, as upstream's example 07 writes them."""

import time

from polos_nb import HookContext, HookResult, WorkflowContext, hook

execution_metrics: dict[str, dict] = {}


@hook
def log_start(ctx: WorkflowContext, hook_ctx: HookContext) -> HookResult:
    workflow_id = hook_ctx.workflow_id
    execution_metrics[workflow_id] = {"start_time": time.time(), "step_count": 0, "tool_calls": []}
    print(f"[hook] Agent started - workflow: {workflow_id}")
    return HookResult.continue_with()


@hook
def log_end(ctx: WorkflowContext, hook_ctx: HookContext) -> HookResult:
    metrics = execution_metrics.get(hook_ctx.workflow_id, {})
    print(
        f"[hook] Agent completed - steps: {metrics.get('step_count')}, tools: {metrics.get('tool_calls')}"
    )
    return HookResult.continue_with()


@hook
def log_step_start(ctx: WorkflowContext, hook_ctx: HookContext) -> HookResult:
    if hook_ctx.workflow_id in execution_metrics:
        execution_metrics[hook_ctx.workflow_id]["step_count"] += 1
    return HookResult.continue_with()


@hook
def log_tool_end(ctx: WorkflowContext, hook_ctx: HookContext) -> HookResult:
    tool_name = hook_ctx.current_tool or "unknown"
    if hook_ctx.workflow_id in execution_metrics:
        execution_metrics[hook_ctx.workflow_id]["tool_calls"].append(tool_name)
    print(f"[hook] Tool completed: {tool_name}")
    return HookResult.continue_with()


@hook
def validate_input(ctx: WorkflowContext, hook_ctx: HookContext) -> HookResult:
    payload = hook_ctx.current_payload or {}
    prompt = payload.get("input", "")
    if not prompt or not prompt.strip():
        return HookResult.fail("Empty prompt not allowed")
    if len(prompt) > 10000:
        return HookResult.fail("Prompt too long (max 10000 characters)")
    return HookResult.continue_with()

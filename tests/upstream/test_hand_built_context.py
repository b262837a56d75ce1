"""Objects that upstream code builds by hand, outside a run: a context to unit-test a
function that takes one, and the workflow errors raised or caught with upstream's
constructor arguments."""

from __future__ import annotations

import datetime as dt

import pytest

from polos_nb import (
    ExecutionHandle,
    Polos,
    StepExecutionError,
    UserError,
    WorkflowContext,
    WorkflowState,
    WorkflowTimeoutError,
    workflow,
)
from polos_nb.core.context import AgentContext

from .conftest import uid


class Cart(WorkflowState):
    items: int = 0
    owner: str = "nobody"


def describe(ctx: WorkflowContext) -> str:
    """A user's helper that takes a context: what upstream code unit-tests by hand."""
    return f"{ctx.workflow_id}/{ctx.execution_id} for {ctx.user_id or 'anonymous'}"


def test_workflow_context_from_upstream_keywords() -> None:
    created = dt.datetime(2026, 1, 2, 3, 4, 5)
    ctx = WorkflowContext(
        workflow_id="checkout",
        execution_id="ex-1",
        deployment_id="dep",
        session_id="s-1",
        user_id="ana",
        created_at=created,
        state_schema=Cart,
        initial_state={"items": 3},
    )
    assert describe(ctx) == "checkout/ex-1 for ana"
    assert ctx.root_execution_id == "ex-1" and ctx.root_workflow_id == "checkout"
    assert ctx.parent_execution_id is None and ctx.retry_count == 0
    assert ctx.workflow_type == "workflow"
    assert isinstance(ctx.state, Cart) and ctx.state.items == 3 and ctx.state.owner == "nobody"
    data = ctx.to_dict()
    assert data["session_id"] == "s-1" and data["created_at"] == created.isoformat()

    # durable steps need a run: a clear error, not an AttributeError deep in the engine
    with pytest.raises(UserError, match="needs a running workflow"):
        ctx.step.run("x", lambda: 1)
    with pytest.raises(TypeError, match="unexpected keywords"):
        WorkflowContext(workflow_id="w", execution_id="e", colour="red")


def test_agent_context_from_upstream_keywords() -> None:
    ctx = AgentContext(
        agent_id="helper", execution_id="ex-2", deployment_id="dep", tools=None, temperature=0.2
    )
    assert isinstance(ctx, WorkflowContext)
    assert ctx.agent_id == "helper" and ctx.workflow_id == "helper"
    assert ctx.workflow_type == "agent" and ctx.tools == [] and ctx.temperature == 0.2
    assert ctx.to_dict()["temperature"] == 0.2


def test_workflow_errors_with_upstream_arguments() -> None:
    err = StepExecutionError("payment declined")
    assert err.reason == "payment declined" and str(err) == "payment declined"
    assert err.step_key is None
    assert StepExecutionError().reason is None

    timeout = WorkflowTimeoutError(timeout_seconds=30.0)
    assert timeout.execution_id is None and timeout.timeout_seconds == 30.0
    assert "30.0s" in str(timeout)


async def test_step_failure_has_a_reason_and_a_raised_reason_fails_the_run() -> None:
    def declined() -> None:
        raise ValueError("card declined")

    @workflow(id=uid("pay"))
    async def pay(ctx: WorkflowContext, payload: dict) -> dict:
        try:
            await ctx.step.run("charge", declined)
        except StepExecutionError as e:
            return {"reason": e.reason}
        return {}

    @workflow(id=uid("strict_pay"))
    async def strict_pay(ctx: WorkflowContext, payload: dict) -> dict:
        raise StepExecutionError("refusing to continue")

    async with Polos() as polos:
        result = await pay.run(polos, {})
        assert "card declined" in result["reason"] and "charge" in result["reason"]
        with pytest.raises(Exception, match="refusing to continue"):
            await strict_pay.run(polos, {})


async def test_execution_handle_from_a_stored_id() -> None:
    @workflow(id=uid("answer"))
    async def answer(ctx: WorkflowContext, payload: dict) -> int:
        return 42

    async with Polos() as polos:
        started = await answer.invoke(polos, {})
        assert await started == 42
        handle = ExecutionHandle(id=started.id)  # e.g. the id kept in a database
        assert handle.root_execution_id == started.id and handle.created_at is None
        execution = await handle.get(polos)
        assert execution["status"] == "completed" and execution["result"] == 42

"""A refund that waits for a person when it is large."""

from pydantic import BaseModel
from refund_agents import refund_agent
from refund_schemas import RefundDecision

from polos_nb import WorkflowContext, workflow


class RefundPayload(BaseModel):
    ticket: str
    amount: float


class RefundOutcome(BaseModel):
    ticket: str
    status: str
    refund_id: str | None = None
    reviewed: bool = False
    notified: bool = False


@workflow(id="refund_ticket")
async def refund_ticket(ctx: WorkflowContext, payload: RefundPayload) -> RefundOutcome:
    first = await ctx.step.agent_invoke_and_wait(
        "refund",
        refund_agent.with_input(f"Refund ticket {payload.ticket}: amount {payload.amount:.2f}"),
    )
    decision: RefundDecision = first.result
    refund_id = decision.details.refund_id
    if not decision.needs_review:
        return RefundOutcome(
            ticket=payload.ticket, status="done", refund_id=refund_id, notified=True
        )

    answer = await ctx.step.suspend(
        "supervisor_check",
        data={"ticket": payload.ticket, "amount": payload.amount, "refund_id": refund_id},
        timeout=3600,
    )
    if not answer.get("data", {}).get("approved", False):
        return RefundOutcome(
            ticket=payload.ticket, status="held", refund_id=refund_id, reviewed=True
        )
    second = await ctx.step.agent_invoke_and_wait(
        "notify",
        refund_agent.with_input(
            f"REVIEWED ticket {payload.ticket}: amount {payload.amount:.2f}. Notify the customer."
        ),
    )
    print(f"Agent's last step: {second.result.step}")
    return RefundOutcome(
        ticket=payload.ticket, status="done", refund_id=refund_id, reviewed=True, notified=True
    )

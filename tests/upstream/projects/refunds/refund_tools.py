"""Tools of the refund agent. Refunds are counted so the run can show each happened once."""

from pydantic import BaseModel

from polos_nb import WorkflowContext, tool

ISSUED: list[str] = []


class IssueRefundInput(BaseModel):
    ticket: str
    amount: float


class IssueRefundOutput(BaseModel):
    refund_id: str
    amount: float


class NotifyInput(BaseModel):
    email: str
    ticket: str


@tool(description="Pay a refund back to the customer")
async def issue_refund(ctx: WorkflowContext, input: IssueRefundInput) -> IssueRefundOutput:
    ISSUED.append(input.ticket)
    print(f"[refund] {input.ticket}: {input.amount:.2f} paid back (refunds so far: {len(ISSUED)})")
    return IssueRefundOutput(refund_id=f"rf_{input.ticket}", amount=input.amount)


@tool(description="Tell the customer their refund went through")
async def notify_customer(ctx: WorkflowContext, input: NotifyInput) -> dict:
    print(f"[notify] {input.email} about {input.ticket}")
    return {"sent": True}

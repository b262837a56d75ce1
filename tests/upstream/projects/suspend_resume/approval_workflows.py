"""A workflow that suspends for a human decision."""

from pydantic import BaseModel

from polos_nb import WorkflowContext, workflow


class ApprovalRequest(BaseModel):
    request_id: str
    requester: str
    amount: float


class ApprovalDecision(BaseModel):
    approved: bool
    approver: str
    comments: str | None = None


class ApprovalResult(BaseModel):
    request_id: str
    status: str
    approved: bool | None = None
    approver: str | None = None
    comments: str | None = None


@workflow(id="approval_workflow")
async def approval_workflow(ctx: WorkflowContext, payload: ApprovalRequest) -> ApprovalResult:
    await ctx.step.run(
        "prepare_request", lambda: {"prepared": True, "request_id": payload.request_id}
    )
    resume_data = await ctx.step.suspend(
        "await_approval",
        data={
            "request_id": payload.request_id,
            "requester": payload.requester,
            "amount": payload.amount,
            "message": "Please review and approve/reject this request",
        },
        timeout=86400,
    )
    decision = ApprovalDecision.model_validate(resume_data.get("data", {}))
    status = "approved" if decision.approved else "rejected"
    await ctx.step.run(f"process_{status}", lambda: {"action": status})
    return ApprovalResult(
        request_id=payload.request_id,
        status=status,
        approved=decision.approved,
        approver=decision.approver,
        comments=decision.comments,
    )

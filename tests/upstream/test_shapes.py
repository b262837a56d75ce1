"""Gap 2: upstream's plain-data shapes, with typed access kept as an addition."""

from __future__ import annotations

import asyncio
import json

from pydantic import BaseModel

from polos_nb import EventPayload, Polos, WorkflowContext, events, workflow

from .conftest import uid


class ApprovalRequest(BaseModel):
    request_id: str
    amount: float


class ApprovalDecision(BaseModel):
    approved: bool
    approver: str
    comments: str | None = None


class ApprovalResult(BaseModel):
    request_id: str
    status: str
    approver: str | None = None


async def test_get_execution_result_of_a_pydantic_workflow_is_json_data() -> None:
    @workflow(id=uid("approval_workflow"))
    async def approval_workflow(ctx: WorkflowContext, payload: ApprovalRequest) -> ApprovalResult:
        resume_data = await ctx.step.suspend(
            "await_approval", data={"request_id": payload.request_id, "amount": payload.amount}
        )
        decision = ApprovalDecision.model_validate(resume_data.get("data", {}))
        return ApprovalResult(
            request_id=payload.request_id,
            status="approved" if decision.approved else "rejected",
            approver=decision.approver,
        )

    async with Polos() as polos:
        handle = await approval_workflow.invoke(
            polos, ApprovalRequest(request_id="REQ-001", amount=1500.0)
        )
        suspend_data = None
        async for event in events.stream_workflow(polos, handle.root_workflow_id, handle.id):
            if event.event_type.startswith("suspend_"):
                suspend_data = event.data
                break
        assert suspend_data is not None and suspend_data.get("request_id") == "REQ-001"
        await polos.resume(
            suspend_workflow_id=handle.root_workflow_id,
            suspend_execution_id=handle.id,
            suspend_step_key="await_approval",
            data={"approved": True, "approver": "manager@example.com"},
        )
        while (execution := await polos.get_execution(handle.id)).get("status") != "completed":
            await asyncio.sleep(0.02)
        output = execution.get("result", {})
        assert output.get("status") == "approved"
        assert output["approver"] == "manager@example.com"
        assert json.loads(json.dumps(execution["result"])) == {
            "request_id": "REQ-001",
            "status": "approved",
            "approver": "manager@example.com",
        }
        assert isinstance(execution["created_at"], str)  # upstream's JSON timestamps
        # typed access stays: the attribute is the model, the JSON view answers attributes
        assert isinstance(execution.result, ApprovalResult)
        assert execution["result"].approver == "manager@example.com"
        assert (await handle.get(polos))["result"]["status"] == "approved"


async def test_suspend_returns_a_dict_that_still_offers_data() -> None:
    seen: dict[str, object] = {}

    @workflow(id=uid("approval"))
    async def approval(ctx: WorkflowContext, payload: dict) -> dict:
        decision = await ctx.step.suspend("approve", {"amount": payload["amount"]})
        seen["is_dict"] = isinstance(decision, dict)
        seen["json"] = json.loads(json.dumps(decision))
        seen["attr"] = decision.data["approved"]  # the seeds' shape
        seen["get"] = decision.get("data", {}).get("approved")  # upstream's shape
        seen["typed"] = isinstance(decision, EventPayload) and decision.event_type
        return {"approved": decision.data["approved"]}

    async with Polos() as polos:
        handle = await approval.invoke(polos, {"amount": 5})
        while (await polos.get_execution(handle.id))["status"] != "waiting":
            await asyncio.sleep(0.02)
        await polos.resume(approval.id, handle.id, "approve", {"approved": True})
        assert await polos.wait_for_result(handle.id, timeout=30) == {"approved": True}
    assert seen["is_dict"] is True and seen["attr"] is True and seen["get"] is True
    assert seen["typed"] == "resume_approve"
    data = seen["json"]
    assert isinstance(data, dict)
    assert data["data"] == {"approved": True} and data["event_type"] == "resume_approve"
    assert set(data) >= {"id", "sequence_id", "topic", "event_type", "data", "created_at"}


async def test_event_data_user_code_dumps_is_json() -> None:
    @workflow(id=uid("review"))
    async def review(ctx: WorkflowContext, payload: dict) -> ApprovalResult:
        return ApprovalResult(request_id=payload["id"], status="done")

    async with Polos() as polos:
        handle = await review.invoke(polos, {"id": "R-1"})
        finished = None
        async for event in events.stream_workflow(polos, handle.root_workflow_id, handle.id):
            json.dumps(event.data)  # every event's data is JSON
            if event.event_type == "workflow_finish":
                finished = event
        assert finished is not None
        result = finished.data.get("result", {})
        assert json.loads(json.dumps(result)) == {
            "request_id": "R-1",
            "status": "done",
            "approver": None,
        }
        assert finished.data["result"].status == "done"  # typed access as an addition

"""Scheduled workflows, as upstream's example 16 declares them."""

from pydantic import BaseModel

from polos_nb import SchedulePayload, WorkflowContext, workflow


class CleanupResult(BaseModel):
    timestamp: str
    records_cleaned: int


@workflow(id="daily_cleanup", schedule="0 3 * * *")
async def daily_cleanup(ctx: WorkflowContext, payload: SchedulePayload) -> CleanupResult:
    cleaned = await ctx.step.run("clean_records", lambda: 42)
    return CleanupResult(timestamp=payload.timestamp.isoformat(), records_cleaned=cleaned)


@workflow(id="schedulable_reminder", schedule=True)
async def schedulable_reminder(ctx: WorkflowContext, payload: SchedulePayload) -> dict:
    return {"key": payload.key, "sent_at": payload.timestamp.isoformat()}

"""Gap 7: ``@workflow(schedule=True)``, scheduled later through the schedules API."""

from __future__ import annotations

import asyncio
import datetime as dt
import time

from pydantic import BaseModel

from polos_nb import Polos, SchedulePayload, WorkflowContext, schedules, workflow
from polos_nb.testing import FakeClock

from .conftest import uid


class ReminderResult(BaseModel):
    key: str
    timestamp: str


async def test_schedule_true_workflows_are_scheduled_with_schedules_create() -> None:
    reminder_id = uid("schedulable_reminder")

    @workflow(id=reminder_id, schedule=True)
    async def schedulable_reminder(
        ctx: WorkflowContext, payload: SchedulePayload
    ) -> ReminderResult:
        return ReminderResult(key=payload.key, timestamp=payload.timestamp.isoformat())

    assert schedulable_reminder.schedulable and schedulable_reminder.schedule is None
    clock = FakeClock(dt.datetime(2026, 3, 2, 7, 59, 30, tzinfo=dt.UTC))
    async with Polos(clock=clock) as polos:
        assert await schedules.list(polos, reminder_id) == []  # no schedule of its own
        schedule_id = await schedules.create(
            client=polos,
            workflow=reminder_id,
            cron="* * * * *",
            timezone="UTC",
            key="demo-user-123",
        )
        [info] = await schedules.list(polos, reminder_id)
        assert info.id == schedule_id and info.key == "demo-user-123"
        deadline = time.monotonic() + 30
        while not clock.pending_timers():  # the schedule's timer is armed
            assert time.monotonic() < deadline
            await asyncio.sleep(0.02)
        clock.advance(60)
        while not (runs := await polos.list_executions(workflow_id=reminder_id)) or (
            runs[0]["status"] != "completed"
        ):
            assert time.monotonic() < deadline
            await asyncio.sleep(0.02)
        assert runs[0]["result"] == {
            "key": "demo-user-123",
            "timestamp": "2026-03-02T08:00:00+00:00",
        }

        # a manual run with a hand-built SchedulePayload (upstream ex/16's last demo)
        now = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
        result = await schedulable_reminder.run(
            polos,
            SchedulePayload(
                timestamp=now,
                last_timestamp=now - dt.timedelta(days=1),
                timezone="UTC",
                schedule_id="manual-test-schedule",
                key="manual-test",
                upcoming=now + dt.timedelta(days=1),
            ),
        )
        assert result.key == "manual-test"

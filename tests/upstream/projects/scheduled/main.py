"""Create schedules and run a scheduled workflow by hand: python main.py"""

import asyncio
from datetime import UTC, datetime, timedelta

from scheduled_workflows import daily_cleanup

from polos_nb import Polos, SchedulePayload, schedules


async def main():
    async with Polos(log_file="polos.log") as polos:
        users = [
            {"id": "user-alice", "cron": "0 8 * * *", "tz": "America/New_York"},
            {"id": "user-bob", "cron": "0 9 * * *", "tz": "Europe/London"},
        ]
        for user in users:
            schedule_id = await schedules.create(
                client=polos,
                workflow="schedulable_reminder",
                cron=user["cron"],
                timezone=user["tz"],
                key=user["id"],
            )
            print(f"{user['id']}: {user['cron']} ({user['tz']}) -> created {bool(schedule_id)}")

        now = datetime(2026, 3, 2, 3, 0, tzinfo=UTC)
        payload = SchedulePayload(
            timestamp=now,
            last_timestamp=now - timedelta(days=1),
            timezone="UTC",
            schedule_id="manual-test-schedule",
            key="manual-test",
            upcoming=now + timedelta(days=1),
        )
        result = await daily_cleanup.run(polos, payload)
        print(f"Timestamp: {result.timestamp}")
        print(f"Records cleaned: {result.records_cleaned}")


if __name__ == "__main__":
    asyncio.run(main())

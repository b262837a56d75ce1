"""Cron schedules (D17) on a fake clock: one execution per due time in the schedule's
timezone (none skipped, none doubled, DST included), catch-up of due times missed while
no process ran, and list / pause / activate / remove.

The clock moves in small ticks like a real one; after each tick the test waits until the
scheduler has armed its next timer, so every due time has been handled before moving on.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import uuid
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from polos_nb import (
    PolosClient,
    SchedulePayload,
    UserError,
    WorkflowContext,
    WorkflowNotFoundError,
    schedules,
    workflow,
)
from polos_nb.engine import _workflow as registry
from polos_nb.testing import FakeClock
from tests.engine.helpers import rows, settle, until

UTC = dt.UTC
PARIS = ZoneInfo("Europe/Paris")


# ====================================================================== helpers
def uid(name: str) -> str:
    return f"{name}_{uuid.uuid4().hex[:10]}"


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


def armed(clock: FakeClock) -> bool:
    return any(t > clock.now() for t in clock.pending_timers())


async def tick_to(clock: FakeClock, when: dt.datetime) -> None:
    """Move the clock to ``when``; return once the scheduler has armed its next due time."""
    clock.set(when)
    await until(lambda: armed(clock), what=f"the next schedule timer after {when.isoformat()}")


async def tick_through(clock: FakeClock, end: dt.datetime, step: dt.timedelta) -> None:
    while clock.now() < end:
        await tick_to(clock, min(clock.now() + step, end))


async def fired(
    client: PolosClient, wf_id: str, n: int | None = None, timeout: float = 10.0
) -> list[SchedulePayload]:
    """Payloads of ``wf_id``'s executions in due-time order (waiting until there are ``n``, all completed)."""
    deadline = time.monotonic() + timeout
    while True:
        infos = await client.list_executions(workflow_id=wf_id, limit=100_000)
        done = all(i.status == "completed" for i in infos)
        if n is None or (len(infos) == n and done):
            payloads = [i.payload for i in infos]
            assert all(isinstance(p, SchedulePayload) for p in payloads), payloads
            for info in infos:  # the execution's result echoes what it received
                if info.status == "completed":
                    assert info.result == info.payload.timestamp.isoformat()
            return sorted(payloads, key=lambda p: p.timestamp)
        assert len(infos) <= n, f"{len(infos)} executions of {wf_id}, expected {n}"
        assert time.monotonic() < deadline, (
            f"{[(i.status, i.payload) for i in infos]}, expected {n}"
        )
        await asyncio.sleep(0.01)


async def created_at(client: PolosClient, wf_id: str) -> dict[dt.datetime, list[dt.datetime]]:
    """For each fired due time, when its execution(s) were created."""
    out: dict[dt.datetime, list[dt.datetime]] = {}
    for info in await client.list_executions(workflow_id=wf_id, limit=100_000):
        out.setdefault(info.payload.timestamp, []).append(info.created_at)
    return out


def define(wf_id: str, schedule: Any) -> Any:
    @workflow(id=wf_id, schedule=schedule)
    async def scheduled(ctx: WorkflowContext, payload: SchedulePayload) -> str:
        assert isinstance(payload, SchedulePayload)
        return payload.timestamp.isoformat()

    return scheduled


async def schedule_row(client: PolosClient, wf_id: str) -> None:
    deadline = time.monotonic() + 10
    while not await rows(client, "SELECT 1 FROM schedules WHERE workflow_id = ?", [wf_id]):
        assert time.monotonic() < deadline, f"no schedule row for {wf_id}"
        await asyncio.sleep(0.01)


def wall(t: dt.datetime, tz: ZoneInfo = PARIS) -> tuple[str, str]:
    local = t.astimezone(tz)
    return local.date().isoformat(), local.strftime("%H:%M")


# ====================================================================== due times and DST
async def test_daily_in_paris_over_ten_days_across_spring_forward(journal_path):
    start = utc(2026, 3, 25)
    clock = FakeClock(start=start)
    wf_id = uid("daily_paris")
    define(wf_id, {"cron": "0 9 * * *", "timezone": "Europe/Paris"})
    client = PolosClient(journal=journal_path, clock=clock)
    try:
        (info,) = await schedules.list(client, wf_id)
        assert (info.cron, info.timezone, info.catch_up, info.status) == (
            "0 9 * * *",
            "Europe/Paris",
            "latest",
            "active",
        )
        assert info.next_fire_at == utc(2026, 3, 25, 8)  # 09:00 CET
        await tick_through(clock, start + dt.timedelta(days=10), dt.timedelta(hours=1))
        payloads = await fired(client, wf_id, 10)
        days = [(start + dt.timedelta(days=i)).date().isoformat() for i in range(10)]
        assert [wall(p.timestamp) for p in payloads] == [(d, "09:00") for d in days]
        # 09:00 is 08:00 UTC before the change (2026-03-29) and 07:00 UTC after it.
        assert [p.timestamp.hour for p in payloads] == [8] * 4 + [7] * 6
        assert [p.last_timestamp for p in payloads] == [None] + [p.timestamp for p in payloads[:-1]]
        assert [p.upcoming for p in payloads] == [p.timestamp for p in payloads[1:]] + [
            utc(2026, 4, 4, 7)
        ]
        assert {(p.timezone, p.key, p.missed, p.schedule_id) for p in payloads} == {
            ("Europe/Paris", "global", 0, info.id)
        }
        # Each fired exactly at its due time, once.
        assert await created_at(client, wf_id) == {p.timestamp: [p.timestamp] for p in payloads}
        (after,) = await schedules.list(client, wf_id)
        assert after.last_fire_at == payloads[-1].timestamp and after.next_fire_at == utc(
            2026, 4, 4, 7
        )
    finally:
        client.close()


async def test_daily_in_paris_across_fall_back(journal_path):
    start = utc(2026, 10, 21)
    clock = FakeClock(start=start)
    wf_id = uid("daily_fall")
    define(wf_id, {"cron": "0 9 * * *", "timezone": "Europe/Paris"})
    client = PolosClient(journal=journal_path, clock=clock)
    try:
        await tick_through(clock, start + dt.timedelta(days=10), dt.timedelta(hours=1))
        payloads = await fired(client, wf_id, 10)
        assert [wall(p.timestamp) for p in payloads] == [
            ((start + dt.timedelta(days=i)).date().isoformat(), "09:00") for i in range(10)
        ]
        assert [p.timestamp.hour for p in payloads] == [7] * 4 + [8] * 6  # CEST until 2026-10-25
        assert await created_at(client, wf_id) == {p.timestamp: [p.timestamp] for p in payloads}
    finally:
        client.close()


async def test_repeated_wall_clock_times_fire_once_at_first_occurrence(journal_path):
    """``30 1-3 * * *`` in Paris across 2026-10-25, when 02:00-03:00 happens twice."""
    start = utc(2026, 10, 23)
    clock = FakeClock(start=start)
    wf_id = uid("fall_back")
    define(wf_id, {"cron": "30 1-3 * * *", "timezone": "Europe/Paris"})
    client = PolosClient(journal=journal_path, clock=clock)
    try:
        await tick_through(clock, utc(2026, 10, 27), dt.timedelta(minutes=30))
        payloads = await fired(client, wf_id, 11)
        walls = [wall(p.timestamp) for p in payloads]
        expected = [("2026-10-23", "02:30"), ("2026-10-23", "03:30")] + [
            (day, hm)
            for day in ("2026-10-24", "2026-10-25", "2026-10-26")
            for hm in ("01:30", "02:30", "03:30")
        ]
        assert walls == expected  # each wall-clock due time once, in order
        fall = {
            hm: p.timestamp
            for p, (day, hm) in zip(payloads, walls, strict=False)
            if day == "2026-10-25"
        }
        assert fall == {
            "01:30": utc(2026, 10, 24, 23, 30),
            "02:30": utc(
                2026, 10, 25, 0, 30
            ),  # the first 02:30 (CEST), not the repeated one (01:30 UTC)
            "03:30": utc(2026, 10, 25, 2, 30),
        }
        assert await created_at(client, wf_id) == {p.timestamp: [p.timestamp] for p in payloads}
    finally:
        client.close()


async def test_nonexistent_wall_clock_time_fires_right_after_the_jump(journal_path):
    """``30 2 * * *`` in Paris: 02:30 does not exist on 2026-03-29 (02:00 jumps to 03:00)."""
    start = utc(2026, 3, 27)
    clock = FakeClock(start=start)
    wf_id = uid("spring_forward")
    define(wf_id, {"cron": "30 2 * * *", "timezone": "Europe/Paris"})
    client = PolosClient(journal=journal_path, clock=clock)
    try:
        await tick_through(clock, utc(2026, 3, 31), dt.timedelta(minutes=30))
        payloads = await fired(client, wf_id, 4)
        assert [p.timestamp for p in payloads] == [
            utc(2026, 3, 27, 1, 30),
            utc(2026, 3, 28, 1, 30),
            utc(2026, 3, 29, 1, 0),  # 03:00 CEST, the first instant after the jump: not skipped
            utc(2026, 3, 30, 0, 30),
        ]
        assert [wall(p.timestamp) for p in payloads] == [
            ("2026-03-27", "02:30"),
            ("2026-03-28", "02:30"),
            ("2026-03-29", "03:00"),
            ("2026-03-30", "02:30"),
        ]
        assert await created_at(client, wf_id) == {p.timestamp: [p.timestamp] for p in payloads}
    finally:
        client.close()


@pytest.mark.parametrize(
    ("start", "end", "expected_utc_hours", "expected_walls"),
    [
        # Spring forward: local 02:00 does not exist; 03:00 CEST (01:00 UTC) fires once.
        (
            utc(2026, 3, 28, 22),
            utc(2026, 3, 29, 4),
            [23, 0, 1, 2, 3, 4],
            ["00:00", "01:00", "03:00", "04:00", "05:00", "06:00"],
        ),
        # Fall back: local 02:00 happens twice; it fires at the first (00:00 UTC), not at 01:00 UTC.
        (
            utc(2026, 10, 24, 22),
            utc(2026, 10, 25, 4),
            [23, 0, 2, 3, 4],
            ["01:00", "02:00", "03:00", "04:00", "05:00"],
        ),
    ],
    ids=["spring-forward", "fall-back"],
)
async def test_hourly_across_dst_changes(
    journal_path, start, end, expected_utc_hours, expected_walls
):
    clock = FakeClock(start=start)
    wf_id = uid("hourly_dst")
    define(wf_id, {"cron": "0 * * * *", "timezone": "Europe/Paris"})
    client = PolosClient(journal=journal_path, clock=clock)
    try:
        await tick_through(clock, end, dt.timedelta(minutes=15))
        payloads = await fired(client, wf_id, len(expected_utc_hours))
        assert [p.timestamp.hour for p in payloads] == expected_utc_hours
        assert [wall(p.timestamp)[1] for p in payloads] == expected_walls
        assert await created_at(client, wf_id) == {p.timestamp: [p.timestamp] for p in payloads}
    finally:
        client.close()


async def test_clock_jump_over_several_due_times_fires_each_in_order(fake_client, clock):
    wf_id = uid("jump")
    start = clock.now()
    define(wf_id, "0 * * * *")  # UTC
    await schedule_row(fake_client, wf_id)
    await until(lambda: armed(clock), what="first timer")
    assert clock.pending_timers() == [start + dt.timedelta(hours=1)]
    await tick_to(clock, start + dt.timedelta(hours=5, minutes=30))
    payloads = await fired(fake_client, wf_id, 5)
    hours = [start + dt.timedelta(hours=h) for h in range(1, 6)]
    assert [p.timestamp for p in payloads] == hours
    assert [p.last_timestamp for p in payloads] == [None, *hours[:-1]]
    assert [p.upcoming for p in payloads] == [*hours[1:], start + dt.timedelta(hours=6)]
    assert [p.missed for p in payloads] == [0] * 5  # a running process fires every due time
    assert clock.pending_timers() == [start + dt.timedelta(hours=6)]
    await tick_to(clock, start + dt.timedelta(hours=6))
    assert [p.timestamp for p in await fired(fake_client, wf_id, 6)] == [
        *hours,
        start + dt.timedelta(hours=6),
    ]


# ====================================================================== catch-up while no process ran
@pytest.mark.parametrize(
    ("policy", "fresh_clock"),
    [("latest", False), ("latest", True), ("all", True), ("none", False)],
)
async def test_catch_up_policies(journal_path, policy, fresh_clock):
    t0 = utc(2026, 1, 1)
    clock = FakeClock(start=t0)
    wf_id = uid(f"catch_{policy}")
    spec = (
        {"cron": "0 * * * *"} if policy == "latest" else {"cron": "0 * * * *", "catch_up": policy}
    )
    define(wf_id, spec)
    hour = lambda h: t0 + dt.timedelta(hours=h)  # noqa: E731

    client = PolosClient(journal=journal_path, clock=clock)
    try:
        await tick_through(clock, hour(1.5), dt.timedelta(minutes=30))
        assert [p.timestamp for p in await fired(client, wf_id, 1)] == [hour(1)]
    finally:
        client.close()

    # Due times 02:00 .. 05:00 pass while no process has the journal open.
    if fresh_clock:
        clock = FakeClock(start=hour(5.5))
    else:
        clock.set(hour(5.5))
    client = PolosClient(journal=journal_path, clock=clock)
    try:
        if policy == "latest":
            payloads = await fired(client, wf_id, 2)
            assert payloads[1].model_dump() == {
                "timestamp": hour(5),
                "last_timestamp": hour(1),
                "timezone": "UTC",
                "schedule_id": payloads[0].schedule_id,
                "key": "global",
                "upcoming": hour(6),
                "missed": 3,
            }
            expected = [hour(1), hour(5)]
        elif policy == "all":
            payloads = await fired(client, wf_id, 5)
            assert [p.timestamp for p in payloads] == [hour(h) for h in range(1, 6)]
            assert [p.last_timestamp for p in payloads[1:]] == [hour(h) for h in range(1, 5)]
            assert {p.missed for p in payloads} == {0}
            expected = [hour(h) for h in range(1, 6)]
        else:
            await settle()
            assert len(await fired(client, wf_id, 1)) == 1
            expected = [hour(1)]
        # Caught-up runs start at reopening time.
        for due, created in (await created_at(client, wf_id)).items():
            assert created == [due if due == hour(1) else hour(5.5)]
        (info,) = await schedules.list(client, wf_id)
        assert info.next_fire_at == hour(6) and info.last_fire_at == expected[-1]
        # From then on the schedule fires normally.
        await until(lambda: armed(clock), what="next timer")
        await tick_to(clock, hour(6))
        payloads = await fired(client, wf_id, len(expected) + 1)
        assert [p.timestamp for p in payloads] == [*expected, hour(6)]
        assert payloads[-1].missed == 0 and payloads[-1].last_timestamp == expected[-1]
    finally:
        client.close()

    client = PolosClient(journal=journal_path, clock=clock)  # reopening in time fires nothing more
    try:
        await settle()
        assert len(await fired(client, wf_id)) == len(expected) + 1
    finally:
        client.close()


# ====================================================================== list, pause, activate, remove
async def test_list_pause_activate_remove(journal_path):
    t0 = utc(2026, 1, 1)
    clock = FakeClock(start=t0)
    hour = lambda h: t0 + dt.timedelta(hours=h)  # noqa: E731
    wf_id = uid("managed")
    define(wf_id, {"cron": "0 * * * *", "timezone": "Europe/Paris", "catch_up": "all"})
    client = PolosClient(journal=journal_path, clock=clock)
    try:
        (info,) = await schedules.list(client)
        assert (
            info.workflow_id,
            info.key,
            info.cron,
            info.timezone,
            info.catch_up,
            info.status,
        ) == (wf_id, "global", "0 * * * *", "Europe/Paris", "all", "active")
        assert (info.last_fire_at, info.next_fire_at) == (None, hour(1))
        await tick_to(clock, hour(1))
        await fired(client, wf_id, 1)

        paused = await schedules.pause(client, wf_id)
        assert paused.status == "paused"
        assert clock.pending_timers() == []
        clock.set(hour(3.5))
        await settle()
        assert len(await fired(client, wf_id)) == 1

        define(
            wf_id, {"cron": "0 * * * *", "timezone": "Europe/Paris", "catch_up": "all"}
        )  # re-run the cell
        await settle()
        assert [s.status for s in await schedules.list(client, wf_id)] == ["paused"]
        assert len(await fired(client, wf_id)) == 1
    finally:
        client.close()

    client = PolosClient(journal=journal_path, clock=clock)  # paused survives a restart
    try:
        await settle()
        assert [s.status for s in await schedules.list(client, wf_id)] == ["paused"]
        clock.set(hour(4.5))
        await settle()
        assert len(await fired(client, wf_id)) == 1
        assert clock.pending_timers() == []

        active = await schedules.activate(client, wf_id)
        assert active.status == "active" and active.next_fire_at == hour(
            5
        )  # no burst of missed runs
        await settle()
        assert len(await fired(client, wf_id)) == 1
        await tick_to(clock, hour(5))
        assert [p.timestamp for p in await fired(client, wf_id, 2)] == [hour(1), hour(5)]

        assert await schedules.remove(client, wf_id) is True
        assert await schedules.remove(client, wf_id) is False
        assert await schedules.remove(client, uid("never_defined")) is False
        assert await schedules.list(client, wf_id) == []
        assert clock.pending_timers() == []
        clock.set(hour(9))
        await settle()
        assert len(await fired(client, wf_id)) == 2
        with pytest.raises(UserError, match="No schedule 'global'"):
            await schedules.pause(client, wf_id)
        with pytest.raises(UserError, match="No schedule 'other'"):
            await schedules.activate(client, wf_id, "other")
    finally:
        client.close()


async def test_create_schedules_on_a_plain_workflow(fake_client, clock):
    t0 = clock.now()
    wf_id = uid("plain")
    seen: list[SchedulePayload] = []

    @workflow(id=wf_id)
    async def report(ctx: WorkflowContext, payload: SchedulePayload) -> str:
        seen.append(payload)
        return payload.timestamp.isoformat()

    await settle()
    assert await schedules.list(fake_client, wf_id) == []
    quarter = await schedules.create(fake_client, report, "*/15 * * * *", key="quarter")
    noon_ny = await schedules.create(
        fake_client, wf_id, "0 12 * * *", timezone="America/New_York", key="noon"
    )
    listed = {s.key: s for s in await schedules.list(fake_client, wf_id)}
    assert {k: (s.id, s.cron, s.timezone) for k, s in listed.items()} == {
        "noon": (noon_ny, "0 12 * * *", "America/New_York"),
        "quarter": (quarter, "*/15 * * * *", "UTC"),
    }
    assert listed["noon"].next_fire_at == utc(2026, 1, 1, 17)  # 12:00 EST
    await tick_through(clock, t0 + dt.timedelta(hours=18), dt.timedelta(minutes=15))
    payloads = await fired(fake_client, wf_id, 18 * 4 + 1)
    by_key: dict[str, list[dt.datetime]] = {}
    for p in payloads:
        by_key.setdefault(p.key, []).append(p.timestamp)
    assert by_key["quarter"] == [t0 + dt.timedelta(minutes=15 * i) for i in range(1, 18 * 4 + 1)]
    assert by_key["noon"] == [utc(2026, 1, 1, 17)]
    assert {p.schedule_id for p in payloads if p.key == "noon"} == {noon_ny}
    # Creating the same key again updates it (one schedule per workflow and key).
    again = await schedules.create(fake_client, wf_id, "0 * * * *", key="quarter")
    assert again == quarter
    assert {s.key: s.cron for s in await schedules.list(fake_client, wf_id)} == {
        "noon": "0 12 * * *",
        "quarter": "0 * * * *",
    }


async def test_create_with_bad_input_writes_nothing(client):
    wf_id = uid("plain_bad")

    @workflow(id=wf_id)
    async def report(ctx: WorkflowContext, payload: SchedulePayload) -> None:
        return None

    with pytest.raises(WorkflowNotFoundError):
        await schedules.create(client, uid("unknown"), "0 9 * * *")
    with pytest.raises(UserError, match="not a valid 5-field cron"):
        await schedules.create(client, report, "0 0 9 * * *")
    with pytest.raises(UserError, match="unknown timezone"):
        await schedules.create(client, report, "0 9 * * *", timezone="Europe/Pariss")
    with pytest.raises(UserError, match="catch_up must be one of"):
        await schedules.create(client, report, "0 9 * * *", catch_up="everything")
    with pytest.raises(UserError, match="schedule key must be a non-empty string"):
        await schedules.create(client, report, "0 9 * * *", key="")
    assert await rows(client, "SELECT count(*) FROM schedules") == [(0,)]


# ====================================================================== bad definitions
@pytest.mark.parametrize(
    ("schedule", "message"),
    [
        ("not a cron", "not a valid 5-field cron"),
        ("0 0 9 * * *", "not a valid 5-field cron"),  # 6 fields (seconds) are refused
        ("61 * * * *", "not a valid 5-field cron"),
        ("0 25 * * *", "not a valid 5-field cron"),
        ("", "not a valid 5-field cron"),
        ({"timezone": "UTC"}, "not a valid 5-field cron"),
        (
            {"cron": "0 9 * * *", "timezone": "Mars/Olympus_Mons"},
            "unknown timezone 'Mars/Olympus_Mons'",
        ),
        ({"cron": "0 9 * * *", "timezone": ""}, "unknown timezone"),
        ({"cron": "0 9 * * *", "timezone": 1}, "timezone must be an IANA name"),
        ({"cron": "0 9 * * *", "catch_up": "some"}, "catch_up must be one of"),
        ({"cron": "0 9 * * *", "key": ""}, "schedule key must be a non-empty string"),
        ({"cron": "0 9 * * *", "every": "day"}, "unknown schedule option"),
        (42, "schedule= takes a cron string"),
    ],
)
async def test_bad_schedule_is_an_error_at_definition_and_writes_nothing(client, schedule, message):
    wf_id = uid("bad_schedule")

    async def body(ctx: WorkflowContext, payload: SchedulePayload) -> None:
        return None

    with pytest.raises(UserError, match=message):
        workflow(id=wf_id, schedule=schedule)(body)
    assert registry.get_workflow(wf_id) is None
    await settle()
    assert await rows(client, "SELECT count(*) FROM schedules") == [(0,)]
    assert await rows(client, "SELECT count(*) FROM executions") == [(0,)]

"""Cron schedules: parsing, due-time arithmetic and the catch-up policy.

Due times are wall-clock times in the schedule's timezone (cron parsing by ``croniter``):

- a wall-clock time that occurs twice (the hour repeated when DST ends) fires once, at
  its first occurrence;
- a wall-clock time that does not exist (the hour skipped when DST starts) fires at the
  first instant after the jump, so no due time is skipped;
- while a process runs, every due time fires once, in order, even if the engine was
  busy (or a test's clock jumped) past several of them;
- due times missed while *no* process had the journal open follow ``catch_up``:
  ``"latest"`` (default) fires the most recent missed one only, ``"all"`` fires each
  missed one in order, ``"none"`` fires none and waits for the next.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel

from polos_nb.errors import UserError

__all__ = [
    "CatchUp",
    "ScheduleInfo",
    "SchedulePayload",
    "ScheduleSpec",
    "next_due",
    "parse_schedule",
]

CatchUp = Literal["latest", "all", "none"]
_CATCH_UP = ("latest", "all", "none")


class SchedulePayload(BaseModel):
    """What a scheduled execution receives: which due time fired it, and the ones around it."""

    timestamp: dt.datetime
    last_timestamp: dt.datetime | None = None
    timezone: str = "UTC"
    schedule_id: str
    key: str = "global"
    upcoming: dt.datetime | None = None
    missed: int = 0


class ScheduleInfo(BaseModel):
    """One schedule as stored in the journal (``schedules.list``)."""

    id: str
    workflow_id: str
    key: str
    cron: str
    timezone: str
    catch_up: str
    status: str
    last_fire_at: dt.datetime | None = None
    next_fire_at: dt.datetime | None = None


@dataclass(frozen=True)
class ScheduleSpec:
    cron: str
    timezone: str = "UTC"
    key: str = "global"
    catch_up: CatchUp = "latest"

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


def parse_schedule(value: Any, workflow_id: str) -> ScheduleSpec | None:
    """Validate ``@workflow(schedule=...)``: a cron string, or a dict with ``cron``,
    ``timezone``, ``key`` and ``catch_up``. ``None``/``False`` mean no schedule."""
    if value is None or value is False:
        return None
    if isinstance(value, str):
        value = {"cron": value}
    if not isinstance(value, dict):
        raise UserError(
            f"Workflow {workflow_id!r}: schedule= takes a cron string like '0 9 * * *' or a dict "
            f"{{'cron': ..., 'timezone': ..., 'key': ..., 'catch_up': ...}}, not {value!r}."
        )
    unknown = set(value) - {"cron", "timezone", "key", "catch_up"}
    if unknown:
        raise UserError(f"Workflow {workflow_id!r}: unknown schedule option(s) {sorted(unknown)}.")
    return make_spec(
        value.get("cron"),
        value.get("timezone", "UTC"),
        value.get("key", "global"),
        value.get("catch_up", "latest"),
        workflow_id,
    )


def make_spec(cron: Any, timezone: Any, key: Any, catch_up: Any, workflow_id: str) -> ScheduleSpec:
    from croniter import croniter

    if not isinstance(cron, str) or len(cron.split()) != 5 or not croniter.is_valid(cron):
        raise UserError(
            f"Workflow {workflow_id!r}: {cron!r} is not a valid 5-field cron expression "
            "(minute hour day-of-month month day-of-week), e.g. '0 9 * * *' for 09:00 every day."
        )
    try:
        croniter(cron, dt.datetime(2000, 1, 1)).get_next(dt.datetime)
    except Exception:  # croniter found no due time in its search window
        raise UserError(
            f"Workflow {workflow_id!r}: the cron expression {cron!r} never fires (no such date, "
            "e.g. February 30 or April 31). Check the day-of-month and month fields."
        ) from None
    if not isinstance(timezone, str):
        raise UserError(
            f"Workflow {workflow_id!r}: timezone must be an IANA name like 'Europe/Paris'."
        )
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise UserError(
            f"Workflow {workflow_id!r}: unknown timezone {timezone!r}; use an IANA name such as "
            "'UTC', 'Europe/Paris' or 'America/New_York'."
        ) from None
    if not isinstance(key, str) or not key:
        raise UserError(f"Workflow {workflow_id!r}: a schedule key must be a non-empty string.")
    if catch_up not in _CATCH_UP:
        raise UserError(
            f"Workflow {workflow_id!r}: catch_up must be one of {_CATCH_UP} (got {catch_up!r})."
        )
    return ScheduleSpec(cron=cron, timezone=timezone, key=key, catch_up=catch_up)


def next_due(cron: str, timezone: str, after: dt.datetime) -> dt.datetime:
    """The first due time strictly after ``after`` (UTC-aware result)."""
    from croniter import croniter

    tz = ZoneInfo(timezone)
    local_after = after.astimezone(tz)
    it = croniter(cron, local_after)
    while True:
        try:
            candidate: dt.datetime = it.get_next(dt.datetime)
        except Exception as exc:  # e.g. CroniterBadDateError: no due time in its window
            raise UserError(
                f"The cron expression {cron!r} has no due time after {after}: {exc}."
            ) from None
        if candidate.tzinfo is None:
            candidate = candidate.replace(tzinfo=tz)
        utc_candidate = candidate.astimezone(dt.UTC)
        if utc_candidate <= after:
            continue
        # The repeated hour at the end of DST: a wall-clock time fires once, at its first occurrence.
        first = candidate.replace(fold=0).astimezone(dt.UTC)
        if candidate.replace(tzinfo=None) == local_after.replace(tzinfo=None) or (
            first != utc_candidate and first <= after
        ):
            continue
        return utc_candidate

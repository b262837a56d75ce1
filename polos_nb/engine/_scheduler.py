"""Runs cron schedules: one timer per active schedule, one execution per due time (D17).

Firing a due time creates the execution and moves the schedule's ``last_fire_at`` /
``next_fire_at`` in the same commit, so a due time fires once, never twice, across
crashes. The rules for DST and for due times missed while no process ran are in
``polos_nb.engine._schedules``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from polos_nb._ids import new_id
from polos_nb.errors import UserError, WorkflowNotFoundError

from . import _workflow as registry
from ._schedules import ScheduleInfo, SchedulePayload, ScheduleSpec, make_spec, next_due
from .journal import Delete, Insert, ScheduleRow, Update

if TYPE_CHECKING:
    from ._runtime import Runtime

__all__ = ["Scheduler"]

_COLUMNS = (
    "id",
    "workflow_id",
    "key",
    "cron",
    "timezone",
    "catch_up",
    "status",
    "last_fire_at",
    "next_fire_at",
    "created_at",
    "updated_at",
)
_MAX_CATCH_UP = 10_000


class Scheduler:
    """The schedules of one runtime (engine loop only)."""

    def __init__(self, runtime: Runtime) -> None:
        self._rt = runtime
        self._rows: dict[str, ScheduleInfo] = {}
        self._timers: dict[str, Any] = {}
        self._lock = asyncio.Lock()

    async def _load(self, workflow_id: str, key: str) -> ScheduleInfo | None:
        row = await self._rt.read(self._rt.journal.schedule(workflow_id, key))
        return _info(row) if row else None

    async def register(self, wf: registry.Workflow) -> None:
        """``wf`` was defined with ``schedule=``: create or update its schedule, then arm it."""
        await self.register_all([wf])

    async def register_all(self, wfs: Sequence[registry.Workflow]) -> None:
        """Create or update the schedules of ``wfs`` given with ``schedule=``, then arm every
        schedule of theirs in the journal (also those made with ``schedules.create()``).

        One read of the journal's schedules for all of them: a journal opened in a process
        that defines many workflows does not read once per workflow.
        """
        if not wfs:
            return
        for wf in wfs:
            if wf.schedule is not None:
                await self.upsert(wf.id, wf.schedule)
        ids = {wf.id for wf in wfs}
        infos = await self.list(workflow_id=wfs[0].id if len(wfs) == 1 else None)
        for info in infos:
            if info.workflow_id in ids and info.id not in self._timers:
                await self._arm(info, catch_up=True)

    async def upsert(self, workflow_id: str, spec: ScheduleSpec) -> ScheduleInfo:
        rt = self._rt
        async with self._lock:
            now = rt.clock.now()
            info = await self._load(workflow_id, spec.key)
            if info is None:
                info = ScheduleInfo(
                    id=new_id(),
                    workflow_id=workflow_id,
                    key=spec.key,
                    cron=spec.cron,
                    timezone=spec.timezone,
                    catch_up=spec.catch_up,
                    status="active",
                    next_fire_at=next_due(spec.cron, spec.timezone, now),
                )
                await rt.commit(
                    [
                        Insert(
                            "schedules",
                            _COLUMNS,
                            (
                                info.id,
                                workflow_id,
                                info.key,
                                info.cron,
                                info.timezone,
                                info.catch_up,
                                info.status,
                                None,
                                info.next_fire_at,
                                now,
                                now,
                            ),
                        )
                    ]
                )
            elif (info.cron, info.timezone, info.catch_up) != (
                spec.cron,
                spec.timezone,
                spec.catch_up,
            ):
                info.cron, info.timezone, info.catch_up = spec.cron, spec.timezone, spec.catch_up
                info.next_fire_at = next_due(spec.cron, spec.timezone, now)
                await rt.commit(
                    [
                        Update(
                            "schedules",
                            "id",
                            info.id,
                            ("cron", "timezone", "catch_up", "next_fire_at", "updated_at"),
                            (info.cron, info.timezone, info.catch_up, info.next_fire_at, now),
                        )
                    ]
                )
        await self._arm(info, catch_up=True)
        return info

    async def list(self, workflow_id: str | None = None) -> list[ScheduleInfo]:
        rows = await self._rt.read(self._rt.journal.schedules(workflow_id))
        return [_info(r) for r in rows]

    async def set_status(self, workflow_id: str, key: str, status: str) -> ScheduleInfo:
        rt = self._rt
        async with self._lock:
            info = await self._load(workflow_id, key)
            if info is None:
                raise UserError(
                    f"No schedule {key!r} for workflow {workflow_id!r}; see schedules.list(client)."
                )
            now = rt.clock.now()
            if status == "active" and info.status != "active":
                info.next_fire_at = next_due(
                    info.cron, info.timezone, now
                )  # no burst of missed runs
            info.status = status
            await rt.commit(
                [
                    Update(
                        "schedules",
                        "id",
                        info.id,
                        ("status", "next_fire_at", "updated_at"),
                        (status, info.next_fire_at, now),
                    )
                ]
            )
        if status == "active":
            await self._arm(info, catch_up=False)
        else:
            self._disarm(info.id)
        return info

    async def remove(self, workflow_id: str, key: str) -> bool:
        async with self._lock:
            info = await self._load(workflow_id, key)
            if info is None:
                return False
            await self._rt.commit([Delete("schedules", (("id", info.id),))])
        self._disarm(info.id)
        self._rows.pop(info.id, None)
        return True

    def _disarm(self, schedule_id: str) -> None:
        timer = self._timers.pop(schedule_id, None)
        if timer is not None:
            timer.cancel()

    async def _arm(self, info: ScheduleInfo, *, catch_up: bool) -> None:
        self._disarm(info.id)
        self._rows[info.id] = info
        if info.status != "active" or info.next_fire_at is None:
            return
        if registry.get_workflow(info.workflow_id) is None:
            return  # armed when the workflow is defined
        rt = self._rt
        if not rt.workers.leads:
            return  # several workers: the leader fires schedules (it reads this one)
        if catch_up and info.next_fire_at <= rt.clock.now():
            await self._fire(info.id, catch_up=True)
            return
        self._timers[info.id] = rt.clock.call_at(
            info.next_fire_at,
            lambda: rt.loop.create_task(self._fire(info.id, catch_up=False)),
            rt.loop,
        )

    async def _fire(self, schedule_id: str, *, catch_up: bool) -> None:
        rt = self._rt
        async with self._lock:
            info = self._rows.get(schedule_id)
            if info is not None and rt.workers.shared:
                # Another worker may have paused, changed or removed it: the journal says.
                info = await self._load(info.workflow_id, info.key)
                if info is None or info.id != schedule_id:
                    self._rows.pop(schedule_id, None)
                    return
                self._rows[schedule_id] = info
            wf = registry.get_workflow(info.workflow_id) if info else None
            if (
                not rt.workers.leads
                or info is None
                or wf is None
                or info.status != "active"
                or info.next_fire_at is None
                or rt.closed
            ):
                return
            now = rt.clock.now()
            dues: list[dt.datetime] = []
            due = info.next_fire_at
            while due <= now and len(dues) < _MAX_CATCH_UP:
                dues.append(due)
                due = next_due(info.cron, info.timezone, due)
            following = due
            missed = 0
            if catch_up and len(dues) > 1 and info.catch_up == "latest":
                missed = len(dues) - 1
                dues = dues[-1:]
            elif catch_up and dues and info.catch_up == "none":
                missed = len(dues)
                dues = []
                following = next_due(info.cron, info.timezone, now)
            last = info.last_fire_at
            for i, due in enumerate(dues):
                upcoming = dues[i + 1] if i + 1 < len(dues) else following
                payload = SchedulePayload(
                    timestamp=due,
                    last_timestamp=last,
                    timezone=info.timezone,
                    schedule_id=info.id,
                    key=info.key,
                    upcoming=upcoming,
                    missed=missed if i == 0 else 0,
                )
                await self._start(wf, info, payload, due, upcoming)
                last = due
            if not dues and following != info.next_fire_at:
                info.next_fire_at = following
                await rt.commit(
                    [
                        Update(
                            "schedules",
                            "id",
                            info.id,
                            ("next_fire_at", "updated_at"),
                            (following, rt.clock.now()),
                        )
                    ]
                )
        await self._arm(info, catch_up=False)

    async def _start(
        self,
        wf: registry.Workflow,
        info: ScheduleInfo,
        payload: SchedulePayload,
        due: dt.datetime,
        upcoming: dt.datetime,
    ) -> None:
        rt = self._rt
        value: Any = payload
        declared = wf._payload_type
        if declared is not None and declared is not SchedulePayload and declared not in (dict, Any):
            value = payload.model_dump()
        _, payload_json, state_json = rt.starts.prepare(wf, value, None)
        ex, insert = rt.starts.new_exec(
            wf.id,
            wf.workflow_type,
            payload_json,
            initial_state_json=state_json,
            queue_name=wf.queue.name,
            concurrency_key=None,
            run_timeout_seconds=wf.run_timeout_seconds,
        )
        await rt.commit(
            [
                insert,
                Update(
                    "schedules",
                    "id",
                    info.id,
                    ("last_fire_at", "next_fire_at", "updated_at"),
                    (due, upcoming, rt.clock.now()),
                ),
            ]
        )
        info.last_fire_at = due
        info.next_fire_at = upcoming
        rt.adopt(ex)


def _info(row: ScheduleRow) -> ScheduleInfo:
    return ScheduleInfo(**row._asdict())


async def create(
    runtime: Runtime, workflow: Any, cron: str, timezone: str, key: str, catch_up: str
) -> ScheduleInfo:
    """Validate and create (or update) a schedule for a registered workflow."""
    wf_id = workflow.id if isinstance(workflow, registry.Workflow) else workflow
    if registry.get_workflow(wf_id) is None:
        raise WorkflowNotFoundError(str(wf_id), list(registry.get_all_workflows()))
    spec = make_spec(cron, timezone, key, catch_up, wf_id)
    return await runtime.scheduler.upsert(wf_id, spec)

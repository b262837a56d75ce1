"""Cron schedules: create, list, pause, re-activate and remove them.

```python
from polos_nb import schedules

await schedules.create(client, daily_report, "0 9 * * *", timezone="Europe/Paris")
for s in await schedules.list(client):
    print(s.workflow_id, s.cron, s.timezone, s.status, s.next_fire_at)
await schedules.pause(client, "daily_report")
```

``@workflow(schedule=...)`` creates the schedule when the workflow is registered. A
paused schedule stays paused across restarts and re-definitions; ``remove`` deletes it
until the workflow is registered again with ``schedule=``. Due-time, DST and catch-up
rules: ``polos_nb.engine._schedules``.
"""

from __future__ import annotations

import builtins
from typing import TYPE_CHECKING, Any

from ._scheduler import create as _create
from ._schedules import ScheduleInfo, SchedulePayload

if TYPE_CHECKING:
    from ._client import PolosClient

__all__ = ["ScheduleInfo", "SchedulePayload", "activate", "create", "list", "pause", "remove"]


async def create(
    client: PolosClient,
    workflow: Any,
    cron: str,
    timezone: str = "UTC",
    key: str = "global",
    catch_up: str = "latest",
) -> str:
    """Create (or update) the schedule ``key`` of a registered workflow; returns its id.

    Raises ``UserError`` for an invalid cron string, an unknown timezone or catch-up
    policy, and ``WorkflowNotFoundError`` for an unknown workflow; nothing is written then.
    """
    info = await client._on_engine(_create(client.runtime, workflow, cron, timezone, key, catch_up))
    return info.id


async def list(client: PolosClient, workflow_id: str | None = None) -> builtins.list[ScheduleInfo]:
    """Every schedule in the journal (or those of one workflow)."""
    return await client._on_engine(client.runtime.scheduler.list(workflow_id))


async def pause(client: PolosClient, workflow_id: str, key: str = "global") -> ScheduleInfo:
    """Stop firing a schedule (kept in the journal; see :func:`activate`)."""
    return await client._on_engine(client.runtime.scheduler.set_status(workflow_id, key, "paused"))


async def activate(client: PolosClient, workflow_id: str, key: str = "global") -> ScheduleInfo:
    """Fire a paused schedule again, from its next due time (missed ones are not caught up)."""
    return await client._on_engine(client.runtime.scheduler.set_status(workflow_id, key, "active"))


async def remove(client: PolosClient, workflow_id: str, key: str = "global") -> bool:
    """Delete a schedule; returns False if there was none."""
    return await client._on_engine(client.runtime.scheduler.remove(workflow_id, key))

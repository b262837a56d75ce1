"""Small polling helpers shared by the engine tests (real journal, real engine thread)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from typing import Any

from polos_nb import ExecutionInfo, PolosClient


def topic_name(prefix: str) -> str:
    """A topic unique to one test."""
    return f"{prefix}/{uuid.uuid4().hex[:8]}"


async def rows(
    client: PolosClient, sql: str, params: list[Any] | None = None
) -> list[tuple[Any, ...]]:
    """Run a query on the journal through the engine's own connection (the owner process)."""
    return await asyncio.wrap_future(
        client.runtime.journal.read(lambda con: con.execute(sql, params or []).fetchall())
    )


async def until(
    predicate: Callable[[], Any], timeout: float = 10.0, what: str = "condition"
) -> None:
    """Poll ``predicate`` until it is true, failing after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.005)


async def wait_status(
    client: PolosClient, exec_id: str, *statuses: str, timeout: float = 10.0
) -> ExecutionInfo:
    """Poll an execution until its status is one of ``statuses``."""
    deadline = time.monotonic() + timeout
    while True:
        info = await client.get_execution(exec_id)
        if info.status in statuses:
            return info
        if time.monotonic() > deadline:
            raise AssertionError(f"execution {exec_id} is {info.status}, expected {statuses}")
        await asyncio.sleep(0.01)


async def settle() -> None:
    """Give the engine a moment to (wrongly) act on something before asserting it did not."""
    await asyncio.sleep(0.15)

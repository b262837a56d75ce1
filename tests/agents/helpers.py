"""Shared helpers for the agent tests."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import duckdb

_COUNTER = itertools.count(1)


def uid(prefix: str) -> str:
    """A unique id (agents and fake models are registered globally by id)."""
    return f"{prefix}-{next(_COUNTER)}"


async def step_rows(client: Any, execution_id: str) -> list[tuple[str, str, int, str]]:
    """(step_key, kind, attempt, status) of an execution, in journal order."""

    def read(con: Any) -> Any:
        return con.execute(
            "SELECT step_key, kind, attempt, status FROM steps WHERE execution_id = ? ORDER BY seq",
            [execution_id],
        ).fetchall()

    return await asyncio.wrap_future(client.runtime.journal.read(read))


def offline_rows(path: str, sql: str, params: list[Any] | None = None) -> list[Any]:
    con = duckdb.connect(path, read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


async def wait_status(client: Any, execution_id: str, status: str, timeout: float = 60) -> None:
    import asyncio
    import time

    deadline = time.monotonic() + timeout
    while True:
        info = await client.get_execution(execution_id)
        if info.status == status:
            return
        if info.status in ("completed", "failed", "cancelled") or time.monotonic() > deadline:
            raise AssertionError(
                f"execution {execution_id} is {info.status} ({info.error}), expected {status}"
            )
        await asyncio.sleep(0.02)

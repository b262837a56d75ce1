"""Helpers for driving agents with sandbox tools through their approvals."""

from __future__ import annotations

import asyncio
import itertools
import time
from typing import Any

from polos_nb import pending_approvals

_IDS = itertools.count(1)


def uid(prefix: str) -> str:
    return f"{prefix}-{next(_IDS)}-{time.monotonic_ns() % 10**6}"


async def next_approval(client: Any, run_id: str, timeout: float = 60) -> Any:
    """The run's one pending approval, once it waits (fails if the run ends first)."""
    deadline = time.monotonic() + timeout
    while True:
        info = await client.get_execution(run_id)
        if info.status == "waiting":
            pending = pending_approvals(run_id, client=client)
            if pending:
                assert len(pending) == 1, pending
                return pending[0]
        if info.status in ("completed", "failed", "cancelled"):
            raise AssertionError(f"run {run_id} ended ({info.status}: {info.error}) without asking")
        if time.monotonic() > deadline:
            raise AssertionError(f"run {run_id} is still {info.status}, no approval pending")
        await asyncio.sleep(0.02)


def tool_messages(model: Any) -> list[str]:
    """The tool results the model was shown in its last call."""
    return [m["content"] for m in model.calls[-1].messages if m["role"] == "tool"]

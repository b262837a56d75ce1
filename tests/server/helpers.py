"""Helpers for the server extension tests: run coroutines on the server's loop, poll."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from tornado.httpclient import HTTPClientError

T = TypeVar("T")


def run(loop: asyncio.AbstractEventLoop, coro: Awaitable[T]) -> T:
    return loop.run_until_complete(coro)


async def get_json(jp_fetch: Any, *path: str, **params: Any) -> Any:
    response = await jp_fetch(*path, params={k: v for k, v in params.items() if v is not None})
    return json.loads(response.body)


async def fetch_error(jp_fetch: Any, *path: str, **kwargs: Any) -> tuple[int, Any]:
    """The status and JSON body of a request that is expected to fail."""
    try:
        response = await jp_fetch(*path, **kwargs)
    except HTTPClientError as exc:
        body = exc.response.body if exc.response is not None else b""
        try:
            return exc.code, json.loads(body)
        except ValueError:
            return exc.code, body.decode("utf-8", "replace")
    raise AssertionError(f"expected an error, got {response.code}: {response.body[:300]!r}")


async def poll(
    check: Callable[[], Awaitable[T | None]], *, timeout: float = 90.0, what: str = "condition"
) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = await check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.2)

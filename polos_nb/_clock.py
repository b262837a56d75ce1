"""Time as the engine sees it. Inject a clock to test timing rules without sleeping.

The engine never reads the wall clock directly: durable sleeps, wait deadlines, retry
back-off and run timeouts all go through a :class:`Clock`. ``polos_nb.testing.FakeClock``
is the one tests use; :class:`SystemClock` is the default.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable
from typing import Protocol

__all__ = ["Clock", "SystemClock", "TimerHandle", "utc"]

utc = dt.UTC


class TimerHandle(Protocol):
    def cancel(self) -> None: ...


class Clock(Protocol):
    """What the engine needs from time."""

    def now(self) -> dt.datetime:
        """The current time, timezone-aware UTC."""
        ...

    def call_at(
        self, when: dt.datetime, callback: Callable[[], object], loop: asyncio.AbstractEventLoop
    ) -> TimerHandle:
        """Call ``callback`` on ``loop`` once ``now() >= when`` (its return value is ignored)."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Sleep on the running loop for ``seconds`` of this clock's time."""
        ...


class SystemClock:
    """The real clock: ``datetime.now(UTC)`` and the event loop's timers."""

    def now(self) -> dt.datetime:
        return dt.datetime.now(utc)

    def call_at(
        self, when: dt.datetime, callback: Callable[[], object], loop: asyncio.AbstractEventLoop
    ) -> TimerHandle:
        delay = max(0.0, (when - self.now()).total_seconds())
        return loop.call_later(delay, callback)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))

    def __repr__(self) -> str:
        return "SystemClock()"

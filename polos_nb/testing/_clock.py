"""A clock that only moves when told to, for testing timing rules without sleeping."""

from __future__ import annotations

import asyncio
import datetime as dt
import heapq
import itertools
import threading
from collections.abc import Callable

__all__ = ["FakeClock"]


class _Timer:
    __slots__ = ("cancelled",)

    def __init__(self) -> None:
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class FakeClock:
    """An injectable clock: ``PolosClient(journal=..., clock=FakeClock())``.

    Time stands still until :meth:`advance` (or :meth:`set`) moves it; timers that
    become due fire on the engine loop in time order. ``sleep`` (used for retry back-off)
    waits until the clock passes the wake time. Thread-safe.
    """

    def __init__(self, start: dt.datetime | None = None) -> None:
        start = start or dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
        if start.tzinfo is None:
            start = start.replace(tzinfo=dt.UTC)
        self._now = start
        self._timers: list[
            tuple[dt.datetime, int, _Timer, asyncio.AbstractEventLoop, Callable[[], object]]
        ] = []
        self._counter = itertools.count()
        self._lock = threading.Lock()

    def now(self) -> dt.datetime:
        with self._lock:
            return self._now

    def call_at(
        self, when: dt.datetime, callback: Callable[[], object], loop: asyncio.AbstractEventLoop
    ) -> _Timer:
        timer = _Timer()
        with self._lock:
            heapq.heappush(self._timers, (when, next(self._counter), timer, loop, callback))
            due = when <= self._now
        if due:
            self._fire_due()
        return timer

    async def sleep(self, seconds: float) -> None:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()

        def wake() -> None:
            if not future.done():
                future.set_result(None)

        self.call_at(self.now() + dt.timedelta(seconds=max(0.0, seconds)), wake, loop)
        await future

    def advance(self, seconds: float = 0, **delta: float) -> dt.datetime:
        """Move time forward by ``seconds`` (plus ``minutes=``, ``hours=``, ``days=``…) and fire due timers."""
        step = dt.timedelta(seconds=seconds, **delta)
        return self.set(self.now() + step)

    def set(self, when: dt.datetime) -> dt.datetime:
        """Move time to ``when`` (never backwards), firing timers due on the way, in order."""
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.UTC)
        while True:
            with self._lock:
                if not self._timers or self._timers[0][0] > when:
                    self._now = max(self._now, when)
                    return self._now
                due, _, timer, loop, callback = heapq.heappop(self._timers)
                self._now = max(self._now, due)
            if (
                not timer.cancelled and not loop.is_closed()
            ):  # a closed engine's timers died with it
                loop.call_soon_threadsafe(callback)

    def _fire_due(self) -> None:
        self.set(self.now())

    def pending_timers(self) -> list[dt.datetime]:
        """Due times of timers not yet fired (cancelled ones included until they are due)."""
        with self._lock:
            return sorted(t[0] for t in self._timers if not t[2].cancelled and not t[3].is_closed())

    def __repr__(self) -> str:
        return f"FakeClock({self._now.isoformat()})"

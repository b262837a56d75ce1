"""Journal outcomes handed to the engine loop in batches (one wake-up per batch).

The journal settles a submission's :class:`concurrent.futures.Future` on its own thread
(DuckDB: the writer, right after the commit). ``asyncio.wrap_future`` would hand each
outcome to the engine loop with its own ``call_soon_threadsafe``: one write to the loop's
wake-up pipe, and often one loop iteration, per future. A group commit settles dozens of
futures in a row, so :class:`Delivery` queues the outcomes instead and wakes the loop once
for all that arrived before it runs: the waiting tasks then resume together, in commit
order, and their next writes reach the journal together (a larger next group).

The journal may also take turns with the engine (``on_ring`` / ``on_turn``): when a group's
outcomes are on their way, the DuckDB writer waits (briefly, bounded) until the engine has
run the tasks they resume, so the writes those tasks make join whatever queued meanwhile in
the next group, instead of the workflows splitting into two cohorts that commit in turn.

Nothing about durability changes: a waiter is settled only after its future is, and the
future is settled only after the commit.

The same batching serves callers on other loops (:func:`from_engine`): a program that
awaits many runs at once (``asyncio.gather`` of ``wf.run``) gets their handles and
results back with one wake-up of its loop per batch, not one each.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import weakref
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["Delivery", "from_engine"]

T = TypeVar("T")


class Delivery:
    """Awaitable twins of journal futures, settled on ``loop`` in batches."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        *,
        on_ring: Callable[[], None] | None = None,
        on_turn: Callable[[], None] | None = None,
    ) -> None:
        """``on_ring()`` runs on the settling thread when it schedules a batch for the loop;
        ``on_turn()`` runs on the loop after the tasks the batch resumed have run up to
        their next ``await`` (the journal's writer waits for it)."""
        self._loop_ref = weakref.ref(loop)
        self._on_ring = on_ring
        self._on_turn = on_turn
        self._lock = threading.Lock()
        self._ready: list[tuple[asyncio.Future[Any], concurrent.futures.Future[Any]]] = []

    def wait(self, future: concurrent.futures.Future[T]) -> asyncio.Future[T]:
        """An asyncio future with ``future``'s outcome, for the running loop.

        Like ``asyncio.wrap_future``: cancelling the returned future cancels ``future``
        (a backend may then skip a write that has not started). Awaited from another loop
        than the engine's, it is ``asyncio.wrap_future`` itself.
        """
        loop = asyncio.get_running_loop()
        if loop is not self._loop_ref():
            return asyncio.wrap_future(future)
        waiter: asyncio.Future[T] = loop.create_future()
        waiter.add_done_callback(lambda w: future.cancel() if w.cancelled() else None)
        future.add_done_callback(lambda f: self._arrived(waiter, f))
        return waiter

    def _arrived(self, waiter: asyncio.Future[Any], future: concurrent.futures.Future[Any]) -> None:
        # Any thread (usually the journal's). Only the first arrival of a batch wakes the loop.
        with self._lock:
            self._ready.append((waiter, future))
            first = len(self._ready) == 1
        if first:
            if self._on_ring is not None:
                self._on_ring()
            loop = self._loop_ref()
            if loop is None:  # the loop is gone: nobody waits any more
                return
            try:
                loop.call_soon_threadsafe(self._settle)
            except RuntimeError:  # the loop is closed: nobody waits any more
                pass

    def _settle(self) -> None:
        with self._lock:
            ready, self._ready = self._ready, []
        for waiter, future in ready:
            if waiter.done():  # its task gave up (cancelled)
                continue
            if future.cancelled():
                waiter.cancel()
                continue
            exc = future.exception()
            if exc is None:
                waiter.set_result(future.result())
            else:
                waiter.set_exception(exc)
        loop = self._loop_ref()
        if self._on_turn is not None and loop is not None:
            # Scheduled after the resumed tasks' steps (set_result scheduled them first).
            loop.call_soon(self._on_turn)


# One Delivery per caller loop; it refers to its loop weakly, so a loop that is gone
# (``asyncio.run`` returned) takes its entry with it.
_CALLERS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Delivery] = (
    weakref.WeakKeyDictionary()
)
_CALLERS_LOCK = threading.Lock()


def from_engine(future: concurrent.futures.Future[T]) -> asyncio.Future[T]:
    """An asyncio future for the running loop with ``future``'s outcome (``future`` is
    settled on the engine's thread), delivered in batches as :class:`Delivery` does."""
    loop = asyncio.get_running_loop()
    delivery = _CALLERS.get(loop)
    if delivery is None:
        with _CALLERS_LOCK:
            delivery = _CALLERS.get(loop)
            if delivery is None:
                delivery = _CALLERS[loop] = Delivery(loop)
    return delivery.wait(future)

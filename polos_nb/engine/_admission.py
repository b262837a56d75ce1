"""Queue admission: concurrency limits per (queue, concurrency key), first come first served.

An execution holds a slot only while its code runs; when it waits (suspend, sleep,
event, child) or ends, the slot goes to the oldest execution queued for it (D12, D18).
Slots are in memory: after a restart every queued or interrupted execution is admitted
again in creation order, so the limit holds across restarts too.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from pydantic import BaseModel

__all__ = ["Admission", "QueueStatus"]

Slot = tuple[str, str]


class QueueStatus(BaseModel):
    """What runs and what waits for a slot in one queue (per concurrency key).

    Listed for every queue with running or queued work; ``concurrency_limit`` is ``None``
    for a queue without a limit."""

    name: str
    concurrency_key: str | None
    concurrency_limit: int | None
    running: list[str]
    queued: list[str]


class Admission:
    """Bookkeeping of slots; the runtime asks before starting an execution's code."""

    def __init__(self) -> None:
        self.limits: dict[str, int] = {}
        self._holders: dict[Slot, set[str]] = {}
        self._waiting: dict[Slot, deque[str]] = {}

    def set_limit(self, queue_name: str, limit: int | None, *, only_if_unset: bool = False) -> None:
        """Set a queue's limit (the latest definition wins; ``None`` removes it)."""
        if only_if_unset and queue_name in self.limits:
            return
        if limit is None:
            self.limits.pop(queue_name, None)
        else:
            self.limits[queue_name] = limit

    def try_acquire(
        self, exec_id: str, queue_name: str | None, concurrency_key: str | None
    ) -> bool:
        """Take a slot for ``exec_id`` now, or queue it (FIFO) and return False."""
        limit = self.limits.get(queue_name or "")
        slot = (queue_name or "", concurrency_key or "")
        holders = self._holders.setdefault(slot, set())
        if exec_id in holders:
            return True
        waiting = self._waiting.setdefault(slot, deque())
        if limit is None or (len(holders) < limit and (not waiting or waiting[0] == exec_id)):
            if waiting and waiting[0] == exec_id:
                waiting.popleft()
            elif exec_id in waiting:
                waiting.remove(exec_id)
            holders.add(exec_id)
            return True
        if exec_id not in waiting:
            waiting.append(exec_id)
        return False

    def free(self, queue_name: str | None, concurrency_key: str | None) -> bool:
        """Whether a new execution would take a slot of this queue and key at once (nothing
        waits for one and the limit is not reached); nothing changes."""
        limit = self.limits.get(queue_name or "")
        if limit is None:
            return True
        slot = (queue_name or "", concurrency_key or "")
        return not self._waiting.get(slot) and len(self._holders.get(slot, ())) < limit

    def release(
        self,
        exec_id: str,
        queue_name: str | None,
        concurrency_key: str | None,
        start: Callable[[str], bool],
    ) -> None:
        """Give back ``exec_id``'s slot and start the next queued executions that fit.

        ``start(exec_id)`` must try to start that execution and return whether it took a
        slot; entries that cannot start any more (ended, cancelled) are dropped.
        """
        slot = (queue_name or "", concurrency_key or "")
        self._holders.get(slot, set()).discard(exec_id)
        waiting = self._waiting.get(slot)
        while waiting:
            limit = self.limits.get(slot[0])
            if limit is not None and len(self._holders.get(slot, ())) >= limit:
                return
            head = waiting[0]
            if not start(head) and waiting and waiting[0] == head:
                waiting.popleft()

    def queued(self, queue_name: str | None, concurrency_key: str | None) -> list[str]:
        """The executions queued here for a slot of this queue and key, next first."""
        return list(self._waiting.get((queue_name or "", concurrency_key or ""), ()))

    def forget(self, exec_id: str) -> None:
        """Drop a queued execution that will never run (cancelled while queued)."""
        for waiting in self._waiting.values():
            if exec_id in waiting:
                waiting.remove(exec_id)

    def status(self) -> list[QueueStatus]:
        slots = set(self._holders) | set(self._waiting)
        out = []
        for name, key in sorted(slots):
            running = sorted(self._holders.get((name, key), ()))
            queued = list(self._waiting.get((name, key), ()))
            if not running and not queued:
                continue
            out.append(
                QueueStatus(
                    name=name,
                    concurrency_key=key or None,
                    concurrency_limit=self.limits.get(name),
                    running=running,
                    queued=queued,
                )
            )
        return out

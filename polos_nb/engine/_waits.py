"""Waits of a running execution: suspensions, event waits, sleeps, timers, resumes (D8–D11)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from polos_nb import _serde
from polos_nb.contracts import resume_event, suspend_event
from polos_nb.errors import (
    ExecutionNotFoundError,
    JournalError,
    ResumeError,
    WaitTimeoutError,
)

from ._approval_url import approval_url
from ._error_records import error_names
from ._host import WaitsHost
from ._records import (
    Exec,
    Wait,
    _as_event_data,
    event_from_row,
    payload_of,
)
from ._topics import validate_topic
from ._types import (
    TERMINAL_STATUSES,
    EventPayload,
    StreamEvent,
)
from .journal import Delete, Insert, UpdateWhere

__all__ = ["Waits"]

_WAIT_COLUMNS = (
    "execution_id",
    "step_key",
    "kind",
    "position",
    "topic",
    "after_topic_seq",
    "wake_at",
    "expires_at",
    "detail",
    "created_at",
)


class Waits:
    """The waits of running executions: suspensions, event waits, sleeps, timers, resumes.

    A part of :class:`~polos_nb.engine._runtime.Runtime` (``rt.waits``); it reaches the
    runtime only through ``self.rt``, typed :class:`~polos_nb.engine._host.WaitsHost`.
    """

    def __init__(self, host: WaitsHost) -> None:
        self.rt = host

    async def rearm(self, ex: Exec, wait: Wait) -> None:
        if wait.kind == "event" and wait.topic:
            self.rt._topic_waits.setdefault(wait.topic, set()).add((ex.id, wait.key))
            rows = await self.rt.read(
                self.rt.journal.topic_events(wait.topic, wait.after_topic_seq or 0, limit=1)
            )
            if rows:
                event = event_from_row(rows[0])
                self.rt._topic_waits[wait.topic].discard((ex.id, wait.key))
                await self.resolve(ex, wait.key, output=_serde.dumps(payload_of(event)))
                return
        if wait.kind in ("sleep", "retry") and wait.wake_at is not None:
            wait.timer = self.rt.clock.call_at(
                wait.wake_at, lambda: self.timer_fired(ex.id, wait.key), self.rt.loop
            )
        if wait.expires_at is not None:
            wait.timer = self.rt.clock.call_at(
                wait.expires_at, lambda: self.timer_fired(ex.id, wait.key), self.rt.loop
            )
        if wait.kind in ("child", "batch"):
            await self.rt.children.check_children_done(ex, wait)
        if wait.kind == "blocked":  # parked before a restart: try again now
            ex.blocked = wait.detail if isinstance(wait.detail, dict) else {}
            await self.rt.blocking.unblock(ex)

    # ================================================================== waits
    async def wait(
        self,
        ex: Exec,
        key: str,
        position: int,
        kind: str,
        *,
        topic: str | None = None,
        data: dict[str, Any] | None = None,
        timeout: float | None = None,
        wake_at: dt.datetime | None = None,
    ) -> EventPayload | None:
        """Register a wait (or find it registered) and return; the caller raises Park.

        For a suspension with an early resume in the mailbox, journal it and return the payload.
        """
        if key in ex.waits:
            ex.status = "waiting"
            return None
        now = self.rt.clock.now()
        if kind == "suspend" and key in ex.mailbox:
            data_json, event_seq, created = ex.mailbox.pop(key)
            payload = EventPayload(
                id=str(event_seq or 0),
                sequence_id=event_seq or 0,
                topic=ex.topic,
                event_type=resume_event(key),
                data=_serde.loads(data_json) if data_json else None,
                created_at=created,
            )
            await self.rt.commit(
                [
                    Delete("mailbox", (("execution_id", ex.id), ("step_key", key))),
                    self.rt.step_insert(
                        ex,
                        key,
                        position,
                        "suspend",
                        1,
                        "completed",
                        None,
                        _serde.dumps(payload),
                        None,
                        None,
                        now,
                        now,
                    ),
                ]
            )
            return payload
        expires_at = now + dt.timedelta(seconds=timeout) if timeout is not None else None
        wait = Wait(
            key=key,
            kind=kind,
            position=position,
            topic=topic,
            wake_at=wake_at,
            expires_at=expires_at,
        )
        ops: list[Any] = []
        if kind == "event":
            event_topic = validate_topic(topic)
            await self.rt._topic_next(event_topic)  # make sure the counter is loaded
            self.rt._topic_seq[event_topic] -= 1
            wait.after_topic_seq = self.rt._topic_seq[event_topic]
        ex.waits[key] = wait
        ops.append(self.wait_insert(ex, wait, now))
        ops.append(self.rt._status_op(ex, "waiting"))
        event = None
        if kind == "suspend":
            data = dict(data or {})
            data.setdefault("_approval_url", approval_url(ex.root_id, key))
            insert, event = self.rt._lifecycle_event(ex, suspend_event(key), data)
            ops.append(insert)
        await self.rt.commit(ops)
        if event is not None:
            self.rt.live.emit(event)
        if kind == "event" and topic is not None:
            self.rt._topic_waits.setdefault(topic, set()).add((ex.id, key))
        when = wake_at if kind == "sleep" else expires_at
        if when is not None:
            wait.timer = self.rt.clock.call_at(
                when, lambda: self.timer_fired(ex.id, key), self.rt.loop
            )
        return None

    def wait_insert(self, ex: Exec, wait: Wait, now: dt.datetime) -> Insert:
        return Insert(
            "waits",
            _WAIT_COLUMNS,
            (
                ex.id,
                wait.key,
                wait.kind,
                wait.position,
                wait.topic,
                wait.after_topic_seq,
                wait.wake_at,
                wait.expires_at,
                _serde.dumps(wait.detail) if wait.detail is not None else None,
                now,
            ),
        )

    def timer_fired(self, exec_id: str, key: str) -> None:
        ex = self.rt.execs.get(exec_id)
        wait = ex.waits.get(key) if ex else None
        if ex is None or wait is None:
            return
        if (
            wait.kind in ("sleep", "retry")
            and wait.wake_at is not None
            and self.rt.clock.now() >= wait.wake_at
        ):
            self.rt.loop.create_task(self.resolve_quietly(ex, key, output="null"))
            return
        if wait.expires_at is not None and self.rt.clock.now() >= wait.expires_at:
            what = {
                "suspend": f"Suspension {key!r}",
                "event": f"Event wait {key!r} on {wait.topic!r}",
            }.get(wait.kind, f"Wait {key!r}")
            error = {
                **error_names(WaitTimeoutError),
                "message": f"{what} of execution {exec_id} timed out at {wait.expires_at.isoformat()}.",
                "what": f"{what} of execution {exec_id}",
                "deadline": wait.expires_at.isoformat(),
            }
            if wait.topic:
                self.rt._topic_waits.get(wait.topic, set()).discard((exec_id, key))
            self.rt.loop.create_task(self.resolve_quietly(ex, key, error=_serde.dumps(error)))

    def resolve_ops(
        self,
        ex: Exec,
        wait: Wait,
        ops: list[Any],
        *,
        output: str | None = None,
        error: str | None = None,
    ) -> None:
        now = self.rt.clock.now()
        if wait.kind not in ("retry", "blocked"):  # back-offs and parks are not steps
            kind = {
                "suspend": "suspend",
                "event": "event_wait",
                "sleep": "sleep",
                "child": "invoke_wait",
                "batch": "batch_wait",
            }[wait.kind]
            ops.append(
                self.rt.step_insert(
                    ex,
                    wait.key,
                    wait.position,
                    kind,
                    1,
                    "failed" if error else "completed",
                    None,
                    output,
                    error,
                    None,
                    now,
                    now,
                )
            )
        ops.append(
            UpdateWhere(
                "waits",
                ("resolved_at",),
                (now,),
                (("execution_id", ex.id), ("step_key", wait.key)),
            )
        )
        if wait.kind == "blocked":
            ops.append(self.rt._status_op(ex, "queued", error=None))  # the park's reason goes
        else:
            ops.append(self.rt._status_op(ex, "queued"))
        if wait.timer is not None:
            wait.timer.cancel()
        ex.waits.pop(wait.key, None)

    async def resolve(
        self,
        ex: Exec,
        key: str,
        *,
        output: str | None = None,
        error: str | None = None,
        extra_ops: list[Any] | None = None,
        events: list[StreamEvent] | None = None,
    ) -> None:
        wait = ex.waits.get(key)
        if wait is None or ex.status in TERMINAL_STATUSES:
            return
        ops = list(extra_ops or [])
        self.resolve_ops(ex, wait, ops, output=output, error=error)
        try:
            await self.rt.commit(ops)
        except JournalError as exc:  # memory ran ahead of the journal: read it back later
            self.rt.blocking.journal_down(ex, exc)
            raise
        for event in events or ():
            self.rt.live.emit(event)
        self.rt.schedule(ex)

    async def resolve_quietly(
        self, ex: Exec, key: str, *, output: str | None = None, error: str | None = None
    ) -> None:
        """:meth:`_resolve` from a timer or an event: a journal failure is held, not raised."""
        try:
            await self.resolve(ex, key, output=output, error=error)
        except JournalError:
            pass  # the run is held (journal_down) and read back once the journal works

    # ================================================================== resume
    async def resume(
        self,
        workflow_id: str | None,
        execution_id: str,
        step_key: str,
        data: Any,
        extra_ops: list[Any] | None = None,
    ) -> None:
        """Deliver a resume payload to ``execution_id``'s suspension ``step_key`` (D8, D10)."""
        ex = await self._find_suspended(execution_id, step_key)
        data_json = _serde.dumps(data, what=f"The resume data for {step_key!r}")
        insert, event = self.rt._lifecycle_event(ex, resume_event(step_key), _as_event_data(data))
        payload = EventPayload(
            id=event.id,
            sequence_id=event.sequence_id or 0,
            topic=ex.topic,
            event_type=resume_event(step_key),
            data=data,
            created_at=event.created_at,
        )
        wait = ex.waits.get(step_key)
        if wait is not None:
            if wait.kind != "suspend":
                raise ResumeError(
                    f"Execution {ex.id} waits at {step_key!r} for {wait.kind!r}, not for a resume."
                )
            await self.resolve(
                ex,
                step_key,
                output=_serde.dumps(payload),
                extra_ops=[insert, *(extra_ops or [])],
                events=[event],
            )
            return
        # Early resume: the suspension has not been reached yet; keep it in the mailbox —
        # unless the run waits at other suspensions now, when the key is most likely a typo.
        if not ex.loaded:
            await self.rt._load(ex)
        if step_key in ex.mailbox or step_key in ex.steps:
            raise ResumeError(f"Step {step_key!r} of execution {ex.id} was already resumed.")
        waiting = self._suspensions_in_tree(ex)
        if waiting:
            keys = ", ".join(repr(k) for k in waiting)
            raise ResumeError(
                f"Execution {ex.id} waits at {keys}, not at {step_key!r}. Resume one of those "
                "(check the spelling); a resume for a suspension the run has not reached yet is "
                "kept only while it waits at no other suspension. Nothing was delivered."
            )
        now = self.rt.clock.now()
        ex.mailbox[step_key] = (data_json, event.sequence_id, now)
        try:
            await self.rt.commit(
                [
                    Insert(
                        "mailbox",
                        ("execution_id", "step_key", "data", "event_seq", "created_at"),
                        (ex.id, step_key, data_json, event.sequence_id, now),
                    ),
                    insert,
                    *(extra_ops or []),
                ]
            )
        except JournalError:
            ex.mailbox.pop(step_key, None)
            raise
        self.rt.live.emit(event)

    def _suspensions_in_tree(self, ex: Exec) -> list[str]:
        """Keys of the suspensions ``ex`` and its descendants wait at now."""
        keys: set[str] = set()
        frontier = [ex.id]
        while frontier:
            current = frontier.pop()
            node = self.rt.execs.get(current)
            if node is None or node.status in TERMINAL_STATUSES:
                continue
            keys.update(k for k, w in node.waits.items() if w.kind == "suspend")
            frontier.extend(
                other.id for other in self.rt.execs.values() if other.parent_id == current
            )
        return sorted(keys)

    async def _find_suspended(self, execution_id: str, step_key: str) -> Exec:
        ex = self.rt.execs.get(execution_id)
        if ex is not None:
            ex = await self.rt.blocking.fresh(ex)
        if ex is None:
            found = await self.rt.read(self.rt.journal.outcomes([execution_id]))
            if not found:
                raise ExecutionNotFoundError(execution_id)
            raise ResumeError(
                f"Execution {execution_id} has already ended ({found[0].status}); there is nothing to resume."
            )
        if ex.status in TERMINAL_STATUSES:
            raise ResumeError(
                f"Execution {execution_id} has already ended ({ex.status}); there is nothing to resume."
            )
        wait = ex.waits.get(step_key)
        if wait is not None:
            return ex
        # Upstream addresses a suspension by the root execution and the key: look in its tree.
        matches = [
            other
            for other in self.rt.execs.values()
            if other.root_id == ex.id
            and other.id != ex.id
            and (w := other.waits.get(step_key)) is not None
            and w.kind == "suspend"
        ]
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            ids = ", ".join(m.id for m in matches)
            raise ResumeError(
                f"Several executions under {execution_id} wait at {step_key!r} ({ids}); pass the exact execution id."
            )
        return ex

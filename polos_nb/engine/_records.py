"""The engine's in-memory records of executions, steps and waits, and journal row mapping."""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime as dt
import json
import logging
from dataclasses import dataclass, field
from typing import Any

from polos_nb import _serde
from polos_nb._clock import TimerHandle
from polos_nb.errors import (
    ExecutionCancelledError,
    NonDeterminismError,
    StepExecutionError,
    UserError,
)

from ._error_records import execution_error
from ._policy import RetryPolicy
from ._types import (
    CatchUp,
    EventPayload,
    ExecutionHandle,
    ExecutionInfo,
    StreamEvent,
)
from .journal import EventRow, History, RunJournal, WaitRow

__all__ = [
    "Exec",
    "StepRecord",
    "Wait",
    "event_from_row",
    "exec_from_row",
    "history_events",
    "info_from_row",
    "load_run_journal",
    "payload_of",
    "raise_for_terminal",
    "step_event",
    "wait_from_row",
]

log = logging.getLogger("polos_nb.engine")


@dataclass(slots=True)
class StepRecord:
    """The latest journaled attempt of one step."""

    key: str
    position: int | None
    kind: str
    attempt: int
    status: str
    output: str | None
    error: str | None
    state: str | None


@dataclass(slots=True)
class Wait:
    key: str
    kind: str  # suspend | event | sleep | child | batch
    position: int | None
    topic: str | None = None
    after_topic_seq: int | None = None
    wake_at: dt.datetime | None = None
    expires_at: dt.datetime | None = None
    detail: Any = None  # child ids for child/batch waits
    timer: TimerHandle | None = None


@dataclass(eq=False)
class Exec:
    """In-memory state of one execution (engine loop only)."""

    id: str
    workflow_id: str
    workflow_type: str
    status: str
    payload_json: str | None
    initial_state_json: str | None
    state_json: str | None
    parent_id: str | None
    root_id: str
    root_workflow_id: str
    parent_step_key: str | None
    batch_index: int | None
    queue_name: str | None
    concurrency_key: str | None
    session_id: str | None
    user_id: str | None
    created_at: dt.datetime
    started_at: dt.datetime | None = None
    deadline: dt.datetime | None = None
    run_attempt: int = 1
    replay_only: bool = False  # a read-only replay of a finished run (journal tools)
    steps: dict[str, StepRecord] = field(default_factory=dict)
    positions: dict[int, str] = field(default_factory=dict)
    attempts: dict[str, int] = field(default_factory=dict)
    waits: dict[str, Wait] = field(default_factory=dict)
    mailbox: dict[str, tuple[str | None, int | None, dt.datetime]] = field(default_factory=dict)
    children: dict[str, list[str]] = field(default_factory=dict)
    loaded: bool = False
    task: asyncio.Task[Any] | None = None
    rerun: bool = False
    cancel_requested: bool = False
    stop_reason: tuple[str, str] | None = (
        None  # (final status, error JSON) when stopped from outside
    )
    deadline_timer: TimerHandle | None = None
    # result: the ExecutionInfo it ended with, None (ended: read it back), or the error that
    # blocked it
    done: asyncio.Future[Any] | None = None
    blocked: dict[str, Any] | None = None  # why it is parked (see _blocking), as journaled
    block_failures: int = 0
    block_retry_at: float = 0.0
    journal_down: BaseException | None = None  # the write the journal refused, if any
    # steps started and not recorded yet: key -> (kind, attempt, started); what a stream
    # that begins while they run replays as their step_start
    running: dict[str, tuple[str, int, dt.datetime]] = field(default_factory=dict)
    # running steps' catch-ups (``ctx.catch_up``): key -> what a stream that begins while
    # the step runs gets after its step_start, of the live events it missed
    catch_up: dict[str, CatchUp] = field(default_factory=dict)
    # W3C trace context (polos_nb._tracing) the run's spans are children of: the caller's
    # span when it was started, the parent run's for a child, else its own first span.
    trace_carrier: dict[str, str] | None = None

    @property
    def topic(self) -> str:
        return f"workflow/{self.root_workflow_id}/{self.root_id}"

    def handle(self) -> ExecutionHandle:
        return ExecutionHandle(
            id=self.id,
            workflow_id=self.workflow_id,
            created_at=self.created_at,
            parent_execution_id=self.parent_id,
            root_workflow_id=self.root_workflow_id,
            root_execution_id=self.root_id,
            session_id=self.session_id,
            user_id=self.user_id,
            step_key=self.parent_step_key,
        )


def _step_start_event(
    ex: Exec, key: str, kind: str, attempt: int, started: dt.datetime
) -> StreamEvent:
    """The live-only ``step_start`` event of a step of ``ex``."""
    return StreamEvent(
        id=f"{ex.id}:{key}:{attempt}:start",
        sequence_id=None,
        topic=ex.topic,
        event_type="step_start",
        data={
            "step_key": key,
            "step_type": kind,
            "attempt": attempt,
            "_metadata": {"execution_id": ex.id, "workflow_id": ex.workflow_id},
        },
        created_at=started,
    )


def step_event(
    exec_id: str,
    wf_id: str,
    topic: str,
    key: str,
    kind: str,
    attempt: int,
    status: str,
    output: str | None,
    error: str | None,
    seq: int,
    started: dt.datetime | None,
    ended: dt.datetime,
) -> StreamEvent:
    data: dict[str, Any] = {
        "step_key": key,
        "step_type": kind,
        "attempt": attempt,
        "status": status,
        "started_at": started.isoformat() if started else None,
        "_metadata": {"execution_id": exec_id, "workflow_id": wf_id},
    }
    if output is not None:
        data["result"] = _serde.loads(output, strict=False)
    if error is not None:
        data["error"] = _serde.loads(error, strict=False)
    event = StreamEvent(
        id=f"step:{seq}",
        sequence_id=None,
        topic=topic,
        event_type="step_finish",
        data=data,
        created_at=ended,
    )
    event._journal_seq = seq
    return event


def _as_event_data(data: Any) -> dict[str, Any]:
    if isinstance(data, dict):
        return dict(data)
    return {"value": data}


def payload_of(event: StreamEvent) -> EventPayload:
    return EventPayload(
        id=event.id,
        sequence_id=event.sequence_id or 0,
        topic=event.topic,
        event_type=event.event_type,
        data=event.data,
        created_at=event.created_at,
    )


def _aware(value: Any) -> Any:
    if isinstance(value, dt.datetime) and value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC)
    return value


def exec_from_row(row: Any) -> Exec:
    (
        id_,
        wf_id,
        wf_type,
        status,
        payload,
        initial_state,
        state,
        parent,
        root,
        root_wf,
        parent_key,
        batch_index,
        queue_name,
        concurrency_key,
        session_id,
        user_id,
        created,
        started,
        deadline,
        run_attempt,
        trace_context,
    ) = row
    return Exec(
        id=id_,
        workflow_id=wf_id,
        workflow_type=wf_type,
        status=status,
        payload_json=payload,
        initial_state_json=initial_state,
        state_json=state,
        parent_id=parent,
        root_id=root,
        root_workflow_id=root_wf,
        parent_step_key=parent_key,
        batch_index=batch_index,
        queue_name=queue_name,
        concurrency_key=concurrency_key,
        session_id=session_id,
        user_id=user_id,
        created_at=_aware(created),
        started_at=_aware(started),
        deadline=_aware(deadline),
        run_attempt=run_attempt or 1,
        trace_carrier=_carrier(trace_context),
    )


def _carrier(text: str | None) -> dict[str, str] | None:
    """A journaled trace context (JSON of string headers), or None if absent or unreadable."""
    if not text:
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    if isinstance(value, dict) and all(isinstance(v, str) for v in value.values()):
        return {str(k): v for k, v in value.items()}
    return None


def load_run_journal(ex: Exec, found: RunJournal) -> None:
    """Take a run's journal (``journal.run_journal``) into its in-memory record ``ex``, to
    replay it: the latest attempt of each step (a step that failed in an earlier run
    attempt, or is being retried, runs again), early resumes, and children by parent step."""
    for step in found.steps:
        key, status = step.step_key, step.status
        ex.attempts[key] = max(step.attempt, ex.attempts.get(key, 0))
        if status == "retrying" or (
            status == "failed" and (step.run_attempt or 1) < ex.run_attempt
        ):
            if ex.steps.get(key) is not None and ex.steps[key].status == "failed":
                del ex.steps[key]  # a later run attempt runs this step again
            continue
        ex.steps[key] = StepRecord(
            key,
            step.position,
            step.kind,
            step.attempt,
            status,
            step.output,
            step.error,
            step.state,
        )
        if step.position is not None:
            ex.positions[step.position] = key
    for box in found.mailbox:
        ex.mailbox[box.step_key] = (box.data, box.event_seq, box.created_at)
    for child in found.children:
        ex.children.setdefault(child.parent_step_key or "", []).append(child.id)
    ex.loaded = True


def wait_from_row(row: WaitRow, *, strict: bool = True) -> Wait:
    """A journaled open wait as the engine holds it in memory."""
    return Wait(
        key=row.step_key,
        kind=row.kind,
        position=row.position,
        topic=row.topic,
        after_topic_seq=row.after_topic_seq,
        wake_at=_aware(row.wake_at),
        expires_at=_aware(row.expires_at),
        detail=_serde.loads(row.detail, strict=strict) if row.detail else None,
    )


def event_from_row(row: EventRow) -> StreamEvent:
    """A journaled event as subscribers and readers see it."""
    event = StreamEvent(
        id=str(row.seq),
        sequence_id=row.topic_seq,
        topic=row.topic,
        event_type=row.event_type,
        data=_serde.loads(row.data, strict=False),
        created_at=_aware(row.created_at),
    )
    event._journal_seq = row.seq
    return event


def info_from_row(row: Any) -> ExecutionInfo:
    (
        id_,
        wf_id,
        wf_type,
        status,
        payload,
        result,
        error,
        state,
        parent,
        root,
        root_wf,
        parent_key,
        queue_name,
        concurrency_key,
        session_id,
        user_id,
        created,
        started,
        completed,
    ) = row
    return ExecutionInfo(
        id=id_,
        workflow_id=wf_id,
        workflow_type=wf_type,
        status=status,
        payload=_lenient(payload),
        result=_lenient(result),
        error=_serde.loads(error, strict=False),
        state=_serde.loads(state, strict=False),
        parent_execution_id=parent,
        root_execution_id=root,
        root_workflow_id=root_wf,
        step_key=parent_key,
        queue_name=queue_name,
        concurrency_key=concurrency_key,
        session_id=session_id,
        user_id=user_id,
        created_at=_aware(created),
        started_at=_aware(started),
        completed_at=_aware(completed),
    )


def _terminal_info(
    ex: Exec,
    status: str,
    result: str | None,
    error: str | None,
    state: str | None,
    completed_at: dt.datetime,
) -> ExecutionInfo:
    """The :class:`ExecutionInfo` of an execution that just ended, from what was committed.

    The same values, decoded the same way, as reading its row back from the journal
    (:func:`info_from_row`), without the read: a waiter gets the outcome from memory and
    the writer thread does no SELECT per finished run.
    """
    return info_from_row(
        (
            ex.id,
            ex.workflow_id,
            ex.workflow_type,
            status,
            ex.payload_json,
            result,
            error,
            state,
            ex.parent_id,
            ex.root_id,
            ex.root_workflow_id,
            ex.parent_step_key,
            ex.queue_name,
            ex.concurrency_key,
            ex.session_id,
            ex.user_id,
            ex.created_at,
            ex.started_at,
            completed_at,
        )
    )


def _lenient(text: str | None) -> Any:
    """Decode strictly when the classes are defined here (models come back as models), else leniently."""
    try:
        return _serde.loads(text)
    except Exception:
        return _serde.loads(text, strict=False)


def _run_retryable(policy: RetryPolicy | None, exc: Exception, run_attempt: int) -> bool:
    """Whether a failed run gets another attempt under its workflow's retry policy."""
    if policy is None or run_attempt > policy.max_retries:
        return False
    if isinstance(exc, (NonDeterminismError, UserError)):
        return False
    cause = (
        exc.__cause__ if isinstance(exc, StepExecutionError) and exc.__cause__ is not None else exc
    )
    return policy.retries(cause)


def _log_failure(future: concurrent.futures.Future[Any]) -> None:
    if not future.cancelled() and future.exception() is not None:
        log.error("polos_nb journal write failed: %s", future.exception())


def raise_for_terminal(info: ExecutionInfo) -> Any:
    """Return the result of a terminal execution or raise its error."""
    if info.status == "completed":
        return info.result
    if info.status == "cancelled":
        raise ExecutionCancelledError(info.id)
    raise execution_error(info.id, info.error)


def history_events(found: History, topic: str) -> list[tuple[int, StreamEvent]]:
    """A tree's journaled events as stream events: its topic's events merged with one
    ``step_finish`` per ended step attempt (retrying attempts left out), by journal seq."""
    out: list[tuple[int, StreamEvent]] = [(row.seq, event_from_row(row)) for row in found.events]
    for step in found.steps:
        if step.status == "retrying":
            continue
        out.append(
            (
                step.seq,
                step_event(
                    step.execution_id,
                    step.workflow_id,
                    topic,
                    step.step_key,
                    step.kind,
                    step.attempt,
                    step.status,
                    step.output,
                    step.error,
                    step.seq,
                    step.started_at,
                    step.ended_at,
                ),
            )
        )
    out.sort(key=lambda pair: pair[0])
    return out

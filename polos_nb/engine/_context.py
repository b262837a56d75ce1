"""``WorkflowContext`` and ``ctx.step``: the durable primitives a workflow calls.

Every ``ctx.step.*`` call takes a key that is unique within the execution. The first
time a call runs, its outcome is journaled; when the workflow function re-runs (after
a crash, a kernel restart or a wait), the call returns the journaled outcome instead.
Calls are also numbered in the order the code makes them; replay checks that the same
keys come in the same order (D4). Steps started together with ``asyncio.gather`` are
numbered in the order they are passed to ``gather``, so parallel steps replay cleanly.
"""

from __future__ import annotations

import asyncio
import contextvars
import datetime as dt
import hashlib
import inspect
import random as _random
import traceback
import uuid as _uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar, cast

from pydantic import BaseModel

from polos_nb import _serde, _tracing
from polos_nb.errors import (
    DuplicateStepKeyError,
    ExecutionCancelledError,
    NonDeterminismError,
    SerializationError,
    StepExecutionError,
    StepTimeoutError,
    UnresolvedClassError,
    UserError,
    WaitTimeoutError,
)

from ._error_records import ATTEMPT_TIMEOUT, error_names, fix_error_name, step_error
from ._policy import RetryPolicy
from ._signals import Park
from ._types import (
    BatchStepResult,
    BatchWorkflowInput,
    EventPayload,
    ExecutionHandle,
    StreamEvent,
)

if TYPE_CHECKING:
    from ._records import Exec, StepRecord
    from ._runtime import Runtime
    from ._workflow import Workflow

__all__ = ["CURRENT", "Step", "WorkflowContext", "WorkflowState"]

_V = TypeVar("_V")

CURRENT: contextvars.ContextVar[WorkflowContext | None] = contextvars.ContextVar(
    "polos_nb_current", default=None
)
"""The context of the workflow whose code is running (``None`` outside workflows)."""


class WorkflowState(BaseModel):
    """Base class for a workflow's ``state_schema``. Assignments are validated.

    ``ctx.state`` is journaled with every step that changes it, so mutations made inside
    a step function survive a crash and a replay.
    """

    model_config = {"validate_assignment": True}


_HAND_BUILT = {
    "workflow_id": None,
    "execution_id": None,
    "deployment_id": "default",
    "session_id": None,
    "user_id": None,
    "parent_execution_id": None,
    "root_execution_id": None,
    "root_workflow_id": None,
    "retry_count": 0,
    "created_at": None,
    "workflow_type": "workflow",
    "otel_traceparent": None,
    "otel_span_id": None,
}
# upstream's AgentContext settings, kept as plain attributes on a hand-built context
_HAND_BUILT_AGENT = ("model", "provider", "system_prompt", "tools", "temperature", "max_tokens")


class _DetachedStep:
    """``ctx.step`` of a context built by hand: there is no run to journal steps in."""

    def __getattr__(self, name: str) -> Any:
        raise UserError(
            f"ctx.step.{name} needs a running workflow; this WorkflowContext was built by hand "
            "(its ids and state are readable only). Run the workflow (wf.run(client, ...)) to "
            "use durable steps."
        )


class WorkflowContext:
    """What a running workflow knows about itself; ``ctx.step`` holds the durable calls.

    A context is made by the engine for each run. Built by hand with upstream Polos's
    keywords (``WorkflowContext(workflow_id=..., execution_id=..., session_id=...,
    state_schema=..., initial_state=...)``, or ``AgentContext(agent_id=..., ...)``), e.g. to
    unit-test a function that takes one, it is detached: ids, state and ``to_dict()`` work,
    and ``ctx.step`` raises ``UserError`` when used.
    """

    def __init__(
        self,
        runtime: Runtime | None = None,
        ex: Exec | None = None,
        wf: Workflow | None = None,
        **fields: Any,
    ) -> None:
        if runtime is None or ex is None or wf is None:
            self._build_by_hand(fields)
            return
        if fields:
            raise TypeError(f"WorkflowContext() got unexpected keywords {sorted(fields)}")
        self._runtime = runtime
        self._ex = ex
        self.workflow_id = ex.workflow_id
        self.execution_id = ex.id
        self.parent_execution_id = ex.parent_id
        self.root_execution_id = ex.root_id
        self.root_workflow_id = ex.root_workflow_id
        self.session_id = ex.session_id
        self.user_id = ex.user_id
        self.workflow_type = ex.workflow_type
        self.created_at = ex.created_at
        self.deployment_id = "default"
        self.retry_count = 0
        self.state: Any = None
        if wf.state_schema is not None:
            raw = ex.state_json if ex.state_json is not None else ex.initial_state_json
            loaded = _serde.loads(raw) if raw is not None else None
            self.state = (
                loaded
                if isinstance(loaded, wf.state_schema)
                else wf.state_schema.model_validate(loaded or {})
            )
        self.step = Step(self, runtime, ex)
        self._fatal: BaseException | None = None

    def _build_by_hand(self, fields: dict[str, Any]) -> None:
        agent_id = fields.pop("agent_id", None)
        if agent_id is not None:
            fields.setdefault("workflow_id", agent_id)
            fields.setdefault("workflow_type", "agent")
            self.agent_id = agent_id
            for name in _HAND_BUILT_AGENT:
                setattr(self, name, fields.pop(name, None))
            self.tools: list[Any] = getattr(self, "tools", None) or []
        state_schema = fields.pop("state_schema", None)
        initial_state = fields.pop("initial_state", None)
        for name in ("cancel_event", "channels", "channel_context"):  # upstream's worker wiring
            fields.pop(name, None)
        unknown = sorted(set(fields) - set(_HAND_BUILT))
        if unknown:
            raise TypeError(f"WorkflowContext() got unexpected keywords {unknown}")
        for name, default in _HAND_BUILT.items():
            setattr(self, name, fields.get(name, default))
        if self.workflow_id is None or self.execution_id is None:
            raise TypeError("WorkflowContext() built by hand needs workflow_id and execution_id")
        self.root_execution_id = self.root_execution_id or self.execution_id
        self.root_workflow_id = self.root_workflow_id or self.workflow_id
        self.state = None
        if state_schema is not None:
            self.state = state_schema.model_validate(initial_state or {})
        self.step = cast(Step, _DetachedStep())
        self._fatal = None

    def to_dict(self) -> dict[str, Any]:
        """The context's ids as JSON data (``created_at`` in ISO format)."""
        return {
            "workflow_id": self.workflow_id,
            "execution_id": self.execution_id,
            "deployment_id": self.deployment_id,
            "parent_execution_id": self.parent_execution_id,
            "root_execution_id": self.root_execution_id,
            "root_workflow_id": self.root_workflow_id,
            "retry_count": self.retry_count,
            "created_at": self.created_at.isoformat() if self.created_at else None,
            "session_id": self.session_id,
            "user_id": self.user_id,
            "workflow_type": self.workflow_type,
            **{name: getattr(self, name) for name in _HAND_BUILT_AGENT if hasattr(self, name)},
        }

    @property
    def topic(self) -> str:
        """The topic this execution tree's events are published on."""
        return f"workflow/{self.root_workflow_id}/{self.root_execution_id}"

    def emit(self, event_type: str, data: dict[str, Any] | None = None) -> None:
        """Send a live-only event to this tree's stream subscribers (not journaled).

        For progress that is cheap to lose and must not cost a commit, such as streamed
        tokens. Subscribers see it with ``sequence_id=None``; ``_metadata`` is added.
        """
        self._runtime.live.emit_live(self._ex, event_type, data or {})

    def catch_up(
        self, key: str, events: Callable[[], list[tuple[str, dict[str, Any]]]]
    ) -> Callable[[], None]:
        """What a reader who starts watching this tree while step ``key`` runs gets of the
        live events it missed: ``events()`` gives them as ``(event_type, data)`` pairs
        (``_metadata`` is added), sent right after the step's ``step_start``.

        For a step that streams (``emit``) its progress: ``events`` sums up what was
        emitted so far, e.g. the text so far as one event, so a reader who joins late
        misses nothing and gets nothing twice. It is called on the engine loop at the
        moment the reader subscribes (keep it quick); update what it gives on the engine
        loop too, together with each ``emit`` (from an ``async`` step). Forgotten when the
        step's outcome is recorded, or by the function returned.
        """
        if not self._runtime.on_engine_thread():
            raise UserError(
                f"ctx.catch_up({key!r}, ...) needs the engine loop: call it from an async "
                "step or workflow, where ctx.emit sends at once."
            )
        return self._runtime.live.catch_up(self._ex, key, events)

    def subscribe(self, callback: Callable[[StreamEvent], None]) -> Callable[[], None]:
        """Call ``callback`` with each event of this execution tree's stream (live, this
        process only, on the engine's thread: keep it short). Returns the function that
        stops the calls. For code that reacts to the tree ending, such as a sandbox
        removed when its root run finishes."""
        return self._runtime.subscribe(self.topic, callback)

    def __repr__(self) -> str:
        return f"<WorkflowContext {self.workflow_id} execution={self.execution_id}>"


def _fingerprint(args: tuple[Any, ...], kwargs: dict[str, Any]) -> str | None:
    if not args and not kwargs:
        return _NO_ARGUMENTS  # the common ``ctx.step.run("key", func)``: same hash, no JSON
    try:
        text = _serde.dumps([list(args), kwargs])
    except Exception:
        text = repr([type(a).__qualname__ for a in args] + sorted(kwargs))
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


_NO_ARGUMENTS = hashlib.blake2b(_serde.dumps([[], {}]).encode(), digest_size=8).hexdigest()


def final_state_json(ctx: WorkflowContext | None, fallback: str | None) -> str | None:
    """The state to write when a run ends or waits: ``ctx.state``, or ``fallback`` (the last
    journaled state) if there is no context or its state cannot be journaled."""
    if ctx is None or ctx.state is None:
        return fallback
    try:
        return _serde.dumps(ctx.state)
    except SerializationError:
        return fallback


def _error_json(exc: BaseException) -> str:
    # An error is always journaled: text that cannot be stored (a lone surrogate) is
    # written out as an escape instead of refusing the record.
    return _serde.dumps(
        {
            **error_names(type(exc)),
            "message": _serde.clean_text(str(exc)),
            "traceback": _serde.clean_text("".join(traceback.format_exception(exc))[-4000:]),
            **(
                {"what": exc.what, "deadline": exc.deadline}
                if isinstance(exc, WaitTimeoutError)
                else {}
            ),
        }
    )


def _as_seconds(value: float | dt.timedelta | None) -> float | None:
    if value is None:
        return None
    seconds = value.total_seconds() if isinstance(value, dt.timedelta) else float(value)
    if seconds <= 0:
        raise UserError(f"A timeout must be positive (got {value!r}).")
    return seconds


class Step:
    """The durable operations of one execution, reached as ``ctx.step``."""

    def __init__(self, ctx: WorkflowContext, runtime: Runtime, ex: Exec) -> None:
        self._ctx = ctx
        self._rt = runtime
        self._ex = ex
        self._used: set[str] = set()
        self._next_position = 0
        self._state_snapshot: str | None = None
        if ctx.state is not None:
            self._state_snapshot = _serde.dumps(ctx.state)

    # ------------------------------------------------------------------ bookkeeping
    def _begin(self, key: str, kind: str) -> tuple[int, StepRecord | None]:
        ex = self._ex
        if ex.cancel_requested:
            raise ExecutionCancelledError(ex.id)
        if not isinstance(key, str) or not key:
            raise UserError(f"A step key must be a non-empty string (got {key!r}).")
        if key in self._used:
            raise self._fail(DuplicateStepKeyError(ex.id, key))
        self._used.add(key)
        position = self._next_position
        self._next_position += 1
        record = ex.steps.get(key)
        if record is not None:
            if record.position is not None and (record.position != position or record.kind != kind):
                raise self._fail(
                    NonDeterminismError(
                        ex.id,
                        position,
                        f"{record.kind} step {key!r} at position {record.position}",
                        f"{kind} step {key!r}",
                    )
                )
        else:
            other = ex.positions.get(position)
            if other is not None and other != key:
                recorded = ex.steps[other]
                raise self._fail(
                    NonDeterminismError(
                        ex.id, position, f"{recorded.kind} step {other!r}", f"{kind} step {key!r}"
                    )
                )
            if ex.replay_only:  # replaying a finished run: every step must come from the journal
                raise self._fail(
                    NonDeterminismError(
                        ex.id, position, "no step (the run ended before it)", f"{kind} step {key!r}"
                    )
                )
        return position, record

    def _fail(self, exc: BaseException) -> BaseException:
        # Remember engine-level errors so the execution fails even if user code catches them.
        self._ctx._fatal = exc
        return exc

    def _state_json(self, key: str | None = None) -> str | None:
        state = self._ctx.state
        if state is None:
            return None
        text = _serde.dumps(
            state, what=f"The workflow state after step {key!r}" if key else "The workflow state"
        )
        if text == self._state_snapshot:
            return None
        self._state_snapshot = text
        return text

    def _state_json_or_none(self, key: str) -> str | None:
        """The state for a failed attempt's record; None if the state itself cannot be written."""
        try:
            return self._state_json(key)
        except SerializationError:
            return None

    def _replay(self, record: StepRecord) -> Any:
        try:
            if record.state is not None and self._ctx.state is not None:
                self._ctx.state = _serde.loads(record.state)
                self._state_snapshot = record.state
            if record.status == "completed":
                return _serde.loads(record.output) if record.output is not None else None
        except UnresolvedClassError as exc:  # the run waits for the class, it does not fail
            raise self._fail(exc) from None
        raise self._rebuild_error(record)

    def _rebuild_error(self, record: StepRecord) -> BaseException:
        # From the error's exact stable name (polos_nb/engine/_error_records.py).
        return step_error(record.error, record.key, record.kind, self._ex.id)

    async def _record_value(
        self, key: str, kind: str, value: _V, extra_ops: list[Any] | None = None
    ) -> _V:
        position, record = self._begin(key, kind)
        if record is not None:
            return cast(_V, self._replay(record))  # what was recorded for this value
        now = self._rt.clock.now()
        ops = list(extra_ops or [])
        output = _serde.dumps(value, what=f"The value of step {key!r}")
        ops.append(
            self._rt.step_insert(
                self._ex,
                key,
                position,
                kind,
                1,
                "completed",
                None,
                output,
                None,
                self._state_json(key),
                now,
                now,
            )
        )
        await self._rt.commit(ops)
        return value

    def recorded(self, key: str) -> bool:
        """True if the journal already holds an outcome for ``key`` (its call will replay)."""
        record = self._ex.steps.get(key)
        return record is not None and record.status in ("completed", "failed")

    def journaled(self) -> int:
        """How many steps of this execution the journal holds (0 when the run is new)."""
        return len(self._ex.steps)

    def known(self, key: str) -> bool:
        """True if the journal holds anything under ``key`` for this execution: an outcome,
        a wait that has not been resolved yet, or a resume that arrived early."""
        ex = self._ex
        return key in ex.steps or key in ex.waits or key in ex.mailbox

    # ------------------------------------------------------------------ run
    async def run(
        self,
        key: str,
        func: Callable[..., Any],
        *args: Any,
        max_retries: int | None = None,
        base_delay: float | None = None,
        max_delay: float | None = None,
        retry: RetryPolicy | None = None,
        timeout: float | dt.timedelta | None = None,
        **kwargs: Any,
    ) -> Any:
        """Run ``func(*args, **kwargs)`` once and journal its result.

        Sync functions run in a worker thread; async ones on the engine loop. If it
        raises, it is retried with exponential back-off; every attempt is journaled and
        there is no sleep after the last one. By default 2 retries, ``base_delay=1.0`` s
        doubling up to ``max_delay=10.0`` s; pass ``retry=RetryPolicy(...)`` to also choose
        the back-off factor and which errors retry. The final failure raises
        :class:`StepExecutionError` (:class:`StepTimeoutError` after a ``timeout``), now and
        on every replay.

        ``timeout`` (seconds of the engine clock) bounds each attempt. An async function is
        cancelled when it passes; a sync one cannot be interrupted, so its thread finishes
        in the background and its result is ignored.

        ``max_retries``, ``base_delay``, ``max_delay``, ``retry`` and ``timeout`` are taken
        by ``run`` itself; to pass arguments with those names to ``func``, wrap it in a
        lambda or ``functools.partial``.

        The side effect runs at least once and its result is recorded exactly once: if the
        process dies after ``func`` returns but before the commit, the step runs again.
        Give such side effects an idempotency key (e.g. ``ctx.step.uuid``) when it matters.
        """
        if not callable(func):
            raise UserError(f"ctx.step.run({key!r}, ...) needs a callable, got {func!r}.")
        policy = _step_policy(retry, max_retries, base_delay, max_delay)
        return await self._run(key, func, args, kwargs, policy, _as_seconds(timeout), None)

    async def run_with_events(
        self,
        key: str,
        events: Callable[[Any], list[tuple[str, dict[str, Any]]]],
        func: Callable[..., Any],
        *args: Any,
        max_retries: int | None = None,
        base_delay: float | None = None,
        max_delay: float | None = None,
        retry: RetryPolicy | None = None,
        timeout: float | dt.timedelta | None = None,
        **kwargs: Any,
    ) -> Any:
        """:meth:`run`, and journal the events ``events(result)`` lists, in the same commit.

        ``events`` maps the step's result to ``[(event_type, data), ...]``; each is
        published on this execution tree's topic (with ``_metadata``) exactly when the
        result is recorded, so a reader sees it once, live or from the history, and a
        replay does not publish it again.
        """
        if not callable(func):
            raise UserError(f"ctx.step.run({key!r}, ...) needs a callable, got {func!r}.")
        policy = _step_policy(retry, max_retries, base_delay, max_delay)
        return await self._run(key, func, args, kwargs, policy, _as_seconds(timeout), events)

    async def _run(
        self,
        key: str,
        func: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        policy: RetryPolicy,
        timeout_s: float | None,
        events_of: Callable[[Any], list[tuple[str, dict[str, Any]]]] | None,
    ) -> Any:
        position, record = self._begin(key, "run")
        if record is not None:
            return self._replay(record)
        rt, ex = self._rt, self._ex
        input_hash = _fingerprint(args, kwargs)
        attempt = ex.attempts.get(key, 0) + 1
        first_attempt = attempt
        is_async = inspect.iscoroutinefunction(func)
        while True:
            started = rt.clock.now()
            rt.live.emit_step_start(ex, key, "run", attempt, started)
            try:
                with _tracing.span(
                    f"step {key}",
                    {
                        "polos.execution_id": ex.id,
                        "polos.step.key": key,
                        "polos.step.kind": "run",
                        "polos.step.attempt": attempt,
                    },
                ):
                    if is_async:
                        call = func(*args, **kwargs)
                    else:
                        call = _call_in_thread(func, args, kwargs)
                    result = await (
                        call if timeout_s is None else _with_timeout(rt.clock, call, timeout_s, key)
                    )
                output = _serde.dumps(result, what=f"The result of step {key!r}")
                state_json = self._state_json(key)
            except Exception as exc:
                ended = rt.clock.now()
                retry_now = (
                    attempt - first_attempt < policy.max_retries
                    and not isinstance(exc, SerializationError)
                    and policy.retries(exc)
                )
                status = "retrying" if retry_now else "failed"
                await rt.commit(
                    [
                        rt.step_insert(
                            ex,
                            key,
                            position,
                            "run",
                            attempt,
                            status,
                            input_hash,
                            None,
                            _error_json(exc),
                            self._state_json_or_none(key),
                            started,
                            ended,
                        )
                    ]
                )
                ex.attempts[key] = attempt
                if not retry_now:
                    error_cls = (
                        StepTimeoutError if isinstance(exc, _AttemptTimeout) else StepExecutionError
                    )
                    error = error_cls(
                        key, f"{type(exc).__module__}.{type(exc).__qualname__}", str(exc)
                    )
                    raise error from exc
                await rt.clock.sleep(policy.delay(attempt - first_attempt))
                attempt += 1
                continue
            ops: list[Any] = [
                rt.step_insert(
                    ex,
                    key,
                    position,
                    "run",
                    attempt,
                    "completed",
                    input_hash,
                    output,
                    None,
                    state_json,
                    started,
                    rt.clock.now(),
                )
            ]
            published = []
            for event_type, data in events_of(result) if events_of is not None else ():
                insert, event = rt._lifecycle_event(ex, event_type, data)
                ops.append(insert)
                published.append(event)
            await rt.commit(ops)
            for event in published:
                rt.live.emit(event)
            return result

    # ------------------------------------------------------------------ deterministic helpers
    async def uuid(self, key: str) -> str:
        """A random UUID string, the same on every replay."""
        return await self._record_value(key, "uuid", str(_uuid.uuid4()))

    async def random(self, key: str) -> float:
        """A random float in [0, 1), the same on every replay."""
        return await self._record_value(key, "random", _random.random())

    async def now(self, key: str) -> int:
        """The current time in Unix milliseconds (the engine clock), the same on every replay."""
        return await self._record_value(key, "now", int(self._rt.clock.now().timestamp() * 1000))

    # ------------------------------------------------------------------ events
    async def publish_event(
        self, key: str, topic: str, data: Any = None, event_type: str | None = None
    ) -> int:
        """Publish an event exactly once (the event and the step commit together).

        Returns the event's per-topic sequence number.
        """
        position, record = self._begin(key, "publish")
        if record is not None:
            return cast(int, self._replay(record))
        data_json = _serde.dumps(
            data if data is not None else {}, what=f"The data of event step {key!r}"
        )
        state_json = self._state_json(key)
        insert, event = await self._rt.event_insert(topic, event_type, data_json, self._ex.id)
        now = self._rt.clock.now()
        await self._rt.commit_publish(
            topic,
            event,
            [
                insert,
                self._rt.step_insert(
                    self._ex,
                    key,
                    position,
                    "publish",
                    1,
                    "completed",
                    None,
                    _serde.dumps(event.sequence_id),
                    None,
                    state_json,
                    now,
                    now,
                ),
            ],
        )
        self._rt.after_publish(topic, event)
        return event.sequence_id  # type: ignore[return-value]

    async def publish_workflow_event(
        self, key: str, data: Any = None, event_type: str | None = None
    ) -> int:
        """Publish on this execution tree's own topic (what ``stream_workflow`` reads)."""
        return await self.publish_event(key, self._ctx.topic, data, event_type)

    async def wait_for_event(
        self, key: str, topic: str, timeout: float | dt.timedelta | None = None
    ) -> EventPayload:
        """Wait for the next event published on ``topic`` after this wait began.

        Events published before the wait began are not delivered (read them with
        ``events.read_topic``). With ``timeout`` (seconds), raises :class:`WaitTimeoutError`
        once it passes.
        """
        timeout_s = _as_seconds(timeout)
        position, record = self._begin(key, "event_wait")
        if record is not None:
            return cast(EventPayload, _as_event(self._replay(record)))
        await self._rt.wait(self._ex, key, position, "event", topic=topic, timeout=timeout_s)
        raise Park()

    async def suspend(
        self, key: str, data: Any = None, timeout: float | dt.timedelta | None = None
    ) -> EventPayload:
        """Park the execution until ``client.resume(...)`` supplies a payload.

        ``data`` (a dict or Pydantic model) is published with the ``suspend_<key>`` event
        so an approver can see what is asked; a ``_form`` entry describes the form to
        show (the event also carries ``_approval_url``). Returns an :class:`EventPayload`:
        the upstream event dict (``isinstance(resp, dict)``), whose ``data`` is the resume
        payload (``resp.data["approved"]``, ``resp["data"]`` or ``resp.get("data", {})``).
        A resume sent before the
        suspension is reached is kept and delivered. With ``timeout`` (seconds), raises
        :class:`WaitTimeoutError` once it passes.
        """
        timeout_s = _as_seconds(timeout)
        position, record = self._begin(key, "suspend")
        if record is not None:
            return cast(EventPayload, _as_event(self._replay(record)))
        if isinstance(data, BaseModel):
            data = data.model_dump(mode="json")
        if data is not None and not isinstance(data, dict):
            raise UserError(
                f"suspend data must be a dict or a Pydantic model (got {type(data).__name__})."
            )
        _serde.dumps(data, what=f"The data of suspension {key!r}")  # refused before parking
        early = await self._rt.wait(
            self._ex, key, position, "suspend", data=data or {}, timeout=timeout_s
        )
        if early is not None:
            return early
        raise Park()

    # ------------------------------------------------------------------ time
    async def wait_for(
        self,
        key: str,
        seconds: float = 0,
        minutes: float = 0,
        hours: float = 0,
        days: float = 0,
        weeks: float = 0,
    ) -> None:
        """Durable sleep: the wake time is journaled, so a restart does not extend it."""
        total = dt.timedelta(seconds=seconds, minutes=minutes, hours=hours, days=days, weeks=weeks)
        if total.total_seconds() <= 0:
            raise UserError(f"wait_for({key!r}) needs a positive duration (got {total}).")
        position, record = self._begin(key, "sleep")
        if record is not None:
            self._replay(record)
            return None
        await self._rt.wait(self._ex, key, position, "sleep", wake_at=self._rt.clock.now() + total)
        raise Park()

    async def sleep(self, key: str, seconds: float) -> None:
        """Durable sleep for ``seconds`` (same as ``wait_for(key, seconds=...)``)."""
        await self.wait_for(key, seconds=seconds)

    async def wait_until(self, key: str, when: dt.datetime) -> None:
        """Durable sleep until ``when`` (a naive datetime is taken as UTC)."""
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.UTC)
        position, record = self._begin(key, "sleep")
        if record is not None:
            self._replay(record)
            return None
        await self._rt.wait(self._ex, key, position, "sleep", wake_at=when)
        raise Park()

    # ------------------------------------------------------------------ children
    async def invoke(
        self,
        key: str,
        workflow: Workflow | str,
        payload: Any = None,
        *,
        initial_state: Any = None,
        queue: str | None = None,
        concurrency_key: str | None = None,
        run_timeout_seconds: float | None = None,
    ) -> ExecutionHandle:
        """Start a child workflow and return its handle without waiting (fire and forget)."""
        position, record = self._begin(key, "invoke")
        if record is not None:
            return self._rt.bind_handle(self._replay(record))
        spec = BatchWorkflowInput(
            id=workflow,
            payload=payload,
            initial_state=initial_state,
            run_timeout_seconds=run_timeout_seconds,
        )
        handles = await self._rt.start_children(
            self._ex, key, position, "invoke", [spec], queue=queue, concurrency_key=concurrency_key
        )
        return handles[0]

    async def invoke_and_wait(
        self,
        key: str,
        workflow: Workflow | str,
        payload: Any = None,
        *,
        initial_state: Any = None,
        queue: str | None = None,
        concurrency_key: str | None = None,
        run_timeout_seconds: float | None = None,
    ) -> Any:
        """Start a child workflow and wait for its result.

        A failed child raises :class:`ChildWorkflowError` here, which the workflow can catch.
        """
        position, record = self._begin(key, "invoke_wait")
        if record is not None:
            return self._replay(record)
        spec = BatchWorkflowInput(
            id=workflow,
            payload=payload,
            initial_state=initial_state,
            run_timeout_seconds=run_timeout_seconds,
        )
        await self._rt.start_children(
            self._ex,
            key,
            position,
            "invoke_wait",
            [spec],
            queue=queue,
            concurrency_key=concurrency_key,
        )
        raise Park()

    async def batch_invoke(
        self, key: str, workflows: list[BatchWorkflowInput]
    ) -> list[ExecutionHandle]:
        """Start several child workflows at once; returns their handles in order."""
        position, record = self._begin(key, "batch_invoke")
        if record is not None:
            return [self._rt.bind_handle(h) for h in self._replay(record)]
        return await self._rt.start_children(
            self._ex, key, position, "batch_invoke", _specs(workflows)
        )

    async def batch_invoke_and_wait(
        self, key: str, workflows: list[BatchWorkflowInput]
    ) -> list[BatchStepResult]:
        """Start several child workflows and wait for all of them.

        Results come back in submission order; a failed child gives a result with
        ``success=False`` rather than raising.
        """
        position, record = self._begin(key, "batch_wait")
        if record is not None:
            return [BatchStepResult(**item) for item in self._replay(record)]
        await self._rt.start_children(self._ex, key, position, "batch_wait", _specs(workflows))
        raise Park()

    # ------------------------------------------------------------------ agents (generic: any run config)
    # An agent run config (``agent.with_input(...)``) is anything with ``.workflow`` and
    # ``.payload``; the engine knows nothing more about agents.
    # Its optional ``initial_state`` and ``run_timeout_seconds`` are the child run's.
    async def agent_invoke(self, key: str, config: Any) -> ExecutionHandle:
        """Start an agent (``agent.with_input(...)``) as a child and return its handle."""
        return await self.invoke(key, config.workflow, config.payload, **_run_options(config))

    async def agent_invoke_and_wait(self, key: str, config: Any) -> Any:
        """Start an agent (``agent.with_input(...)``) as a child and wait for its ``AgentResult``."""
        return await self.invoke_and_wait(
            key, config.workflow, config.payload, **_run_options(config)
        )

    async def batch_agent_invoke(self, key: str, configs: list[Any]) -> list[ExecutionHandle]:
        """Start several agents (``with_input`` configs) at once; returns their handles in order."""
        return await self.batch_invoke(key, [_batch_input(c) for c in configs])

    async def batch_agent_invoke_and_wait(
        self, key: str, configs: list[Any]
    ) -> list[BatchStepResult]:
        """Run several agents in parallel and wait for all; ``.result`` of each is its ``AgentResult``."""
        return await self.batch_invoke_and_wait(key, [_batch_input(c) for c in configs])

    async def read_topic(
        self, key: str, topic: str, after_sequence_id: int = 0
    ) -> list[StreamEvent]:
        """Read the events on ``topic`` once; the list is journaled, so a replay returns the same list."""
        events = None if self.recorded(key) else await self._rt.read_topic(topic, after_sequence_id)
        return cast(list[StreamEvent], await self._record_value(key, "read_topic", events))

    # ------------------------------------------------------------------ resume another execution
    async def resume(
        self,
        key: str,
        suspend_step_key: str,
        suspend_execution_id: str,
        suspend_workflow_id: str | None = None,
        data: Any = None,
    ) -> None:
        """Resume another execution's suspension, exactly once (journaled under ``key``)."""
        position, record = self._begin(key, "resume")
        if record is not None:
            self._replay(record)
            return None
        await self._rt.resume(suspend_workflow_id, suspend_execution_id, suspend_step_key, data)
        now = self._rt.clock.now()
        await self._rt.commit(
            [
                self._rt.step_insert(
                    self._ex,
                    key,
                    position,
                    "resume",
                    1,
                    "completed",
                    None,
                    "null",
                    None,
                    self._state_json(),
                    now,
                    now,
                )
            ]
        )
        return None


def _as_event(value: Any) -> Any:
    """A journaled event payload as an :class:`EventPayload` (older journals hold plain dicts)."""
    if isinstance(value, dict) and not isinstance(value, EventPayload) and "topic" in value:
        return EventPayload.model_validate(value)
    return value


class _AttemptTimeout(TimeoutError):
    """One attempt of a step ran past its timeout (journaled as the attempt's error)."""


fix_error_name(_AttemptTimeout, ATTEMPT_TIMEOUT)

_DEFAULT_POLICY = RetryPolicy()


def _step_policy(
    retry: RetryPolicy | None,
    max_retries: int | None,
    base_delay: float | None,
    max_delay: float | None,
) -> RetryPolicy:
    if retry is not None:
        if not isinstance(retry, RetryPolicy):
            raise UserError(f"retry= takes a RetryPolicy, got {type(retry).__name__}.")
        if (max_retries, base_delay, max_delay) != (None, None, None):
            raise UserError(
                "Pass either retry=RetryPolicy(...) or max_retries/base_delay/max_delay, not both."
            )
        return retry
    if (max_retries, base_delay, max_delay) == (None, None, None):
        return _DEFAULT_POLICY
    return RetryPolicy(
        max_retries=_DEFAULT_POLICY.max_retries if max_retries is None else max_retries,
        base_delay=_DEFAULT_POLICY.base_delay if base_delay is None else base_delay,
        max_delay=_DEFAULT_POLICY.max_delay if max_delay is None else max_delay,
    )


async def _call_in_thread(
    func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    result = await asyncio.to_thread(func, *args, **kwargs)
    if inspect.isawaitable(result):
        result = await result
    return result


async def _with_timeout(clock: Any, call: Any, seconds: float, key: str) -> Any:
    """Await ``call`` unless ``seconds`` of the engine clock pass first."""
    work = asyncio.ensure_future(call)
    timer = asyncio.ensure_future(clock.sleep(seconds))
    try:
        done, _ = await asyncio.wait({work, timer}, return_when=asyncio.FIRST_COMPLETED)
    except BaseException:
        work.cancel()
        timer.cancel()
        raise
    if work in done:
        timer.cancel()
        return work.result()
    work.cancel()
    raise _AttemptTimeout(f"step {key!r} did not finish within {seconds:g}s")


def _run_options(config: Any) -> dict[str, Any]:
    return {
        "initial_state": getattr(config, "initial_state", None),
        "run_timeout_seconds": getattr(config, "run_timeout_seconds", None),
    }


def _batch_input(config: Any) -> BatchWorkflowInput:
    return BatchWorkflowInput(id=config.workflow, payload=config.payload, **_run_options(config))


def _specs(workflows: list[BatchWorkflowInput]) -> list[BatchWorkflowInput]:
    specs = []
    for item in workflows:
        if isinstance(item, BatchWorkflowInput):
            specs.append(item)
        elif isinstance(item, dict):
            specs.append(BatchWorkflowInput(**item))
        else:
            raise UserError(
                f"batch items must be BatchWorkflowInput(id=..., payload=...), got {type(item).__name__}."
            )
    if not specs:
        raise UserError("A batch needs at least one workflow.")
    return specs

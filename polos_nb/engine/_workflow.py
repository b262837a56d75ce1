"""``@workflow``: define a durable workflow, and the registry runtimes resume from."""

from __future__ import annotations

import inspect
import threading
import typing
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, overload

from pydantic import BaseModel, TypeAdapter, ValidationError

from polos_nb.errors import NotAClientError, PayloadValidationError, SignatureError, UserError

from ._extensions import check_channels
from ._policy import Queue, RetryPolicy, as_queue
from ._schedules import ScheduleSpec, parse_schedule
from ._topics import validate_topic

if TYPE_CHECKING:
    from ._client import PolosClient
    from ._context import WorkflowContext
    from ._types import ExecutionHandle

__all__ = [
    "Workflow",
    "get_all_workflows",
    "get_workflow",
    "set_workflow_hook_runner",
    "workflow",
]

_REGISTRY: dict[str, Workflow] = {}
_LISTENERS: list[Callable[[Workflow], None]] = []
_LOCK = threading.Lock()

# Runs a workflow's on_start/on_end hooks around its body: the hook types live above the
# engine (polos_nb.agents.hooks), which installs it on import.
_HOOK_RUNNER: Callable[[Workflow, WorkflowContext, Any], Awaitable[Any]] | None = None


def set_workflow_hook_runner(
    runner: Callable[[Workflow, WorkflowContext, Any], Awaitable[Any]],
) -> None:
    """Install ``runner(wf, ctx, payload)``, which runs ``wf``'s hooks and its body
    (``await wf.call_body(ctx, payload)``) for a workflow that has ``on_start``/``on_end``."""
    global _HOOK_RUNNER
    _HOOK_RUNNER = runner


def _hook_list(value: Any, wf_id: str, point: str) -> list[Any]:
    """``on_start=``/``on_end=`` as a list of functions (upstream's checks and messages)."""
    if value is None:
        return []
    if callable(value):
        return [value]
    if isinstance(value, (list, tuple)):
        for item in value:
            if not callable(item):
                raise SignatureError(
                    f"Invalid hook type in {point} of workflow {wf_id!r}: {item!r} "
                    f"({type(item).__name__}) is not a function (ctx, hook_ctx) decorated "
                    "with @hook."
                )
        return list(value)
    raise SignatureError(
        f"Invalid hooks type for {point} of workflow {wf_id!r}: {value!r} "
        f"({type(value).__name__}); give a @hook function or a list of them."
    )


def get_workflow(workflow_id: str) -> Workflow | None:
    """The workflow registered under ``workflow_id``, or ``None``."""
    return _REGISTRY.get(workflow_id)


def get_all_workflows() -> dict[str, Workflow]:
    """Every registered workflow, by id."""
    return dict(_REGISTRY)


def register(wf: Workflow) -> None:
    """Register (or replace) a workflow; running runtimes resume its pending executions."""
    with _LOCK:
        _REGISTRY[wf.id] = wf
        listeners = list(_LISTENERS)
    for listener in listeners:
        listener(wf)


def unregister(workflow_id: str) -> bool:
    """Forget a workflow (its executions wait until it is registered again). True if it was there."""
    with _LOCK:
        return _REGISTRY.pop(workflow_id, None) is not None


def add_listener(listener: Callable[[Workflow], None]) -> None:
    with _LOCK:
        _LISTENERS.append(listener)


def remove_listener(listener: Callable[[Workflow], None]) -> None:
    with _LOCK:
        if listener in _LISTENERS:
            _LISTENERS.remove(listener)


class Workflow:
    """A durable workflow. Create one with :func:`workflow`.

    Calling ``await wf.run(client, payload)`` starts an execution and waits for its
    result; ``await wf.invoke(client, payload)`` returns an :class:`ExecutionHandle` at once.
    """

    workflow_type = "workflow"

    def __init__(
        self,
        func: Callable[..., Any],
        *,
        id: str | None = None,
        description: str | None = None,
        queue: Any = None,
        trigger_on_event: str | None = None,
        batch_size: int = 1,
        batch_timeout_seconds: float | None = None,
        schedule: Any = None,
        on_start: Any = None,
        on_end: Any = None,
        state_schema: type[BaseModel] | None = None,
        retry: RetryPolicy | None = None,
        run_timeout_seconds: float | None = None,
        channels: list[Any] | None = None,
        queue_name: str | None = None,
        queue_concurrency_limit: int | None = None,
    ) -> None:
        self.func = func
        self.id = id or getattr(func, "__name__", None) or ""
        if not isinstance(self.id, str) or not self.id.strip():
            raise UserError("A workflow needs a non-empty string id: @workflow(id='my_workflow').")
        self.description = description if description is not None else inspect.getdoc(func)
        if queue_name is not None or queue_concurrency_limit is not None:
            # upstream's Workflow(queue_name=..., queue_concurrency_limit=...)
            if queue is not None:
                raise UserError(
                    f"Workflow {self.id!r}: give queue= or queue_name=/queue_concurrency_limit=, "
                    "not both."
                )
            queue = {"name": queue_name, "concurrency_limit": queue_concurrency_limit}
        self._queue_given = queue is not None
        self.queue: Queue = as_queue(queue, self.id)
        if trigger_on_event is not None:
            validate_topic(trigger_on_event)
        if trigger_on_event is not None and schedule not in (None, False):
            raise UserError(
                f"Workflow {self.id!r} cannot be both scheduled and event-triggered: "
                "choose trigger_on_event or schedule, not both."
            )
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
            raise UserError(
                f"Workflow {self.id!r}: batch_size must be a positive integer (got {batch_size!r})."
            )
        if batch_timeout_seconds is not None and batch_timeout_seconds <= 0:
            raise UserError(f"Workflow {self.id!r}: batch_timeout_seconds must be positive.")
        self.trigger_on_event = trigger_on_event
        self.batch_size = batch_size
        self.batch_timeout_seconds = batch_timeout_seconds
        # schedule=True (upstream): schedulable, with its schedules created later through
        # polos_nb.schedules.create(client, workflow, cron, ...); no schedule of its own.
        self.schedulable = schedule is not None and schedule is not False
        self.schedule: ScheduleSpec | None = parse_schedule(
            None if schedule is True else schedule, self.id
        )
        if retry is not None and not isinstance(retry, RetryPolicy):
            raise UserError(f"Workflow {self.id!r}: retry= takes a RetryPolicy.")
        self.retry = retry
        if run_timeout_seconds is not None and run_timeout_seconds <= 0:
            raise UserError(f"Workflow {self.id!r}: run_timeout_seconds must be positive.")
        self.run_timeout_seconds = run_timeout_seconds
        # Hooks around the body (upstream's workflow hooks): each a journaled step.
        self.on_start: list[Any] = _hook_list(on_start, self.id, "on_start")
        self.on_end: list[Any] = _hook_list(on_end, self.id, "on_end")
        # Told when a run of this workflow suspends, instead of the client's channels.
        self.channels: list[Any] | None = (
            None if channels is None else check_channels(channels, f"Workflow {self.id!r}")
        )
        if state_schema is not None and not (
            isinstance(state_schema, type) and issubclass(state_schema, BaseModel)
        ):
            raise UserError(
                f"state_schema must be a Pydantic model class (got {state_schema!r}); "
                "subclass polos_nb.WorkflowState."
            )
        self.state_schema = state_schema
        self._is_async = inspect.iscoroutinefunction(func)
        self._takes_payload, self._payload_adapter, self._payload_type = _inspect_signature(
            func, self.id
        )
        self.__doc__ = inspect.getdoc(func)
        self.__name__ = getattr(func, "__name__", self.id)
        self.__wrapped__ = func

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.id!r}>"

    # ----------------------------------------------------------------- upstream's attributes
    @property
    def is_async(self) -> bool:
        """Whether the function is ``async def`` (a plain ``def`` runs in a thread)."""
        return self._is_async

    @property
    def has_payload_param(self) -> bool:
        """Whether the function takes a payload after ``ctx``."""
        return self._takes_payload

    @property
    def is_schedulable(self) -> bool:
        """Whether schedules can be created for it (``schedule=True`` or a cron)."""
        return self.schedulable

    @property
    def queue_name(self) -> str | None:
        """The queue's name when one was given; ``None`` for the default queue (named
        after the workflow)."""
        return self.queue.name if self._queue_given else None

    @property
    def queue_concurrency_limit(self) -> int | None:
        """The queue's concurrency limit (``None``: unlimited)."""
        return self.queue.concurrency_limit

    # ----------------------------------------------------------------- payload
    def validate_payload(self, payload: Any) -> Any:
        """Validate ``payload`` against the declared input type (raises PayloadValidationError)."""
        if not self._takes_payload or self._payload_adapter is None:
            return payload
        if payload is None and self._payload_type is not None and _accepts_none(self._payload_type):
            return None
        try:
            return self._payload_adapter.validate_python(payload)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or '<payload>'}: {err['msg']}"
                for err in exc.errors()
            )
            raise PayloadValidationError(
                f"Payload for workflow {self.id!r} does not match {_type_name(self._payload_type)}: "
                f"{problems}. Pass a value of that type (a dict with those fields works)."
            ) from None

    def initial_state(self, value: Any) -> BaseModel | None:
        """Build the state object for a new execution (``None`` without ``state_schema``)."""
        if self.state_schema is None:
            if value is not None:
                raise UserError(
                    f"Workflow {self.id!r} has no state_schema, so initial_state cannot be used. "
                    "Declare @workflow(state_schema=MyState)."
                )
            return None
        if value is None:
            return self.state_schema()
        try:
            return self.state_schema.model_validate(value)
        except ValidationError as exc:
            raise PayloadValidationError(
                f"initial_state for workflow {self.id!r} does not match "
                f"{self.state_schema.__name__}: {exc.errors()[0]['msg']}"
            ) from None

    async def call(self, ctx: WorkflowContext, payload: Any) -> Any:
        """Run the user function once, with its hooks (the runtime calls this on every replay)."""
        if self.on_start or self.on_end:
            if _HOOK_RUNNER is None:  # pragma: no cover - polos_nb's import installs it
                raise UserError(
                    f"Workflow {self.id!r} has hooks, but polos_nb.agents is not imported."
                )
            return await _HOOK_RUNNER(self, ctx, payload)
        return await self.call_body(ctx, payload)

    async def call_body(self, ctx: WorkflowContext, payload: Any) -> Any:
        """Run the user function once, without hooks."""
        args: tuple[Any, ...] = (ctx, payload) if self._takes_payload else (ctx,)
        if self._is_async:
            return await self.func(*args)
        import asyncio

        result = await asyncio.to_thread(self.func, *args)
        if inspect.isawaitable(result):
            result = await result
        return result

    # ----------------------------------------------------------------- starting runs
    @property
    def _call_name(self) -> str:
        """How the user's code most likely names this object (for error messages)."""
        name = str(getattr(self, "__name__", "") or self.id)
        return name if name.isidentifier() else "workflow"

    def _require_client(self, client: Any, call: str, given: Any = None) -> None:
        """Refuse, with the fix, a call whose first argument is not a client (the input
        given in its place, most often): anything with the client's ``invoke`` and
        ``wait_for_result`` is taken."""
        if callable(getattr(client, "invoke", None)) and callable(
            getattr(client, "wait_for_result", None)
        ):
            return
        shown = repr(client)
        if len(shown) > 60:
            shown = shown[:57] + "..."
        # The input the call meant: the one given after the misplaced argument, else the
        # misplaced argument itself (``run("hello")``), shown when short and plain.
        meant = client if given is None else given
        example = repr(meant)
        if len(example) > 40 or not isinstance(meant, str | dict | list | int | float):
            example = "payload"
        raise NotAClientError(
            f"{call}() takes the client first, then the input: "
            f"`{'' if call.endswith('_sync') else 'await '}{call}(client, {example})`; it was "
            f"given {shown} "
            f"({type(client).__name__}) where the client goes. Make a client with "
            "`client = PolosClient()` (in a notebook, its journal is the notebook's) or use "
            "`async with Polos() as polos:` and pass `polos`."
        )

    async def invoke(
        self,
        client: PolosClient,
        payload: Any = None,
        *,
        queue: str | None = None,
        concurrency_key: str | None = None,
        session_id: str | None = None,
        user_id: str | None = None,
        initial_state: Any = None,
        run_timeout_seconds: float | None = None,
    ) -> ExecutionHandle:
        """Start an execution and return its handle at once."""
        self._require_client(client, f"{self._call_name}.invoke", given=payload)
        if self.id not in _REGISTRY:
            register(self)
        return await client.invoke(
            self.id,
            payload,
            queue_name=queue,
            concurrency_key=concurrency_key,
            session_id=session_id,
            user_id=user_id,
            initial_state=initial_state,
            run_timeout_seconds=run_timeout_seconds,
        )

    async def run(
        self,
        client: PolosClient,
        payload: Any = None,
        *,
        timeout: float | None = 600.0,
        queue: str | None = None,
        concurrency_key: str | None = None,
        session_id: str | None = None,
        user_id: str | None = None,
        initial_state: Any = None,
    ) -> Any:
        """Start an execution and wait for its result.

        Raises ``ExecutionFailedError`` if it fails, ``ExecutionCancelledError`` if it is
        cancelled and ``WorkflowTimeoutError`` if ``timeout`` seconds pass first (the
        execution keeps going; ``timeout=None`` waits for ever).
        """
        self._require_client(client, f"{self._call_name}.run", given=payload)
        handle = await self.invoke(
            client,
            payload,
            queue=queue,
            concurrency_key=concurrency_key,
            session_id=session_id,
            user_id=user_id,
            initial_state=initial_state,
        )
        return await client.wait_for_result(handle.id, timeout=timeout)

    def invoke_sync(
        self, client: PolosClient, payload: Any = None, **options: Any
    ) -> ExecutionHandle:
        """Blocking twin of :meth:`invoke`, for scripts (not for a running event loop)."""
        self._require_client(client, f"{self._call_name}.invoke_sync", given=payload)
        return client._call_sync(self.invoke(client, payload, **options))

    def run_sync(self, client: PolosClient, payload: Any = None, **options: Any) -> Any:
        """Blocking twin of :meth:`run`, for scripts (not for a running event loop)."""
        self._require_client(client, f"{self._call_name}.run_sync", given=payload)
        return client._call_sync(self.run(client, payload, **options))


def _accepts_none(tp: Any) -> bool:
    if tp is type(None) or tp is Any:
        return True
    return type(None) in typing.get_args(tp)


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or repr(tp)


def _inspect_signature(
    func: Callable[..., Any], wf_id: str
) -> tuple[bool, TypeAdapter[Any] | None, Any]:
    if not callable(func):
        raise UserError(f"@workflow needs a function, got {func!r}.")
    params = [
        p
        for p in inspect.signature(func).parameters.values()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    if len(params) not in (1, 2):
        raise UserError(
            f"Workflow {wf_id!r} must take (ctx) or (ctx, payload); it takes {len(params)} "
            "positional parameters."
        )
    if len(params) == 1:
        return False, None, None
    try:
        hints = typing.get_type_hints(func)
    except Exception:
        hints = {}
    tp = hints.get(params[1].name, inspect.Parameter.empty)
    if tp is inspect.Parameter.empty or tp is Any:
        return True, None, None
    try:
        return True, TypeAdapter(tp), tp
    except Exception as exc:
        raise UserError(
            f"Workflow {wf_id!r}: cannot validate payloads of type {tp!r} ({exc}). Use a Pydantic "
            "model, dict, or another type Pydantic understands."
        ) from exc


@overload
def workflow(func: Callable[..., Any], /) -> Workflow: ...
@overload
def workflow(
    func: None = None,
    /,
    *,
    id: str | None = None,
    description: str | None = None,
    queue: Any = None,
    trigger_on_event: str | None = None,
    batch_size: int = 1,
    batch_timeout_seconds: float | None = None,
    schedule: Any = None,
    on_start: Any = None,
    on_end: Any = None,
    state_schema: type[BaseModel] | None = None,
    retry: RetryPolicy | None = None,
    run_timeout_seconds: float | None = None,
    channels: list[Any] | None = None,
) -> Callable[[Callable[..., Any]], Workflow]: ...


def workflow(func: Callable[..., Any] | None = None, /, **options: Any) -> Any:
    """Make an async function a durable workflow, registered under its ``id``.

    ```python
    @workflow(id="process_order")
    async def process_order(ctx: WorkflowContext, order: Order) -> Receipt:
        charge = await ctx.step.run("charge", charge_card, order)
        return Receipt(charge_id=charge.id)
    ```

    The function takes ``(ctx)`` or ``(ctx, payload)``; an annotated payload is validated
    (a Pydantic model accepts a matching dict). Everything with side effects or
    non-deterministic results belongs in a ``ctx.step`` call: the function re-runs from
    the top after a crash or a wait, and steps return their journaled results.

    Options:

    - ``id`` (defaults to the function name), ``description``;
    - ``state_schema``: a ``WorkflowState`` subclass, available as ``ctx.state``;
    - ``queue``: a name, a :class:`Queue`, or ``{"name": ..., "concurrency_limit": n}``
      (the default queue is named after the workflow and has no limit);
    - ``trigger_on_event="topic"``: start one execution per event published on the topic
      (payload: an ``EventPayload``); with ``batch_size=n`` and/or
      ``batch_timeout_seconds=t``, one execution per batch of up to ``n`` events, started
      when the batch is full or its oldest event is ``t`` seconds old (payload: a
      ``BatchEventPayload``). Events published before the trigger was first registered
      with a journal are not delivered; each later event starts its workflow once;
    - ``schedule``: a cron string (UTC) or ``{"cron", "timezone", "key", "catch_up"}``;
      the payload is a ``SchedulePayload`` (see ``polos_nb.engine._schedules`` for DST and
      catch-up rules). ``schedule=True`` marks a workflow whose schedules are created
      later with ``schedules.create(client, workflow, cron, timezone=..., key=...)``;
    - ``retry``: a :class:`RetryPolicy` for the whole run — after a failure the workflow
      re-runs (completed steps replay, failed ones run again);
    - ``run_timeout_seconds``: default deadline of each run (``invoke`` can override);
    - ``channels``: notification channels (``polos_nb.channels``) told when a run of this
      workflow suspends for a human, instead of the client's (``[]``: none at all);
    - ``on_start`` / ``on_end``: a ``@hook`` function or a list of them, run (each as a
      journaled step) before the body with the payload and after it with the result;
      they may change either, or fail the run (see ``polos_nb.agents.hooks``).
    Defining a workflow again under the same id (re-running its cell) replaces it.
    """

    def decorate(f: Callable[..., Any]) -> Workflow:
        wf = Workflow(f, **options)
        register(wf)
        return wf

    if func is not None:
        return decorate(func)
    return decorate

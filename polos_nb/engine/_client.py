"""``PolosClient`` (embedded mode) and ``Worker``.

``PolosClient()`` opens the journal (see ``polos_nb.config`` for where it lives) and
starts the in-process engine on its own thread. Several clients on the same journal in
one process share one engine. Every method is async; ``*_sync`` twins block, for plain
scripts (calling them inside a running event loop raises, use ``await`` there).
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import os
import threading
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any, TypeVar, cast

from polos_nb import _secrets
from polos_nb._clock import Clock, SystemClock
from polos_nb.config import MEMORY, is_postgres_url, redact_url, resolve_journal_path
from polos_nb.errors import JournalLockedError, UserError, WorkflowTimeoutError

from . import _journal_tools as _tools
from . import _run_record as _record
from . import _workflow as registry
from ._admission import QueueStatus
from ._context import CURRENT
from ._delivery import from_engine
from ._extensions import check_channels
from ._inbox import forward_resume, may_ask_owner
from ._journal_tools import ReplayReport, StepComparison
from ._records import raise_for_terminal
from ._run_record import PendingSuspension, QueryResult, RunReader, RunRecord
from ._runtime import Runtime
from ._types import BatchWorkflowInput, ExecutionHandle, ExecutionInfo, StreamEvent
from .journal._files import file_identity

__all__ = ["PolosClient", "Worker"]

T = TypeVar("T")
_RUNTIMES: dict[Any, Runtime] = {}
"""Open engines, by journal file identity (device, inode) — never by path string."""
_RUNTIMES_LOCK = threading.Lock()


def _journal_key(path: str) -> Any:
    if path == MEMORY or is_postgres_url(path):
        return path
    return file_identity(path)


class PolosClient:
    """Entry point to the engine: start, resume, inspect and cancel executions.

    Args:
        journal: journal file path; defaults to ``$POLOS_JOURNAL``, else one file per
            notebook (``.polos/<notebook>.duckdb``), else ``./.polos/journal.duckdb``.
            ``":memory:"`` keeps nothing after the process ends. A ``postgresql://`` URL
            names a PostgreSQL journal (docs/postgres.md).
        clock: the engine's clock (tests pass ``polos_nb.testing.FakeClock``).
        project_id, api_url, api_key, deployment_id: upstream Polos's connection settings
            (defaults from ``POLOS_PROJECT_ID``, ``POLOS_API_URL``, ``POLOS_API_KEY``,
            ``POLOS_DEPLOYMENT_ID``). They are accepted and recorded, so upstream code runs
            unchanged, but nothing connects to them: polos_nb runs the engine embedded in
            this process, with no server. The API key is never shown (``repr`` omits it).
        channels: notification channels (``polos_nb.channels``: Slack, e-mail, webhook)
            told when any run on this journal suspends for a human, for as long as this
            client is open. Workflows and agents may name their own (``channels=``).

    Opening the journal resumes executions a dead process left running, as soon as their
    workflow is defined (D13). Raises ``JournalLockedError`` if another process owns it,
    except for a client given upstream's ``project_id`` or ``api_url`` (an upstream-style
    client, e.g. a script that approves a run of a ``main.py`` still running): it opens,
    and its :meth:`resume` is delivered by the process that owns the journal; its other
    methods raise that ``JournalLockedError``.
    """

    _runtime: Runtime
    _key: Any

    def __init__(
        self,
        journal: str | os.PathLike[str] | None = None,
        *,
        clock: Clock | None = None,
        project_id: str | None = None,
        api_url: str | None = None,
        api_key: str | None = None,
        deployment_id: str | None = None,
        channels: list[Any] | None = None,
    ) -> None:
        self.channels = check_channels(channels, "PolosClient(channels=...)")
        if isinstance(journal, str) and journal.strip().lower().startswith(("http://", "https://")):
            # Upstream's first positional parameter is api_url: PolosClient("http://...").
            api_url, journal = api_url or journal, None
        self.project_id = project_id or os.environ.get("POLOS_PROJECT_ID") or None
        self.api_url = api_url or os.environ.get("POLOS_API_URL") or None
        self._api_key = api_key or os.environ.get("POLOS_API_KEY") or None
        self.deployment_id = deployment_id or os.environ.get("POLOS_DEPLOYMENT_ID") or "default"
        _secrets.register(self._api_key)  # recorded, never journaled
        _secrets.register_env()  # credentials in the environment are never journaled
        self.journal_path = resolve_journal_path(journal)
        self._elsewhere: JournalLockedError | None = None
        try:
            self._open_runtime(clock)
        except JournalLockedError as exc:
            if not self._may_forward(exc):
                raise
            # Upstream-style client of a journal another process runs: resumes reach
            # that process through the journal's inbox (engine/_inbox.py).
            self._elsewhere = exc
            self._runtime = cast(Runtime, _Elsewhere(exc))
            self._key = None
        self._closed = False

    def _may_forward(self, exc: JournalLockedError) -> bool:
        """Whether this client talks to the process that owns the journal, as upstream's
        clients talk to their orchestrator: it was given upstream's connection settings
        (``project_id``/``api_url``), and another live process owns a journal file."""
        upstream_style = self.project_id is not None or self.api_url is not None
        return upstream_style and may_ask_owner(exc)

    def _open_runtime(self, clock: Clock | None) -> None:
        with _RUNTIMES_LOCK:
            # One file, one engine: a symlink, a hard link or another spelling of the path
            # finds the engine that already has the file open.
            key = _journal_key(self.journal_path)
            runtime = _RUNTIMES.get(key) if key is not None else None
            if runtime is None or runtime.closed:
                runtime = Runtime(self.journal_path, clock or SystemClock(), channels=self.channels)
                key = _journal_key(self.journal_path)  # the file exists now
                _RUNTIMES[key] = runtime
            elif clock is not None and clock is not runtime.clock:
                raise UserError(
                    f"The journal {self.journal_path} is already open in this process with another clock. "
                    "Close the other client first (client.close())."
                )
            else:
                runtime.channels.extend(self.channels)
            runtime.clients += 1
        self._runtime = runtime
        self._key = key
        if runtime.default_client is None:
            runtime.default_client = self

    @property
    def api_key(self) -> str | None:
        """The API key given (recorded for upstream compatibility, never sent anywhere)."""
        return self._api_key

    def __repr__(self) -> str:
        return f"PolosClient(journal={redact_url(self.journal_path)!r})"

    @property
    def runtime(self) -> Runtime:
        """The engine behind this client (advanced use: inspection, fault injection)."""
        return self._runtime

    @property
    def clock(self) -> Clock:
        return self._runtime.clock

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The engine's event loop (it runs on the engine's own thread)."""
        return self._runtime.loop

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Schedule ``coro`` on the engine loop from any thread; returns its future at once.

        For code that must not block (a widget callback, a cell that returns a live view).
        """
        return self._runtime.submit(coro)

    def call(self, coro: Coroutine[Any, Any, T], timeout: float | None = 60.0) -> T:
        """Run ``coro`` on the engine loop and wait up to ``timeout`` seconds for its result.

        Unlike the ``*_sync`` methods this works inside a notebook cell (whose event loop
        is running): the cell's thread blocks only for the engine call. From inside a
        workflow it raises :class:`UserError` (use ``await`` there).
        """
        return self._runtime.call(coro, timeout)

    # ------------------------------------------------------------------ plumbing
    async def _on_engine(self, coro: Coroutine[Any, Any, T]) -> T:
        runtime = self._runtime
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is runtime.loop:
            return await coro
        return await from_engine(runtime.submit(coro))

    def _call_sync(self, coro: Coroutine[Any, Any, T]) -> T:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return self._runtime.call(_wrap(coro))
        coro.close()
        raise UserError(
            "A *_sync method was called inside a running event loop (a notebook cell or async code). "
            "Use the async form with await, e.g. `await wf.run(client, payload)`."
        )

    # ------------------------------------------------------------------ starting
    async def invoke(
        self,
        workflow_id: str | registry.Workflow,
        payload: Any = None,
        *,
        queue_name: str | None = None,
        queue_concurrency_limit: int | None = None,
        concurrency_key: str | None = None,
        session_id: str | None = None,
        user_id: str | None = None,
        initial_state: Any = None,
        run_timeout_seconds: float | None = None,
        channel_context: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> ExecutionHandle:
        """Start an execution of a registered workflow; returns its handle at once.

        The payload is validated against the workflow's input type first; nothing is
        journaled if it does not fit (``PayloadValidationError``).

        ``channel_context`` (``{"channel_id": "slack", "source": {...}}``) records where the
        run was started from: its output and approvals go back there (``polos_nb.channels``).
        ``idempotency_key``: a start with a key used before returns the execution that key
        started (journaled with it, so also after a restart) instead of starting another.
        """
        if CURRENT.get() is not None:
            raise UserError(
                "client.invoke / wf.run / wf.invoke inside a workflow would start a new execution on every "
                "replay. Use ctx.step.invoke(key, workflow, payload) or ctx.step.invoke_and_wait(...)."
            )
        handle = await self._on_engine(
            self._runtime.starts.start(
                workflow_id,
                payload,
                initial_state=initial_state,
                queue_name=queue_name,
                concurrency_key=concurrency_key,
                session_id=session_id,
                user_id=user_id,
                run_timeout_seconds=run_timeout_seconds,
                queue_concurrency_limit=queue_concurrency_limit,
                channel_context=channel_context,
                idempotency_key=idempotency_key,
            )
        )
        return handle._bind(self)

    async def batch_invoke(
        self,
        workflows: list[BatchWorkflowInput],
        session_id: str | None = None,
        user_id: str | None = None,
    ) -> list[ExecutionHandle]:
        """Start several executions; returns their handles in order."""
        handles = []
        for item in workflows:
            spec = item if isinstance(item, BatchWorkflowInput) else BatchWorkflowInput(**item)
            handles.append(
                await self.invoke(
                    spec.id,
                    spec.payload,
                    session_id=session_id,
                    user_id=user_id,
                    initial_state=spec.initial_state,
                    run_timeout_seconds=spec.run_timeout_seconds,
                )
            )
        return handles

    async def resume(
        self,
        suspend_workflow_id: str | None,
        suspend_execution_id: str,
        suspend_step_key: str,
        data: Any = None,
    ) -> None:
        """Deliver ``data`` to the suspension ``suspend_step_key`` of an execution.

        The execution is the one that called ``ctx.step.suspend``; passing the root
        execution of its tree also works when exactly one execution in the tree waits
        under that key. A resume that arrives before the suspension is reached is kept
        and delivered then (D8). Raises ``ResumeError`` if it was resumed already or the
        execution has ended. From a process other than the journal's owner (see the class
        docs), the owner delivers it and its answer is waited for.
        """
        if self._elsewhere is not None:
            try:
                await forward_resume(
                    self._elsewhere,
                    suspend_workflow_id,
                    suspend_execution_id,
                    suspend_step_key,
                    data,
                )
                return
            except JournalLockedError:
                # The owner is gone (or does not answer): if the journal is free now, this
                # client opens it and resumes itself; if not, the lock error stands.
                self._open_runtime(None)
                self._elsewhere = None
        await self._on_engine(
            self._runtime.resume(suspend_workflow_id, suspend_execution_id, suspend_step_key, data)
        )

    # ------------------------------------------------------------------ reading
    async def get_execution(self, execution_id: str) -> ExecutionInfo:
        """A snapshot of one execution: status, payload, result, error, state, tree, times."""
        return await self._on_engine(self._runtime.get_execution(execution_id))

    async def list_executions(
        self,
        workflow_id: str | None = None,
        status: str | None = None,
        limit: int = 100,
        *,
        root_only: bool = False,
    ) -> list[ExecutionInfo]:
        """Executions, newest first, optionally filtered by workflow id and status."""
        return await self._on_engine(
            self._runtime.list_executions(
                workflow_id=workflow_id, status=status, limit=limit, root_only=root_only
            )
        )

    async def wait_for_result(self, execution_id: str, *, timeout: float | None = None) -> Any:
        """Wait until the execution ends; return its result or raise its error.

        Raises ``ExecutionFailedError``, ``ExecutionCancelledError``, or
        ``WorkflowTimeoutError`` after ``timeout`` seconds (the execution goes on).
        """
        waiter = self._on_engine(self._runtime.wait_terminal(execution_id))
        try:
            info = await asyncio.wait_for(waiter, timeout)
        except TimeoutError:
            raise WorkflowTimeoutError(
                execution_id, timeout or 0, await self._waiting_note(execution_id)
            ) from None
        return raise_for_terminal(info)

    async def _waiting_note(self, execution_id: str) -> str | None:
        """Why a run may not have started (a shared journal where no live worker defines its
        workflow), for the timeout's message; ``None`` when there is nothing to say."""
        workers = getattr(self._runtime, "workers", None)
        if workers is None or not workers.shared:
            return None
        try:
            info = await asyncio.wait_for(self.get_execution(execution_id), 2.0)
        except Exception:
            return None
        return getattr(info, "note", None)

    async def queue_status(self) -> list[QueueStatus]:
        """What runs and what waits for a slot, per queue and concurrency key (queues with work)."""

        async def read() -> list[QueueStatus]:
            return self._runtime.queue_status()

        return await self._on_engine(read())

    # ------------------------------------------------------------------ journal tools
    async def replay(self, execution_id: str) -> ReplayReport:
        """Replay a finished run from its journal (no side effects) and check it still matches."""
        return await self._on_engine(_tools.replay(self._runtime, execution_id))

    async def fork(
        self,
        execution_id: str,
        at: str | int,
        result: Any = _tools._UNSET,
        *,
        payload: Any = _tools._UNSET,
    ) -> ExecutionHandle:
        """Start a new run from ``execution_id``'s journal up to step ``at`` (a key or a position).

        With ``result=``, that step is recorded with the given value instead of running again;
        later steps run for real. See ``polos_nb.engine._journal_tools``.
        """
        handle = await self._on_engine(
            _tools.fork(self._runtime, execution_id, at, result, payload=payload)
        )
        return handle._bind(self)

    async def compare(self, a: str, b: str) -> list[StepComparison]:
        """Two runs' steps side by side, by position (e.g. a run and its fork)."""
        return await self._on_engine(_tools.compare(self._runtime, a, b))

    def stream_events(
        self, execution_id: str, last_sequence_id: int = 0
    ) -> AsyncIterator[StreamEvent]:
        """Stream the events of an execution's tree from its start until it ends.

        Same as ``events.stream_workflow(client, None, execution_id)``.
        """
        from .events import stream_workflow

        return stream_workflow(self, None, execution_id, last_sequence_id)

    # ------------------------------------------------------------------ the run read API
    async def run_record(self, execution_id: str) -> RunRecord:
        """Everything the journal holds about a run: the run, its execution tree, every step
        attempt of the tree, and the run's events (see :meth:`run_events`)."""
        return await self._on_engine(_record.run_record(self._runtime, execution_id))

    async def run_events(
        self, execution_id: str, *, after_seq: int = 0, running: bool = False
    ) -> list[StreamEvent]:
        """A run's journaled events, after the journal sequence ``after_seq``.

        A run's events are the events of its tree's topic (lifecycle, suspend/resume and
        published ones) merged with one ``step_finish`` per ended step attempt of the tree,
        in journal order; :meth:`stream_events` replays the same ones, then follows live.
        ``running=True`` appends the live-only ``step_start`` of the tree's steps running
        now, each followed by what its step registered for a late reader (an agent's reply
        streamed so far; ``WorkflowContext.catch_up``); these are not journaled: their
        ``journal_seq`` is None.
        """
        return await self._on_engine(
            _record.run_events(self._runtime, execution_id, after_seq, running=running)
        )

    async def pending_suspensions(self, execution_id: str | None = None) -> list[PendingSuspension]:
        """Suspensions waiting for an answer, oldest first: of one run's tree, or all."""
        return await self._on_engine(_record.pending_suspensions(self._runtime, execution_id))

    async def recent_runs(self, limit: int = 30) -> list[ExecutionInfo]:
        """The newest root runs (executions without a parent), newest first."""
        return await self.list_executions(limit=limit, root_only=True)

    async def resolve_run_id(self, prefix: str) -> str:
        """The full id of the run whose id starts with ``prefix``.

        Raises ``ExecutionNotFoundError`` when none does and ``UserError`` when several do.
        """
        return await self._on_engine(_record.resolve_run_id(self._runtime, prefix))

    def subscribe_all(
        self, callback: Callable[[StreamEvent], None], *, payloads: bool = True
    ) -> Callable[[], None]:
        """Call ``callback(event)`` on the engine thread for every event of every run
        (lifecycle, suspend/resume, step and published events, live ones included).

        Returns the function that unsubscribes. A callback must be quick and never block
        (the JupyterLab extension's kernel side uses it to say that runs changed).

        ``payloads=False`` for a callback that never reads a run's payload, result or error,
        so that they are not decoded from the journal for it: the events that start and end
        a run (``workflow_start``, ``workflow_finish``, ``workflow_error``,
        ``workflow_cancel``; ``agent_...`` for an agent) may then reach it with only
        ``_metadata`` (the run's ``execution_id`` and ``workflow_id``) in their data. They
        carry those values still when another subscriber reads them (a subscriber with
        ``payloads=True``, or one of the run's topic, such as its widget): the event is made
        once, for everyone. Every other event reaches it as it reaches anyone.
        """
        return self._runtime.subscribe_all(callback, payloads=payloads)

    def run_reader(self, timeout: float | None = 60.0) -> RunReader:
        """Blocking typed reads of this journal's runs (pages of runs, counts, a run's
        events, pending suspensions) for a thread other than the engine's: what the
        JupyterLab extension reads from a kernel. Each read runs on the journal's thread
        after every earlier write; called from the engine's thread it raises ``UserError``."""
        runtime = self._runtime
        return _record.RunReader(
            runtime.journal, timeout=timeout, guard=runtime.refuse_engine_thread
        )

    def query(self, sql: str) -> concurrent.futures.Future[QueryResult]:
        """Run read-only SQL over the journal (``%polos sql``) on its own thread.

        Returns a future at once. Only queries are accepted (anything else raises
        ``UserError`` and nothing runs); the query never holds up the runs writing.
        """
        return self._runtime.journal.query(
            sql,
            lambda cursor: QueryResult(
                columns=[d[0] for d in cursor.description or ()],
                rows=[tuple(r) for r in cursor.fetchall()],
            ),
        )

    def pending_workflows(self) -> dict[str, list[str]]:
        """Executions in the journal that wait for their workflow to be defined, by workflow id."""
        return self._runtime.call(_wrap_value(self._runtime.pending_unregistered))

    # ------------------------------------------------------------------ cancel
    async def cancel(self, execution_id: str) -> bool:
        """Cancel an execution and its descendants (not its parent). False if it had ended."""
        return await self._on_engine(self._runtime.cancel(execution_id))

    cancel_execution = cancel

    # ------------------------------------------------------------------ sync twins
    def invoke_sync(
        self, workflow_id: str | registry.Workflow, payload: Any = None, **options: Any
    ) -> ExecutionHandle:
        """Blocking twin of :meth:`invoke`."""
        return self._call_sync(self.invoke(workflow_id, payload, **options))

    def resume_sync(
        self,
        suspend_workflow_id: str | None,
        suspend_execution_id: str,
        suspend_step_key: str,
        data: Any = None,
    ) -> None:
        """Blocking twin of :meth:`resume`."""
        return self._call_sync(
            self.resume(suspend_workflow_id, suspend_execution_id, suspend_step_key, data)
        )

    def run_record_sync(self, execution_id: str) -> RunRecord:
        """Blocking twin of :meth:`run_record`."""
        return self._call_sync(self.run_record(execution_id))

    def run_events_sync(self, execution_id: str, *, after_seq: int = 0) -> list[StreamEvent]:
        """Blocking twin of :meth:`run_events`."""
        return self._call_sync(self.run_events(execution_id, after_seq=after_seq))

    def pending_suspensions_sync(self, execution_id: str | None = None) -> list[PendingSuspension]:
        """Blocking twin of :meth:`pending_suspensions`."""
        return self._call_sync(self.pending_suspensions(execution_id))

    def recent_runs_sync(self, limit: int = 30) -> list[ExecutionInfo]:
        """Blocking twin of :meth:`recent_runs`."""
        return self._call_sync(self.recent_runs(limit))

    def resolve_run_id_sync(self, prefix: str) -> str:
        """Blocking twin of :meth:`resolve_run_id`."""
        return self._call_sync(self.resolve_run_id(prefix))

    def get_execution_sync(self, execution_id: str) -> ExecutionInfo:
        """Blocking twin of :meth:`get_execution`."""
        return self._call_sync(self.get_execution(execution_id))

    def list_executions_sync(
        self, workflow_id: str | None = None, status: str | None = None, limit: int = 100
    ) -> list[ExecutionInfo]:
        """Blocking twin of :meth:`list_executions`."""
        return self._call_sync(self.list_executions(workflow_id, status, limit))

    def wait_for_result_sync(self, execution_id: str, *, timeout: float | None = None) -> Any:
        """Blocking twin of :meth:`wait_for_result`."""
        return self._call_sync(self.wait_for_result(execution_id, timeout=timeout))

    def cancel_sync(self, execution_id: str) -> bool:
        """Blocking twin of :meth:`cancel`."""
        return self._call_sync(self.cancel(execution_id))

    # ------------------------------------------------------------------ lifetime
    def close(self) -> None:
        """Release this client; the last one closes the engine and the journal file."""
        if self._closed:
            return
        self._closed = True
        if self._elsewhere is not None:
            return
        runtime = self._runtime
        with _RUNTIMES_LOCK:
            for channel in self.channels:
                if channel in runtime.channels:
                    runtime.channels.remove(channel)
            runtime.clients -= 1
            last = runtime.clients <= 0
            if last and _RUNTIMES.get(self._key) is runtime:
                del _RUNTIMES[self._key]
        if last:
            runtime.close()

    async def __aenter__(self) -> PolosClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()

    def __enter__(self) -> PolosClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@atexit.register
def _close_all() -> None:
    """At interpreter exit, finish queued journal writes and release every journal file."""
    with _RUNTIMES_LOCK:
        runtimes = list(_RUNTIMES.values())
        _RUNTIMES.clear()
    for runtime in runtimes:
        try:
            runtime.close()
        except Exception:
            pass


class _Elsewhere:
    """The engine of a client whose journal another process owns: using it raises."""

    def __init__(self, error: JournalLockedError) -> None:
        self._error = error

    def __getattr__(self, name: str) -> Any:
        raise JournalLockedError(self._error.path, self._error.pid) from None


async def _wrap(coro: Coroutine[Any, Any, T]) -> T:
    return await coro


async def _wrap_value(fn: Any) -> Any:
    return fn()


class Worker:
    """Registers workflows (and agents and tools) with the embedded engine.

    In embedded mode the engine already runs inside the client's process, so a worker
    only makes sure its workflows are registered; ``await worker.run()`` then serves
    until ``stop()`` (useful for scripts that only wait for events and schedules).
    """

    def __init__(
        self,
        client: PolosClient,
        *,
        deployment_id: str | None = None,
        agents: list[Any] | None = None,
        tools: list[Any] | None = None,
        workflows: list[Any] | None = None,
        max_concurrent_workflows: int | None = None,
        channels: list[Any] | None = None,
        **_ignored: Any,
    ) -> None:
        self.client = client
        self.channels = check_channels(channels, "Worker(channels=...)")
        # Told when any run of the client's journal suspends (see polos_nb.channels).
        client.runtime.channels.extend(c for c in self.channels if c not in client.runtime.channels)
        self.deployment_id = deployment_id or "default"
        if max_concurrent_workflows is not None and (
            not isinstance(max_concurrent_workflows, int) or max_concurrent_workflows < 1
        ):
            raise UserError(
                "Worker(max_concurrent_workflows=...) takes a positive whole number "
                f"(got {max_concurrent_workflows!r})."
            )
        self.max_concurrent_workflows = max_concurrent_workflows
        if max_concurrent_workflows is not None:
            # Several workers on one journal: claim no more run trees than this at a time.
            client.runtime.workers.max_trees = max_concurrent_workflows
        self.workflows: list[registry.Workflow] = []
        for item in [*(workflows or []), *(agents or [])]:
            if not isinstance(item, registry.Workflow):
                raise UserError(
                    f"Worker got {item!r}; pass workflows and agents defined with polos_nb."
                )
            self.workflows.append(item)
        # Tools run as steps of the agents that use them, so they need no registration here;
        # they are accepted so upstream code (Worker(..., tools=[...])) runs unchanged.
        self.tools = list(tools or [])
        self._stopped: asyncio.Event | None = None
        self.register()

    def register(self) -> None:
        """Register every workflow with the engine (replacing same-id definitions)."""
        for wf in self.workflows:
            registry.register(wf)

    async def run(self) -> None:
        """Serve until :meth:`stop` is called."""
        self.register()
        self._stopped = asyncio.Event()
        await self._stopped.wait()

    async def stop(self) -> None:
        """End :meth:`run`; this worker's channels are no longer told of suspensions."""
        for channel in self.channels:
            if channel in self.client.runtime.channels:
                self.client.runtime.channels.remove(channel)
        if self._stopped is not None:
            self._stopped.set()

    async def __aenter__(self) -> Worker:
        self.register()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

"""``Run``: a run started or shown from a notebook, and the state its widget displays.

Decision 1 (docs/architecture.md): the cell that starts a run returns at once; the run goes
on on the engine's thread. A :class:`RunState` follows the run's event stream (a task on
the engine loop), and a sink — the live widget, when the run is displayed — receives a
full snapshot at most every ``interval`` seconds plus the new streamed text as deltas.
So a fast model cannot flood the frontend: at most two messages per interval per run.

``await run`` waits for the result (it lets widget clicks through on ipykernel >= 7.4);
``run.result()`` blocks, and raises :class:`ApprovalPendingError` instead of deadlocking
when it is called on a kernel's main thread while the run waits for a human.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import time
from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any

from polos_nb.errors import ApprovalPendingError

from . import _session
from ._run_state import DEFAULT_INTERVAL, RUN_MIME, RunState, Sink, plain, short

if TYPE_CHECKING:
    from polos_nb.engine import PolosClient

__all__ = ["RUN_MIME", "Run", "RunState", "Sink", "known_runs", "show", "start"]


class Run:
    """A run shown in a notebook: displays as a live widget, ``await run`` gives its result.

    ```python
    run = %polos run weather "Weather in Paris?"      # or: polos_nb.notebook.start(weather, "...")
    run.status, run.pending                           # what it does, what it waits for
    run.approve(...)                                  # polos_nb.approve(run, ...)
    result = await run                                # in a later cell
    ```
    """

    def __init__(
        self,
        client: PolosClient,
        run_id: str,
        *,
        workflow_id: str = "",
        status: str = "queued",
        interval: float = DEFAULT_INTERVAL,
    ) -> None:
        self.client = client
        self.id = run_id
        self.workflow_id = workflow_id
        self.state = RunState(run_id, workflow_id, status, interval=interval)
        self._consumer: concurrent.futures.Future[Any] | None = None
        self._widget: Any = None
        self._display_ids: list[str] = []
        self._displayed_in: Any = None
        self._finished_callbacks: list[Callable[[Run], None]] = []
        self._after_seq = 0
        self._preloaded: Any = None
        self._snapshots: Any = None  # _display.Snapshots, once displayed

    # ------------------------------------------------------------------ following the run
    def preload(self) -> Run:
        """Read the run's journaled events now, so the first display shows its whole state.

        The status is read *after* the events: a run that ends while they are read is seen
        ended (its end is in the events, or in the status read after them). Reading the
        status first would miss that end for good, because following the run starts after
        the events read here. The events end with the live ``step_start`` of the steps
        running now, so a view opened mid-step shows them.
        """
        events = _session.call(self.client, self.client.run_events(self.id, running=True))
        info = _session.call(self.client, self.client.get_execution(self.id))
        with self.state._lock:
            self.state.workflow_id = info.workflow_id
            self.state.workflow_type = info.workflow_type
            for event in events:
                self.state.feed(event)
                self._after_seq = max(self._after_seq, event.journal_seq or 0)
            self.state.status = info.status
        self._preloaded = info
        self._note_undefined(info)
        if info.status in ("completed", "failed", "cancelled"):
            self.state.finish(info)
        return self

    def _note_undefined(self, info: Any) -> None:
        """A run whose workflow is not defined in this kernel (after a restart) waits for it:
        say so, and which cell defines it; the note goes once it is defined."""
        from polos_nb.engine import get_workflow

        if info.status in ("completed", "failed", "cancelled") or get_workflow(info.workflow_id):
            return
        from ._restart import defining_cell

        where = defining_cell(info.workflow_id)
        self.state.note = (
            f"waiting for {info.workflow_id!r} to be defined in this kernel: run "
            + (f"the cell that defines it ({where})" if where else "the cell that defines it")
            + "; the run then resumes from its journal (completed steps are not run again)"
        )
        self._watch_definition(info.workflow_id)

    def _watch_definition(self, workflow_id: str) -> None:
        from polos_nb.engine import _workflow as registry

        def defined(wf: Any) -> None:
            if getattr(wf, "id", None) != workflow_id:
                return
            registry.remove_listener(defined)
            with self.state._lock:
                self.state.note = None
            self.state._mark_dirty()

        registry.add_listener(defined)

    def follow(self) -> Run:
        """Start following the run's events on the engine loop (idempotent)."""
        if self._consumer is None and not self.state.done:
            self._consumer = self.client.submit(self._consume())
        return self

    async def _consume(self) -> None:
        self.state._loop = asyncio.get_running_loop()
        info = None
        try:
            async for event in self.client.stream_events(self.id, self._after_seq):
                if self.state.note and event.event_type in ("step_start", "step_finish"):
                    self.state.note = None
                self.state.feed(event)
            info = await self.client.get_execution(self.id)
        except asyncio.CancelledError:
            raise
        finally:
            if info is not None:
                self.state.note = None
                self.state.finish(info)
                self.state.flush(force=True)
                for callback in list(self._finished_callbacks):
                    try:
                        callback(self)
                    except Exception:
                        pass

    # ------------------------------------------------------------------ reading
    @property
    def status(self) -> str:
        return self.state.status

    @property
    def done(self) -> bool:
        return self.state.done

    @property
    def pending(self) -> list[Any]:
        """Pending approvals of this run (read from the journal)."""
        from ._approve import pending_approvals

        return pending_approvals(self.id, client=self.client)

    @property
    def output(self) -> Any:
        return self.state.output_value

    def handle(self) -> Any:
        from polos_nb.engine import ExecutionHandle

        info = _session.call(self.client, self.client.get_execution(self.id))
        return ExecutionHandle(
            id=info.id,
            workflow_id=info.workflow_id,
            created_at=info.created_at,
            parent_execution_id=info.parent_execution_id,
            root_workflow_id=info.root_workflow_id,
            root_execution_id=info.root_execution_id,
        )._bind(self.client)

    # ------------------------------------------------------------------ acting
    def approve(self, key: str | None = None, data: Any = None, **options: Any) -> Any:
        """``polos_nb.approve(self, key, data, ...)``."""
        from ._approve import approve

        return approve(self.id, key, data, client=self.client, **options)

    def reject(self, key: str | None = None, feedback: str | None = None) -> Any:
        from ._approve import approve

        return approve(self.id, key, reject=True, feedback=feedback, client=self.client)

    def cancel(self) -> bool:
        """Cancel the run (journaled); False if it had ended."""
        return bool(_session.call(self.client, self.client.cancel(self.id)))

    # ------------------------------------------------------------------ waiting
    def _result_future(self) -> concurrent.futures.Future[Any]:
        return self.client.submit(self.client.wait_for_result(self.id))

    def __await__(self) -> Generator[Any, None, Any]:
        return asyncio.wrap_future(self._result_future()).__await__()

    def result(self, timeout: float | None = None) -> Any:
        """Block until the run ends and return its result (or raise its error).

        On a Jupyter kernel's main thread a widget click cannot arrive while this blocks,
        so if the run waits (or comes to wait) for a human, this raises
        :class:`ApprovalPendingError` at once instead of hanging; use ``await run``.
        """
        future = self._result_future()
        guard = _in_kernel_main_thread()
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            step = 0.2 if guard else remaining
            if step is not None and remaining is not None:
                step = min(step, remaining)
            try:
                return future.result(step)
            except concurrent.futures.TimeoutError:
                if deadline is not None and time.monotonic() >= deadline:
                    from polos_nb.errors import WorkflowTimeoutError

                    future.cancel()
                    raise WorkflowTimeoutError(self.id, timeout or 0) from None
                if guard:
                    pending = self.pending
                    if pending:
                        future.cancel()
                        raise ApprovalPendingError(self.id, [p.key for p in pending]) from None

    def wait_for_pending(self, timeout: float = 30.0) -> list[Any]:
        """Block until the run waits for a human (or ends); returns its pending approvals.

        Safe in a cell: it waits for the *engine* to reach the suspension, never for a
        click. Handy in scripts and tested notebooks: ``run.wait_for_pending()`` then
        ``polos_nb.approve(run, ...)``.
        """
        deadline = time.monotonic() + timeout
        while True:
            pending = self.pending  # the journal, not the (slightly later) widget state
            if pending or self.state.done or time.monotonic() >= deadline:
                return pending
            info = _session.call(self.client, self.client.get_execution(self.id))
            if info.status in ("completed", "failed", "cancelled"):
                return []
            time.sleep(0.03)

    def wait(self, timeout: float | None = None) -> Run:
        """Block until the run ends (no error raised for a failed run); returns self."""
        try:
            self.result(timeout)
        except ApprovalPendingError:
            raise
        except Exception:
            pass
        deadline = time.monotonic() + 5
        while not self.state.done and time.monotonic() < deadline and self._consumer is not None:
            time.sleep(0.01)
        return self

    # ------------------------------------------------------------------ display
    def widget(self) -> Any:
        """The live widget for this run (created on first use)."""
        if self._widget is None:
            from polos_nb.widgets import RunWidget

            self.follow()
            self._widget = RunWidget(self)
        return self._widget

    def _snapshot_json(self) -> dict[str, Any]:
        """The run's state as JSON (:data:`RUN_MIME`), for JupyterLab's saved-run renderer."""
        return dict(plain(self.state.snapshot()))

    def _repr_html_(self) -> str:
        from ._html import run_card

        return run_card(self.state.snapshot())

    def __repr__(self) -> str:
        s = self.state
        parts = [f"<Run {s.workflow_id or self.workflow_id} {self.id} status={s.status}"]
        pending = [a["key"] for a in s.pending]
        if pending:
            parts.append(f" waiting for {', '.join(pending)}")
        if s.output is not None and s.status == "completed":
            parts.append(f" output={short(s.output, 80)!r}")
        if s.error:
            parts.append(f" error={short(s.error, 120)!r}")
        return "".join(parts) + ">"

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        """The run's static snapshot: text, HTML, and its state as JSON (:data:`RUN_MIME`)
        for the JupyterLab extension's saved-run renderer. IPython displays a run with its
        live widget too: see ``_display.display_run``."""
        return {
            "text/plain": repr(self),
            "text/html": self._repr_html_(),
            RUN_MIME: self._snapshot_json(),
        }

    def _widget_view(self) -> dict[str, Any] | None:
        """The widget-view MIME data of this run's live widget (None if none can exist)."""
        try:
            view = self.widget()._repr_mimebundle_()
        except Exception:
            return None
        if isinstance(view, tuple):  # anywidget returns (data, metadata)
            view = view[0]
        if isinstance(view, dict):
            data = view.get("application/vnd.jupyter.widget-view+json")
            if isinstance(data, dict):
                return data
        return None

    def _ipython_display_(self) -> None:
        from ._display import display_run

        display_run(self)


def _in_kernel_main_thread() -> bool:
    if threading.current_thread() is not threading.main_thread():
        return False
    import sys

    return "ipykernel" in sys.modules and _has_kernel()


def _has_kernel() -> bool:
    try:
        from IPython import get_ipython

        ip = get_ipython()
    except Exception:
        return False
    return ip is not None and getattr(ip, "kernel", None) is not None


def start(
    target: Any,
    input: Any = None,
    *,
    client: PolosClient | None = None,
    stream: bool = True,
    follow: bool = True,
    **options: Any,
) -> Run:
    """Start an agent or workflow run and return a :class:`Run` at once (``%polos run``).

    ``target`` is an ``Agent``, a ``Workflow`` or a registered workflow id. Agents stream
    their tokens (``stream=True``) so the widget shows them as they come.
    """
    from polos_nb.engine import Workflow, get_all_workflows, get_workflow
    from polos_nb.errors import WorkflowNotFoundError

    client = _session.get_client(client)
    wf = target if isinstance(target, Workflow) else get_workflow(str(target))
    if wf is None:
        raise WorkflowNotFoundError(str(target), list(get_all_workflows()))
    if getattr(wf, "workflow_type", "workflow") == "agent":
        coro = wf.invoke(client, input, streaming=stream, **options)  # type: ignore[call-arg]
    else:
        coro = wf.invoke(client, input, **options)
    handle = _session.call(client, coro)
    return show(handle.id, client=client, follow=follow, workflow_id=wf.id)


_RUNS: dict[str, Run] = {}
_RUNS_LOCK = threading.Lock()


def show(
    run: Any, *, client: PolosClient | None = None, follow: bool = True, workflow_id: str = ""
) -> Run:
    """The :class:`Run` of an existing execution (one per run id in this kernel).

    Clients on the same journal share their engine, and the run's :class:`Run`: a run
    shown through the session's client and through a ``PolosClient()`` made in a cell is
    the same object (one follower, one view).
    """
    client = _session.client_of(run, client)
    run_id = run if isinstance(run, str) else _session.run_id_of(run)
    with _RUNS_LOCK:
        existing = _RUNS.get(run_id)
        if existing is not None and _same_engine(existing.client, client):
            return existing
    if not workflow_id:
        info = _session.call(client, client.get_execution(run_id))
        workflow_id, status = info.workflow_id, info.status
    else:
        status = "queued"
    new = Run(client, run_id, workflow_id=workflow_id, status=status)
    new.preload()
    with _RUNS_LOCK:
        _RUNS[run_id] = new
    if follow:
        new.follow()
    return new


def _same_engine(a: PolosClient, b: PolosClient) -> bool:
    """Whether two open clients drive the same engine (the same journal in this process)."""
    if getattr(a, "_closed", False) or getattr(b, "_closed", False):
        return False
    if a is b:
        return True
    try:
        return a.loop is b.loop  # one engine per journal file, and one loop per engine
    except Exception:  # a client of a journal another process owns has no engine here
        return False


def known_runs() -> list[Run]:
    with _RUNS_LOCK:
        return list(_RUNS.values())


def forget_runs() -> None:
    """Forget the runs this kernel shows and stop following them (tests, journal switches)."""
    with _RUNS_LOCK:
        runs = list(_RUNS.values())
        _RUNS.clear()
    for run in runs:
        consumer = run._consumer
        if consumer is not None and not consumer.done():
            consumer.cancel()

"""The notebook layer: magics, live runs, approvals without widgets, journal tools.

``%load_ext polos_nb`` calls :func:`load_ipython_extension`, which registers
``%%polos_agent`` and ``%polos`` and — when the session's journal already exists (a kernel
restart) — lists unfinished runs and shows them again with their approval forms. It
prints nothing otherwise, and imports neither litellm nor DuckDB nor anywidget itself when
there is no journal yet: a background warm-up (:func:`warm_up`) does, after the load, with
the rest of the first agent run's first-time work.

Every magic has a plain-Python twin here, usable from scripts and other frontends:

=====================  =========================================================
``start(t, input)``    ``%polos run``: start a run, get a :class:`Run` at once
``show(run_id)``       ``%polos show``: the live view of an existing run
``runs()``             ``%polos runs``: recent runs (DataFrame)
``inspect(run)``       ``%polos inspect``: steps, inputs, outputs, timings, tokens
``events(run)``        ``%polos events``
``sql(query)``         ``%polos sql``: read-only SQL over the journal (DataFrame)
``replay(run)``        ``%polos replay``
``fork(run, at, r)``   ``%polos fork``: fork at a step with an edited result
``compare(a, b)``      ``%polos compare``
``unfinished()``       ``%polos resume``: interrupted runs and pending approvals
``approve(...)``       ``%polos approve`` (also ``polos_nb.approve``)
=====================  =========================================================
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import _asyncio_run
from ._approve import PendingApproval, approve, pending_approvals
from ._forms import approval_form, form_spec, model_from_schema
from ._restart import Unfinished, unfinished
from ._run import Run, RunState, start
from ._run import show as _show
from ._session import get_client, journal_path, set_journal
from ._tools import Comparison, Inspection, compare, events, fork, inspect, replay, runs, sql

if TYPE_CHECKING:
    from polos_nb.engine import PolosClient

__all__ = [
    "Comparison",
    "Inspection",
    "PendingApproval",
    "Run",
    "RunState",
    "Unfinished",
    "approval_form",
    "approve",
    "compare",
    "events",
    "fork",
    "form_spec",
    "get_client",
    "inspect",
    "journal_path",
    "load_ipython_extension",
    "model_from_schema",
    "pending_approvals",
    "replay",
    "runs",
    "set_journal",
    "show",
    "sql",
    "start",
    "unfinished",
    "unload_ipython_extension",
    "warm_up",
]

_MATCHERS: dict[int, Any] = {}
_HOOKED: set[int] = set()


def _republish(*_args: Any) -> None:
    """Before and after every cell: publish changed run snapshots from the cell (see
    ``_display``). Nothing to do until a run has been displayed."""
    import sys

    display = sys.modules.get("polos_nb.notebook._display")
    if display is not None:
        display.republish_from_cell()


# In a Jupyter kernel, `asyncio.run(main())` in a cell runs (upstream's main.py pasted into
# a cell); elsewhere nothing changes. See _asyncio_run.
_asyncio_run.install()


_WARMUP: Any = None  # the warm-up thread, once started


def warm_up(wait: bool = False, *, journal: bool = False, agent_turn: bool = False) -> Any:
    """Do ahead, on a daemon thread, what the first agent run does for the first time; returns
    the thread.

    litellm's import (seconds) and first call, the agent layer and the widget libraries; with
    ``journal=True`` the opening of the session's journal, with ``agent_turn=True`` one agent
    turn with a tool on an in-memory journal (``%load_ext`` asks for both in a Jupyter
    kernel, the journal unless ``PolosMagics.warm_up_journal`` is off; the steps and why
    opening the journal early is right: ``polos_nb.notebook._warm_up``).
    ``%load_ext polos_nb`` starts it and does not wait for it (turn it off with
    ``%config PolosMagics.warm_up = False`` before loading); a model call made while it
    still runs waits for litellm's import instead of starting a second one. Started once per
    process; ``wait=True`` also waits for it. Makes no network request; a failure here is
    silent (the first real call reports it). The garbage collector is paused while it runs
    and collects once at its end.
    """
    global _WARMUP
    import threading
    import time

    if _WARMUP is None:

        def work() -> None:
            # Imports hold the GIL for long stretches: let the cell that loaded the
            # extension finish and reply first, so %load_ext itself stays as quick as before.
            time.sleep(0.2)
            from . import _warm_up

            _warm_up.run(journal=journal, agent_turn=agent_turn)

        _WARMUP = threading.Thread(target=work, name="polos_nb-warm-up", daemon=True)
        _WARMUP.start()
    if wait:
        _WARMUP.join()
    return _WARMUP


def show(run: Any, *, client: PolosClient | None = None) -> Run:
    """The live :class:`Run` of an existing execution (``%polos show``)."""
    return _show(run, client=client)


def load_ipython_extension(ip: Any) -> None:
    """``%load_ext polos_nb``: register the magics and the completer; show unfinished runs.

    Idempotent and ``%reload_ext``-safe. Autoload: ``c.InteractiveShellApp.extensions =
    ["polos_nb"]`` in ``ipython_config.py``.
    """
    from ._magics import PolosMagics, complete, show_unfinished

    _asyncio_run.install(ip)
    magics = PolosMagics(shell=ip)
    ip.register_magics(magics)
    from ._lab import register as register_lab

    register_lab(ip)  # the JupyterLab extension's comm target (a no-op outside a kernel)
    from ._result_card import register_formatters

    register_formatters(ip)  # an AgentResult shows as a card, a handle as its run
    completer = getattr(ip, "Completer", None)
    if completer is not None and id(ip) not in _MATCHERS:

        def matcher(context: Any) -> Any:
            return complete(ip, context)

        matcher.matcher_api_version = 2  # type: ignore[attr-defined]
        completer.custom_matchers.append(matcher)
        _MATCHERS[id(ip)] = matcher
    events = getattr(ip, "events", None)
    if events is not None and id(ip) not in _HOOKED:
        events.register("pre_run_cell", _republish)
        events.register("post_run_cell", _republish)
        _HOOKED.add(id(ip))
    if magics.warm_up:
        # The journal and an agent turn too, in a Jupyter kernel only (a notebook's journal
        # is where its runs go; a terminal or a test shell opens it on first use).
        in_kernel = getattr(ip, "kernel", None) is not None
        warm_up(journal=in_kernel and magics.warm_up_journal, agent_turn=in_kernel)
    if magics.resume_on_load:
        from ._restart import journal_exists

        if journal_exists():
            try:
                show_unfinished()
            except Exception as exc:  # never make %load_ext fail over the listing
                import sys

                print(
                    f"polos_nb: could not list unfinished runs: {type(exc).__name__}: {exc}",
                    file=sys.stderr,
                )


def unload_ipython_extension(ip: Any) -> None:
    """``%unload_ext polos_nb``: remove the completer (the magics stay until the kernel ends)."""
    matcher = _MATCHERS.pop(id(ip), None)
    completer = getattr(ip, "Completer", None)
    if matcher is not None and completer is not None and matcher in completer.custom_matchers:
        completer.custom_matchers.remove(matcher)
    if id(ip) in _HOOKED:
        _HOOKED.discard(id(ip))
        for event in ("pre_run_cell", "post_run_cell"):
            try:
                ip.events.unregister(event, _republish)
            except ValueError:
                pass

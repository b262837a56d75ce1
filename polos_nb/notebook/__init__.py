"""The notebook layer: magics, live runs, approvals without widgets, journal tools.

``%load_ext polos_nb`` calls :func:`load_ipython_extension`, which registers
``%%polos_agent`` and ``%polos`` and — when the session's journal already exists (a kernel
restart) — lists unfinished runs and shows them again with their approval forms. It
prints nothing otherwise, and imports neither litellm nor DuckDB nor anywidget when there
is no journal yet (they load on first use).

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
]

_MATCHERS: dict[int, Any] = {}

# In a Jupyter kernel, `asyncio.run(main())` in a cell runs (upstream's main.py pasted into
# a cell); elsewhere nothing changes. See _asyncio_run.
_asyncio_run.install()


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
    completer = getattr(ip, "Completer", None)
    if completer is not None and id(ip) not in _MATCHERS:

        def matcher(context: Any) -> Any:
            return complete(ip, context)

        matcher.matcher_api_version = 2  # type: ignore[attr-defined]
        completer.custom_matchers.append(matcher)
        _MATCHERS[id(ip)] = matcher
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

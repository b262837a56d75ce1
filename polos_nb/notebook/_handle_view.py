"""How a notebook shows a handle: as the run it stands for.

Upstream-style code gets handles, not :class:`Run` objects::

    handle = await process_order.invoke(client, {"id": 7})     # ExecutionHandle
    stream = await weather.stream(client, "Weather in Paris?")  # StreamResult

With ``%load_ext polos_nb``, such a value on the last line of a cell (or given to
``display()``) shows its run's view: the :class:`Run` of that run id in this kernel
(:func:`~polos_nb.notebook.show`), displayed as every run is (``_display.display_run``):
a snapshot kept current, and the live widget while the run goes on. A run that has ended
shows its final snapshot. A run is shown once per cell, however many of its handles the
cell displays. The handle's client is used (a client the notebook made itself, on another
journal too); a handle not bound to a client uses the session's.

The printer is IPython's ``ipython_display`` formatter, registered by type name so that
loading the extension imports neither the engine nor the agent layer. It never raises:
where a view cannot be shown (a terminal, which gets the handle's own repr; a run id the
journal does not have; a closed journal) it logs why and lets IPython show the handle's
plain-text repr instead.
"""

from __future__ import annotations

import logging
import os
from typing import Any

__all__ = ["HANDLE_TYPES", "display_handle", "register_handle_views"]

log = logging.getLogger("polos_nb.notebook")

HANDLE_TYPES = (
    ("polos_nb.engine._types", "ExecutionHandle"),
    ("polos_nb.agents._stream", "StreamResult"),
    ("polos_nb.agents._stream", "AgentStreamHandle"),
)
"""The values shown as their run: (module, class name); subclasses are shown the same way."""


class _NoView(Exception):
    """Why a handle is shown as text (a reason for the log, not an error for the user)."""


def _closed(client: Any) -> bool:
    """Whether ``client`` was closed, or its engine (the last client of its journal was)."""
    return bool(getattr(client, "_closed", False)) or client.loop.is_closed()


def _client_for(value: Any) -> Any:
    """The client whose journal has the handle's run.

    The handle's own client, or the session's (a handle not bound to a client). A client
    closed since (``async with PolosClient() as client:``) is replaced by the session's
    when both use the same journal file; otherwise there is nothing to read the run from.
    """
    from . import _session

    client = _session.client_of(value)
    if not _closed(client):
        return client
    if _session.has_client():
        session = _session.get_client()
        mine = os.path.realpath(str(getattr(client, "journal_path", "")))
        if os.path.realpath(str(session.journal_path)) == mine and not _closed(session):
            return session
    raise _NoView("its client is closed")


def display_handle(value: Any) -> None:
    """Display a handle (``ExecutionHandle``, ``StreamResult``, ``AgentStreamHandle``) as its
    run's view (an ``ipython_display`` printer).

    Raises ``NotImplementedError`` only, which IPython takes as "show the plain repr
    instead", without a traceback.
    """
    from ._display import _frontend

    if _frontend() is None:
        # A terminal (or a shell whose displays nobody updates): the handle's own repr
        # says more there than a run card printed as text.
        raise NotImplementedError
    try:
        view = _view(value)
    except _NoView as why:
        log.warning("polos_nb: %s is shown as text: %s.", _describe(value), why)
        raise NotImplementedError from None
    except Exception as exc:
        log.warning(
            "polos_nb: %s is shown as text: its run could not be read (%s: %s).",
            _describe(value),
            type(exc).__name__,
            exc,
        )
        log.debug("reading the run of a handle failed", exc_info=True)
        raise NotImplementedError from None
    _display(value, view)


def _view(value: Any) -> Any:
    from ._run import show
    from ._session import run_id_of

    client = _client_for(value)
    run_id = run_id_of(value)
    return show(run_id, client=client)


def _display(value: Any, run: Any) -> None:
    from ._display import display_run

    shown = len(run._display_ids)
    try:
        display_run(run)
    except Exception as exc:
        log.warning(
            "polos_nb: the run view of %s failed (%s: %s).",
            _describe(value),
            type(exc).__name__,
            exc,
        )
        log.debug("displaying the run of a handle failed", exc_info=True)
        if len(run._display_ids) == shown:
            raise NotImplementedError from None  # nothing shown: the repr is


def _describe(value: Any) -> str:
    try:
        from ._session import run_id_of

        return f"the {type(value).__name__} of run {run_id_of(value)}"
    except Exception:
        return f"a {type(value).__name__}"


def register_handle_views(ip: Any) -> None:
    """Show handles as their run's view in this shell (``%load_ext``)."""
    display_formatter = getattr(ip, "display_formatter", None)
    formatter = getattr(display_formatter, "ipython_display_formatter", None)
    if formatter is None:
        return
    for module, name in HANDLE_TYPES:
        formatter.for_type_by_name(module, name, display_handle)

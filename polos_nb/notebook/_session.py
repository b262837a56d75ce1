"""The notebook session: the default client, the runs this kernel knows, sync engine calls.

Nothing here imports IPython: scripts and other frontends use the same functions.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

from polos_nb.config import resolve_journal_path
from polos_nb.errors import UserError

if TYPE_CHECKING:
    from polos_nb.engine import PolosClient

T = TypeVar("T")

_lock = threading.RLock()
_client: PolosClient | None = None
_journal: str | None = None


_listeners: list[Callable[[PolosClient], None]] = []


def on_client(callback: Callable[[PolosClient], None]) -> None:
    """Call ``callback(client)`` each time the session opens a client (its journal)."""
    with _lock:
        if callback not in _listeners:
            _listeners.append(callback)


def off_client(callback: Callable[[PolosClient], None]) -> None:
    with _lock:
        if callback in _listeners:
            _listeners.remove(callback)


def get_client(client: PolosClient | None = None) -> PolosClient:
    """``client`` if given, else the session's client (opened on first use)."""
    global _client
    if client is not None:
        return client
    with _lock:
        current = _client
        opened = current is None or getattr(current, "_closed", False)
        if current is None or opened:
            from polos_nb.engine import PolosClient

            current = _client = PolosClient(journal=_journal)
        listeners = list(_listeners) if opened else []
    for callback in listeners:
        try:
            callback(current)
        except Exception:  # a listener (the JupyterLab channel) must not break the session
            pass
    return current


def set_journal(path: str | os.PathLike[str] | None) -> PolosClient:
    """Use another journal for this session.

    The new journal is opened first; if that fails (a bad path, a file that is not a
    journal), the error is raised and the session keeps its current journal.
    """
    global _client, _journal
    from polos_nb.engine import PolosClient

    from ._run import forget_runs

    new_path = os.fspath(path) if path is not None else None
    if new_path is not None and not new_path.strip():
        raise UserError("The journal path is empty; give a file path such as 'notes.duckdb'.")
    with _lock:
        new = PolosClient(journal=new_path)
        forget_runs()
        if _client is not None:
            _client.close()
        _client = new
        _journal = new_path
    return new


def journal_path() -> str:
    """The journal the session uses (or would open)."""
    with _lock:
        if _client is not None:
            return str(_client.journal_path)
        return resolve_journal_path(_journal)


def has_client() -> bool:
    with _lock:
        return _client is not None and not getattr(_client, "_closed", False)


def reset() -> None:
    """Forget the session's client (closing it) — for tests and ``%unload_ext``."""
    global _client, _journal
    with _lock:
        if _client is not None:
            _client.close()
        _client = None
        _journal = None


def call(client: PolosClient, coro: Coroutine[Any, Any, T], timeout: float | None = 60.0) -> T:
    """Run ``coro`` on ``client``'s engine loop and wait for it, from any thread but the engine's.

    Unlike the ``*_sync`` methods this works inside a notebook cell: the cell thread
    blocks only for the short engine call, never for a human.
    """
    return client.call(coro, timeout)


def run_id_of(run: Any) -> str:
    """The execution id of a run, a handle, a stream result or an id string."""
    if isinstance(run, str):
        if not run.strip():
            raise UserError("An empty run id was given.")
        return run.strip()
    for attr in ("id", "agent_run_id", "execution_id"):
        value = getattr(run, attr, None)
        if isinstance(value, str):
            return value
    raise UserError(f"Expected a run, a handle or a run id, got {run!r}.")


def client_of(run: Any, client: PolosClient | None = None) -> PolosClient:
    if client is not None:
        return client
    bound = getattr(run, "client", None) or getattr(run, "_client", None)
    if bound is not None and hasattr(bound, "run_record"):
        return bound
    return get_client()


def resolve_run_id(client: PolosClient, prefix: str) -> str:
    """A full execution id from a unique prefix (ids are long; notebooks show short ones)."""
    return call(client, client.resolve_run_id(prefix))

"""The kernel side of the JupyterLab extension: the ``polos_nb.lab`` comm target.

A DuckDB journal belongs to one process, and while a notebook's kernel runs it is that
kernel. So the Jupyter server extension (``polos_nb.server``) never opens a live journal:
it opens a comm to the kernel and asks. ``%load_ext polos_nb`` calls :func:`register`,
which

1. registers the comm target ``polos_nb.lab`` in the kernel;
2. writes a small hint file, ``polos_nb-kernel-<id>.json``, beside the kernel's connection
   file, so the server knows which kernels to open a comm to (a comm opened to a kernel
   without the target would log an error there);
3. records the server's URL as the base of approval links (``_approval_url``), from the
   server's ``jpserver-<pid>.json``.

Protocol (version 1), every message a JSON dict:

- server → kernel, ``comm_open`` data: ``{"version": 1, "approval_base_url": ...}``;
- kernel → server: ``{"kind": "hello", "version", "journal", "owns", "pid", "notebook"}``
  once the comm is open;
- server → kernel: ``{"kind": "request", "id": n, "method": m, "params": {...}}`` with
  ``m`` one of ``hello``, ``summary`` (run counts and waiting suspensions), ``runs`` (a
  page of runs, see ``_lab_reads.run_page``), ``run`` (one run's detail), ``pending``
  (suspensions waiting for a person) and ``answer`` (answer one);
- kernel → server: ``{"kind": "reply", "id": n, "result": ...}`` or
  ``{"kind": "reply", "id": n, "error": {"type", "message", "errors"}}``;
- kernel → server, unasked: ``{"kind": "changed", "reason": ..., "execution_id", "key"}``
  when the journal's runs change (``reason`` is ``"suspend"`` the moment a run starts
  waiting for a person, so the inbox badge need not wait for a poll).

The handler only reads the request and hands the work to the journal's or the engine's
thread; replies are sent from there. It never blocks the kernel on a person, and works
the same when JupyterLab delivers comm messages on a subshell thread.
"""

from __future__ import annotations

import atexit
import concurrent.futures
import json
import logging
import os
import threading
from typing import Any

from . import _session

__all__ = ["PROTOCOL", "TARGET", "hint_path", "register"]

TARGET = "polos_nb.lab"
PROTOCOL = 1
HINT_PREFIX = "polos_nb-"
PUSH_DELAY = 0.1  # seconds: changes within this window are pushed once

log = logging.getLogger(__name__)

_registered: set[int] = set()
_channels: list[LabChannel] = []
_lock = threading.Lock()


def _connection_file(ip: Any) -> str | None:
    kernel = getattr(ip, "kernel", None)
    if kernel is None:
        return None
    try:
        from ipykernel.connect import get_connection_file

        return str(get_connection_file())
    except Exception:
        return None


def hint_path(connection_file: str) -> str:
    """Where the hint for the kernel with this connection file is written."""
    folder, name = os.path.split(connection_file)
    return os.path.join(folder, HINT_PREFIX + name)


def register(ip: Any) -> bool:
    """Register the comm target in ``ip``'s kernel and write the hint (idempotent).

    Returns False outside a Jupyter kernel (a terminal IPython, a test shell): there is
    nothing to connect to, and nothing is done.
    """
    kernel = getattr(ip, "kernel", None)
    if kernel is None:
        return False
    with _lock:
        first = id(kernel) not in _registered
        _registered.add(id(kernel))
    if first:
        try:
            import comm

            comm.get_comm_manager().register_target(TARGET, _on_open)
        except Exception as exc:  # an exotic kernel: the extension just cannot see it
            log.warning("polos_nb: the JupyterLab extension cannot reach this kernel: %s", exc)
            return False
        _record_server_url()
    connection_file = _connection_file(ip)
    if connection_file:
        _write_hint(connection_file)
    return True


def _write_hint(connection_file: str) -> None:
    path = hint_path(connection_file)
    info = {
        "protocol": PROTOCOL,
        "pid": os.getpid(),
        "journal": _session.journal_path(),
        "notebook": os.environ.get("JPY_SESSION_NAME") or None,
    }
    tmp = f"{path}.{os.getpid()}.tmp"
    try:
        with open(tmp, "w") as f:
            json.dump(info, f)
        os.replace(tmp, path)
    except OSError:
        return
    atexit.register(_remove_hint, path, os.getpid())


def _remove_hint(path: str, pid: int) -> None:
    try:
        with open(path) as f:
            if json.load(f).get("pid") != pid:
                return  # another kernel process (after a restart) wrote it since
        os.remove(path)
    except (OSError, ValueError):
        pass


def _record_server_url() -> None:
    """Approval links start with this server's URL (unless ``POLOS_APPROVAL_BASE_URL``)."""
    pid = os.environ.get("JPY_PARENT_PID")
    if not pid:
        return
    try:
        from jupyter_core.paths import jupyter_runtime_dir

        with open(os.path.join(jupyter_runtime_dir(), f"jpserver-{pid}.json")) as f:
            url = json.load(f).get("url")
    except Exception:
        return
    if isinstance(url, str) and url:
        from polos_nb.engine import set_approval_base_url

        set_approval_base_url(url)


def _on_open(comm: Any, msg: Any) -> None:
    data = (msg.get("content") or {}).get("data") or {}
    base = data.get("approval_base_url")
    if isinstance(base, str) and base and not os.environ.get("POLOS_APPROVAL_BASE_URL"):
        from polos_nb.engine import set_approval_base_url

        set_approval_base_url(base)
    channel = LabChannel(comm)
    with _lock:
        _channels.append(channel)
    channel.hello()


class LabChannel:
    """One open comm with the server extension (see the module docstring)."""

    def __init__(self, comm: Any) -> None:
        self.comm = comm
        self.closed = False
        self._client: Any = None
        self._unsubscribe: Any = None
        self._push_timer: threading.Timer | None = None
        self._push_lock = threading.Lock()
        comm.on_msg(self._on_msg)
        comm.on_close(self._on_close)
        _session.on_client(self._watch)
        if _session.has_client():
            self._watch(_session.get_client())

    # ------------------------------------------------------------------ sending
    def send(self, content: dict[str, Any]) -> None:
        if self.closed:
            return
        try:
            self.comm.send(_jsonable(content))
        except Exception:  # the kernel is shutting down, or the comm went away
            self.closed = True

    def hello(self) -> None:
        self.send(_hello())

    # ------------------------------------------------------------------ watching the engine
    def _watch(self, client: Any) -> None:
        if client is self._client or self.closed:
            return
        if self._unsubscribe is not None:
            self._unsubscribe()
        self._client = client
        # _on_event reads an event's type, sequence and _metadata, never a run's payload,
        # result or error: they need not be decoded from the journal for it.
        self._unsubscribe = client.subscribe_all(self._on_event, payloads=False)
        self.hello()  # the kernel owns its journal now

    def _on_event(self, event: Any) -> None:
        kind = event.event_type or ""
        if event.sequence_id is None and not kind.startswith("suspend_"):
            return  # live-only events (tokens, step starts): nothing the lists show
        if kind.startswith("suspend_"):
            meta = (event.data or {}).get("_metadata") or {}
            self.send(
                {
                    "kind": "changed",
                    "reason": "suspend",
                    "execution_id": meta.get("execution_id"),
                    "key": kind[len("suspend_") :],
                }
            )
            return
        with self._push_lock:
            if self._push_timer is not None:
                return
            timer = threading.Timer(PUSH_DELAY, self._push)
            timer.daemon = True
            self._push_timer = timer
        timer.start()

    def _push(self) -> None:
        with self._push_lock:
            self._push_timer = None
        self.send({"kind": "changed", "reason": "runs"})

    def _on_close(self, _msg: Any) -> None:
        self.closed = True
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        _session.off_client(self._watch)
        with _lock:
            if self in _channels:
                _channels.remove(self)

    # ------------------------------------------------------------------ requests
    def _on_msg(self, msg: Any) -> None:
        data = (msg.get("content") or {}).get("data") or {}
        if not isinstance(data, dict) or data.get("kind") != "request":
            return
        request_id = data.get("id")
        method = str(data.get("method") or "")
        params = data.get("params") if isinstance(data.get("params"), dict) else {}
        handler = getattr(self, f"_do_{method}", None)
        if handler is None:
            self._reply_error(request_id, "UserError", f"unknown method {method!r}")
            return
        try:
            handler(request_id, params)
        except Exception as exc:
            self._reply_exception(request_id, exc)

    def _reply(self, request_id: Any, result: Any) -> None:
        self.send({"kind": "reply", "id": request_id, "result": result})

    def _reply_error(
        self, request_id: Any, kind: str, message: str, errors: dict[str, str] | None = None
    ) -> None:
        error: dict[str, Any] = {"type": kind, "message": message}
        if errors:
            error["errors"] = errors
        self.send({"kind": "reply", "id": request_id, "error": error})

    def _reply_exception(self, request_id: Any, exc: BaseException) -> None:
        self._reply_error(
            request_id, type(exc).__name__, str(exc), getattr(exc, "errors", None) or None
        )

    def _when_done(self, request_id: Any, future: Any) -> None:
        def done(f: Any) -> None:
            exc = f.exception()
            if exc is not None:
                self._reply_exception(request_id, exc)
            else:
                self._reply(request_id, f.result())

        future.add_done_callback(done)

    def _journal_read(self, request_id: Any, reader: Any, empty: Any) -> None:
        """Answer with ``reader(run_reader)`` (``_lab_reads``) over this kernel's journal,
        or ``empty`` when this kernel has no journal yet. The reads run on a thread of
        their own, so the kernel's main thread never waits for the journal."""
        if not _session.has_client():
            from ._restart import journal_exists

            if not journal_exists():
                self._reply(request_id, empty)
                return
        reads = _session.get_client().run_reader()
        self._when_done(request_id, _readers().submit(reader, reads))

    def _do_hello(self, request_id: Any, params: dict[str, Any]) -> None:
        self._reply(request_id, _hello())

    def _do_runs(self, request_id: Any, params: dict[str, Any]) -> None:
        from ._lab_reads import run_page

        status = params.get("status") or None
        offset = int(params.get("offset") or 0)
        limit = int(params.get("limit") or 100)
        empty = {"total": 0, "matching": 0, "counts": {}, "offset": offset, "runs": []}
        self._journal_read(
            request_id,
            lambda reads: run_page(reads, status=status, offset=offset, limit=limit),
            empty,
        )

    def _do_run(self, request_id: Any, params: dict[str, Any]) -> None:
        from ._lab_reads import run_detail

        run_id = str(params.get("id") or "")
        self._journal_read(request_id, lambda reads: run_detail(reads, run_id), None)

    def _do_summary(self, request_id: Any, params: dict[str, Any]) -> None:
        from ._lab_reads import summary

        self._journal_read(request_id, summary, {"counts": {}, "total": 0, "pending": []})

    def _do_pending(self, request_id: Any, params: dict[str, Any]) -> None:
        from ._lab_reads import pending_from

        self._journal_read(request_id, lambda reads: pending_from(reads), [])

    def _do_answer(self, request_id: Any, params: dict[str, Any]) -> None:
        from ._approve import approve

        decision = str(params.get("decision") or "submit")
        options: dict[str, Any] = {}
        if decision == "reject":
            options["reject"] = True
        elif decision == "always":
            options["always"] = True
        data = params.get("data")
        future = approve(
            str(params.get("execution_id") or ""),
            str(params.get("key") or "") or None,
            data if isinstance(data, dict) else {},
            client=_session.get_client(),
            wait=False,
            **options,
        )
        self._when_done(request_id, future)


_pool: concurrent.futures.ThreadPoolExecutor | None = None


def _readers() -> concurrent.futures.ThreadPoolExecutor:
    """The thread that runs the extension's journal reads (one at a time, in order)."""
    global _pool
    with _lock:
        if _pool is None:
            _pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="polos-lab-reads")
        return _pool


def _hello() -> dict[str, Any]:
    return {
        "kind": "hello",
        "version": PROTOCOL,
        "journal": _session.journal_path(),
        "owns": _session.has_client(),
        "pid": os.getpid(),
        "notebook": os.environ.get("JPY_SESSION_NAME") or None,
    }


def _jsonable(value: Any) -> Any:
    from ._run_state import plain

    return plain(value)

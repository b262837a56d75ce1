"""Other processes and a journal's owner: a mailbox next to the journal file.

A DuckDB journal belongs to one process. Upstream Polos lets any process resume a
suspended run (``approve_order.py`` next to a running ``main.py``) or look at it, because
every process talks to one orchestrator. Here the process that owns the journal watches a
directory beside it, ``<journal>.inbox/`` (created 0700): another process drops a request
file there, the owner acts on it with its own engine and writes a reply file, which the
sender waits for, reads and deletes.

The protocol:

- Files: a request is ``<id>.request.json``, its reply ``<id>.reply.json`` (``<id>`` a
  random hex string). Both are written to a temporary name beside them and renamed, so
  a reader never sees half a file, and both are created 0600: a request may carry what a
  person typed, a reply what the journal holds.
- Requests: ``{"op": "resume", "workflow_id", "execution_id", "step_key", "data"}``,
  ``{"op": "publish", "topic", "event_type", "data"}`` and ``{"op": "read", "read":
  <RunReader method>, "data": <its arguments>, "expires": <epoch seconds>}``; ``data``
  and reply values are typed JSON (``polos_nb._serde``).
- Replies: ``{"ok": true, "value": ...}`` or ``{"ok": false, "error": <class name>,
  "message": ...}``; the sender raises the same ``polos_nb.errors`` class (a resume of a
  suspension answered already comes back as ``ResumeError``).
- Resumes are delivered by the owner, so they are journaled once, there, exactly as its
  own would be; the owner replies after the journal has them. Nothing is delivered twice:
  a second answer to one suspension is refused by the owner's engine.
- Reads (:class:`OwnerRunReader`) are the typed reads of :class:`RunReader` (``execution``,
  ``run_events``, ``pending_suspensions``, ``run_counts``, ``runs``, ``step_outputs``,
  ``pending_counts``), run by the owner on its own journal. The reply carries what the
  journal holds, which never contains a credential (``_serde`` writes a registered
  credential as a ``secret`` tag, which names it by fingerprint only); the reply is
  encoded the same way and redacted once more before it is written.
- Timeouts: the sender waits ``timeout`` seconds, and less when the owner's process is
  gone; then it removes its request (and a reply that came late) and raises the
  ``JournalLockedError`` that stopped it from opening the journal. A read request carries
  its expiry: the owner drops a read nobody waits for any more, and writes no reply to a
  request its sender has withdrawn.
- Cleanup: the owner removes replies (and temporary files) older than
  :data:`STALE_REPLY_SECONDS`, left by senders that died while waiting.
- Latency: the owner looks every :data:`POLL_SECONDS`, and every :data:`QUICK_POLL_SECONDS`
  for :data:`QUICK_SECONDS` after a request (a reader's next request follows at once).

Everything else (starting runs, cancelling) needs the journal itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from polos_nb import _secrets, _serde
from polos_nb import errors as _errors
from polos_nb.config import MEMORY, is_postgres_url

from ._run_record import PendingSuspension, RunReader
from ._types import ExecutionInfo, StreamEvent

if TYPE_CHECKING:
    from ._runtime import Runtime

__all__ = [
    "Inbox",
    "OwnerRunReader",
    "failure_answer",
    "forward_publish",
    "forward_resume",
    "inbox_dir",
    "may_ask_owner",
    "raise_answer",
    "resume_request",
]

log = logging.getLogger("polos_nb.engine")

POLL_SECONDS = 0.2
"""How often the owner looks for requests (and the sender for its reply)."""

QUICK_POLL_SECONDS = 0.02
QUICK_SECONDS = 1.0
"""After a request the owner looks every QUICK_POLL_SECONDS for QUICK_SECONDS."""

STALE_REPLY_SECONDS = 600.0
"""A reply older than this was not collected: its sender is gone."""

READ_SECONDS = 30.0
"""The longest the owner spends on one read of its journal."""

_READ_MODELS: dict[str, type[BaseModel] | None] = {
    "execution": ExecutionInfo,
    "run_events": StreamEvent,
    "pending_suspensions": PendingSuspension,
    "runs": ExecutionInfo,
    "run_counts": None,
    "step_outputs": None,
    "pending_counts": None,
}
"""The reads another process may ask of the owner (RunReader methods) and the model their
values are made of (None: plain values)."""


def inbox_dir(journal_path: str) -> Path | None:
    """The mailbox directory of a journal file; None for in-memory and PostgreSQL journals."""
    if journal_path == MEMORY or is_postgres_url(journal_path):
        return None
    return Path(journal_path + ".inbox")


def may_ask_owner(locked: _errors.JournalLockedError) -> bool:
    """Whether the process named by ``locked`` can be asked through the journal's inbox:
    another process (not this one under another name) owns a journal file."""
    return (
        locked.open_as is None and locked.pid != os.getpid() and inbox_dir(locked.path) is not None
    )


def _write_atomically(path: Path, data: dict[str, Any]) -> None:
    # Owner-only: a request may carry answers a person typed (resume data) until the owner
    # takes it, a reply what the journal holds, and only the user who runs the journal's
    # process reads them.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as file:
        file.write(json.dumps(data))
    os.replace(tmp, path)


def _requests(folder: Path) -> list[Path]:
    """The requests waiting in ``folder``; replies nobody came for (their sender died)
    are removed after :data:`STALE_REPLY_SECONDS`."""
    if not folder.is_dir():
        return []
    now = time.time()
    for leftover in [*folder.glob("*.reply.json"), *folder.glob(".*.tmp")]:
        with contextlib.suppress(OSError):
            if now - leftover.stat().st_mtime > STALE_REPLY_SECONDS:
                leftover.unlink()
    return sorted(folder.glob("*.request.json"))


def _read(path: Path) -> dict[str, Any]:
    data = json.loads(path.read_text())
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    return data


def _answer(request: Path, reply: Path, answer: dict[str, Any]) -> None:
    if not request.exists():
        return  # its sender gave up waiting and withdrew it: nobody would read a reply
    _write_atomically(reply, answer)
    request.unlink(missing_ok=True)


def _withdraw(request: Path, reply: Path) -> None:
    """The sender stops waiting: its request goes (the owner then writes no reply), and a
    reply that arrived meanwhile too."""
    request.unlink(missing_ok=True)
    reply.unlink(missing_ok=True)


def _take_reply(request: Path, reply: Path) -> dict[str, Any] | None:
    """The reply to ``request`` (removed from the inbox), or None while there is none."""
    if not reply.exists():
        return None
    answer = _read(reply)
    reply.unlink(missing_ok=True)
    return answer


def _alive(pid: int | None) -> bool:
    if pid is None:
        return True  # unknown owner: let the timeout decide
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Inbox:
    """The owner's side: delivers the requests other processes leave for this journal."""

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime
        self.path = inbox_dir(runtime.path)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Start watching (on the engine loop); a journal without a mailbox has nothing to watch."""
        if self.path is not None and self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._watch(), name="polos:inbox")

    async def _watch(self) -> None:
        assert self.path is not None
        quick_until = 0.0
        while True:
            requests = _requests(self.path)
            for request in requests:
                await self._deliver(request)
            now = time.monotonic()
            if requests:
                quick_until = now + QUICK_SECONDS
            await asyncio.sleep(QUICK_POLL_SECONDS if now < quick_until else POLL_SECONDS)

    async def _deliver(self, request: Path) -> None:
        name = request.name[: -len(".request.json")]
        reply = request.with_name(f"{name}.reply.json")
        try:
            body = _read(request)
        except FileNotFoundError:
            return
        except (OSError, ValueError) as exc:
            answer: dict[str, Any] = {
                "ok": False,
                "error": "UserError",
                "message": f"unreadable request: {exc}",
            }
        else:
            expires = body.get("expires")
            if isinstance(expires, (int, float)) and time.time() > expires:
                _withdraw(request, reply)  # a read its sender no longer waits for
                return
            answer = await self._apply(body)
        try:
            _answer(request, reply, answer)
        except OSError:
            log.exception("could not answer the inbox request %s", request)

    async def _apply(self, body: dict[str, Any]) -> dict[str, Any]:
        op = body.get("op")
        try:
            data = _serde.decode(body.get("data"), strict=False)
            if op == "resume":
                await self._runtime.resume(
                    body.get("workflow_id"),
                    str(body["execution_id"]),
                    str(body["step_key"]),
                    data,
                )
                return {"ok": True}
            if op == "publish":
                event = await self._runtime.publish(
                    str(body["topic"]), body.get("event_type"), data
                )
                return {"ok": True, "value": event.sequence_id}
            if op == "read":
                return await self._read(str(body.get("read")), data)
        except Exception as exc:  # reported to the sender, which raises it
            return failure_answer(exc)
        return {"ok": False, "error": "UserError", "message": f"unknown request {op!r}"}

    async def _read(self, name: str, args: Any) -> dict[str, Any]:
        if name not in _READ_MODELS or not isinstance(args, dict):
            return {"ok": False, "error": "UserError", "message": f"unknown read {name!r}"}
        reads = RunReader(self._runtime.journal, timeout=READ_SECONDS)
        # RunReader blocks until the journal's thread has read: not on the engine loop.
        value = await asyncio.to_thread(getattr(reads, name), **args)
        return {"ok": True, "value": _secrets.redact_value(_serde.encode(_read_value(value)))}

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


async def forward_resume(
    locked: _errors.JournalLockedError,
    workflow_id: str | None,
    execution_id: str,
    step_key: str,
    data: Any,
    *,
    timeout: float = 60.0,
) -> None:
    """Ask the process that owns ``locked.path`` to resume a suspension; wait for its answer.

    Raises what the owner's resume raised (same class when it is a ``polos_nb.errors``
    class), or ``locked`` itself if the owner is gone or does not answer in ``timeout``.
    """
    body = resume_request(workflow_id, execution_id, step_key, data)
    await _forward(locked, body, timeout, _errors.ResumeError)


async def forward_publish(
    locked: _errors.JournalLockedError,
    topic: str,
    event_type: str | None,
    data: Any,
    *,
    timeout: float = 60.0,
) -> int:
    """Ask the process that owns ``locked.path`` to publish an event; returns its sequence
    number on the topic (errors as :func:`forward_resume`)."""
    body = {"op": "publish", "topic": topic, "event_type": event_type, "data": _serde.encode(data)}
    return int((await _forward(locked, body, timeout, _errors.UserError)) or 0)


def _post(locked: _errors.JournalLockedError, body: dict[str, Any]) -> tuple[Path, Path]:
    """Leave ``body`` in the inbox of ``locked.path``; returns its request and reply paths."""
    folder = inbox_dir(locked.path)
    if folder is None:
        raise locked
    os.makedirs(folder, mode=0o700, exist_ok=True)
    name = uuid.uuid4().hex
    request = folder / f"{name}.request.json"
    reply = folder / f"{name}.reply.json"
    _write_atomically(request, body)
    return request, reply


async def _forward(
    locked: _errors.JournalLockedError,
    body: dict[str, Any],
    timeout: float,
    fallback: type[_errors.PolosError],
) -> Any:
    request, reply = _post(locked, body)
    deadline = time.monotonic() + timeout
    while (answer := _take_reply(request, reply)) is None:
        if time.monotonic() > deadline or not _alive(locked.pid):
            _withdraw(request, reply)
            raise locked
        await asyncio.sleep(POLL_SECONDS / 2)
    return raise_answer(answer, f"process {locked.pid}, which owns the journal", fallback)


def _exchange(locked: _errors.JournalLockedError, body: dict[str, Any], timeout: float) -> Any:
    """:func:`_forward` for a thread that may block: the owner's answer, or ``locked``."""
    request, reply = _post(locked, body)
    deadline = time.monotonic() + timeout
    pause = 0.005
    while (answer := _take_reply(request, reply)) is None:
        if time.monotonic() > deadline or not _alive(locked.pid):
            _withdraw(request, reply)
            raise locked
        time.sleep(pause)
        pause = min(pause * 2, POLL_SECONDS / 2)
    if not answer.get("ok") and str(answer.get("message", "")).startswith("unknown request"):
        raise locked  # an older polos_nb: it resumes, but cannot answer reads
    return raise_answer(answer, f"process {locked.pid}, which owns the journal", _errors.UserError)


# ---------------------------------------------------------------- reads the owner answers
class OwnerRunReader(RunReader):
    """The typed reads of :class:`RunReader`, answered by the process that owns the journal.

    Each read is one request through the journal's inbox, answered within ``timeout``
    seconds; when the owner does not answer (busy, gone, or not a polos_nb engine) the
    read raises the ``JournalLockedError`` that kept this process from the file. Made by
    :func:`polos_nb.engine.read_runs` with ``owner_timeout``.
    """

    def __init__(self, locked: _errors.JournalLockedError, *, timeout: float = 5.0) -> None:
        super().__init__(None, timeout=timeout)  # type: ignore[arg-type]  # no journal here
        self._locked = locked
        self._wait = timeout

    @property
    def owner_pid(self) -> int | None:
        return self._locked.pid

    def _ask(self, name: str, **args: Any) -> Any:
        body = {
            "op": "read",
            "read": name,
            "data": _serde.encode(args),
            "expires": time.time() + self._wait,
        }
        value = _serde.decode(_exchange(self._locked, body, self._wait), strict=False)
        return _read_result(_READ_MODELS[name], value)

    def execution(self, execution_id: str) -> ExecutionInfo:
        return self._ask("execution", execution_id=execution_id)  # type: ignore[no-any-return]

    def run_events(self, execution_id: str, after_seq: int = 0) -> list[StreamEvent]:
        return list(self._ask("run_events", execution_id=execution_id, after_seq=after_seq))

    def pending_suspensions(self, execution_id: str | None = None) -> list[PendingSuspension]:
        return list(self._ask("pending_suspensions", execution_id=execution_id))

    def run_counts(self) -> dict[str, int]:
        return dict(self._ask("run_counts"))

    def runs(
        self, *, status: str | None = None, offset: int = 0, limit: int = 100
    ) -> list[ExecutionInfo]:
        return list(self._ask("runs", status=status, offset=offset, limit=limit))

    def step_outputs(
        self, root_execution_ids: Sequence[str], key_prefix: str
    ) -> list[tuple[str, Any]]:
        found = self._ask(
            "step_outputs", root_execution_ids=list(root_execution_ids), key_prefix=key_prefix
        )
        return [(str(run_id), output) for run_id, output in found]

    def pending_counts(self, root_execution_ids: Sequence[str]) -> dict[str, int]:
        return dict(self._ask("pending_counts", root_execution_ids=list(root_execution_ids)))


def _read_value(value: Any) -> Any:
    """A read's value, ready for typed JSON: the engine's models as their fields (and
    private attributes), so that each field keeps its type."""
    if isinstance(value, list):
        return [_read_value(v) for v in value]
    if isinstance(value, BaseModel):
        fields = {name: getattr(value, name) for name in type(value).model_fields}
        return {"fields": fields, "private": dict(value.__pydantic_private__ or {})}
    return value


def _read_result(model: type[BaseModel] | None, value: Any) -> Any:
    """Invert :func:`_read_value` for a read whose values are ``model``s."""
    if model is None:
        return value
    if isinstance(value, list):
        return [_read_result(model, v) for v in value]
    made = model.model_validate(value["fields"])
    for name, private in (value.get("private") or {}).items():
        setattr(made, name, private)
    return made


# ---------------------------------------------------------------- requests and answers
# What travels between processes, whatever carries it (this folder, or a shared
# PostgreSQL journal's ``requests`` table: engine/_workers.py).
def resume_request(
    workflow_id: str | None, execution_id: str, step_key: str, data: Any
) -> dict[str, Any]:
    """The request to resume ``execution_id`` at ``step_key`` with ``data``."""
    return {
        "op": "resume",
        "workflow_id": workflow_id,
        "execution_id": execution_id,
        "step_key": step_key,
        "data": _serde.encode(data),
    }


def failure_answer(exc: BaseException) -> dict[str, Any]:
    """The answer that reports ``exc`` to the sender (which raises it again)."""
    return {"ok": False, "error": type(exc).__name__, "message": _secrets.redact(str(exc))}


def raise_answer(
    answer: dict[str, Any], answered_by: str, fallback: type[_errors.PolosError]
) -> Any:
    """The value of an ``ok`` answer; else raise the error it names (the same
    ``polos_nb.errors`` class when there is one, ``fallback`` otherwise)."""
    if answer.get("ok"):
        return answer.get("value")
    cls = getattr(_errors, str(answer.get("error")), None)
    message = f"{answer.get('message')} (answered by {answered_by})"
    if isinstance(cls, type) and issubclass(cls, _errors.PolosError):
        try:
            error = cls(message)
        except TypeError:  # a class with another constructor
            error = fallback(message)
        raise error
    raise fallback(message)

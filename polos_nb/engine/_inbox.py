"""Resumes from another process: a mailbox next to a journal file.

A DuckDB journal belongs to one process. Upstream Polos lets any process resume a
suspended run (``approve_order.py`` next to a running ``main.py``), because every process
talks to one orchestrator. Here the process that owns the journal watches a directory
beside it, ``<journal>.inbox/``: another process drops a request file there, the owner
delivers it with its own engine (so it is journaled once, by the owner) and writes a
reply file, which the sender waits for.

Files are written to a temporary name and renamed, so a reader never sees half a file.
Requests are ``<id>.request.json``; replies ``<id>.reply.json`` (``{"ok": true}`` or
``{"ok": false, "error": <class name>, "message": ...}``). Only resumes and published
events travel this way; everything else needs the journal itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from polos_nb import _serde
from polos_nb import errors as _errors
from polos_nb.config import MEMORY, is_postgres_url

if TYPE_CHECKING:
    from ._runtime import Runtime

__all__ = [
    "Inbox",
    "failure_answer",
    "forward_publish",
    "forward_resume",
    "inbox_dir",
    "raise_answer",
    "resume_request",
]

log = logging.getLogger("polos_nb.engine")

POLL_SECONDS = 0.2
"""How often the owner looks for requests (and the sender for its reply)."""

STALE_REPLY_SECONDS = 600.0
"""A reply older than this was not collected: its sender is gone."""


def inbox_dir(journal_path: str) -> Path | None:
    """The mailbox directory of a journal file; None for in-memory and PostgreSQL journals."""
    if journal_path == MEMORY or is_postgres_url(journal_path):
        return None
    return Path(journal_path + ".inbox")


def _write_atomically(path: Path, data: dict[str, Any]) -> None:
    # Owner-only: a request may carry answers a person typed (resume data) until the owner
    # takes it, and only the user who runs the journal's process reads it.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
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
    for reply in folder.glob("*.reply.json"):
        with contextlib.suppress(OSError):
            if now - reply.stat().st_mtime > STALE_REPLY_SECONDS:
                reply.unlink()
    return sorted(folder.glob("*.request.json"))


def _read(path: Path) -> dict[str, Any]:
    data = json.loads(path.read_text())
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    return data


def _answer(request: Path, reply: Path, answer: dict[str, Any]) -> None:
    _write_atomically(reply, answer)
    request.unlink(missing_ok=True)


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
        while True:
            for request in _requests(self.path):
                await self._deliver(request)
            await asyncio.sleep(POLL_SECONDS)

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
        except Exception as exc:  # reported to the sender, which raises it
            return failure_answer(exc)
        return {"ok": False, "error": "UserError", "message": f"unknown request {op!r}"}

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


async def _forward(
    locked: _errors.JournalLockedError,
    body: dict[str, Any],
    timeout: float,
    fallback: type[_errors.PolosError],
) -> Any:
    folder = inbox_dir(locked.path)
    if folder is None:
        raise locked
    os.makedirs(folder, mode=0o700, exist_ok=True)
    name = uuid.uuid4().hex
    request = folder / f"{name}.request.json"
    reply = folder / f"{name}.reply.json"
    _write_atomically(request, body)
    deadline = time.monotonic() + timeout
    while (answer := _take_reply(request, reply)) is None:
        if time.monotonic() > deadline or not _alive(locked.pid):
            request.unlink(missing_ok=True)
            raise locked
        await asyncio.sleep(POLL_SECONDS / 2)
    return raise_answer(answer, f"process {locked.pid}, which owns the journal", fallback)


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
    return {"ok": False, "error": type(exc).__name__, "message": str(exc)}


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

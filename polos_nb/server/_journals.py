"""Journals outside kernels: the ``.polos/*.duckdb`` files under the server root that no kernel owns.

The one place where the server extension touches a journal file. A journal owned by a
live kernel is never opened here (the kernel is asked instead, see ``_kernels``). Any
other journal is either

- **at rest** (no process has it open): opened read-only for the few milliseconds a read
  takes, and read-write only to deliver an answer (``answer``), through the engine's own
  ``PolosClient`` so the answer is journaled exactly as a kernel would; or
- **held** by another process (a script still running its workflows; DuckDB lets one
  process open a file): that process is asked, through the journal's inbox
  (``<journal>.inbox/``, the protocol of ``polos_nb.engine._inbox``). Reads are the
  engine's typed run reads, answered by the owner (``read_runs(..., owner_timeout=...)``);
  an answer is checked against the suspension's form here, with the pending suspensions
  the owner reports, and handed to the owner as a resume (``forward_resume``), which the
  owner journals and confirms. An owner that does not answer within
  :data:`OWNER_TIMEOUT` seconds (busy, gone, or not a polos_nb engine) leaves the journal
  *locked*; an owner that exits while an answer is on its way leaves the journal free,
  and the answer is then delivered into the journal here.

Either way the reads are the engine's (``polos_nb.engine.read_runs``; no SQL here), and
cached by the files' modification times: a journal nobody writes is read once.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from polos_nb.engine import RunReader, forward_resume, read_runs
from polos_nb.errors import JournalLockedError, ResumeError

__all__ = ["ANSWER_TIMEOUT", "OWNER_TIMEOUT", "JournalFile", "OwnerSilentError", "find_journals"]

OWNER_TIMEOUT = 5.0
"""Seconds the process that holds a journal has to answer one read."""

ANSWER_TIMEOUT = 30.0
"""Seconds the process that holds a journal has to confirm an answer it was handed."""


class OwnerSilentError(JournalLockedError):
    """The process that holds a journal did not answer in time; the message says what
    became of the request."""

    def __init__(self, locked: JournalLockedError, message: str) -> None:
        super().__init__(locked.path, locked.pid)
        self.args = (message,)


SKIP_DIRS = {
    "node_modules",
    "__pycache__",
    "site-packages",
    ".git",
    ".venv",
    "venv",
    ".ipynb_checkpoints",
}
MAX_DEPTH = 6
MAX_DIRS = 5000


def find_journals(root: str, *, max_depth: int = MAX_DEPTH, max_dirs: int = MAX_DIRS) -> list[str]:
    """Absolute paths of the journals (``.polos/*.duckdb``) under ``root``.

    Hidden folders other than ``.polos`` and bulky ones (``node_modules``, virtual
    environments) are skipped; the walk stops after ``max_dirs`` folders or ``max_depth``
    levels, so a server started in a home directory stays quick.
    """
    found: list[str] = []
    seen = 0
    root = os.path.realpath(root)
    for folder, _depth in _walk(root, max_depth):
        seen += 1
        if seen > max_dirs:
            break
        polos = os.path.join(folder, ".polos")
        if os.path.isdir(polos):
            try:
                names = sorted(os.listdir(polos))
            except OSError:
                continue
            found.extend(os.path.join(polos, n) for n in names if n.endswith(".duckdb"))
    return found


def _walk(root: str, max_depth: int) -> Iterator[tuple[str, int]]:
    stack = [(root, 0)]
    while stack:
        folder, depth = stack.pop()
        yield folder, depth
        if depth >= max_depth:
            continue
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name, reverse=True)
        except OSError:
            continue
        for entry in entries:
            name = entry.name
            if name.startswith(".") or name in SKIP_DIRS:
                continue
            try:
                if entry.is_dir(follow_symlinks=False):
                    stack.append((entry.path, depth + 1))
            except OSError:
                continue


def _stamp(path: str) -> tuple[Any, ...]:
    parts: list[Any] = []
    for p in (path, path + ".wal", path + ".steplog"):
        try:
            st = os.stat(p)
            parts.append((st.st_mtime_ns, st.st_size))
        except OSError:
            parts.append(None)
    return tuple(parts)


@dataclass
class _Cached:
    stamp: tuple[Any, ...]
    value: Any


class JournalFile:
    """One journal outside kernels, with cached reads (see the module docstring)."""

    def __init__(
        self,
        path: str,
        *,
        owner_timeout: float | None = None,
        answer_timeout: float | None = None,
    ) -> None:
        self.path = path
        self.owner_timeout = OWNER_TIMEOUT if owner_timeout is None else owner_timeout
        self.answer_timeout = ANSWER_TIMEOUT if answer_timeout is None else answer_timeout
        self.held_by: int | None = None
        """The process that answered the last read, when one holds the journal."""
        self._cache: dict[Any, _Cached] = {}
        self._lock = threading.Lock()
        self._io = (
            threading.Lock()
        )  # one read or answer at a time: DuckDB opens a file once per process

    def stamp(self) -> tuple[Any, ...]:
        return _stamp(self.path)

    def read(self, key: Any, reader: Callable[[RunReader], Any], *, ask_owner: bool = True) -> Any:
        """``reader(run_reader)`` on the journal, cached under ``key`` until the file changes.

        Blocking (a thread of the server's executor calls it). When another process holds
        the journal, that process answers the reads (``ask_owner``; without it, or when it
        does not answer in :attr:`owner_timeout` seconds, ``JournalLockedError``). Raises
        the other journal errors of ``read_runs``.
        """
        stamp = self.stamp()
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None and hit.stamp == stamp:
                return hit.value
        with self._io:
            value, held_by = read_runs(
                self.path,
                lambda reads: (reader(reads), reads.owner_pid),
                owner_timeout=self.owner_timeout if ask_owner else None,
            )
        with self._lock:
            self.held_by = held_by
            if len(self._cache) > 64:
                self._cache.clear()
            self._cache[key] = _Cached(stamp, value)
        return value

    def runs(self, status: str | None, offset: int, limit: int) -> dict[str, Any]:
        from polos_nb.notebook._lab_reads import run_page

        return dict(
            self.read(
                ("runs", status, offset, limit),
                lambda reads: run_page(reads, status=status, offset=offset, limit=limit),
            )
        )

    def run(self, run_id: str) -> dict[str, Any]:
        from polos_nb.notebook._lab_reads import run_detail

        return dict(self.read(("run", run_id), lambda reads: run_detail(reads, run_id)))

    def pending(self) -> list[dict[str, Any]]:
        from polos_nb.notebook._lab_reads import pending_from

        return list(self.read(("pending",), pending_from))

    def answer(
        self, execution_id: str, key: str, decision: str, data: dict[str, Any]
    ) -> dict[str, Any]:
        """Deliver an answer (validated against the suspension's form); returns the data
        delivered.

        A journal at rest is opened with the engine for the time of the write: the run then
        continues from this answer when its notebook runs again (its kernel opens the
        journal and the workflow's cell is run). A journal another process holds gets the
        answer through that process (see the module docstring), and its run continues at
        once. Raises ``ResumeError`` when the suspension does not wait (any more): it was
        answered, or the run ended; ``JournalLockedError`` when the process holding the
        journal did not answer.
        """
        options: dict[str, Any] = {}
        if decision == "reject":
            options["reject"] = True
        elif decision == "always":
            options["always"] = True
        try:
            try:
                return self._answer_at_rest(execution_id, key, data, options)
            except JournalLockedError as locked:
                if locked.open_as is not None or locked.pid == os.getpid():
                    raise
                # Not under self._io: this process does not open the file, and the reads
                # of this journal need not wait for the holder to confirm.
                return self._answer_through_owner(locked, execution_id, key, data, options)
        finally:
            with self._lock:
                self._cache.clear()

    def _answer_at_rest(
        self, execution_id: str, key: str, data: dict[str, Any], options: dict[str, Any]
    ) -> dict[str, Any]:
        from polos_nb.engine import PolosClient
        from polos_nb.notebook._approve import approve

        with self._io:
            client = PolosClient(journal=self.path)
            try:
                return dict(approve(execution_id, key or None, data, client=client, **options))
            finally:
                client.close()

    def _answer_through_owner(
        self,
        locked: JournalLockedError,
        execution_id: str,
        key: str,
        data: dict[str, Any],
        options: dict[str, Any],
    ) -> dict[str, Any]:
        from polos_nb.notebook._approve import approvals_of, prepare_answer

        owner = f"process {locked.pid}" if locked.pid is not None else "another process"
        try:
            with self._io:  # as any read: it opens the file when the holder has let go
                found, held_by = read_runs(
                    self.path,
                    lambda reads: (reads.pending_suspensions(execution_id), reads.owner_pid),
                    owner_timeout=self.owner_timeout,
                )
        except JournalLockedError:
            raise OwnerSilentError(
                locked,
                f"The journal {self.path} is open in {owner}, which did not answer within "
                f"{self.owner_timeout:g} s (it may be busy, or not a polos_nb engine). "
                "Nothing was delivered: try again, or answer from that process.",
            ) from None
        if held_by is None:  # the owner let go of the journal meanwhile
            return self._answer_at_rest(execution_id, key, data, options)
        pending = approvals_of(found)
        if key and not any(p.key == key for p in pending):
            raise ResumeError(
                f"Nothing waits at {key!r} in run {execution_id} (process {held_by} runs it): "
                "it was answered already, or the run ended."
            )
        workflow_id, target, step_key, payload = prepare_answer(
            execution_id, key or None, data, pending, **options
        )
        try:
            asyncio.run(
                forward_resume(
                    locked, workflow_id, target, step_key, payload, timeout=self.answer_timeout
                )
            )
        except JournalLockedError:
            # The owner did not confirm: if it has exited, the journal is free and the
            # answer is delivered here (a resume is delivered once: the engine refuses a
            # second one); if it still holds the journal, the lock error says so.
            try:
                return self._answer_at_rest(execution_id, key, data, options)
            except JournalLockedError:
                raise OwnerSilentError(
                    locked,
                    f"The answer was handed to {owner}, which holds the journal {self.path}, "
                    f"and it did not confirm it within {self.answer_timeout:g} s. If it took "
                    "the answer, the run goes on with it: reload to see whether it still waits.",
                ) from None
        return dict(payload) if isinstance(payload, dict) else {"value": payload}

"""Journals at rest: the ``.polos/*.duckdb`` files under the server root that no kernel owns.

The one place where the server extension touches a journal file. A journal owned by a
live kernel is never opened here (the kernel is asked instead, see ``_kernels``); a
journal at rest is opened read-only for the few milliseconds a read takes
(``polos_nb.engine.read_runs``: the engine's typed run reads, no SQL here), and read-write only to deliver an answer (``answer``), through the
engine's own ``PolosClient`` so the answer is journaled exactly as a kernel would.

Reads are cached by the files' modification times: a journal nobody writes is read once.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from polos_nb.engine import RunReader, read_runs

__all__ = ["JournalFile", "find_journals"]

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
    for p in (path, path + ".wal"):
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
    """One journal at rest, with cached reads (see the module docstring)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._cache: dict[Any, _Cached] = {}
        self._lock = threading.Lock()
        self._io = (
            threading.Lock()
        )  # one read or answer at a time: DuckDB opens a file once per process

    def stamp(self) -> tuple[Any, ...]:
        return _stamp(self.path)

    def read(self, key: Any, reader: Callable[[RunReader], Any]) -> Any:
        """``reader(run_reader)`` on the journal, cached under ``key`` until the file changes.

        Blocking (a thread of the server's executor calls it). Raises the journal errors
        of ``read_runs`` (``JournalLockedError`` when a process owns the file).
        """
        stamp = self.stamp()
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None and hit.stamp == stamp:
                return hit.value
        with self._io:
            value = read_runs(self.path, reader)
        with self._lock:
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
        """Deliver an answer into this journal (validated against the suspension's form).

        Opens the journal with the engine for the time of the write: the run then
        continues from this answer when its notebook runs again (its kernel opens the
        journal and the workflow's cell is run).
        """
        from polos_nb.engine import PolosClient
        from polos_nb.notebook._approve import approve

        options: dict[str, Any] = {}
        if decision == "reject":
            options["reject"] = True
        elif decision == "always":
            options["always"] = True
        with self._io:
            client = PolosClient(journal=self.path)
            try:
                return dict(approve(execution_id, key or None, data, client=client, **options))
            finally:
                client.close()
                with self._lock:
                    self._cache.clear()

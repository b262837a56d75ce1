"""The journal file itself: who has it open, what kind of file it is, what went wrong.

- **Identity.** A journal is identified by its file (device and inode), not by the path
  string: a symlink, a hard link, a relative path or, on a case-insensitive file system,
  another case of the name all lead to one file, and one file may have one open journal
  per process (DuckDB's own lock only keeps *other* processes out).
- **Kind.** Before DuckDB sees a file, its header is checked: DuckDB would otherwise open
  a CSV or JSON file as an empty in-memory database, and try to download an extension
  for a SQLite file. Anything that is not a DuckDB database is refused untouched.
- **Errors.** DuckDB's errors are sorted into what the user can act on: the file is
  damaged (:class:`JournalCorruptError`), or it cannot be read or written right now
  (:class:`JournalUnavailableError`: permissions, a read-only or full file system, an
  I/O error).
"""

from __future__ import annotations

import errno
import os
import threading

from polos_nb.errors import (
    JournalCorruptError,
    JournalError,
    JournalLockedError,
    JournalUnavailableError,
)

__all__ = [
    "OPEN_LOCK",
    "check_file",
    "check_not_open",
    "claim",
    "classify",
    "file_identity",
    "release",
]

FileId = tuple[int, int]

_OPEN: dict[FileId, str] = {}
OPEN_LOCK = threading.RLock()
"""Held while a journal is opened (check, connect, claim) and while one is released."""
_DUCKDB_MAGIC = b"DUCK"  # bytes 8..12 of every DuckDB database file


def file_identity(path: str) -> FileId | None:
    """``(device, inode)`` of the file ``path`` leads to (links followed), or None if absent."""
    try:
        st = os.stat(path)
    except OSError:  # absent, or not reachable (opening it then says why)
        return None
    return (st.st_dev, st.st_ino)


def check_not_open(path: str) -> None:
    """Raise :class:`JournalLockedError` if the file at ``path`` is open in this process.

    Call with :data:`OPEN_LOCK` held, before DuckDB opens the file: a second DuckDB
    instance on a file this process already has open would replay and checkpoint it
    behind the first one's back.
    """
    identity = file_identity(path)
    other = _OPEN.get(identity) if identity is not None else None
    if other is not None:
        raise JournalLockedError(path, os.getpid(), open_as=other)


def claim(path: str) -> FileId:
    """Record that this process has the journal file at ``path`` open (with :data:`OPEN_LOCK` held)."""
    identity = file_identity(path)
    if identity is None:
        raise JournalUnavailableError(path, "the file disappeared while it was being opened")
    other = _OPEN.get(identity)
    if other is not None:
        raise JournalLockedError(path, os.getpid(), open_as=other)
    _OPEN[identity] = path
    return identity


def release(identity: FileId | None) -> None:
    """Forget an open journal file (after its connection is closed)."""
    if identity is None:
        return
    with OPEN_LOCK:
        _OPEN.pop(identity, None)


def check_file(path: str) -> None:
    """Refuse, without touching it, anything at ``path`` that is not a DuckDB journal.

    A missing file is fine (it will be created) as long as its directory can hold it.
    """
    if os.path.isdir(path):
        raise JournalError(
            f"The journal path {path} is a directory. Give a file path, e.g. "
            f"{os.path.join(path, 'journal.duckdb')}."
        )
    try:
        with open(path, "rb") as f:
            head = f.read(4096)
    except FileNotFoundError:
        _check_new_file(path)
        return
    except OSError as exc:
        raise JournalUnavailableError(path, _os_detail(exc)) from exc
    if not head:
        raise JournalCorruptError(
            path, "the file is empty (0 bytes), so it is not a DuckDB journal"
        )
    if head[8:12] != _DUCKDB_MAGIC:
        raise JournalCorruptError(
            path, f"it is not a DuckDB database file; it looks like {_kind(head)}"
        )


def _check_new_file(path: str) -> None:
    parent = os.path.dirname(path) or "."
    existing = parent
    while not os.path.exists(existing):  # the nearest directory that exists
        up = os.path.dirname(existing)
        if up == existing:
            break
        existing = up
    if not os.path.isdir(existing):
        raise JournalError(
            f"The journal {path} cannot be created: {existing} is a file, not a directory."
        )
    effective = os.access in os.supports_effective_ids
    if not os.access(existing, os.W_OK | os.X_OK, effective_ids=effective):
        raise JournalUnavailableError(
            path, f"the directory {existing} is not writable for this user"
        )


def _kind(head: bytes) -> str:
    if head.startswith(b"SQLite format 3\x00"):
        return "a SQLite database"
    if head.startswith(b"PAR1"):
        return "a Parquet file"
    if head.startswith(b"PK\x03\x04"):
        return "a ZIP archive (or an .xlsx / .ipynb bundle)"
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return "a binary file of another kind"
    stripped = text.lstrip()
    if stripped.startswith(("{", "[")):
        return "JSON text"
    first = stripped.splitlines()[0] if stripped else ""
    if "\t" in first:
        return "TSV (tab-separated) text"
    if "," in first:
        return "CSV text"
    return "a text file"


def _os_detail(exc: OSError) -> str:
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "permission denied"
    if exc.errno == errno.EROFS:
        return "the file system is read-only"
    if exc.errno == errno.ENOSPC:
        return "no space is left on the device"
    return exc.strerror or str(exc)


_UNAVAILABLE = (
    ("no space left", "no space is left on the device"),
    ("disk quota", "the disk quota is exhausted"),
    ("file too large", "the file system refuses to let the file grow (a size limit)"),
    ("read-only file system", "the file system is read-only"),
    ("permission denied", "permission denied"),
    ("input/output error", "an I/O error from the storage device"),
    ("database has been invalidated", "the database stopped after an earlier fatal error"),
)
_CORRUPT = (
    "not a valid duckdb database",
    "could not read enough bytes",
    "checksum",
    "corrupt",
    "invalid block",
    "failed to deserialize",
)


def classify(exc: BaseException, path: str) -> JournalError | None:
    """The :class:`JournalError` a DuckDB or OS error stands for, or None for other errors."""
    if isinstance(exc, JournalError):
        return exc
    text = str(exc)
    low = text.lower()
    if isinstance(exc, OSError) and exc.errno is not None:
        return JournalUnavailableError(path, _os_detail(exc))
    for needle, detail in _UNAVAILABLE:
        if needle in low:
            return JournalUnavailableError(path, detail, _first_line(text))
    if any(needle in low for needle in _CORRUPT):
        return JournalCorruptError(path, _first_line(text))
    return None


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else text

"""The step log: an append-only file in front of a DuckDB journal's ``steps`` table.

A step record is the journal's most frequent write, and DuckDB's commit of one row is
mostly CPU (binding, planning and appending a statement: 1-2 ms here) before its fsync.
So a transaction that only inserts step records is made durable by appending it to
``<journal>.steplog`` and ``fdatasync``-ing that file (a fraction of a millisecond); its
future resolves then, exactly as it would after a DuckDB commit. The rows reach DuckDB
later, many at a time in one statement (:meth:`DuckDBJournal._apply
<polos_nb.engine.journal._duckdb.DuckDBJournal>`): before any other write or read of the
journal (so every read still sees every write submitted before it), when the writer has
been idle for a moment, when many rows are pending, and on close. After a clean close the
log is gone and the ``.duckdb`` file holds everything.

After a crash, whoever opens the journal next inserts the log's rows that DuckDB does not
have yet (a step row's ``seq`` is unique in a journal) before anything reads it, then
empties the log. That makes replaying the log idempotent: a crash during an apply, or
after an apply but before the log was emptied, replays rows DuckDB already has, and they
are skipped.

Format: records of ``<length:u32><crc32:u32><payload>``, little-endian, where the payload
is JSON: ``{"t": table, "c": [columns], "r": [[values], ...]}``. Datetimes are written as
``{"$dt": isoformat}``. A record whose length or checksum does not match is a write the
crash interrupted (it was never acknowledged): reading stops there.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import struct
import zlib
from collections.abc import Sequence
from typing import Any

from ._interface import Insert

__all__ = ["LOG_SUFFIX", "StepLog", "log_path", "loggable", "read_records"]

LOG_SUFFIX = ".steplog"
LOGGED_TABLE = "steps"
_HEADER = struct.Struct("<II")
_datasync = getattr(os, "fdatasync", os.fsync)  # macOS has no fdatasync


def log_path(journal_path: str) -> str:
    """The step log that belongs to the journal file ``journal_path``."""
    return journal_path + LOG_SUFFIX


def loggable(ops: Sequence[Any]) -> bool:
    """True for a transaction the step log may take: step records only, no conflict clause.

    Such a transaction cannot fail in DuckDB for any reason but the file itself (the
    ``steps`` table has no key or unique constraint, and the engine writes every column's
    type), so acknowledging it once it is in the log promises nothing DuckDB could refuse.
    """
    if not ops:
        return False
    for op in ops:
        if type(op) is not Insert or op.table != LOGGED_TABLE or op.on_conflict:
            return False
    return True


def _default(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return {"$dt": value.isoformat()}
    raise TypeError(f"a step record column holds {type(value).__name__}, which the log cannot hold")


def _hook(obj: dict[str, Any]) -> Any:
    if len(obj) == 1 and "$dt" in obj:
        return dt.datetime.fromisoformat(obj["$dt"])
    return obj


def encode(ops: Sequence[Insert]) -> bytes:
    """One record holding ``ops`` (inserts of one table; columns may differ per op)."""
    groups: list[dict[str, Any]] = []
    for op in ops:
        if groups and groups[-1]["c"] == op.columns and groups[-1]["t"] == op.table:
            groups[-1]["r"].append(op.values)
        else:
            groups.append({"t": op.table, "c": op.columns, "r": [op.values]})
    payload = json.dumps(groups, default=_default, separators=(",", ":")).encode()
    return _HEADER.pack(len(payload), zlib.crc32(payload)) + payload


def read_records(data: bytes) -> tuple[list[Insert], int]:
    """The step inserts of every whole record in ``data``, and the length they span.

    Reading stops at the first record that is cut short or fails its checksum: the write
    a crash interrupted, never acknowledged.
    """
    rows: list[Insert] = []
    offset = 0
    while offset + _HEADER.size <= len(data):
        length, crc = _HEADER.unpack_from(data, offset)
        start = offset + _HEADER.size
        payload = data[start : start + length]
        if len(payload) < length or zlib.crc32(payload) != crc:
            break
        try:
            groups = json.loads(payload, object_hook=_hook)
        except ValueError:
            break
        for group in groups:
            columns = tuple(group["c"])
            rows.extend(Insert(group["t"], columns, tuple(values)) for values in group["r"])
        offset = start + length
    return rows, offset


class StepLog:
    """The open step log of one journal (used on the journal's writer thread only)."""

    def __init__(self, path: str) -> None:
        self.path = path
        existed = os.path.exists(path)
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
        self.size = os.fstat(self._fd).st_size
        if not existed:  # the file's name must survive a crash too, before anything relies on it
            _fsync_dir(os.path.dirname(os.path.abspath(path)))

    def read(self) -> list[Insert]:
        """Every step insert the log holds (from its start)."""
        if self.size == 0:
            return []
        with open(self.path, "rb") as f:
            data = f.read(self.size)
        rows, _ = read_records(data)
        return rows

    def append(self, ops: Sequence[Insert]) -> None:
        """Append one record and make it durable (``fdatasync``). On failure the log is cut
        back to where it was, so no partial record stays in front of later ones."""
        record = encode(ops)
        before = self.size
        try:
            written = os.write(self._fd, record)
            if written != len(record):
                raise OSError(f"short write to the step log ({written} of {len(record)} bytes)")
            _datasync(self._fd)
        except BaseException:
            try:
                os.ftruncate(self._fd, before)
            except OSError:
                pass
            raise
        self.size = before + len(record)

    def clear(self) -> None:
        """Empty the log once its rows are in DuckDB. Not synced: should the cut be lost in
        a crash, replaying rows DuckDB already has skips them."""
        if self.size:
            os.ftruncate(self._fd, 0)
            self.size = 0

    def close(self, *, remove: bool) -> None:
        """Close the file; ``remove`` deletes it (every row it held is in DuckDB)."""
        try:
            os.close(self._fd)
        finally:
            if remove:
                try:
                    os.unlink(self.path)
                except FileNotFoundError:
                    pass


def _fsync_dir(directory: str) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)

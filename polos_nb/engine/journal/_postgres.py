"""The PostgreSQL journal: the journal interface on a PostgreSQL database, with psycopg 3.

Processes share a journal database as its workers (``_pg_workers``: claims, leases,
wake-ups). With ``POLOS_JOURNAL_SHARED=0`` one process owns it at a time instead, as with a
DuckDB file: the owner holds a session-level advisory lock on a connection of its own for
as long as the journal is open, and a second owner gets :class:`JournalLockedError` — or,
with ``POLOS_JOURNAL_WAIT`` (seconds, or ``forever``), waits for the owner to go and then
takes over its runs (a hot standby). Writes and the engine's reads run in
order on one writer thread and one connection (read-your-writes, as the interface asks);
users' ``%polos sql`` runs in read-only transactions on connections of its own.

The tables are those of ``_migrations`` (the same numbered migrations as DuckDB, with
``DOUBLE`` spelt ``DOUBLE PRECISION``); JSON columns are ``json`` (the text is kept as
written) and come back as text. The engine's reads are the SQL of ``_queries``, which is
written to run on both databases (``?`` placeholders become psycopg's ``%s``).

A connection that breaks (the server restarts, the network drops) makes the write that
was running fail with :class:`JournalUnavailableError`: the engine holds its runs and calls
:meth:`probe` until a new connection works, then goes on from the last committed step.
"""

from __future__ import annotations

import concurrent.futures
import logging
import os
import queue
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from polos_nb.config import redact_url
from polos_nb.errors import (
    JournalError,
    JournalLockedError,
    JournalUnavailableError,
    JournalVersionError,
    UserError,
)

from . import _queries
from ._interface import (
    ChannelRunRow,
    Delete,
    EventRow,
    ExecutionRow,
    History,
    InfoRow,
    Insert,
    Journal,
    Op,
    OutcomeRow,
    Recovery,
    Reload,
    RunJournal,
    ScheduleRow,
    StepRow,
    SuspensionRow,
    TopicSeqConflict,
    Update,
    UpdateWhere,
)
from ._migrations import MIGRATIONS, SCHEMA_VERSION
from ._pg_workers import CHANNEL, SETUP_LOCK, WorkerSeat, shared_mode
from ._readonly import check_read_only

__all__ = ["PostgresJournal", "postgres_migration_sql"]

T = TypeVar("T")
log = logging.getLogger("polos_nb.engine")

# The advisory lock that marks a database's journal owner (any fixed 64-bit number).
_OWNER_LOCK = 0x706F6C6F735F6E62  # "polos_nb"
_GROUP_MAX = 256  # submissions merged into one transaction at most
_OWNER_GRACE = 2.0  # seconds a previous owner's ending session may still hold the lock


def postgres_migration_sql(statement: str) -> str:
    """A migration statement from ``_migrations`` (written for DuckDB) as PostgreSQL runs it."""
    return re.sub(r"\bDOUBLE\b(?!\s+PRECISION)", "DOUBLE PRECISION", statement)


def _placeholders(sql: str) -> str:
    """DuckDB's ``?`` parameters as psycopg's ``%s`` (and a literal ``%`` as ``%%``).

    A list parameter (``unnest(?)``) gets PostgreSQL's array type, which DuckDB infers.
    """
    return sql.replace("%", "%%").replace("unnest(?)", "unnest(?::text[])").replace("?", "%s")


class _Cursor:
    """What ``_queries`` needs of a connection: ``execute(sql, params)`` with ``?`` marks."""

    def __init__(self, conn: Any) -> None:
        self._conn = conn

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self._conn.execute(_placeholders(sql), list(params))


class _QueryCursor:
    """A psycopg cursor with DuckDB's ``fetchdf()`` too (``%polos sql`` shows a DataFrame)."""

    def __init__(self, cursor: Any) -> None:
        self._cursor = cursor
        self.description = cursor.description

    def fetchall(self) -> list[Any]:
        return list(self._cursor.fetchall())

    def fetchone(self) -> Any:
        return self._cursor.fetchone()

    def fetchdf(self) -> Any:
        import pandas as pd

        columns = [d.name for d in self.description or []]
        return pd.DataFrame(self.fetchall(), columns=columns)


@dataclass(slots=True)
class _Job:
    ops: Sequence[Op] | None = None
    reader: Callable[[Any], Any] | None = None
    probe: bool = False
    future: concurrent.futures.Future[Any] = field(default_factory=concurrent.futures.Future)


def _psycopg() -> Any:
    try:
        import psycopg
    except ImportError as exc:
        raise JournalError(
            f"A PostgreSQL journal needs psycopg ({exc}): pip install 'polos_nb[postgres]'."
        ) from None
    return psycopg


class PostgresJournal(Journal):
    """Owns a PostgreSQL journal database (see the module docstring).

    Args:
        url: ``postgresql://user[:password]@host:port/database`` (libpq's URL; parameters
            such as ``?sslmode=require`` pass through).
        connect_timeout: seconds to wait for the server when connecting.
    """

    def __init__(
        self, url: str, *, connect_timeout: float = 10.0, shared: bool | None = None
    ) -> None:
        self.path = url
        self.display = redact_url(url)
        self.fault_hook: Callable[[str, int], None] | None = None
        self.write_hook: Callable[[list[Any]], None] | None = None
        self.read_hook: Callable[[str], None] | None = None
        self.commits = 0
        self._timeout = connect_timeout
        self._pg = _psycopg()
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._closing = False
        self._conn: Any = None
        self._owner: Any = None
        self._readers: concurrent.futures.ThreadPoolExecutor | None = None
        self._readers_lock = threading.Lock()
        self.seat: WorkerSeat | None = None
        """This process's place among the journal's workers (``_pg_workers``), or None for a
        single owner (``POLOS_JOURNAL_SHARED=0``)."""
        if shared if shared is not None else shared_mode():
            self.seat = WorkerSeat(lambda: self._connect(autocommit=True), self.display, self._pg)
        else:
            self._own()  # raises JournalLockedError / JournalUnavailableError before any thread
        try:
            self._conn = self._connect()
            self._migrate(self._conn)
            if self.seat is not None:
                self.seat.join()
        except BaseException:
            self._drop_connection()
            self._release_owner()
            raise
        self._thread = threading.Thread(
            target=self._writer, name="polos-journal-postgres", daemon=True
        )
        self._thread.start()

    # ------------------------------------------------------------------ connections
    def _connect(self, *, autocommit: bool = False) -> Any:
        pg = self._pg
        try:
            conn = pg.connect(
                self.path,
                autocommit=autocommit,
                connect_timeout=max(1, int(self._timeout)),
                application_name=f"polos_nb {os.getpid()}",
            )
        except pg.OperationalError as exc:
            raise JournalUnavailableError(
                self.display, f"cannot connect to the PostgreSQL server ({_first_line(exc)})"
            ) from None
        # JSON columns come back as the text that was written (typed JSON, see _serde).
        text_loader = pg.types.string.TextLoader
        conn.adapters.register_loader("json", text_loader)
        conn.adapters.register_loader("jsonb", text_loader)
        return conn

    def _own(self) -> None:
        wait = _wait_seconds()
        owner = self._connect(autocommit=True)
        # A previous owner's session ends a moment after its process closed the socket (or
        # died): give it that moment before calling the journal taken. A standby
        # (POLOS_JOURNAL_WAIT) waits longer: it takes over when the owner goes.
        deadline = time.monotonic() + max(_OWNER_GRACE, wait)
        while True:
            got = owner.execute("SELECT pg_try_advisory_lock(%s)", [_OWNER_LOCK]).fetchone()[0]
            if got or time.monotonic() >= deadline:
                break
            time.sleep(0.1)
        if not got:
            # The owner's session names its process (application_name "polos_nb <pid>").
            row = owner.execute(
                "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a"
                " ON a.pid = l.pid WHERE l.locktype = 'advisory' AND l.granted"
                " AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"
                " AND (l.classid::bigint << 32 | l.objid::bigint) = %s",
                [_OWNER_LOCK],
            ).fetchone()
            owner.close()
            match = re.fullmatch(r"polos_nb (\d+)", row[0] or "") if row else None
            raise JournalLockedError(self.display, int(match.group(1)) if match else None)
        self._owner = owner

    def _release_owner(self) -> None:
        if self._owner is not None:
            try:
                # Released now, not when the server gets round to ending the session.
                self._owner.execute("SELECT pg_advisory_unlock(%s)", [_OWNER_LOCK])
            except Exception:
                pass
            try:
                self._owner.close()
            except Exception:
                pass
            self._owner = None

    def _migrate(self, conn: Any) -> None:
        with conn.transaction():
            # Workers starting together migrate one at a time.
            conn.execute("SELECT pg_advisory_xact_lock(%s)", [SETUP_LOCK])
            conn.execute(
                "CREATE TABLE IF NOT EXISTS polos_schema_migrations ("
                " version INTEGER PRIMARY KEY, name VARCHAR NOT NULL,"
                " applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
            )
            row = conn.execute("SELECT max(version) FROM polos_schema_migrations").fetchone()
            current = row[0] or 0
            if current > SCHEMA_VERSION:
                raise JournalVersionError(self.display, current, SCHEMA_VERSION)
            for version, name, statements in MIGRATIONS:
                if version <= current:
                    continue
                for statement in statements:
                    conn.execute(postgres_migration_sql(statement))
                conn.execute(
                    "INSERT INTO polos_schema_migrations (version, name) VALUES (%s, %s)",
                    [version, name],
                )

    # ------------------------------------------------------------------ writing
    def submit(self, ops: Sequence[Op]) -> concurrent.futures.Future[None]:
        """Apply ``ops`` in one transaction; the future resolves once it committed."""
        job = _Job(ops=ops)
        self._put(job)
        return job.future

    def probe(self) -> concurrent.futures.Future[None]:
        """Resolves once a (new) connection to the server takes a transaction again."""
        job = _Job(probe=True)
        self._put(job)
        return job.future

    def read(self, reader: Callable[[Any], T]) -> concurrent.futures.Future[T]:
        """Run ``reader(cursor)`` on the writer thread after all earlier writes (tests, maintenance)."""
        job = _Job(reader=reader)
        self._put(job)
        return job.future

    def _put(self, job: _Job) -> None:
        if self._closing:
            job.future.set_exception(JournalError(f"The journal {self.display} is closed."))
            return
        self._queue.put(job)

    def _writer(self) -> None:
        carry: _Job | None = None
        stop = False
        while True:
            if carry is not None:
                job, carry = carry, None
            elif stop:
                return
            else:
                got = self._queue.get()
                if got is None:
                    return
                job = got
            if not job.future.set_running_or_notify_cancel():
                continue
            if job.ops is None:
                self._complete(job)
                continue
            # Group commit: writes queued behind this one share its transaction (one fsync).
            batch = [job]
            while len(batch) < _GROUP_MAX:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    stop = True
                    break
                if nxt.ops is None:  # a read or a probe: after this batch, in order
                    carry = nxt
                    break
                if nxt.future.set_running_or_notify_cancel():
                    batch.append(nxt)
            if len(batch) == 1:
                self._complete(job)
                continue
            try:
                self._run(_Job(ops=[op for j in batch for op in (j.ops or [])]))
            except JournalUnavailableError as exc:
                for j in batch:
                    j.future.set_exception(exc)
            except BaseException:
                for j in batch:  # one submission was refused: each alone, so only it fails
                    self._complete(j)
            else:
                for j in batch:
                    j.future.set_result(None)

    def _complete(self, job: _Job) -> None:
        try:
            result = self._run(job)
        except BaseException as exc:
            job.future.set_exception(exc)
        else:
            job.future.set_result(result)

    def _run(self, job: _Job) -> Any:
        pg = self._pg
        if self._conn is None or self._conn.closed or self._conn.broken:
            self._reconnect()
        conn = self._conn
        try:
            if job.probe:
                with conn.transaction():
                    if self.seat is not None:
                        self.seat.fence_check(conn)
                    conn.execute("SELECT 1")
                return None
            if job.reader is not None:
                if self.read_hook is not None:
                    self.read_hook(getattr(job.reader, "__name__", "read"))
                with conn.transaction():
                    return job.reader(_Cursor(conn))
            return self._transaction(conn, list(job.ops or []))
        except (pg.OperationalError, pg.InterfaceError) as exc:
            self._drop_connection()
            raise JournalUnavailableError(
                self.display, f"the PostgreSQL server connection broke ({_first_line(exc)})"
            ) from None
        except pg.errors.UniqueViolation as exc:
            if "events_topic_seq" in str(exc):
                raise TopicSeqConflict(
                    f"Another worker numbered an event on the same topic at the same time "
                    f"({_first_line(exc)})."
                ) from None
            raise JournalError(
                f"The PostgreSQL journal {self.display} refused a write: {str(exc).strip()}"
            ) from None
        except pg.Error as exc:
            raise JournalError(
                f"The PostgreSQL journal {self.display} refused a write: {str(exc).strip()}"
            ) from None

    def _reconnect(self) -> None:
        self._drop_connection()
        if self.seat is None and not self._owner_alive():
            # The server restarted: the owner session, and its lock, went with it.
            self._release_owner()
            self._own()
        self._conn = self._connect()

    def _owner_alive(self) -> bool:
        if self._owner is None or self._owner.closed:
            return False
        try:
            self._owner.execute("SELECT 1")
        except self._pg.Error:
            return False
        return True

    def _drop_connection(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except Exception:
                pass
            self._conn = None

    def _transaction(self, conn: Any, ops: list[Op]) -> None:
        if self.write_hook is not None:
            self.write_hook(ops)
        with conn.transaction():
            seat = self.seat
            if seat is not None:
                seat.fence_check(conn)
            for op in ops:
                sql, params = _statement(op)
                conn.execute(sql, params)
            if seat is not None:
                for note in seat.notifications(ops):  # delivered when this commits
                    conn.execute("SELECT pg_notify(%s, %s)", [CHANNEL, note])
            n = self.commits + 1
            if self.fault_hook is not None:
                self.fault_hook("before_commit", n)
        self.commits = n
        if self.fault_hook is not None:
            self.fault_hook("after_commit", n)

    # ------------------------------------------------------------------ users' SQL
    def query(
        self, sql: str, fetch: Callable[[Any], Any] | None = None
    ) -> concurrent.futures.Future[Any]:
        """Run a user's read-only SQL in a read-only transaction on its own connection."""
        check_read_only(sql)
        if self._closing:
            raise JournalError(f"The journal {self.display} is closed.")
        with self._readers_lock:
            if self._readers is None:
                self._readers = concurrent.futures.ThreadPoolExecutor(
                    max_workers=2, thread_name_prefix="polos-journal-query"
                )
            pool = self._readers
        return pool.submit(self._run_query, sql, fetch)

    def _run_query(self, sql: str, fetch: Callable[[Any], Any] | None) -> Any:
        pg = self._pg
        conn = self._connect()
        try:
            conn.execute("SET TRANSACTION READ ONLY")
            cursor = _QueryCursor(conn.execute(sql))
            return fetch(cursor) if fetch is not None else cursor.fetchall()
        except pg.errors.ReadOnlySqlTransaction as exc:
            raise UserError(
                f"%polos sql only reads the journal; PostgreSQL refused a write: {exc}"
            ) from None
        except (pg.OperationalError, pg.InterfaceError) as exc:
            raise JournalUnavailableError(
                self.display, f"the PostgreSQL server cannot be reached ({_first_line(exc)})"
            ) from None
        except pg.Error as exc:
            raise UserError(f"SQL error: {str(exc).strip()}") from None
        finally:
            conn.close()

    # ------------------------------------------------------------------ closing
    def close(self) -> None:
        """Finish queued work, close the connections and release ownership."""
        if self._closing:
            return
        self._closing = True
        self._queue.put(None)
        self._thread.join(timeout=30)
        with self._readers_lock:
            if self._readers is not None:
                self._readers.shutdown(wait=True, cancel_futures=True)
        if self.seat is not None:
            conn = self._conn
            if conn is None or conn.closed or conn.broken:
                try:
                    conn = self._conn = self._connect()
                except JournalError:
                    conn = None
            self.seat.leave(conn)
        self._drop_connection()
        self._release_owner()

    # ------------------------------------------------------------------ several workers
    @property
    def worker_id(self) -> str | None:
        """This worker's id among the workers sharing the journal; None for a single owner."""
        return self.seat.id if self.seat is not None else None

    def claim(
        self, workflow_ids: Sequence[str], limit: int
    ) -> concurrent.futures.Future[list[str]]:
        """Claim trees of runs that have no live owner (see ``_pg_workers``)."""
        seat, ids = self.seat, list(workflow_ids)
        assert seat is not None
        return self.read(lambda con: seat.claim(con._conn, ids, limit))

    def take_slot(
        self, execution_id: str, queue_name: str, concurrency_key: str, limit: int
    ) -> concurrent.futures.Future[bool]:
        """Take a queue slot for a run across all workers (see ``_pg_workers``)."""
        seat = self.seat
        assert seat is not None
        return self.read(
            lambda con: seat.take_slot(con._conn, execution_id, queue_name, concurrency_key, limit)
        )

    def requests(self) -> concurrent.futures.Future[list[tuple[str, str]]]:
        """Unanswered resumes other workers sent for runs this worker owns."""
        seat = self.seat
        assert seat is not None
        return self.read(lambda con: seat.requests(con._conn))

    def request_answer(self, request_id: str) -> concurrent.futures.Future[str | None]:
        """The answer to a request this worker sent (None while unanswered)."""

        def answer(con: Any) -> str | None:
            row = con.execute("SELECT answer FROM requests WHERE id = ?", [request_id]).fetchone()
            return None if row is None else row[0]

        return self.read(answer)

    def owned_runs(self, created_before: Any) -> concurrent.futures.Future[list[str]]:
        """Unfinished runs this worker owns that were created before ``created_before``."""
        seat = self.seat
        assert seat is not None
        return self.read(lambda con: seat.owned(con._conn, created_before))

    def owner_of(
        self, execution_id: str
    ) -> concurrent.futures.Future[tuple[str | None, bool] | None]:
        """``(owner, alive)`` of a run, or None when the journal has no such run."""
        seat = self.seat
        assert seat is not None
        return self.read(lambda con: seat.owner_of(con._conn, execution_id))

    # ------------------------------------------------------------------ the interface's reads
    def recovery(self) -> concurrent.futures.Future[Recovery]:
        return self.read(_queries.recovery)

    def run_journal(self, execution_id: str) -> concurrent.futures.Future[RunJournal]:
        return self.read(lambda con: _queries.run_journal(con, execution_id))

    def reload(self, execution_id: str) -> concurrent.futures.Future[Reload]:
        return self.read(lambda con: _queries.reload(con, execution_id))

    def execution(self, execution_id: str) -> concurrent.futures.Future[ExecutionRow | None]:
        return self.read(lambda con: _queries.execution(con, execution_id))

    def info(self, execution_id: str) -> concurrent.futures.Future[InfoRow | None]:
        return self.read(lambda con: _queries.info(con, execution_id))

    def list_infos(
        self,
        *,
        workflow_id: str | None = None,
        status: str | None = None,
        root_only: bool = False,
        limit: int = 100,
    ) -> concurrent.futures.Future[list[InfoRow]]:
        return self.read(
            lambda con: _queries.list_infos(
                con, workflow_id=workflow_id, status=status, root_only=root_only, limit=limit
            )
        )

    def tree_infos(self, root_execution_id: str) -> concurrent.futures.Future[list[InfoRow]]:
        return self.read(lambda con: _queries.tree_infos(con, root_execution_id))

    def find_ids(self, prefix: str, limit: int = 3) -> concurrent.futures.Future[list[str]]:
        return self.read(lambda con: _queries.find_ids(con, prefix, limit))

    def outcomes(self, execution_ids: Sequence[str]) -> concurrent.futures.Future[list[OutcomeRow]]:
        ids = list(execution_ids)
        return self.read(lambda con: _queries.outcomes(con, ids))

    def run_counts(self) -> concurrent.futures.Future[dict[str, int]]:
        return self.read(_queries.run_counts)

    def root_infos(
        self, *, status: str | None = None, offset: int = 0, limit: int = 100
    ) -> concurrent.futures.Future[list[InfoRow]]:
        return self.read(
            lambda con: _queries.root_infos(con, status=status, offset=offset, limit=limit)
        )

    def tree_step_outputs(
        self, root_execution_ids: Sequence[str], key_prefix: str
    ) -> concurrent.futures.Future[list[tuple[str, str | None]]]:
        ids = list(root_execution_ids)
        return self.read(lambda con: _queries.tree_step_outputs(con, ids, key_prefix))

    def pending_counts(
        self, root_execution_ids: Sequence[str]
    ) -> concurrent.futures.Future[dict[str, int]]:
        ids = list(root_execution_ids)
        return self.read(lambda con: _queries.pending_counts(con, ids))

    def steps(self, execution_id: str) -> concurrent.futures.Future[list[StepRow]]:
        return self.read(lambda con: _queries.steps(con, execution_id))

    def tree_steps(
        self, root_execution_id: str, after_seq: int = 0
    ) -> concurrent.futures.Future[list[StepRow]]:
        return self.read(lambda con: _queries.tree_steps(con, root_execution_id, after_seq))

    def max_topic_seq(self, topic: str) -> concurrent.futures.Future[int]:
        return self.read(lambda con: _queries.max_topic_seq(con, topic))

    def topic_events(
        self, topic: str, after_topic_seq: int = 0, limit: int | None = None
    ) -> concurrent.futures.Future[list[EventRow]]:
        return self.read(lambda con: _queries.topic_events(con, topic, after_topic_seq, limit))

    def events_since(
        self, topic: str, after_seq: int = 0
    ) -> concurrent.futures.Future[list[EventRow]]:
        return self.read(lambda con: _queries.events_since(con, topic, after_seq))

    def history(
        self, root_execution_id: str, topic: str, after_seq: int = 0
    ) -> concurrent.futures.Future[History]:
        return self.read(lambda con: _queries.history(con, root_execution_id, topic, after_seq))

    def pending_suspensions(
        self, run_id: str | None = None
    ) -> concurrent.futures.Future[list[SuspensionRow]]:
        return self.read(lambda con: _queries.pending_suspensions(con, run_id))

    def channel_context(self, execution_id: str) -> concurrent.futures.Future[str | None]:
        return self.read(lambda con: _queries.channel_context(con, execution_id))

    def channel_runs(
        self, active_only: bool = True
    ) -> concurrent.futures.Future[list[ChannelRunRow]]:
        return self.read(lambda con: _queries.channel_runs(con, active_only))

    def started_by_key(self, key: str) -> concurrent.futures.Future[ExecutionRow | None]:
        return self.read(lambda con: _queries.started_by_key(con, key))

    def trigger_cursor(self, workflow_id: str, topic: str) -> concurrent.futures.Future[int | None]:
        return self.read(lambda con: _queries.trigger_cursor(con, workflow_id, topic))

    def schedule(self, workflow_id: str, key: str) -> concurrent.futures.Future[ScheduleRow | None]:
        return self.read(lambda con: _queries.schedule(con, workflow_id, key))

    def schedules(
        self, workflow_id: str | None = None
    ) -> concurrent.futures.Future[list[ScheduleRow]]:
        return self.read(lambda con: _queries.schedules(con, workflow_id))


def _wait_seconds() -> float:
    """``$POLOS_JOURNAL_WAIT``: how long to wait for a journal another process owns."""
    text = os.environ.get("POLOS_JOURNAL_WAIT", "").strip().lower()
    if not text:
        return 0.0
    if text in ("inf", "forever"):
        return float("inf")
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0:
        raise UserError(
            f"POLOS_JOURNAL_WAIT must be a number of seconds or 'forever' (got {text!r})."
        )
    return value


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _statement(op: Op) -> tuple[str, list[Any]]:
    """One row operation as a PostgreSQL statement with ``%s`` parameters."""
    if type(op) is Insert:
        marks = ", ".join(["%s"] * len(op.columns))
        conflict = " ON CONFLICT DO NOTHING" if op.on_conflict else ""
        return (
            f"INSERT INTO {op.table} ({', '.join(op.columns)}) VALUES ({marks}){conflict}",
            list(op.values),
        )
    if type(op) is Update:
        sets = ", ".join(f"{c} = %s" for c in op.columns)
        return (
            f"UPDATE {op.table} SET {sets} WHERE {op.key_column} = %s",
            [*op.values, op.key],
        )
    if type(op) is UpdateWhere:
        sets = ", ".join(f"{c} = %s" for c in op.columns)
        conds = [f"{c} = %s" for c, _ in op.where] + [f"{c} IS NULL" for c in op.where_null]
        return (
            f"UPDATE {op.table} SET {sets} WHERE {' AND '.join(conds)}",
            [*op.values, *(v for _, v in op.where)],
        )
    if type(op) is Delete:
        conds = [f"{c} = %s" for c, _ in op.where]
        return f"DELETE FROM {op.table} WHERE {' AND '.join(conds)}", [v for _, v in op.where]
    raise TypeError(f"{op!r} is not a journal row operation")

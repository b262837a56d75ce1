"""The DuckDB journal: one connection, one writer thread, group commit.

This is the only module that imports ``duckdb``. Every statement runs on the writer
thread, in submission order. Submissions that queue up while a commit is in flight are
merged into the next transaction (group commit): consecutive inserts into one table
become one multi-row ``INSERT``. A submission's future resolves only once its
transaction is durable, so a step the engine reports as done is on disk. If a merged
transaction fails, each submission is retried alone so one bad write cannot sink the
others.

With the step log on (``POLOS_JOURNAL_STEPLOG=1``, off by default), transactions of step
records only are made durable in ``<journal>.steplog`` (``_steplog``: an append and an
``fdatasync``) and reach DuckDB later, many rows in one statement, always before any other
write or read runs; every other transaction is a DuckDB commit (DuckDB fsyncs its WAL).
Whatever the setting, opening a journal writes in the rows of a step log a crashed process
left behind.

Users' own SQL (``%polos sql``) never runs on the writer: :meth:`DuckDBJournal.query`
runs it on a separate connection and thread, in a read-only transaction, so a slow
query does not hold up commits. Closing the journal checkpoints it, so a closed journal
is one self-contained ``.duckdb`` file (no ``.wal`` or ``.steplog`` beside it) that can be
copied.
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

from polos_nb.config import MEMORY
from polos_nb.errors import (
    JournalCorruptError,
    JournalError,
    JournalLockedError,
    JournalUnavailableError,
    JournalVersionError,
    UserError,
)

from . import _files, _queries, _steplog
from ._interface import (
    ChannelRunRow,
    Delete,
    EventRow,
    ExecutionRow,
    History,
    InfoRow,
    Insert,
    Journal,
    OutcomeRow,
    Recovery,
    Reload,
    RunJournal,
    ScheduleRow,
    StepRow,
    SuspensionRow,
    Update,
    UpdateWhere,
)
from ._migrations import MIGRATIONS, SCHEMA_VERSION
from ._readonly import check_read_only

__all__ = ["DuckDBJournal", "Sql", "read_journal", "read_journal_reads"]

T = TypeVar("T")

ENGINE_TURN_SECONDS = 0.005
"""How long the writer waits, after a group whose outcomes went to the engine, for the
engine to hand the turn back (:meth:`DuckDBJournal.engine_done`) before it commits what
queued meanwhile without the engine's follow-up writes."""

LOCK_RETRY_SECONDS = 1.5
"""How long opening a journal retries while another process holds it. A reader such as
the JupyterLab server extension (``read_journal``) holds a journal at rest for a few
milliseconds; a kernel opening it at that moment waits instead of failing."""

APPLY_IDLE_SECONDS = 0.005
"""How long the writer waits with step-log rows pending and nothing to do before it applies
them to DuckDB (it applies them at once when any other write or a read comes). Short, so
that the ``.duckdb`` file lags the log only during bursts of quick steps: a tool reading
the file directly after a crash (before polos_nb opens it again) misses at most those."""

APPLY_ROWS = 4096
"""Pending step-log rows that make the writer apply them to DuckDB without waiting. While
DuckDB refuses them (a full disk), new step records are refused too once this many wait."""

APPLY_RETRY_SECONDS = 0.5
"""How often the writer, idle, tries again to apply rows DuckDB refused."""

STEPLOG_ENV = "POLOS_JOURNAL_STEPLOG"
"""Set to ``1`` to put the step log in front of DuckDB journals opened from then on."""


def steplog_from_env() -> bool:
    """Whether ``POLOS_JOURNAL_STEPLOG`` asks for the step log (``1``, ``true``, ``yes``, ``on``)."""
    return os.environ.get(STEPLOG_ENV, "").strip().lower() in ("1", "true", "yes", "on")


log = logging.getLogger("polos_nb.engine")


@dataclass(slots=True)
class Sql:
    """Run one statement with parameters (DuckDB only: the engine never writes SQL; the
    backend's own maintenance and tests use it)."""

    sql: str
    params: Sequence[Any] = ()


DuckOp = Insert | Update | UpdateWhere | Delete | Sql


class _JobFuture(concurrent.futures.Future[Any]):
    """A job's future. Its waiter may give up (a cancelled task cancels it); the job still
    runs and settling it then must not kill the writer thread."""

    def set_result(self, result: Any) -> None:
        try:
            super().set_result(result)
        except concurrent.futures.InvalidStateError:
            if not self.cancelled():
                raise

    def set_exception(self, exception: BaseException | None) -> None:
        try:
            super().set_exception(exception)
        except concurrent.futures.InvalidStateError:
            if not self.cancelled():
                raise


@dataclass(slots=True)
class _Job:
    ops: Sequence[DuckOp] | None = None
    reader: Callable[[Any], Any] | None = None
    future: concurrent.futures.Future[Any] = field(default_factory=_JobFuture)


_STOP = object()
_PID_RE = re.compile(r"PID (\d+)")
_CONFIG: dict[str, str | bool | int | float | list[str]] = {
    # Nothing is downloaded at run time: a SQLite file or an http:// path must not make
    # DuckDB fetch an extension.
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
    # One thread: a journal write is one small statement, and DuckDB wakes its worker
    # threads for every statement. Measured on 2 cores: a one-row INSERT took 1.66 ms of
    # CPU and 2.6 ms wall with the default (one thread per core), 1.3 ms and 1.4 ms with
    # one; with 32 concurrent workflows, 7-18% less CPU per step on the writer. Users' own
    # queries (``query``, ``%polos sql``) run single-threaded too: journals are small.
    "threads": 1,
}


class DuckDBJournal(Journal):
    """Owns the DuckDB file. Use :meth:`submit` for writes and :meth:`read` for queries.

    Args:
        path: file path, or ``":memory:"``.
        steplog: put the step log (``_steplog``) in front of DuckDB for step records: a
            step is durable after an append and an fdatasync of ``<path>.steplog`` instead
            of a DuckDB commit (several times faster per step), and its row reaches the
            ``.duckdb`` file moments later. The price: after a crash, a tool that opens the
            ``.duckdb`` file directly, before polos_nb has opened it again, misses the last
            steps (polos_nb's own openers write them in first). ``None`` (default): the
            ``POLOS_JOURNAL_STEPLOG`` environment variable decides, off when unset. Ignored
            for ``":memory:"``.

    Attributes:
        fault_hook: test seam for fault injection; when set it is called on the writer
            thread as ``fault_hook("before_commit", n)`` and ``fault_hook("after_commit", n)``
            around the n-th commit (``polos_nb.testing.kill_at_commit`` uses it).
        write_hook: test seam at the write boundary; when set it is called with the ops of
            every transaction before they run, and an exception it raises fails that
            transaction as if the file had refused it (``polos_nb.testing.refuse_writes``).
        read_hook: test seam for reads; when set, every statement an engine read runs is
            first passed to it, and an exception it raises fails that read
            (``polos_nb.testing.refuse_reads``).
        commits: number of transactions committed so far.
    """

    def __init__(self, path: str, *, steplog: bool | None = None) -> None:
        self.path = path
        self.steplog_on = (steplog_from_env() if steplog is None else steplog) and path != MEMORY
        self.fault_hook: Callable[[str, int], None] | None = None
        self.write_hook: Callable[[list[Any]], None] | None = None
        self.read_hook: Callable[[str], None] | None = None
        self.commits = 0
        self._engine_turn = threading.Event()
        self._await_engine = False
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._con: Any = None
        self._inserts: Any = None  # see _insert_connection
        self._identity: _files.FileId | None = None
        self._readers: concurrent.futures.ThreadPoolExecutor | None = None
        self._active: set[Any] = set()  # cursors of users' queries running now
        self._active_lock = threading.Lock()
        self._closing = False
        self._steplog: _steplog.StepLog | None = None  # see _steplog (files only)
        self._pending: list[Insert] = []  # rows in the step log, not yet in DuckDB
        self._apply_error: BaseException | None = None  # why DuckDB refused them last
        self.checkpointed: bool | None = None  # whether the last close checkpointed
        opened: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._thread = threading.Thread(
            target=self._main,
            args=(opened,),
            name=f"polos-journal:{os.path.basename(path)}",
            daemon=True,
        )
        self._thread.start()
        opened.result()

    # ------------------------------------------------------------------ public API
    def submit(self, ops: Sequence[DuckOp]) -> concurrent.futures.Future[None]:
        """Write ``ops`` atomically; the future resolves after the commit."""
        job = _Job(ops=ops)
        self._queue.put(job)
        return job.future

    def probe(self) -> concurrent.futures.Future[None]:
        """A tiny write that leaves nothing behind: resolves once the journal takes writes."""
        return self.submit(
            [
                Sql("INSERT INTO polos_schema_migrations VALUES (-1, 'write probe', now())"),
                Sql("DELETE FROM polos_schema_migrations WHERE version = -1"),
            ]
        )

    def read(self, reader: Callable[[Any], T]) -> concurrent.futures.Future[T]:
        """Run ``reader(connection)`` on the writer thread after all earlier writes.

        DuckDB only (tests and maintenance); the engine uses the interface's named reads.
        """
        job = _Job(reader=reader)
        self._queue.put(job)
        return job.future

    def expect_engine(self) -> None:
        """The outcomes being settled now go to the engine loop in one batch (called on the
        settling thread, ``polos_nb.engine._delivery``). If this group held several
        submissions, the writer then waits for :meth:`engine_done`, at most
        ``ENGINE_TURN_SECONDS``, before it takes the next: the runs those outcomes resume
        commit their next steps together with the writes queued meanwhile (one statement,
        one fsync) instead of in a group of their own. After a lone submission it does not
        wait: one run's next write would only arrive later than by the queue."""
        self._engine_turn.clear()
        self._await_engine = True

    def engine_done(self) -> None:
        """The engine has run what the last batch of outcomes resumed (any thread)."""
        self._engine_turn.set()

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

    def query(
        self, sql: str, fetch: Callable[[Any], Any] | None = None
    ) -> concurrent.futures.Future[Any]:
        """Run a user's read-only SQL on its own connection and thread; never stalls writes.

        ``sql`` is checked first (see ``polos_nb.engine.journal._readonly``): a text with a
        statement that is not a query raises :class:`UserError` and nothing runs. The
        accepted text runs in a read-only transaction on a fresh cursor, outside the writer
        thread, and sees the journal as of its start. ``fetch(cursor)`` turns the result
        into the future's value (default: ``fetchall()``). Errors: :class:`UserError` for
        SQL mistakes, :class:`JournalError` subclasses for the file.
        """
        check_read_only(sql)
        if self._closing or not self._thread.is_alive():
            raise JournalError(f"The journal {self.path} is closed.")
        cursor = self.read(lambda con: con.cursor()).result()
        with self._active_lock:
            if self._readers is None:
                self._readers = concurrent.futures.ThreadPoolExecutor(
                    max_workers=2, thread_name_prefix="polos-journal-query"
                )
            self._active.add(cursor)
            pool = self._readers
        try:
            return pool.submit(self._run_query, cursor, sql, fetch)
        except RuntimeError:  # the pool shut down meanwhile: the journal is closing
            self._drop_cursor(cursor)
            raise JournalError(f"The journal {self.path} is closed.") from None

    def _run_query(self, cursor: Any, sql: str, fetch: Callable[[Any], Any] | None) -> Any:
        import duckdb

        try:
            cursor.execute("BEGIN TRANSACTION READ ONLY")
            cursor.execute(sql)
            return fetch(cursor) if fetch is not None else cursor.fetchall()
        except duckdb.Error as exc:
            raise self._query_error(exc) from None
        finally:
            self._drop_cursor(cursor)

    def _query_error(self, exc: BaseException) -> BaseException:
        text = str(exc).strip()
        if "read-only" in text.lower():
            return UserError(f"%polos sql only reads the journal; DuckDB refused a write: {text}")
        if "interrupt" in text.lower() and self._closing:
            return JournalError(f"The query was stopped because the journal {self.path} closed.")
        known = _files.classify(exc, self.path)
        if known is not None:
            return known
        return UserError(f"SQL error: {text}")

    def _drop_cursor(self, cursor: Any) -> None:
        with self._active_lock:
            self._active.discard(cursor)
        try:
            cursor.close()
        except Exception:
            pass

    def close(self) -> None:
        """Stop users' queries, finish queued work, checkpoint and release the file lock.

        After a clean close everything committed is in the ``.duckdb`` file itself (the
        checkpoint empties the ``.wal``), so the file alone is a complete copy.
        """
        self._closing = True
        with self._active_lock:
            active = list(self._active)
            pool, self._readers = self._readers, None
        for cursor in active:
            try:
                cursor.interrupt()
            except Exception:
                pass
        if pool is not None:
            pool.shutdown(wait=True)
        if self._thread.is_alive():
            self._queue.put(_STOP)
            self._thread.join()

    # ------------------------------------------------------------------ writer thread
    def _main(self, opened: concurrent.futures.Future[None]) -> None:
        try:
            self._open()
        except BaseException as exc:  # report to the opener, then end the thread
            opened.set_exception(exc)
            return
        opened.set_result(None)
        try:
            self._loop()
        finally:
            self._shutdown()

    def _shutdown(self) -> None:
        """Apply the step log, checkpoint (so the ``.duckdb`` file holds everything) and close
        the connection."""
        if self._steplog is not None:
            error = self._apply()
            if error is not None:
                log.warning(
                    "polos_nb: recent step records of the journal %s could not be written into "
                    "it on close (%s); they are in %s: keep that file next to the journal, the "
                    "next open writes them in",
                    self.path,
                    error,
                    self._steplog.path,
                )
            try:
                self._steplog.close(remove=error is None)
            except OSError:
                pass
            self._steplog = None
        if self._inserts is not None:
            try:
                self._inserts.close()
            except Exception:
                pass
            self._inserts = None
        if self.path != MEMORY:
            try:
                self._con.execute("CHECKPOINT")
                self.checkpointed = True
            except Exception as exc:
                self.checkpointed = False
                log.warning(
                    "polos_nb: the journal %s could not be checkpointed on close (%s); its "
                    ".wal file holds recent commits: keep it next to the .duckdb file",
                    self.path,
                    exc,
                )
        try:
            self._con.close()
        except Exception:
            pass
        _files.release(self._identity)
        self._identity = None

    def _open(self) -> None:
        import duckdb

        if self.path == MEMORY:
            self._con = duckdb.connect(MEMORY, config=_CONFIG)
            self._migrate()
            return
        with _files.OPEN_LOCK:
            _files.check_file(self.path)  # never hand DuckDB a file that is not a journal
            _files.check_not_open(self.path)
            try:
                os.makedirs(os.path.dirname(self.path) or ".", exist_ok=True)
                self._con = _connect_waiting(self.path, _CONFIG)
            except duckdb.IOException as exc:
                text = str(exc)
                if "lock" in text.lower() and "conflicting" in text.lower():
                    match = _PID_RE.search(text)
                    raise JournalLockedError(
                        self.path, int(match.group(1)) if match else None
                    ) from exc
                raise self._open_error(exc) from exc
            except (duckdb.Error, OSError) as exc:
                raise self._open_error(exc) from exc
            try:
                self._identity = _files.claim(self.path)
            except JournalError:
                self._con.close()
                raise
        try:
            self._migrate()
            left = _steplog.log_path(self.path)
            if self.steplog_on or os.path.exists(left):
                self._steplog = _steplog.StepLog(left)
                _replay_steplog(self._con, self._steplog.read())
                self._steplog.clear()
                if not self.steplog_on:  # a crashed process's log, written in: done with it
                    self._steplog.close(remove=True)
                    self._steplog = None
        except BaseException as exc:
            if self._steplog is not None:
                self._steplog.close(remove=False)
                self._steplog = None
            self._con.close()
            _files.release(self._identity)
            self._identity = None
            if isinstance(exc, JournalError):
                raise
            if isinstance(exc, (duckdb.Error, OSError)):
                raise self._open_error(exc) from exc
            raise

    def _open_error(self, exc: BaseException) -> JournalError:
        known = _files.classify(exc, self.path)
        if known is not None:
            return known
        return JournalCorruptError(self.path, str(exc).strip().splitlines()[0])

    def _migrate(self) -> None:
        con = self._con
        con.execute(
            "CREATE TABLE IF NOT EXISTS polos_schema_migrations ("
            "version INTEGER PRIMARY KEY, name VARCHAR NOT NULL, applied_at TIMESTAMPTZ NOT NULL)"
        )
        row = con.execute("SELECT max(version) FROM polos_schema_migrations").fetchone()
        current = row[0] or 0
        if current > SCHEMA_VERSION:
            raise JournalVersionError(self.path, current, SCHEMA_VERSION)
        for version, name, statements in MIGRATIONS:
            if version <= current:
                continue
            con.execute("BEGIN TRANSACTION")
            try:
                for statement in statements:
                    con.execute(statement)
                con.execute(
                    "INSERT INTO polos_schema_migrations VALUES (?, ?, now())", [version, name]
                )
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise

    def _loop(self) -> None:
        get = self._queue.get
        while True:
            if self._pending:  # step-log rows wait for DuckDB: apply them when idle
                try:
                    item = get(
                        timeout=APPLY_IDLE_SECONDS
                        if self._apply_error is None
                        else APPLY_RETRY_SECONDS
                    )
                except queue.Empty:
                    self._apply()
                    continue
            else:
                item = get()
            if item is _STOP:
                return
            batch: list[_Job] = [item]
            stop = False
            while True:  # drain what queued up meanwhile: group commit
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is _STOP:
                    stop = True
                    break
                batch.append(nxt)
            self._run_batch(batch)
            if stop:
                return
            if self._await_engine:  # the engine's turn: see expect_engine
                self._await_engine = False
                if sum(1 for job in batch if job.ops is not None) > 1:
                    self._engine_turn.wait(ENGINE_TURN_SECONDS)

    def _run_batch(self, batch: list[_Job]) -> None:
        writes: list[_Job] = []
        for job in batch:
            if job.reader is not None:
                if writes:
                    self._commit(writes)
                    writes = []
                self._apply()  # a read sees every write submitted before it
                self._do_read(job)
            else:
                writes.append(job)
        if writes:
            self._commit(writes)

    def _do_read(self, job: _Job) -> None:
        try:
            con = (
                self._con
                if self.read_hook is None
                else _HookedConnection(self._con, self.read_hook)
            )
            if self._pending:  # DuckDB refused the step log's rows: read them anyway
                result = self._read_with_pending(con, job.reader)  # type: ignore[arg-type]
            else:
                result = job.reader(con)  # type: ignore[misc]
        except BaseException as exc:
            # A damaged or unreachable file shows as a JournalError, never a raw DuckDB one.
            known = _files.classify(exc, self.path) if not isinstance(exc, UserError) else None
            job.future.set_exception(known if known is not None else exc)
        else:
            job.future.set_result(result)

    def _read_with_pending(self, con: Any, reader: Callable[[Any], Any]) -> Any:
        """Run ``reader`` in a transaction that holds the step log's rows DuckDB refused to
        commit (a full disk), then roll it back: reads still see every step recorded, and
        nothing is written."""
        self._con.execute("BEGIN TRANSACTION")
        try:
            for group in _group(list(self._pending)):
                _flush_inserts(self._con, group)  # type: ignore[arg-type]
            return reader(con)
        finally:
            self._con.execute("ROLLBACK")

    def _commit(self, jobs: list[_Job]) -> None:
        if self._steplog is not None and all(_steplog.loggable(job.ops or ()) for job in jobs):
            if self._apply_error is not None and len(self._pending) >= APPLY_ROWS:
                for job in jobs:  # DuckDB keeps refusing: do not let the log grow on
                    job.future.set_exception(self._apply_error)
                return
            self._commit_logged(jobs)
            return
        error = self._apply()  # DuckDB takes the logged rows first: submission order
        if error is not None:
            for job in jobs:
                job.future.set_exception(error)
            return
        ops = [op for job in jobs for op in job.ops or ()]
        error = self._transaction(ops)
        if error is None:
            for job in jobs:
                job.future.set_result(None)
            return
        if len(jobs) == 1:
            jobs[0].future.set_exception(self._translate(error))
            return
        for job in jobs:  # isolate the failing submission
            single = self._transaction(list(job.ops or []))
            if single is None:
                job.future.set_result(None)
            else:
                job.future.set_exception(self._translate(single))

    def _commit_logged(self, jobs: list[_Job]) -> None:
        """Make step records durable in the step log (one append, one fdatasync)."""
        error = self._append([op for job in jobs for op in job.ops or ()])  # type: ignore[misc]
        if error is None:
            for job in jobs:
                job.future.set_result(None)
        elif len(jobs) == 1:
            jobs[0].future.set_exception(self._translate(error))
        else:
            for job in jobs:  # isolate the failing submission
                single = self._append(list(job.ops or []))  # type: ignore[arg-type]
                if single is None:
                    job.future.set_result(None)
                else:
                    job.future.set_exception(self._translate(single))
        if len(self._pending) >= APPLY_ROWS:
            self._apply()

    def _append(self, ops: list[Insert]) -> BaseException | None:
        if self.write_hook is not None:
            try:
                self.write_hook(ops)
            except Exception as exc:
                return exc
        assert self._steplog is not None
        try:
            n = self.commits + 1
            if self.fault_hook is not None:
                self.fault_hook("before_commit", n)
            self._steplog.append(ops)
            self.commits = n
            self._pending.extend(ops)
            if self.fault_hook is not None:
                self.fault_hook("after_commit", n)
            return None
        except Exception as exc:
            return exc

    def _apply(self) -> BaseException | None:
        """Write the step log's pending rows into DuckDB in one transaction, then empty the
        log. Returns the error (as a :class:`JournalError`) if DuckDB refused them: they stay
        pending, and every later write and read fails with it until an apply succeeds, so
        nothing reads or writes the journal as if they were missing.

        Counts as a commit for ``fault_hook`` (a crash here is one more write boundary).
        """
        if not self._pending:
            return None
        con = self._insert_connection()
        n = self.commits + 1
        try:
            con.execute("BEGIN TRANSACTION")
            for group in _group(self._pending):  # type: ignore[arg-type]
                _flush_inserts(con, group)  # type: ignore[arg-type]
            if self.fault_hook is not None:
                self.fault_hook("before_commit", n)
            con.execute("COMMIT")
        except Exception as exc:
            try:
                con.execute("ROLLBACK")
            except Exception:
                pass
            self._apply_error = self._translate(exc)
            return self._apply_error
        self.commits = n
        self._pending = []
        self._apply_error = None
        assert self._steplog is not None
        try:
            self._steplog.clear()
        except OSError:
            pass  # the next open skips the rows DuckDB has
        if self.fault_hook is not None:
            try:
                self.fault_hook("after_commit", n)
            except Exception as exc:
                return exc
        return None

    def _translate(self, exc: BaseException) -> BaseException:
        """A failed write as a :class:`JournalError`.

        :class:`JournalUnavailableError` when the file cannot take writes now (a full disk,
        permissions, I/O): the engine then waits and tries again. A plain
        :class:`JournalError` when this write itself was refused.
        """
        known = _files.classify(exc, self.path)
        if isinstance(known, (JournalUnavailableError, JournalCorruptError)):
            known.__cause__ = exc
            return known
        return _translate(exc)

    def _insert_connection(self) -> Any:
        """The connection that runs an ``INSERT`` committed on its own (a step record).

        A second connection to the same database, with DuckDB's query optimizer off: an
        ``INSERT ... VALUES`` has nothing to optimise, yet DuckDB ran its optimizer passes
        on every one (measured: 1.16 -> 1.00 ms per one-row insert of a step record on
        disk). Transactions of inserts only run here (a lone INSERT as its own
        transaction, several in BEGIN/COMMIT); a transaction with an update or a delete
        (which find their rows with the optimizer's help) runs on the main connection.
        Made on first use, on the writer thread.
        """
        if self._inserts is None:
            inserts = self._con.cursor()
            inserts.execute("PRAGMA disable_optimizer")
            self._inserts = inserts
        return self._inserts

    def _transaction(self, ops: list[DuckOp]) -> BaseException | None:
        con = self._con
        if self.write_hook is not None:
            try:
                self.write_hook(ops)
            except Exception as exc:
                return exc
        if ops and _single_insert_group(ops):
            # One statement is its own transaction: skip BEGIN/COMMIT round trips (the
            # common case of one step record); DuckDB still fsyncs the WAL before returning.
            try:
                n = self.commits + 1
                if self.fault_hook is not None:
                    self.fault_hook("before_commit", n)
                _flush_inserts(self._insert_connection(), ops)  # type: ignore[arg-type]
                self.commits = n
                if self.fault_hook is not None:
                    self.fault_hook("after_commit", n)
                return None
            except Exception as exc:
                return exc
        if ops and all(type(op) is Insert for op in ops):
            # Only inserts (a run's row and its start event; step records with events):
            # the connection without the optimizer takes them too, in one transaction.
            con = self._insert_connection()
        try:
            con.execute("BEGIN TRANSACTION")
            for group in _group(ops):
                first = group[0]
                if type(first) is Insert:
                    _flush_inserts(con, group)  # type: ignore[arg-type]
                elif type(first) is Update:
                    _flush_updates(con, group)  # type: ignore[arg-type]
                else:
                    sql, params = _statement(first)
                    _execute(con, sql, params)
            n = self.commits + 1
            if self.fault_hook is not None:
                self.fault_hook("before_commit", n)
            con.execute("COMMIT")
            self.commits = n
            if self.fault_hook is not None:
                self.fault_hook("after_commit", n)
            return None
        except Exception as exc:
            try:
                con.execute("ROLLBACK")
            except Exception:
                pass
            return exc


class _HookedConnection:
    """The connection as a reader sees it while ``read_hook`` is set (tests only)."""

    def __init__(self, con: Any, hook: Callable[[str], None]) -> None:
        self._con = con
        self._hook = hook

    def execute(self, sql: str, *args: Any, **kwargs: Any) -> Any:
        self._hook(sql)
        return self._con.execute(sql, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._con, name)


_COLUMN_TYPES: dict[tuple[int, str], dict[str, str]] = {}
_UNNEST_FROM = 4  # from this many rows, one typed list per column beats a VALUES list


def _column_types(con: Any, table: str) -> dict[str, str]:
    key = (id(con), table)
    types = _COLUMN_TYPES.get(key)
    if types is None:
        rows = con.execute(
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = ?",
            [table],
        ).fetchall()
        types = _COLUMN_TYPES[key] = dict(rows)
    return types


_PARSED: dict[str, Any] = {}  # SQL text -> its parsed statement (DuckDB's ``Statement``)
_PARSED_MAX = 512


def _execute(con: Any, sql: str, params: Sequence[Any]) -> None:
    """Run one write statement, parsing its SQL once per process.

    The writer sends the same few statements over and over (a step record's ``INSERT``,
    a status ``UPDATE``): DuckDB parses SQL text anew on every ``execute``, and parsing
    was about a tenth of a one-row insert (measured: 1.10 -> 1.01 ms on disk, 0.80 -> 0.68
    ms in memory). A parsed statement carries no data and no connection state, so it is
    kept by its text.
    """
    stmt = _PARSED.get(sql)
    if stmt is None:
        parsed = con.extract_statements(sql)
        if len(parsed) != 1:  # not one statement: let DuckDB say what is wrong
            con.execute(sql, params)
            return
        if len(_PARSED) >= _PARSED_MAX:
            _PARSED.clear()
        stmt = _PARSED[sql] = parsed[0]
    con.execute(stmt, params)


def _flush_inserts(con: Any, rows: list[Insert]) -> None:
    """Insert rows of one shape in one statement.

    Few rows go in a ``VALUES`` list. Many rows go as one typed list per column
    (``SELECT unnest(?::T[]), ...``): DuckDB binds a long ``VALUES`` list row by row, and
    measured here 32 rows cost ~3x less this way.
    """
    first = rows[0]
    columns = ", ".join(first.columns)
    conflict = f" ON CONFLICT {first.on_conflict}" if first.on_conflict else ""
    if len(rows) >= _UNNEST_FROM:
        types = _column_types(con, first.table)
        if all(c in types for c in first.columns):
            lists = ", ".join(f"unnest(?::{types[c]}[])" for c in first.columns)
            params = [[row.values[i] for row in rows] for i in range(len(first.columns))]
            _execute(con, f"INSERT INTO {first.table} ({columns}) SELECT {lists}{conflict}", params)
            return
    placeholders = "(" + ", ".join("?" * len(first.columns)) + ")"
    sql = (
        f"INSERT INTO {first.table} ({columns}) VALUES "
        + ", ".join([placeholders] * len(rows))
        + conflict
    )
    params_flat: list[Any] = []
    for row in rows:
        params_flat.extend(row.values)
    _execute(con, sql, params_flat)


def _translate(exc: BaseException) -> BaseException:
    if isinstance(exc, JournalError):
        return exc
    error = JournalError(f"Journal write failed: {type(exc).__name__}: {exc}")
    error.__cause__ = exc
    return error


_STATEMENTS = (Sql, UpdateWhere, Delete)


def _single_insert_group(ops: list[DuckOp]) -> bool:
    first = ops[0]
    if type(first) is not Insert:
        return False
    for op in ops:
        if (
            type(op) is not Insert
            or op.table != first.table
            or op.columns != first.columns
            or (op.on_conflict != first.on_conflict)
        ):
            return False
    return True


def _statement(op: DuckOp) -> tuple[str, Sequence[Any]]:
    """The SQL of an op that runs as its own statement."""
    if type(op) is Sql:
        return op.sql, op.params
    if type(op) is UpdateWhere:
        sets = ", ".join(f"{c} = ?" for c in op.columns)
        conds = [f"{c} = ?" for c, _ in op.where] + [f"{c} IS NULL" for c in op.where_null]
        return (
            f"UPDATE {op.table} SET {sets} WHERE {' AND '.join(conds)}",
            [*op.values, *(v for _, v in op.where)],
        )
    if type(op) is Delete:
        conds = [f"{c} = ?" for c, _ in op.where]
        return f"DELETE FROM {op.table} WHERE {' AND '.join(conds)}", [v for _, v in op.where]
    raise TypeError(f"not a statement op: {op!r}")


def _table_of(op: DuckOp) -> str:
    if type(op) in _STATEMENTS:
        return ""
    return op.table  # type: ignore[union-attr]


def _compatible(a: DuckOp, b: DuckOp) -> bool:
    if type(a) is not type(b) or type(a) in _STATEMENTS:
        return False
    if type(a) is Insert:
        return a.table == b.table and a.columns == b.columns and a.on_conflict == b.on_conflict  # type: ignore[union-attr]
    return (
        a.table == b.table and a.columns == b.columns and a.key_column == b.key_column  # type: ignore[union-attr]
    )


def _group(ops: list[DuckOp]) -> list[list[DuckOp]]:
    """Order ops for one transaction: per table in submission order, merging neighbours.

    Statements never read another table's rows, so only the order within a table
    matters (an execution's INSERT before its UPDATE); free-form ``Sql`` ops keep their
    place relative to everything before them.
    """
    groups: list[list[DuckOp]] = []
    last_by_table: dict[str, list[DuckOp]] = {}
    for op in ops:
        if type(op) in _STATEMENTS:
            groups.append([op])
            last_by_table.clear()  # nothing after it may move before it
            continue
        table = _table_of(op)
        last = last_by_table.get(table)
        if last is not None and _compatible(last[-1], op):
            if type(op) is Update:
                # Two updates of the same row in one merged statement would be ambiguous.
                keys = {u.key for u in last}  # type: ignore[union-attr]
                if op.key in keys:
                    fresh: list[DuckOp] = [op]
                    groups.append(fresh)
                    last_by_table[table] = fresh
                    continue
            last.append(op)
            continue
        fresh = [op]
        groups.append(fresh)
        last_by_table[table] = fresh
    return groups


def _flush_updates(con: Any, rows: list[Update]) -> None:
    first = rows[0]
    if len(rows) == 1:
        sets = ", ".join(f"{c} = ?" for c in first.columns)
        _execute(
            con,
            f"UPDATE {first.table} SET {sets} WHERE {first.key_column} = ?",
            [*first.values, first.key],
        )
        return
    names = [f"c{i}" for i in range(len(first.columns))]
    placeholders = "(" + ", ".join("?" * (len(first.columns) + 1)) + ")"
    sets = ", ".join(f"{c} = v.{n}" for c, n in zip(first.columns, names, strict=False))
    sql = (
        f"UPDATE {first.table} SET {sets} FROM (VALUES {', '.join([placeholders] * len(rows))}) "
        f"AS v(k, {', '.join(names)}) WHERE {first.table}.{first.key_column} = v.k"
    )
    params: list[Any] = []
    for row in rows:
        params.append(row.key)
        params.extend(row.values)
    _execute(con, sql, params)


def _replay_steplog(con: Any, rows: list[Insert]) -> None:
    """Insert the step log's rows that DuckDB does not have yet (a crash came before the
    writer applied them), in one transaction. A step row's ``seq`` is unique in a journal,
    so rows applied before the crash are recognised and skipped."""
    if not rows:
        return
    seqs = [row.values[row.columns.index("seq")] for row in rows]
    have = {
        seq
        for (seq,) in con.execute("SELECT seq FROM steps WHERE seq >= ?", [min(seqs)]).fetchall()
    }
    missing = [row for row, seq in zip(rows, seqs, strict=True) if seq not in have]
    if not missing:
        return
    con.execute("BEGIN TRANSACTION")
    try:
        for group in _group(list(missing)):
            _flush_inserts(con, group)  # type: ignore[arg-type]
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    log.info("polos_nb: %d step record(s) of the journal's step log written into it", len(missing))


def _steplog_waiting(path: str) -> bool:
    """True when a step log with records lies beside the journal ``path`` (its last owner
    stopped before writing them into the journal)."""
    try:
        return os.path.getsize(_steplog.log_path(path)) > 0
    except OSError:
        return False


def _connect_waiting(path: str, config: dict[str, Any], retry: float = LOCK_RETRY_SECONDS) -> Any:
    """``duckdb.connect(path)``, retrying up to ``retry`` seconds while another process holds
    the file's lock (a reader of journals at rest holds it for milliseconds). The last
    error is raised as DuckDB raised it."""
    import duckdb

    deadline = time.monotonic() + retry
    while True:
        try:
            return duckdb.connect(path, config=config)
        except duckdb.IOException as exc:
            text = str(exc).lower()
            if "lock" in text and "conflicting" in text and time.monotonic() < deadline:
                time.sleep(0.05)
                continue
            raise


def read_journal(path: str, reader: Callable[[Any], T], *, retry: float = 0.0) -> T:
    """Open a journal that no process owns, read-only, run ``reader(connection)``, close it.

    For tools that look at journals at rest (the JupyterLab server extension lists the
    runs of closed notebooks). The file is held for as long as ``reader`` runs: keep it
    short. Raises ``JournalLockedError`` when a process owns the journal (ask that
    process instead; ``retry`` seconds are spent retrying first), ``JournalVersionError``
    when its schema is not this version's (a newer polos_nb wrote it, or an older one that
    this version has not migrated yet: open it once in a notebook), and the errors of
    ``DuckDBJournal`` for a file that is not a journal.
    """
    import duckdb

    with _files.OPEN_LOCK:
        _files.check_file(path)
        if not os.path.exists(path):
            raise JournalCorruptError(path, "no such file")
        _files.check_not_open(path)
        deadline = time.monotonic() + retry
        # A step log left by an owner that crashed is written into the journal first, as
        # any opener does: that needs the file writable, for the few milliseconds it takes.
        replay = _steplog_waiting(path)
        while True:
            try:
                con = duckdb.connect(path, read_only=not replay)
                break
            except duckdb.IOException as exc:
                text = str(exc)
                if "lock" in text.lower() and "conflicting" in text.lower():
                    if time.monotonic() < deadline:
                        time.sleep(0.05)
                        continue
                    match = _PID_RE.search(text)
                    raise JournalLockedError(path, int(match.group(1)) if match else None) from exc
                raise _files.classify(exc, path) or JournalCorruptError(
                    path, text.strip().splitlines()[0]
                ) from exc
            except duckdb.Error as exc:
                raise _files.classify(exc, path) or JournalCorruptError(
                    path, str(exc).strip().splitlines()[0]
                ) from exc
    try:
        try:
            row = con.execute("SELECT max(version) FROM polos_schema_migrations").fetchone()
        except duckdb.Error as exc:
            raise JournalCorruptError(path, str(exc).strip().splitlines()[0]) from exc
        version = int(row[0] or 0) if row else 0
        if version != SCHEMA_VERSION:
            raise JournalVersionError(path, version, SCHEMA_VERSION)
        if replay:
            steplog = _steplog.StepLog(_steplog.log_path(path))
            try:
                _replay_steplog(con, steplog.read())
            except duckdb.Error as exc:
                steplog.close(remove=False)
                raise JournalCorruptError(path, str(exc).strip().splitlines()[0]) from exc
            steplog.close(remove=True)
        try:
            return reader(con)
        except duckdb.Error as exc:
            raise JournalCorruptError(path, str(exc).strip().splitlines()[0]) from exc
    finally:
        con.close()


class _AtRest(DuckDBJournal):
    """The interface's named reads on one read-only connection to a journal at rest.

    Made by :func:`read_journal_reads` for the time of one reader; each read runs at once on
    the connection (there is no writer thread), and writes are refused.
    """

    def __init__(self, con: Any, path: str) -> None:  # no writer thread: nothing to start
        self.path = path
        self.read_hook = None
        self._con = con

    def read(self, reader: Callable[[Any], T]) -> concurrent.futures.Future[T]:
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        try:
            future.set_result(reader(self._con))
        except BaseException as exc:
            future.set_exception(exc)
        return future

    def submit(self, ops: Sequence[DuckOp]) -> concurrent.futures.Future[None]:
        raise JournalError(f"The journal {self.path} is open read-only here; nothing is written.")

    def probe(self) -> concurrent.futures.Future[None]:
        return self.submit([])

    def query(
        self, sql: str, fetch: Callable[[Any], Any] | None = None
    ) -> concurrent.futures.Future[Any]:
        raise JournalError(f"The journal {self.path} is open for the named reads only.")

    def close(self) -> None:
        pass  # read_journal closes the connection


def read_journal_reads(path: str, reader: Callable[[Journal], T], *, retry: float = 0.0) -> T:
    """:func:`read_journal` with the interface's named reads: ``reader(journal)`` gets a
    :class:`Journal` whose reads (``info``, ``history``, ``run_counts``...) run on the
    read-only connection and resolve at once; writes raise ``JournalError``."""
    return read_journal(path, lambda con: reader(_AtRest(con, path)), retry=retry)

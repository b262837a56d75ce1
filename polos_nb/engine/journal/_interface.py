"""The journal interface: everything the engine asks of the storage under it.

The engine never writes SQL. It talks to a :class:`Journal` through two kinds of calls:

- **writes**: :meth:`Journal.submit` takes a list of row operations (:class:`Insert`,
  :class:`Update`, :class:`UpdateWhere`, :class:`Delete`) on the tables described in
  ``polos_nb.engine.journal._migrations`` and applies them in one transaction. Its future
  resolves only once that transaction is durable (a step reported done is on disk).
  Submissions are applied in submission order; a backend may merge submissions that
  queue up into one transaction (group commit) as long as each one's future reports its
  own outcome.
- **reads**: named queries (``execution``, ``steps``, ``open_waits``, ...) that return
  typed rows. A read sees every write submitted before it (read-your-writes, in
  submission order).

Every call returns a :class:`concurrent.futures.Future`, so the engine's event loop awaits
it (``asyncio.wrap_future``) and other threads may block on it; a backend decides where the
work runs (DuckDB: its writer thread). Datetimes in rows are timezone-aware UTC. JSON
columns (``payload``, ``result``, ``error``, ``state``, ``output``, ``data``, ``detail``)
are passed and returned as the text ``polos_nb._serde`` produced; a backend stores them so
that its SQL can read them and returns them unchanged.

Errors: a backend raises :class:`polos_nb.errors.JournalError` subclasses, never its
driver's exceptions: ``JournalUnavailableError`` when it cannot take writes now (the engine
holds runs and retries), ``JournalCorruptError`` / ``JournalLockedError`` /
``JournalVersionError`` on open, a plain ``JournalError`` for a write it refused.

``DuckDBJournal`` (``_duckdb.py``) is the reference implementation; docs/architecture.md
("The journal interface") says what a new backend must provide.
"""

from __future__ import annotations

import abc
import concurrent.futures
import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

__all__ = [
    "ACTIVE_STATUSES",
    "ChannelRunRow",
    "ChildRow",
    "Delete",
    "EventRow",
    "ExecutionRow",
    "History",
    "InfoRow",
    "Insert",
    "Journal",
    "MailboxRow",
    "Op",
    "OutcomeRow",
    "Recovery",
    "Reload",
    "ReplayStepRow",
    "RunJournal",
    "ScheduleRow",
    "StepRow",
    "SuspensionRow",
    "TopicSeqConflict",
    "Update",
    "UpdateWhere",
    "WaitRow",
    "utc",
]

ACTIVE_STATUSES = ("queued", "running", "waiting")
"""Statuses of executions that are not over."""


class TopicSeqConflict(Exception):
    """An event's per-topic sequence number was taken by another worker's commit meanwhile.

    Raised by a journal shared by several workers (``_pg_workers``); the engine numbers the
    event again and retries. It is a plain ``Exception`` (not a ``JournalError``) so that
    nothing mistakes it for a journal that cannot be written.
    """


# ====================================================================== row operations
@dataclass(slots=True)
class Insert:
    """Insert one row; ``on_conflict`` is ``""`` or ``"DO NOTHING"`` (skip a row whose key exists)."""

    table: str
    columns: tuple[str, ...]
    values: tuple[Any, ...]
    on_conflict: str = ""


@dataclass(slots=True)
class Update:
    """Set ``columns`` to ``values`` on the row whose ``key_column`` equals ``key``.

    A backend may merge consecutive updates of one table that set the same columns into a
    single statement (DuckDB: ``UPDATE ... FROM (VALUES ...)``).
    """

    table: str
    key_column: str
    key: Any
    columns: tuple[str, ...]
    values: tuple[Any, ...]


@dataclass(slots=True)
class UpdateWhere:
    """Set ``columns`` to ``values`` on every row where each ``(column, value)`` of ``where``
    holds and each column of ``where_null`` is NULL."""

    table: str
    columns: tuple[str, ...]
    values: tuple[Any, ...]
    where: tuple[tuple[str, Any], ...]
    where_null: tuple[str, ...] = ()


@dataclass(slots=True)
class Delete:
    """Delete every row where each ``(column, value)`` of ``where`` holds."""

    table: str
    where: tuple[tuple[str, Any], ...]


Op = Insert | Update | UpdateWhere | Delete


# ====================================================================== rows
class ExecutionRow(NamedTuple):
    """What the engine needs to drive an execution again (``executions`` columns)."""

    id: str
    workflow_id: str
    workflow_type: str
    status: str
    payload: str | None
    initial_state: str | None
    state: str | None
    parent_execution_id: str | None
    root_execution_id: str
    root_workflow_id: str
    parent_step_key: str | None
    batch_index: int | None
    queue_name: str | None
    concurrency_key: str | None
    session_id: str | None
    user_id: str | None
    created_at: dt.datetime
    started_at: dt.datetime | None
    deadline: dt.datetime | None
    run_attempt: int | None
    trace_context: str | None
    """JSON of the W3C trace context the run's spans join (``polos_nb._tracing``), or None."""


class InfoRow(NamedTuple):
    """What users read about an execution (``ExecutionInfo``)."""

    id: str
    workflow_id: str
    workflow_type: str
    status: str
    payload: str | None
    result: str | None
    error: str | None
    state: str | None
    parent_execution_id: str | None
    root_execution_id: str
    root_workflow_id: str
    parent_step_key: str | None
    queue_name: str | None
    concurrency_key: str | None
    session_id: str | None
    user_id: str | None
    created_at: dt.datetime
    started_at: dt.datetime | None
    completed_at: dt.datetime | None


class StepRow(NamedTuple):
    """One step attempt (a ``steps`` row), with its execution's workflow id."""

    seq: int
    execution_id: str
    workflow_id: str
    position: int | None
    step_key: str
    kind: str
    attempt: int
    status: str
    output: str | None
    error: str | None
    state: str | None
    started_at: dt.datetime | None
    ended_at: dt.datetime
    run_attempt: int | None


class ReplayStepRow(NamedTuple):
    """What a run's replay reads of one step attempt (a ``steps`` row): no timestamps,
    which a replay does not use and which cost most of the read (``journal.run_journal``)."""

    step_key: str
    position: int | None
    kind: str
    attempt: int
    status: str
    output: str | None
    error: str | None
    state: str | None
    run_attempt: int | None


class WaitRow(NamedTuple):
    """An unresolved wait (a ``waits`` row)."""

    execution_id: str
    step_key: str
    kind: str
    position: int | None
    topic: str | None
    after_topic_seq: int | None
    wake_at: dt.datetime | None
    expires_at: dt.datetime | None
    detail: str | None


class EventRow(NamedTuple):
    """A published event (an ``events`` row)."""

    seq: int
    topic: str
    topic_seq: int
    event_type: str | None
    data: str | None
    execution_id: str | None
    created_at: dt.datetime


class MailboxRow(NamedTuple):
    """A resume that arrived before its suspension was reached."""

    step_key: str
    data: str | None
    event_seq: int | None
    created_at: dt.datetime


class ChildRow(NamedTuple):
    """A child execution of a parent, under the parent's step key."""

    id: str
    parent_step_key: str | None


class OutcomeRow(NamedTuple):
    """An execution's status and, once it ended, its outcome."""

    id: str
    workflow_id: str
    status: str
    result: str | None
    error: str | None


class ScheduleRow(NamedTuple):
    """A cron schedule (a ``schedules`` row)."""

    id: str
    workflow_id: str
    key: str
    cron: str
    timezone: str
    catch_up: str
    status: str
    last_fire_at: dt.datetime | None
    next_fire_at: dt.datetime | None


class SuspensionRow(NamedTuple):
    """A suspension waiting for an answer, with the data of its ``suspend_<key>`` event."""

    execution_id: str
    step_key: str
    workflow_id: str
    root_execution_id: str
    root_workflow_id: str
    created_at: dt.datetime
    data: str | None


class ChannelRunRow(NamedTuple):
    """A root run started from a channel (``invoke(channel_context=...)``)."""

    id: str
    workflow_id: str
    root_workflow_id: str
    status: str
    created_at: dt.datetime
    channel_context: str
    """JSON text: ``{"channel_id", "source"}``."""


class Recovery(NamedTuple):
    """What opening a journal needs to take up the runs a previous process left."""

    max_seq: int
    """The highest journal sequence number in ``executions``, ``steps`` and ``events``."""
    executions: list[ExecutionRow]
    """Executions not over (queued, running, waiting), oldest first."""
    waits: list[WaitRow]
    """Unresolved waits of those executions."""
    topic_seqs: dict[str, int]
    """Highest ``topic_seq`` of each of those executions' tree topics."""
    queue_limits: list[tuple[str, int]]
    """Invoke-time ``(queue_name, limit)`` of those executions, oldest first."""


class RunJournal(NamedTuple):
    """One execution's steps (every attempt, by attempt then seq), mailbox and children."""

    steps: list[ReplayStepRow]
    mailbox: list[MailboxRow]
    children: list[ChildRow]
    """Ordered by parent step key, then batch index."""


class History(NamedTuple):
    """An execution tree's journal from one read: its topic's events and its step attempts
    (both with journal ``seq > after_seq``, by seq), consistent with each other."""

    events: list[EventRow]
    steps: list[StepRow]


class Reload(NamedTuple):
    """One execution as the journal has it now, to drop memory and go on from there."""

    execution: ExecutionRow | None
    waits: list[WaitRow]
    topic_seq: int
    """Highest ``topic_seq`` of its tree topic (0 when none)."""


def utc(value: Any) -> Any:
    """A datetime as timezone-aware UTC (a naive one is taken as UTC); anything else as is."""
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)
    return value


Future = concurrent.futures.Future


# ====================================================================== the interface
class Journal(abc.ABC):
    """The storage of one journal. The engine uses nothing else (see the module docstring).

    Attributes:
        path: where the journal lives (a file path, ``":memory:"``, or a backend's URL).
        commits: number of transactions committed so far by this object.
        fault_hook: test seam; when set it is called as ``fault_hook("before_commit", n)``
            and ``fault_hook("after_commit", n)`` around the n-th commit.
        write_hook: test seam; called with the ops of every transaction before they run;
            an exception it raises fails that transaction as if the storage refused it.
        read_hook: test seam; called with a description of every engine read before it
            runs (DuckDB: the SQL text); an exception it raises fails that read.
    """

    path: str
    commits: int
    fault_hook: Callable[[str, int], None] | None
    write_hook: Callable[[list[Any]], None] | None
    read_hook: Callable[[str], None] | None

    @property
    def worker_id(self) -> str | None:
        """This process's worker id when several workers share the journal (a PostgreSQL
        journal, unless ``POLOS_JOURNAL_SHARED=0``); None when one process owns it. A shared
        journal also provides ``seat`` (``_pg_workers.WorkerSeat``), ``claim``,
        ``requests``, ``request_answer`` and ``owner_of``."""
        return None

    # ------------------------------------------------------------------ writing
    @abc.abstractmethod
    def submit(self, ops: Sequence[Op]) -> Future[None]:
        """Apply ``ops`` atomically; the future resolves once the transaction is durable."""

    @abc.abstractmethod
    def probe(self) -> Future[None]:
        """A write that leaves nothing behind: resolves once the journal takes writes again."""

    @abc.abstractmethod
    def close(self) -> None:
        """Finish queued work, stop users' queries and release the storage."""

    # ------------------------------------------------------------------ users' SQL
    @abc.abstractmethod
    def query(self, sql: str, fetch: Callable[[Any], Any] | None = None) -> Future[Any]:
        """Run a user's read-only SQL (``%polos sql``) without stalling writes.

        A text with a statement that is not a query raises ``UserError`` and nothing runs.
        ``fetch(cursor)`` turns the result into the future's value (default: all rows).
        """

    # ------------------------------------------------------------------ recovery and loading
    @abc.abstractmethod
    def recovery(self) -> Future[Recovery]:
        """What a new owner needs to take up the executions that are not over."""

    @abc.abstractmethod
    def run_journal(self, execution_id: str) -> Future[RunJournal]:
        """An execution's steps, early resumes and children, to replay it."""

    @abc.abstractmethod
    def reload(self, execution_id: str) -> Future[Reload]:
        """An execution, its unresolved waits and its tree topic's highest sequence."""

    # ------------------------------------------------------------------ executions
    @abc.abstractmethod
    def execution(self, execution_id: str) -> Future[ExecutionRow | None]:
        """One execution as the engine drives it, or None."""

    @abc.abstractmethod
    def info(self, execution_id: str) -> Future[InfoRow | None]:
        """One execution as users read it, or None."""

    @abc.abstractmethod
    def list_infos(
        self,
        *,
        workflow_id: str | None = None,
        status: str | None = None,
        root_only: bool = False,
        limit: int = 100,
    ) -> Future[list[InfoRow]]:
        """Executions matching every filter given, newest first, at most ``limit``."""

    @abc.abstractmethod
    def tree_infos(self, root_execution_id: str) -> Future[list[InfoRow]]:
        """Every execution of a tree (the root and its descendants), oldest first."""

    @abc.abstractmethod
    def find_ids(self, prefix: str, limit: int = 3) -> Future[list[str]]:
        """Ids of executions that start with ``prefix``, newest first."""

    @abc.abstractmethod
    def outcomes(self, execution_ids: Sequence[str]) -> Future[list[OutcomeRow]]:
        """Status and outcome of each execution given that exists (any order)."""

    @abc.abstractmethod
    def run_counts(self) -> Future[dict[str, int]]:
        """How many root executions (runs) the journal holds in each status."""

    @abc.abstractmethod
    def root_infos(
        self, *, status: str | None = None, offset: int = 0, limit: int = 100
    ) -> Future[list[InfoRow]]:
        """One page of root executions (of one status, or all), newest first."""

    @abc.abstractmethod
    def tree_step_outputs(
        self, root_execution_ids: Sequence[str], key_prefix: str
    ) -> Future[list[tuple[str, str | None]]]:
        """``(root execution id, output)`` of the completed step attempts of the given
        trees whose step key starts with ``key_prefix`` (any order)."""

    @abc.abstractmethod
    def pending_counts(self, root_execution_ids: Sequence[str]) -> Future[dict[str, int]]:
        """How many unresolved ``suspend`` waits each given tree has (trees without one are
        left out)."""

    # ------------------------------------------------------------------ steps
    @abc.abstractmethod
    def steps(self, execution_id: str) -> Future[list[StepRow]]:
        """Every step attempt of one execution, by attempt then seq."""

    @abc.abstractmethod
    def tree_steps(self, root_execution_id: str, after_seq: int = 0) -> Future[list[StepRow]]:
        """Every step attempt of an execution tree with ``seq > after_seq``, by seq."""

    # ------------------------------------------------------------------ events
    @abc.abstractmethod
    def max_topic_seq(self, topic: str) -> Future[int]:
        """The highest ``topic_seq`` on ``topic`` (0 when it has no event)."""

    @abc.abstractmethod
    def topic_events(
        self, topic: str, after_topic_seq: int = 0, limit: int | None = None
    ) -> Future[list[EventRow]]:
        """Events on ``topic`` with ``topic_seq > after_topic_seq``, by topic_seq."""

    @abc.abstractmethod
    def events_since(self, topic: str, after_seq: int = 0) -> Future[list[EventRow]]:
        """Events on ``topic`` with journal ``seq > after_seq``, by seq."""

    @abc.abstractmethod
    def history(self, root_execution_id: str, topic: str, after_seq: int = 0) -> Future[History]:
        """Events on ``topic`` and step attempts of the tree, after ``after_seq``, read at once."""

    # ------------------------------------------------------------------ waits
    @abc.abstractmethod
    def pending_suspensions(self, run_id: str | None = None) -> Future[list[SuspensionRow]]:
        """Unresolved ``suspend`` waits of executions not over, oldest first; with ``run_id``
        only those of that execution and of the tree it is the root of."""

    # ------------------------------------------------------------------ channels, start keys
    @abc.abstractmethod
    def channel_context(self, execution_id: str) -> Future[str | None]:
        """The ``channel_context`` (JSON text) of the root of ``execution_id``'s tree, or None."""

    @abc.abstractmethod
    def channel_runs(self, active_only: bool = True) -> Future[list[ChannelRunRow]]:
        """Root runs started from a channel (only those not over, with ``active_only``),
        newest first."""

    @abc.abstractmethod
    def started_by_key(self, key: str) -> Future[ExecutionRow | None]:
        """The execution ``invoke(idempotency_key=key)`` started (table ``start_keys``), or None."""

    # ------------------------------------------------------------------ triggers, schedules
    @abc.abstractmethod
    def trigger_cursor(self, workflow_id: str, topic: str) -> Future[int | None]:
        """The ``last_topic_seq`` of a workflow's event trigger, or None if it has none."""

    @abc.abstractmethod
    def schedule(self, workflow_id: str, key: str) -> Future[ScheduleRow | None]:
        """One schedule, or None."""

    @abc.abstractmethod
    def schedules(self, workflow_id: str | None = None) -> Future[list[ScheduleRow]]:
        """All schedules (of one workflow), by workflow id then key."""

"""The journal: where executions, steps, events and waits are recorded.

The engine talks to storage only through :class:`Journal` (``_interface.py``): row
operations for writes, named queries returning typed rows for reads. ``DuckDBJournal``
is the DuckDB backend; :func:`open_journal` picks the backend for a location. The table
layout is documented in ``polos_nb.engine.journal._migrations``.
"""

from polos_nb.config import is_postgres_url

from ._duckdb import DuckDBJournal, Sql, read_journal, read_journal_reads
from ._interface import (
    ACTIVE_STATUSES,
    ChannelRunRow,
    ChildRow,
    Delete,
    EventRow,
    ExecutionRow,
    History,
    InfoRow,
    Insert,
    Journal,
    MailboxRow,
    Op,
    OutcomeRow,
    Recovery,
    Reload,
    ReplayStepRow,
    RunJournal,
    ScheduleRow,
    StepRow,
    SuspensionRow,
    TopicSeqConflict,
    Update,
    UpdateWhere,
    WaitRow,
    utc,
)
from ._migrations import SCHEMA_VERSION

__all__ = [
    "ACTIVE_STATUSES",
    "SCHEMA_VERSION",
    "ChannelRunRow",
    "ChildRow",
    "Delete",
    "DuckDBJournal",
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
    "Sql",
    "StepRow",
    "SuspensionRow",
    "TopicSeqConflict",
    "Update",
    "UpdateWhere",
    "WaitRow",
    "open_journal",
    "read_journal",
    "read_journal_reads",
    "utc",
]


def open_journal(location: str) -> Journal:
    """Open the journal at ``location`` with the backend that serves it.

    A file path (or ``":memory:"``) opens a DuckDB journal; a ``postgresql://`` URL a
    PostgreSQL one (``_postgres.py``, which needs the ``postgres`` extra: psycopg).
    """
    if is_postgres_url(location):
        from ._postgres import PostgresJournal

        return PostgresJournal(location)
    return DuckDBJournal(location)

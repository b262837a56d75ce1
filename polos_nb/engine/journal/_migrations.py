"""Numbered journal migrations. Append new ones; never edit a released one.

Each migration is a list of SQL statements applied in one transaction and recorded in
``polos_schema_migrations``. The tables, for reading the journal with plain SQL:

``executions``
    One row per workflow run: ``id``, ``workflow_id``, ``status`` (``queued``, ``running``,
    ``waiting``, ``completed``, ``failed``, ``cancelled``), ``payload`` / ``result`` /
    ``error`` / ``state`` as typed JSON, the tree (``parent_execution_id``,
    ``root_execution_id``, ``root_workflow_id``, ``parent_step_key``, ``batch_index``),
    flow-control columns (``queue_name``, ``concurrency_key``), timestamps, and ``seq``,
    the journal sequence of its last change.
``steps``
    One row per step *attempt* (append-only): ``execution_id``, ``position`` (call order),
    ``step_key``, ``kind``, ``attempt``, ``status`` (``completed``, ``failed``,
    ``retrying``), ``input_hash``, ``output`` / ``error`` / ``state`` (typed JSON),
    ``started_at``, ``ended_at``, ``seq``. A step's result is its highest attempt. The
    table has no unique index (an index costs about as much as the commit itself on every
    step): a row written twice is harmless because readers take the last row per
    ``(execution_id, step_key, attempt)`` (D7).
``events``
    Every published event: ``seq`` (journal-wide), ``topic``, ``topic_seq`` (per-topic
    sequence), ``event_type``, ``data``, ``execution_id``, ``created_at``. An execution's
    lifecycle events (``workflow_start``, ``suspend_<key>``, ``resume_<key>``,
    ``workflow_finish``, …) go to the topic ``workflow/<root workflow id>/<root execution id>``.
``waits``
    What a waiting execution waits for: ``kind`` (``suspend``, ``event``, ``sleep``,
    ``child``, ``batch``), ``topic`` / ``after_topic_seq`` for event waits, ``wake_at`` for
    sleeps, ``expires_at`` for deadlines, ``resolved_at`` once delivered.
``mailbox``
    Resumes that arrived before their suspension was reached; delivered when it is.
``triggers`` (migration 2)
    One cursor per event-triggered workflow and topic: ``last_topic_seq`` is the last
    event that started (or was batched into) an execution.
``schedules`` (migration 2)
    Cron schedules: ``workflow_id``, ``key``, ``cron``, ``timezone``, ``catch_up``,
    ``status`` (``active``/``paused``), ``last_fire_at`` (the last due time that fired)
    and ``next_fire_at``.

Migration 5 adds ``trace_context`` to ``executions``: the OpenTelemetry trace context (a
JSON object of W3C headers) the run's spans belong to (docs/observability.md).

``start_keys`` (migration 6)
    Idempotent starts: ``key`` (e.g. ``slack:<event id>``) and the ``execution_id`` it
    started. ``invoke(..., idempotency_key=k)`` with a key already there returns that
    execution instead of starting another; the row and the execution are committed together.

Migration 6 also adds ``channel_context`` to ``executions``: where a run was started from
(e.g. a Slack thread), so its output and approvals go back there (``polos_nb.channels``).

Migration 2 also adds ``run_attempt`` to ``executions`` and ``steps``: a workflow-level
retry starts a new run attempt, in which steps that failed in earlier attempts run again.

Migration 7 rewrites the class names inside typed JSON to polos_nb's public names
(``polos_nb:EventPayload`` instead of ``polos_nb.engine._types:EventPayload``), see
``polos_nb._journal_names``.

``workers`` and ``requests`` (migration 8)
    Several processes sharing one PostgreSQL journal (docs/postgres.md, "Several workers"):
    each live worker has a ``workers`` row (``id``, ``pid``, ``host``, ``heartbeat_at``, and
    from migration 9 ``lease_seconds``: how long without a heartbeat before it is presumed
    dead, its own setting);
    ``executions.owner`` names the worker that drives a run (NULL: any worker may claim
    it); ``requests`` carries a resume from one worker to the owner of the run it is for
    (``body``), and the owner's ``answer``; ``queue_slots`` holds one row per run whose code
    runs now in a queue with a concurrency limit (the limit counts them across workers). A
    DuckDB journal has the tables and leaves them empty.
``queue_waiters`` (migration 10)
    Runs refused a slot of a limited queue by the workers of a PostgreSQL journal:
    ``execution_id``, ``queue_name``, ``concurrency_key``, the ``worker_id`` that asked,
    and ``queued_at``, the run's place in the queue (its ``created_at`` if it never ran,
    else when it asked again after a wait); a slot goes to the run queued first (as in one
    process). A DuckDB journal has the table and leaves it empty.

Migration 11 adds ``workflows`` to ``workers``: the workflow ids a worker defines (a JSON
array of strings), which it claims runs of; NULL for a worker that does not say (one of
an older polos_nb, whose rows and statements the nullable column leaves as they were). A
start by id for a workflow no live worker lists is logged, and the run's status says it
waits for a worker (docs/postgres.md, "A workflow no worker defines").

Typed JSON is described in ``polos_nb._serde``; plain JSON values are stored as
themselves, so ``SELECT output->>'$.total' FROM steps`` works for dict results.
"""

from __future__ import annotations

from polos_nb._journal_names import RENAMED

__all__ = ["MIGRATIONS", "SCHEMA_VERSION"]

_M001 = [
    """
    CREATE TABLE executions (
        id VARCHAR PRIMARY KEY,
        workflow_id VARCHAR NOT NULL,
        workflow_type VARCHAR NOT NULL,
        status VARCHAR NOT NULL,
        payload JSON,
        result JSON,
        error JSON,
        state JSON,
        initial_state JSON,
        parent_execution_id VARCHAR,
        root_execution_id VARCHAR NOT NULL,
        root_workflow_id VARCHAR NOT NULL,
        parent_step_key VARCHAR,
        batch_index INTEGER,
        queue_name VARCHAR,
        concurrency_key VARCHAR,
        session_id VARCHAR,
        user_id VARCHAR,
        run_timeout_seconds DOUBLE,
        deadline TIMESTAMPTZ,
        created_at TIMESTAMPTZ NOT NULL,
        started_at TIMESTAMPTZ,
        completed_at TIMESTAMPTZ,
        updated_at TIMESTAMPTZ NOT NULL,
        seq BIGINT NOT NULL
    )
    """,
    """
    CREATE TABLE steps (
        seq BIGINT NOT NULL,
        execution_id VARCHAR NOT NULL,
        root_execution_id VARCHAR NOT NULL,
        position INTEGER,
        step_key VARCHAR NOT NULL,
        kind VARCHAR NOT NULL,
        attempt INTEGER NOT NULL,
        status VARCHAR NOT NULL,
        input_hash VARCHAR,
        output JSON,
        error JSON,
        state JSON,
        started_at TIMESTAMPTZ,
        ended_at TIMESTAMPTZ NOT NULL
    )
    """,
    """
    CREATE TABLE events (
        seq BIGINT PRIMARY KEY,
        topic VARCHAR NOT NULL,
        topic_seq BIGINT NOT NULL,
        event_type VARCHAR,
        data JSON,
        execution_id VARCHAR,
        created_at TIMESTAMPTZ NOT NULL
    )
    """,
    """
    CREATE TABLE waits (
        execution_id VARCHAR NOT NULL,
        step_key VARCHAR NOT NULL,
        kind VARCHAR NOT NULL,
        position INTEGER,
        topic VARCHAR,
        after_topic_seq BIGINT,
        wake_at TIMESTAMPTZ,
        expires_at TIMESTAMPTZ,
        detail JSON,
        created_at TIMESTAMPTZ NOT NULL,
        resolved_at TIMESTAMPTZ,
        PRIMARY KEY (execution_id, step_key)
    )
    """,
    """
    CREATE TABLE mailbox (
        execution_id VARCHAR NOT NULL,
        step_key VARCHAR NOT NULL,
        data JSON,
        event_seq BIGINT,
        created_at TIMESTAMPTZ NOT NULL,
        PRIMARY KEY (execution_id, step_key)
    )
    """,
]

_M002 = [
    # Run-level retries: every step row and execution carries the run attempt it belongs to.
    "ALTER TABLE executions ADD COLUMN run_attempt INTEGER DEFAULT 1",
    "ALTER TABLE steps ADD COLUMN run_attempt INTEGER DEFAULT 1",
    """
    CREATE TABLE triggers (
        workflow_id VARCHAR NOT NULL,
        topic VARCHAR NOT NULL,
        last_topic_seq BIGINT NOT NULL,
        batch_size INTEGER NOT NULL,
        batch_timeout_seconds DOUBLE,
        created_at TIMESTAMPTZ NOT NULL,
        updated_at TIMESTAMPTZ NOT NULL,
        PRIMARY KEY (workflow_id, topic)
    )
    """,
    """
    CREATE TABLE schedules (
        id VARCHAR PRIMARY KEY,
        workflow_id VARCHAR NOT NULL,
        key VARCHAR NOT NULL,
        cron VARCHAR NOT NULL,
        timezone VARCHAR NOT NULL,
        catch_up VARCHAR NOT NULL,
        status VARCHAR NOT NULL,
        last_fire_at TIMESTAMPTZ,
        next_fire_at TIMESTAMPTZ,
        created_at TIMESTAMPTZ NOT NULL,
        updated_at TIMESTAMPTZ NOT NULL
    )
    """,
]

_M003 = [
    # The limit given with invoke(queue_name=..., queue_concurrency_limit=...): restored on
    # recovery so an invoke-time limit holds across a restart too (D18).
    "ALTER TABLE executions ADD COLUMN queue_concurrency_limit INTEGER",
]

_M004 = [
    # Forks: a run started from another run's journal up to a step (journal tools).
    "ALTER TABLE executions ADD COLUMN forked_from VARCHAR",
    "ALTER TABLE executions ADD COLUMN fork_position INTEGER",
]

_M005 = [
    # OpenTelemetry: the W3C trace context (JSON) a run's spans are children of, so a run
    # resumed later, or by another process, stays in the trace it was started in.
    "ALTER TABLE executions ADD COLUMN trace_context VARCHAR",
]

_M006 = [
    # Runs started from a channel (a Slack mention) remember where, and start once per key.
    "ALTER TABLE executions ADD COLUMN channel_context JSON",
    """
    CREATE TABLE start_keys (
        key VARCHAR PRIMARY KEY,
        execution_id VARCHAR NOT NULL,
        created_at TIMESTAMPTZ NOT NULL
    )
    """,
]

_M008 = [
    # Several workers on one (PostgreSQL) journal: who drives each run, who is alive, and
    # the resumes one worker hands to another.
    "ALTER TABLE executions ADD COLUMN owner VARCHAR",
    """
    CREATE TABLE workers (
        id VARCHAR PRIMARY KEY,
        pid INTEGER,
        host VARCHAR,
        started_at TIMESTAMPTZ NOT NULL,
        heartbeat_at TIMESTAMPTZ NOT NULL
    )
    """,
    """
    CREATE TABLE requests (
        id VARCHAR PRIMARY KEY,
        execution_id VARCHAR NOT NULL,
        body JSON NOT NULL,
        answer JSON,
        created_at TIMESTAMPTZ NOT NULL,
        answered_at TIMESTAMPTZ
    )
    """,
    """
    CREATE TABLE queue_slots (
        execution_id VARCHAR PRIMARY KEY,
        queue_name VARCHAR NOT NULL,
        concurrency_key VARCHAR NOT NULL,
        worker_id VARCHAR NOT NULL,
        acquired_at TIMESTAMPTZ NOT NULL
    )
    """,
]

_M009 = [
    # Each worker's own lease: workers started with different POLOS_WORKER_LEASE settings
    # judge each other by the other's lease, not their own.
    "ALTER TABLE workers ADD COLUMN lease_seconds DOUBLE DEFAULT 15",
]

_M010 = [
    # Queue order across workers: who waits for a slot of a limited queue, since when.
    """
    CREATE TABLE queue_waiters (
        execution_id VARCHAR PRIMARY KEY,
        queue_name VARCHAR NOT NULL,
        concurrency_key VARCHAR NOT NULL,
        worker_id VARCHAR NOT NULL,
        queued_at TIMESTAMPTZ NOT NULL
    )
    """,
]

_M011 = [
    # Each worker says which workflows it defines: a run nobody can take is visible as such.
    "ALTER TABLE workers ADD COLUMN workflows JSON",
]

_JSON_COLUMNS = {
    "executions": ("payload", "result", "error", "state", "initial_state"),
    "steps": ("output", "error", "state"),
    "events": ("data",),
    "waits": ("detail",),
    "mailbox": ("data",),
}


def _renames() -> list[str]:
    """Migration 7: typed JSON names polos_nb's classes by their public names.

    Rows written before it hold ``"cls":"polos_nb.engine._types:EventPayload"`` and the
    like; each JSON column is rewritten with the names of ``polos_nb._journal_names.RENAMED``
    (a quoted ``module:Qualname`` occurs in typed JSON only as a class name).
    """
    statements = []
    for table, columns in _JSON_COLUMNS.items():
        for column in columns:
            expr = f"{column}::VARCHAR"
            for old, new in RENAMED.items():
                expr = f"replace({expr}, '\"{old}\"', '\"{new}\"')"
            statements.append(
                f"UPDATE {table} SET {column} = ({expr})::JSON"
                f" WHERE {column}::VARCHAR LIKE '%polos_nb.%'"
            )
    return statements


_M007 = _renames()

MIGRATIONS: list[tuple[int, str, list[str]]] = [
    (1, "initial", _M001),
    (2, "run attempts, event triggers, schedules", _M002),
    (3, "invoke-time queue limits", _M003),
    (4, "forks", _M004),
    (5, "trace context", _M005),
    (6, "channel context, idempotent starts", _M006),
    (7, "public class names in typed JSON", _M007),
    (8, "workers sharing a journal", _M008),
    (9, "each worker's own lease", _M009),
    (10, "queue order across workers", _M010),
    (11, "workflows each worker defines", _M011),
]

SCHEMA_VERSION = MIGRATIONS[-1][0]

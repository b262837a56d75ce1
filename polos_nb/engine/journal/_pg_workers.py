"""Several workers on one PostgreSQL journal: membership, leases, claims, wake-ups.

Every process that opens a PostgreSQL journal is a *worker* of it (docs/postgres.md,
"Several workers"; ``POLOS_JOURNAL_SHARED=0`` asks for a single owner instead):

- **Membership and leases.** A worker registers a ``workers`` row and a thread renews its
  ``heartbeat_at`` every third of the lease (``POLOS_WORKER_LEASE`` seconds, 15 by
  default), with the server's clock, so machines need not agree on the time. A worker of
  the same machine (and process namespace) whose process is gone is dead at once: a
  script restarted there takes its runs up without waiting for the lease.
- **Fencing.** Every write transaction of a worker first takes a key-share lock on its own
  ``workers`` row (``FOR KEY SHARE``: it holds off the row's delete, never its heartbeat,
  so a busy writer cannot starve its own heartbeat into a lapsed lease). A worker whose heartbeat lapsed is deleted by the next claim of another
  worker (the delete waits for the lapsed worker's transaction in flight, if any); from
  then on each of its writes fails, so a worker that was presumed dead cannot record a
  step of a run another worker has taken over. It stops driving runs (restart it).
- **Claims.** Runs belong to trees (a root and its children): a worker claims whole trees
  of active runs that have no live owner, oldest first, ``FOR UPDATE SKIP LOCKED``, one
  claim transaction at a time (an advisory transaction lock, so two workers never split a
  tree). A run started in a worker that defines its workflow is that worker's from the
  start; one started where the workflow is not defined is left for the workers that
  define it.
- **Wake-ups.** ``NOTIFY polos_nb`` is sent in the transaction that leaves work for others
  (``work``: an unowned run; ``request``: a resume for another worker's run;
  ``event:<topic>``: an event), so it arrives when the transaction commits; a listener
  thread turns each notification (and a tick every second) into a call of ``on_wake``.
- **Sequence numbers** come from the ``polos_seq`` sequence in blocks (each worker numbers
  its own writes within its block; a worker takes a fresh block when it claims runs, so a
  tree's numbers keep growing when it changes hands). A block that runs out while the
  server is away waits for it, like the writes themselves.
- **One leader** (a session advisory lock) fires schedules and event triggers, so each
  fires once whatever the number of workers; another worker takes the lead when it goes.
- **Advertised workflows** (migration 11): a worker's row lists the workflow ids it
  defines (``workers.workflows``, a JSON array), the ids it claims runs of. The runtime
  writes it when the set changes (:meth:`WorkerSeat.advertise`, not with every heartbeat);
  a start by id reads what live workers define (:meth:`WorkerSeat.live_workflows`) to say
  when none defines the workflow. A worker of an older polos_nb leaves it NULL (it does
  not say).
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from polos_nb.errors import JournalLockedError, JournalUnavailableError, UserError

from ._interface import ACTIVE_STATUSES

__all__ = [
    "CHANNEL",
    "WorkerFencedError",
    "WorkerSeat",
    "lease_seconds",
    "shared_mode",
]

log = logging.getLogger("polos_nb.engine")

CHANNEL = "polos_nb"
"""The LISTEN/NOTIFY channel of a journal database."""

SEQ_BLOCK = 1000
"""Sequence numbers a worker takes from ``polos_seq`` at a time."""
REQUEST_KEEP = 600.0
"""Seconds after which a request between workers is swept, answered or not (its sender,
which waits at most a minute, has gone)."""

OWNER_LOCK = 0x706F6C6F735F6E62
"""The advisory lock of ``_postgres``'s single owner; shared workers hold it in share mode."""
LEADER_LOCK = OWNER_LOCK + 1
CLAIM_LOCK = OWNER_LOCK + 2
SETUP_LOCK = OWNER_LOCK + 3

_ACTIVE_SQL = "(" + ", ".join(f"'{s}'" for s in ACTIVE_STATUSES) + ")"


class WorkerFencedError(JournalUnavailableError):
    """This worker's lease lapsed and another worker took over its runs: it writes no more."""

    def __init__(self, path: str, worker_id: str) -> None:
        super().__init__(
            path,
            f"worker {worker_id} lost its lease (no heartbeat for too long) and other workers "
            "may have taken its runs over; it writes no more under that id (a runtime joins "
            "again as a new worker by itself)",
        )
        self.worker_id = worker_id

    def __reduce__(self) -> Any:
        return (type(self), (self.path, self.worker_id))


def shared_mode() -> bool:
    """Whether processes share a PostgreSQL journal as workers (the default) or one owns it
    at a time (``$POLOS_JOURNAL_SHARED=0``)."""
    text = os.environ.get("POLOS_JOURNAL_SHARED", "").strip().lower()
    if text in ("0", "false", "no", "off"):
        return False
    if text in ("", "1", "true", "yes", "on"):
        return True
    raise UserError(
        f"POLOS_JOURNAL_SHARED must be 1 (workers share the journal) or 0 (one owner) (got {text!r})."
    )


def _machine() -> str:
    """This machine and process namespace: where a worker's process id means something."""
    try:
        namespace = os.readlink("/proc/self/ns/pid")
    except OSError:
        namespace = "?"
    return f"{socket.gethostname()}/{namespace}"


def _gone(pid: int) -> bool:
    """Whether process ``pid`` of this machine has ended (a zombie not yet reaped has)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rpartition(")")[2].split()[0] == "Z"
    except (OSError, IndexError):
        return False


def lease_seconds() -> float:
    """``$POLOS_WORKER_LEASE``: seconds without a heartbeat after which a worker is presumed dead."""
    text = os.environ.get("POLOS_WORKER_LEASE", "").strip()
    if not text:
        return 15.0
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0.5:
        raise UserError(f"POLOS_WORKER_LEASE must be a number of seconds >= 0.5 (got {text!r}).")
    return value


class WorkerSeat:
    """One process's place among the workers of a journal database.

    Args:
        connect: makes a new autocommit connection to the database.
        display: the database's URL without its password (for messages).
    """

    def __init__(self, connect: Callable[[], Any], display: str, pg: Any) -> None:
        self._connect = connect
        self._pg = pg
        self.display = display
        self.lease = lease_seconds()
        self.id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.fenced = False
        self.leads = False
        self.on_wake: Callable[[str], None] | None = None
        self.workflows: list[str] | None = None
        """The workflow ids this worker advertises (:meth:`advertise`); None until it says."""
        self._closing = threading.Event()
        self._side_lock = threading.Lock()
        self._side: Any = None
        self._listener_thread: threading.Thread | None = None
        self._heart_thread: threading.Thread | None = None

    # ------------------------------------------------------------------ joining
    def join(self) -> None:
        """Register this worker (after migrations); start the heartbeat and the listener."""
        side = self._connect()
        ok = side.execute("SELECT pg_try_advisory_lock_shared(%s)", [OWNER_LOCK]).fetchone()[0]
        if not ok:
            side.close()
            raise JournalLockedError(self.display, None)
        with side.transaction():
            side.execute("SELECT pg_advisory_xact_lock(%s)", [SETUP_LOCK])
            side.execute(f"CREATE SEQUENCE IF NOT EXISTS polos_seq INCREMENT BY {SEQ_BLOCK}")
            # Never below what the journal holds (runs written by a single owner, say).
            side.execute(
                "SELECT setval('polos_seq', greatest((SELECT last_value FROM polos_seq),"
                " coalesce((SELECT max(seq) FROM executions), 0),"
                " coalesce((SELECT max(seq) FROM steps), 0),"
                " coalesce((SELECT max(seq) FROM events), 0), 1))"
            )
            try:
                with side.transaction():
                    side.execute(
                        "CREATE UNIQUE INDEX IF NOT EXISTS events_topic_seq"
                        " ON events (topic, topic_seq)"
                    )
            except self._pg.Error as exc:  # old duplicates: publishes are then unchecked
                log.warning("polos_nb: no unique index on events (topic, topic_seq): %s", exc)
            side.execute(
                "INSERT INTO workers (id, pid, host, started_at, heartbeat_at, lease_seconds,"
                " workflows) VALUES (%s, %s, %s, now(), now(), %s, %s)",
                [self.id, os.getpid(), _machine(), self.lease, self._workflows_json()],
            )
        self._side = side
        self._heart_thread = threading.Thread(
            target=self._heartbeat, name="polos-worker-heartbeat", daemon=True
        )
        self._heart_thread.start()
        self._listener_thread = threading.Thread(
            target=self._listen, name="polos-worker-listen", daemon=True
        )
        self._listener_thread.start()

    def leave(self, conn: Any) -> None:
        """Hand this worker's unfinished runs back (another worker claims them at once)."""
        self._closing.set()
        if not self.fenced and conn is not None:
            try:
                with conn.transaction():
                    conn.execute(
                        f"UPDATE executions SET owner = NULL WHERE owner = %s"
                        f" AND status IN {_ACTIVE_SQL}",
                        [self.id],
                    )
                    conn.execute("DELETE FROM workers WHERE id = %s", [self.id])
                    conn.execute("SELECT pg_notify(%s, 'work')", [CHANNEL])
            except Exception as exc:
                log.warning("polos_nb: worker %s could not hand its runs back: %s", self.id, exc)
        for thread in (self._heart_thread, self._listener_thread):
            if thread is not None:
                thread.join(timeout=5)
        with self._side_lock:
            if self._side is not None:
                try:
                    self._side.close()
                except Exception:
                    pass
                self._side = None

    def rejoin(self) -> None:
        """After a fence: join again as a new worker (the runs of the old one are anybody's).

        The caller has stopped driving the old worker's runs and waited until every write
        it had queued was refused.
        """

        def fresh(conn: Any) -> None:
            conn.execute("SELECT pg_advisory_unlock_all()")  # the lead, if it had it
            conn.execute("SELECT pg_try_advisory_lock_shared(%s)", [OWNER_LOCK])
            conn.execute(
                "INSERT INTO workers (id, pid, host, started_at, heartbeat_at, lease_seconds,"
                " workflows) VALUES (%s, %s, %s, now(), now(), %s, %s)",
                [new_id, os.getpid(), _machine(), self.lease, self._workflows_json()],
            )

        new_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._on_side(fresh)
        old, self.id = self.id, new_id
        self.leads = False
        self.fenced = False
        log.warning("polos_nb: worker %s joins again as %s", old, new_id)
        if self._heart_thread is None or not self._heart_thread.is_alive():
            self._heart_thread = threading.Thread(
                target=self._heartbeat, name="polos-worker-heartbeat", daemon=True
            )
            self._heart_thread.start()

    # ------------------------------------------------------------------ the side connection
    def _on_side(self, work: Callable[[Any], Any]) -> Any:
        with self._side_lock:
            for attempt in (1, 2):
                try:
                    if self._side is None or self._side.closed or self._side.broken:
                        self._side = self._connect()
                        self.leads = False  # the old session's locks went with it
                        self._side.execute("SELECT pg_try_advisory_lock_shared(%s)", [OWNER_LOCK])
                    return work(self._side)
                except (
                    self._pg.OperationalError,
                    self._pg.InterfaceError,
                    JournalUnavailableError,
                ):
                    try:
                        if self._side is not None:
                            self._side.close()
                    except Exception:
                        pass
                    self._side = None
                    if attempt == 2:
                        raise
        return None

    def seq_block(self) -> tuple[int, int]:
        """A fresh block of journal sequence numbers: ``(first, last)``.

        Waits while the server is away (as the runs' writes do), trying again every half
        second: a block that ran out during an outage holds up the next number rather than
        failing the step that asked for it. Raises :class:`JournalUnavailableError` only if
        the worker closes meanwhile.
        """
        warned = False
        while True:
            try:
                start = self._on_side(
                    lambda c: c.execute("SELECT nextval('polos_seq')").fetchone()[0]
                )
                return int(start), int(start) + SEQ_BLOCK - 1
            except (
                self._pg.OperationalError,
                self._pg.InterfaceError,
                JournalUnavailableError,
            ) as exc:
                if not warned:
                    log.warning(
                        "polos_nb: worker %s waits for the database server to number its"
                        " next writes: %s",
                        self.id,
                        exc,
                    )
                    warned = True
                if self._closing.wait(0.5):
                    raise JournalUnavailableError(
                        self.display, "the worker closed while the server was away"
                    ) from exc

    # ------------------------------------------------------------------ advertised workflows
    def _workflows_json(self) -> str | None:
        return None if self.workflows is None else json.dumps(self.workflows)

    def advertise(self, workflow_ids: Sequence[str]) -> None:
        """Say which workflows this worker defines (its row's ``workflows``; the runtime
        calls this when the set changes). Kept for a new row after a fence, too."""
        self.workflows = sorted(set(workflow_ids))
        if self.fenced:
            return  # written with the row of the new id (rejoin)
        text = self._workflows_json()
        self._on_side(
            lambda c: c.execute("UPDATE workers SET workflows = %s WHERE id = %s", [text, self.id])
        )

    def live_workflows(self) -> tuple[frozenset[str], int]:
        """What the live workers define: ``(workflow ids, workers that do not say)``.

        A worker is live while its lease holds and, on this machine, while its process
        runs. One that does not say is of an older polos_nb (or has just joined): it may
        define any workflow.
        """
        rows = self._on_side(
            lambda c: c.execute(
                "SELECT pid, host, workflows FROM workers"
                " WHERE heartbeat_at >= now() - make_interval(secs => lease_seconds)"
            ).fetchall()
        )
        here = _machine()
        defined: set[str] = set()
        silent = 0
        for pid, host, workflows in rows or ():
            if host == here and pid is not None and _gone(int(pid)):
                continue
            if workflows is None:
                silent += 1
                continue
            try:
                ids = json.loads(workflows) if isinstance(workflows, str) else workflows
                defined.update(str(i) for i in ids)
            except (TypeError, ValueError):
                silent += 1
        return frozenset(defined), silent

    def sweep_requests(self) -> int:
        """Delete requests older than :data:`REQUEST_KEEP` seconds; how many went.

        A sender reads its answer within seconds and deletes the request, or gives up and
        deletes it after a minute; what is older was left by a sender that died meanwhile
        (or asked about a run that ended). The leader sweeps now and then.
        """
        if self.fenced:
            return 0
        cur = self._on_side(
            lambda c: c.execute(
                "DELETE FROM requests WHERE created_at < now() - make_interval(secs => %s)",
                [REQUEST_KEEP],
            )
        )
        return int(cur.rowcount) if cur is not None else 0

    def try_lead(self) -> bool:
        """Whether this worker leads (takes the lead if nobody holds it)."""
        if self.fenced:
            return False

        def attempt(conn: Any) -> bool:
            if self.leads:
                conn.execute("SELECT 1")
                return True
            got = conn.execute("SELECT pg_try_advisory_lock(%s)", [LEADER_LOCK]).fetchone()[0]
            return bool(got)

        try:
            self.leads = bool(self._on_side(attempt))
        except (self._pg.Error, JournalUnavailableError):
            self.leads = False
        return self.leads

    # ------------------------------------------------------------------ threads
    def _heartbeat(self) -> None:
        conn: Any = None
        while not self._closing.wait(self.lease / 3):
            try:
                if conn is None or conn.closed or conn.broken:
                    conn = self._connect()
                cur = conn.execute(
                    "UPDATE workers SET heartbeat_at = now() WHERE id = %s", [self.id]
                )
                if cur.rowcount == 0 and not self._closing.is_set():
                    self._fence()
                    return
            except Exception as exc:  # the server is away: try again next beat
                log.warning("polos_nb: worker %s heartbeat failed: %s", self.id, exc)
                conn = None
        if conn is not None:
            conn.close()

    def _fence(self) -> None:
        if not self.fenced:
            self.fenced = True
            self.leads = False
            log.error(
                "polos_nb: worker %s missed its lease; other workers may take its runs over. "
                "It stops driving them and joins again as a new worker.",
                self.id,
            )
            self._wake("fenced")

    def _wake(self, what: str) -> None:
        callback = self.on_wake
        if callback is not None:
            try:
                callback(what)
            except Exception:
                log.exception("polos_nb: worker wake-up failed")

    def _listen(self) -> None:
        conn: Any = None
        while not self._closing.is_set():
            try:
                if conn is None or conn.closed or conn.broken:
                    conn = self._connect()
                    conn.execute(f"LISTEN {CHANNEL}")
                    self._wake("tick")
                for note in conn.notifies(timeout=1.0):
                    self._wake(note.payload)
                    if self._closing.is_set():
                        break
                self._wake("tick")
            except Exception:  # the server is away: listen again once it answers
                conn = None
                self._closing.wait(0.5)
        if conn is not None:
            try:
                conn.close()
            except Exception:
                pass

    # ------------------------------------------------------------------ in the writer's transactions
    def fence_check(self, conn: Any) -> None:
        """First statement of each write transaction: this worker still holds its lease."""
        if not self.fenced:
            row = conn.execute(
                "SELECT 1 FROM workers WHERE id = %s FOR KEY SHARE", [self.id]
            ).fetchone()
            if row is not None:
                return
            self._fence()
        raise WorkerFencedError(self.display, self.id)

    def notifications(self, ops: Sequence[Any]) -> list[str]:
        """What to ``NOTIFY`` for a transaction of ``ops`` (sent at its commit)."""
        notes: list[str] = []
        for op in ops:
            table = getattr(op, "table", None)
            if table == "queue_slots" and type(op).__name__ == "Delete":
                notes.append("slot")
            if type(op).__name__ != "Insert":
                continue
            if table == "executions":
                columns = op.columns
                if "owner" in columns and op.values[columns.index("owner")] is None:
                    notes.append("work")
            elif table == "requests":
                notes.append("request")
            elif table == "events":
                topic = str(op.values[op.columns.index("topic")])
                notes.append(f"event:{topic}" if len(topic) < 7000 else "event:*")
        return list(dict.fromkeys(notes))

    def claim(self, conn: Any, workflow_ids: list[str], limit: int) -> list[str]:
        """Claim up to ``limit`` trees of runs with no live owner; returns the claimed run ids.

        The oldest runs go to whichever live worker claims first; how runs spread over
        workers is not promised (runs started in a burst may all go to one). A claimed run
        stays with this worker, also while it waits for a queue slot: the worker fills
        every slot a queue's limit allows by itself, and the oldest waiter, wherever it is,
        takes a slot given back (:meth:`take_slot`), so no other worker could have started it
        sooner.
        """
        if self.fenced or not workflow_ids or limit <= 0:
            return []
        self.fence_check(conn)
        conn.execute("SELECT pg_advisory_xact_lock(%s)", [CLAIM_LOCK])
        # Presumed dead: no heartbeat for its own lease. Deleting the row fences the worker.
        conn.execute(
            "DELETE FROM workers WHERE heartbeat_at < now() - make_interval(secs => lease_seconds)"
        )
        # Dead for sure: a worker of this machine whose process is gone.
        local = conn.execute(
            "SELECT id, pid FROM workers WHERE host = %s AND id <> %s", [_machine(), self.id]
        ).fetchall()
        gone = [worker for worker, pid in local if pid is not None and _gone(int(pid))]
        if gone:
            conn.execute("DELETE FROM workers WHERE id = ANY(%s)", [gone])
        roots = conn.execute(
            "SELECT e.root_execution_id FROM executions e"
            f" WHERE e.status IN {_ACTIVE_SQL} AND e.workflow_id = ANY(%s)"
            " AND (e.owner IS NULL OR NOT EXISTS"
            " (SELECT 1 FROM workers w WHERE w.id = e.owner))"
            " ORDER BY e.created_at LIMIT %s FOR UPDATE OF e SKIP LOCKED",
            [list(workflow_ids), limit],
        ).fetchall()
        if not roots:
            return []
        rows = conn.execute(
            "UPDATE executions e SET owner = %s"
            f" WHERE e.root_execution_id = ANY(%s) AND e.status IN {_ACTIVE_SQL}"
            " AND (e.owner IS NULL OR NOT EXISTS"
            " (SELECT 1 FROM workers w WHERE w.id = e.owner))"
            " RETURNING e.id, e.created_at",
            [self.id, list({r[0] for r in roots})],
        ).fetchall()
        return [r[0] for r in sorted(rows, key=lambda r: r[1])]

    def take_slot(
        self, conn: Any, execution_id: str, queue_name: str, concurrency_key: str, limit: int
    ) -> bool:
        """Take one of a queue's ``limit`` slots (per concurrency key) across all workers,
        first come, first served.

        Requests for one queue and key are decided one at a time (an advisory transaction
        lock on their names). A run refused a slot is recorded in ``queue_waiters`` with the
        time it was queued (its ``created_at`` if it never ran, else the time it first
        asked again after a wait); a free slot goes to a run only if fewer runs queued
        before it still wait. Slots and waiters count only while the worker that holds them
        is alive and still owns the run, and the run has not ended: a dead worker's waiters
        never hold the queue up (its runs keep their place once another worker takes them
        over and asks again). Runs a worker queues behind its own running run have not
        asked yet; the worker writes them to ``queue_waiters`` when it gives that run's slot
        back (``Workers.give_slot``), so they count here as waiters too.
        """
        self.fence_check(conn)
        conn.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))",
            [f"polos_nb queue {queue_name}\x1f{concurrency_key}"],
        )
        # Waiters whose run ended (cancelled while it waited, say) are gone for good.
        conn.execute(
            "DELETE FROM queue_waiters q WHERE q.queue_name = %s AND q.concurrency_key = %s"
            " AND NOT EXISTS (SELECT 1 FROM executions e WHERE e.id = q.execution_id"
            f" AND e.status IN {_ACTIVE_SQL})",
            [queue_name, concurrency_key],
        )
        taken = conn.execute(
            "SELECT count(*) FROM queue_slots s JOIN workers w ON w.id = s.worker_id"
            " WHERE s.queue_name = %s AND s.concurrency_key = %s AND s.execution_id <> %s"
            " AND w.heartbeat_at >= now() - make_interval(secs => w.lease_seconds)",
            [queue_name, concurrency_key, execution_id],
        ).fetchone()[0]
        # This run's place in the queue: kept from its first refusal (also across a
        # takeover by another worker), else the time it was queued.
        row = conn.execute(
            "INSERT INTO queue_waiters (execution_id, queue_name, concurrency_key, worker_id,"
            " queued_at) SELECT e.id, %s, %s, %s,"
            " CASE WHEN e.started_at IS NULL THEN e.created_at ELSE now() END"
            " FROM executions e WHERE e.id = %s"
            " ON CONFLICT (execution_id) DO UPDATE SET worker_id = excluded.worker_id,"
            " queue_name = excluded.queue_name, concurrency_key = excluded.concurrency_key"
            " RETURNING queued_at",
            [queue_name, concurrency_key, self.id, execution_id],
        ).fetchone()
        ahead = 0
        if row is not None and taken < limit:
            ahead = conn.execute(
                "SELECT count(*) FROM queue_waiters q"
                " JOIN workers w ON w.id = q.worker_id"
                " JOIN executions e ON e.id = q.execution_id AND e.owner = q.worker_id"
                " WHERE q.queue_name = %s AND q.concurrency_key = %s AND q.execution_id <> %s"
                " AND (q.queued_at, q.execution_id) < (%s, %s)"
                f" AND e.status IN {_ACTIVE_SQL}"
                " AND w.heartbeat_at >= now() - make_interval(secs => w.lease_seconds)",
                [queue_name, concurrency_key, execution_id, row[0], execution_id],
            ).fetchone()[0]
        if taken + ahead >= limit:
            return False
        conn.execute("DELETE FROM queue_waiters WHERE execution_id = %s", [execution_id])
        conn.execute(
            "INSERT INTO queue_slots (execution_id, queue_name, concurrency_key, worker_id,"
            " acquired_at) VALUES (%s, %s, %s, %s, now()) ON CONFLICT (execution_id) DO UPDATE"
            " SET worker_id = excluded.worker_id, acquired_at = excluded.acquired_at",
            [execution_id, queue_name, concurrency_key, self.id],
        )
        return True

    def requests(self, conn: Any) -> list[tuple[str, str]]:
        """Unanswered requests for runs this worker owns: ``(id, body)``."""
        return [
            (r[0], r[1])
            for r in conn.execute(
                "SELECT r.id, r.body FROM requests r JOIN executions e ON e.id = r.execution_id"
                " WHERE r.answer IS NULL AND e.owner = %s ORDER BY r.created_at",
                [self.id],
            ).fetchall()
        ]

    def owned(self, conn: Any, created_before: Any) -> list[str]:
        """Unfinished runs this worker owns that were created before ``created_before``,
        oldest first."""
        return [
            r[0]
            for r in conn.execute(
                f"SELECT id FROM executions WHERE owner = %s AND status IN {_ACTIVE_SQL}"
                " AND created_at < %s ORDER BY created_at",
                [self.id, created_before],
            ).fetchall()
        ]

    def owner_of(self, conn: Any, execution_id: str) -> tuple[str | None, bool] | None:
        """``(owner, owner alive)`` of a run, or None if the journal has no such run."""
        row = conn.execute(
            "SELECT e.owner, EXISTS (SELECT 1 FROM workers w WHERE w.id = e.owner"
            " AND w.heartbeat_at >= now() - make_interval(secs => w.lease_seconds))"
            " FROM executions e WHERE e.id = %s",
            [execution_id],
        ).fetchone()
        return None if row is None else (row[0], bool(row[1]))

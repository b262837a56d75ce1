"""The typed read API over a run's journal: what notebooks, widgets and tools show.

- **A run's record** (:class:`RunRecord`): the run, every execution of its tree, every step
  attempt of the tree, and the run's events.
- **A run's events** have one definition: the events journaled on its tree's topic
  (``workflow/<root workflow id>/<root execution id>``: lifecycle, suspend/resume and
  published events) merged with one ``step_finish`` event per ended step attempt of the
  tree (retry attempts left out), in journal order. ``stream_events`` replays exactly these
  and then follows the live ones; each carries its :attr:`StreamEvent.journal_seq`.
- **Pending suspensions** (:class:`PendingSuspension`): suspensions waiting for an answer,
  with the data their ``suspend_<key>`` event carried (the form to show).
- **Run-id resolution**: a full id from a unique prefix.

The functions here run on the engine loop; ``PolosClient`` exposes them (async and sync).
"""

from __future__ import annotations

import concurrent.futures
import datetime as dt
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel

from polos_nb import _serde
from polos_nb.errors import ExecutionNotFoundError, JournalLockedError, UserError

from ._records import history_events, info_from_row
from ._types import ExecutionInfo, StreamEvent
from .journal import Journal, SuspensionRow, read_journal_reads

if TYPE_CHECKING:
    from ._runtime import Runtime

T = TypeVar("T")

__all__ = [
    "PendingSuspension",
    "QueryResult",
    "RunReader",
    "RunRecord",
    "StepInfo",
    "pending_suspensions",
    "read_runs",
    "resolve_run_id",
    "run_events",
    "run_record",
    "tree_topic",
]


class StepInfo(BaseModel):
    """One journaled step attempt. ``output`` / ``error`` are decoded (leniently: a class
    this process does not define comes back as plain data)."""

    seq: int
    execution_id: str
    workflow_id: str
    position: int | None
    key: str
    kind: str
    attempt: int
    status: str
    output: Any = None
    error: Any = None
    started_at: dt.datetime | None = None
    ended_at: dt.datetime | None = None

    @property
    def duration_ms(self) -> float | None:
        """How long the attempt took, in milliseconds (None when its start is unknown)."""
        if self.started_at is None or self.ended_at is None:
            return None
        return round((self.ended_at - self.started_at).total_seconds() * 1000, 1)


class RunRecord(BaseModel):
    """Everything the journal holds about one run (``client.run_record(id)``)."""

    execution: ExecutionInfo
    """The run asked for."""
    tree: list[ExecutionInfo]
    """Every execution of its tree: the root and its descendants, oldest first."""
    steps: list[StepInfo]
    """Every step attempt of the tree, in journal order (retry attempts included)."""
    events: list[StreamEvent]
    """The run's events (see the module docstring), in journal order."""
    last_seq: int
    """The journal sequence of the last event; stream on from there."""

    @property
    def topic(self) -> str:
        """The tree's event topic."""
        return tree_topic(self.execution)


class PendingSuspension(BaseModel):
    """A suspension waiting for an answer: which run, which key, and its event's data."""

    execution_id: str
    root_execution_id: str
    workflow_id: str
    root_workflow_id: str
    key: str
    data: Any = None
    """What ``suspend(key, data)`` was given (its form), without the ``_metadata`` entry."""
    created_at: dt.datetime


class QueryResult(BaseModel):
    """The result of a user's SQL over the journal: column names and rows."""

    columns: list[str]
    rows: list[tuple[Any, ...]]


def tree_topic(info: ExecutionInfo) -> str:
    """The topic an execution tree's events go to."""
    return f"workflow/{info.root_workflow_id}/{info.root_execution_id}"


def _step_info(row: Any) -> StepInfo:
    return StepInfo(
        seq=row.seq,
        execution_id=row.execution_id,
        workflow_id=row.workflow_id,
        position=row.position,
        key=row.step_key,
        kind=row.kind,
        attempt=row.attempt,
        status=row.status,
        output=_serde.loads(row.output, strict=False) if row.output else None,
        error=_serde.loads(row.error, strict=False) if row.error else None,
        started_at=row.started_at,
        ended_at=row.ended_at,
    )


async def run_events(
    rt: Runtime, execution_id: str, after_seq: int = 0, *, running: bool = False
) -> list[StreamEvent]:
    """The run's events after the journal sequence ``after_seq`` (see the module docstring),
    then, with ``running``, what a stream that begins now has missed of the tree's steps
    running now: their live ``step_start`` and catch-ups (``Live.running_step_events``)."""
    info = await rt.get_execution(execution_id)
    pairs = await rt.history(info.root_execution_id, tree_topic(info), after_seq)
    events = [event for _, event in pairs]
    if running:
        events.extend(rt.live.running_step_events(info.root_execution_id))
    return events


async def run_record(rt: Runtime, execution_id: str) -> RunRecord:
    info = await rt.get_execution(execution_id)
    tree = await rt.read(rt.journal.tree_infos(info.root_execution_id))
    steps = await rt.read(rt.journal.tree_steps(info.root_execution_id))
    pairs = await rt.history(info.root_execution_id, tree_topic(info), 0)
    return RunRecord(
        execution=info,
        tree=[info_from_row(row) for row in tree],
        steps=[_step_info(row) for row in steps],
        events=[event for _, event in pairs],
        last_seq=max((seq for seq, _ in pairs), default=0),
    )


async def pending_suspensions(
    rt: Runtime, execution_id: str | None = None
) -> list[PendingSuspension]:
    return _pending(await rt.read(rt.journal.pending_suspensions(execution_id)))


def _pending(rows: list[SuspensionRow]) -> list[PendingSuspension]:
    out = []
    for row in rows:
        data = _serde.loads(row.data, strict=False) if row.data else {}
        if isinstance(data, dict):
            data = {k: v for k, v in data.items() if k != "_metadata"}
        out.append(
            PendingSuspension(
                execution_id=row.execution_id,
                root_execution_id=row.root_execution_id,
                workflow_id=row.workflow_id,
                root_workflow_id=row.root_workflow_id,
                key=row.step_key,
                data=data,
                created_at=row.created_at,
            )
        )
    return out


async def resolve_run_id(rt: Runtime, prefix: str) -> str:
    """A full execution id from a unique prefix (an exact id is returned as is)."""
    prefix = prefix.strip()
    if not prefix:
        raise UserError("An empty run id was given.")
    ids = await rt.read(rt.journal.find_ids(prefix, 3))
    if prefix in ids:
        return prefix
    if len(ids) == 1:
        return str(ids[0])
    if not ids:
        raise ExecutionNotFoundError(prefix)
    raise UserError(
        f"Run id prefix {prefix!r} is ambiguous ({', '.join(ids)} ...); give more characters."
    )


class RunReader:
    """Blocking typed reads of the runs in one journal, for a thread that is not the engine's.

    The same reads whether the journal is the client's own (``client.run_reader()``: they
    run on the journal's thread after every earlier write) or one at rest that no process
    owns (:func:`read_runs`: on a read-only connection). Tools that show runs (the
    JupyterLab extension's kernel side and its server side) use it, so a run looks the same
    from both. The async client methods (``run_record``, ``pending_suspensions``...) are the
    API for code on the engine loop.
    """

    def __init__(
        self,
        journal: Journal,
        *,
        timeout: float | None = 60.0,
        guard: Callable[[], None] | None = None,
    ) -> None:
        self._journal = journal
        self._timeout = timeout
        self._guard = guard

    @property
    def owner_pid(self) -> int | None:
        """The process that answers these reads when it is not this one: set when another
        process owns the journal and answers through the journal's inbox
        (:func:`read_runs` with ``owner_timeout``); None when they read the journal itself."""
        return None

    def _get(self, future: concurrent.futures.Future[T]) -> T:
        return future.result(self._timeout)

    def _check(self) -> None:
        if self._guard is not None:
            self._guard()

    def execution(self, execution_id: str) -> ExecutionInfo:
        """One execution; raises ``ExecutionNotFoundError`` when the journal has none."""
        self._check()
        row = self._get(self._journal.info(execution_id))
        if row is None:
            raise ExecutionNotFoundError(execution_id)
        return info_from_row(row)

    def run_events(self, execution_id: str, after_seq: int = 0) -> list[StreamEvent]:
        """A run's events (the module docstring's definition; ``client.run_events``)."""
        info = self.execution(execution_id)
        topic = tree_topic(info)
        found = self._get(self._journal.history(info.root_execution_id, topic, after_seq))
        return [event for _, event in history_events(found, topic)]

    def pending_suspensions(self, execution_id: str | None = None) -> list[PendingSuspension]:
        """Suspensions waiting for an answer, oldest first: of one run's tree, or all."""
        self._check()
        return _pending(self._get(self._journal.pending_suspensions(execution_id)))

    def run_counts(self) -> dict[str, int]:
        """How many runs (root executions) are in each status."""
        self._check()
        return self._get(self._journal.run_counts())

    def runs(
        self, *, status: str | None = None, offset: int = 0, limit: int = 100
    ) -> list[ExecutionInfo]:
        """One page of runs (root executions), newest first, of one status or all."""
        self._check()
        rows = self._get(self._journal.root_infos(status=status, offset=offset, limit=limit))
        return [info_from_row(row) for row in rows]

    def step_outputs(
        self, root_execution_ids: Sequence[str], key_prefix: str
    ) -> list[tuple[str, Any]]:
        """``(run id, decoded output)`` of the completed steps of the given runs' trees
        whose key starts with ``key_prefix`` (e.g. ``contracts.LLM_KEY_PREFIX``)."""
        self._check()
        ids = list(root_execution_ids)
        if not ids:
            return []
        rows = self._get(self._journal.tree_step_outputs(ids, key_prefix))
        return [
            (root_id, _serde.loads(output, strict=False) if output else None)
            for root_id, output in rows
        ]

    def pending_counts(self, root_execution_ids: Sequence[str]) -> dict[str, int]:
        """How many suspensions wait for an answer in each given run's tree."""
        self._check()
        ids = list(root_execution_ids)
        return self._get(self._journal.pending_counts(ids)) if ids else {}


def read_runs(
    path: str,
    reader: Callable[[RunReader], T],
    *,
    retry: float = 0.0,
    owner_timeout: float | None = None,
) -> T:
    """``reader(run_reader)`` on a DuckDB journal at rest (no process owns it), read-only.

    The file is held while ``reader`` runs: keep it short. Raises the errors of
    ``polos_nb.engine.journal.read_journal`` (``JournalLockedError`` when a process owns
    the journal; ``retry`` seconds are spent retrying first).

    With ``owner_timeout``, a journal that another live process owns is not an error at
    once: ``reader`` gets a :class:`RunReader` whose reads that process answers through
    the journal's inbox (``engine/_inbox.py``; its ``owner_pid`` names the process), each
    within ``owner_timeout`` seconds. ``JournalLockedError`` is raised when the owner does
    not answer in time (it is busy, gone, or not a polos_nb engine).
    """
    try:
        return read_journal_reads(path, lambda journal: reader(RunReader(journal)), retry=retry)
    except JournalLockedError as locked:
        if owner_timeout is None:
            raise
        from ._inbox import OwnerRunReader, may_ask_owner  # after this module in the order

        if not may_ask_owner(locked):
            raise
        owner_reads = OwnerRunReader(locked, timeout=owner_timeout)
    return reader(owner_reads)

"""How a worker of a shared PostgreSQL journal journals the start of a run it invokes.

A run of a workflow this worker defines, on a queue without a concurrency limit, is this
worker's from the start: it is journaled ``running``, owned by the worker, with its start
event, in the transaction of its row (one commit, as with a single owner). A run of a
limited queue is journaled ``queued`` and journals its start once it holds a slot counted
across workers; a run of a workflow this process does not define waits, unowned, for a
worker that defines it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from typing import Any

import pytest

from polos_nb import PolosClient, Queue, WorkflowContext, workflow
from polos_nb.engine.journal import Insert, Update


@pytest.fixture
def client(postgres_db: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[PolosClient]:
    monkeypatch.setenv("POLOS_JOURNAL_SHARED", "1")
    monkeypatch.setenv("POLOS_WORKER_LEASE", "5")
    client = PolosClient(journal=postgres_db)
    try:
        yield client
    finally:
        client.close()


class Submissions:
    """Every submission to the journal (one submission: one atomic write)."""

    def __init__(self, client: PolosClient) -> None:
        self._submit = client.runtime.journal.submit
        self.log: list[list[Any]] = []

    def __call__(self, ops: Sequence[Any]) -> Any:
        self.log.append(list(ops))
        return self._submit(ops)

    def of(self, exec_id: str) -> list[list[tuple[str, str]]]:
        return [
            [(type(op).__name__, op.table) for op in ops]
            for ops in self.log
            if any(
                (isinstance(op, Insert) and exec_id in op.values)
                or (isinstance(op, Update) and op.key == exec_id)
                for op in ops
            )
        ]

    def row(self, exec_id: str) -> Insert:
        return next(
            op
            for ops in self.log
            for op in ops
            if isinstance(op, Insert) and op.table == "executions" and exec_id in op.values
        )


def _uid(name: str) -> str:
    return f"{name}_{uuid.uuid4().hex[:10]}"


async def test_a_run_this_worker_owns_starts_in_the_commit_of_its_row(
    client: PolosClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    spy = Submissions(client)
    monkeypatch.setattr(client.runtime.journal, "submit", spy)

    @workflow(id=_uid("shared_one_step"))
    async def flow(ctx: WorkflowContext, payload: dict) -> int:
        return await ctx.step.run("double", lambda: payload["n"] * 2)

    handle = await flow.invoke(client, {"n": 21})
    assert await client.wait_for_result(handle.id, timeout=30) == 42
    assert spy.of(handle.id)[:1] == [[("Insert", "executions"), ("Insert", "events")]]
    row = spy.row(handle.id)
    assert row.values[row.columns.index("status")] == "running"
    assert row.values[row.columns.index("owner")] == client.runtime.journal.worker_id
    assert (await client.get_execution(handle.id)).status == "completed"


async def test_a_run_of_a_limited_queue_waits_for_its_slot_across_workers(
    client: PolosClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    spy = Submissions(client)
    monkeypatch.setattr(client.runtime.journal, "submit", spy)

    @workflow(id=_uid("shared_limited"), queue=Queue(_uid("one_at_a_time"), concurrency_limit=1))
    async def flow(ctx: WorkflowContext, payload: dict) -> int:
        return await ctx.step.run("double", lambda: payload["n"] * 2)

    handle = await flow.invoke(client, {"n": 4})
    assert await client.wait_for_result(handle.id, timeout=30) == 8
    row = spy.row(handle.id)
    assert row.values[row.columns.index("status")] == "queued"
    writes = spy.of(handle.id)
    assert writes[0] == [("Insert", "executions")]
    # Its start is journaled once its slot is taken: a status update with the start event.
    assert [("Update", "executions"), ("Insert", "events")] in writes[1:]

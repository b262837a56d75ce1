"""A run's own journal writes: its start, its finish, and nothing in between but its steps.

A run that can begin at once in this process (its workflow is defined here, its queue has a
free slot) is journaled ``running`` with its start event in the transaction of its row: the
start is one commit, not a row and then a status update. A run that has to wait for a slot
is journaled ``queued`` and journals its start when it begins. Lifecycle events carry the
run's payload and result as the journal JSON they already are.
"""

from __future__ import annotations

import asyncio
import json
import threading
import uuid
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, model_validator

from polos_nb import PolosClient, WorkflowContext, workflow
from polos_nb.engine.journal import Insert, Update
from polos_nb.errors import JournalError
from polos_nb.testing import refuse_writes
from tests.engine.helpers import rows, until, wait_status


def uid(name: str) -> str:
    return f"{name}_{uuid.uuid4().hex[:10]}"


class Submissions:
    """Records every submission to the journal (one submission: one atomic write)."""

    def __init__(self, client: PolosClient) -> None:
        self.journal = client.runtime.journal
        self._submit = self.journal.submit
        self.log: list[list[Any]] = []

    def __call__(self, ops: Sequence[Any]) -> Any:
        self.log.append(list(ops))
        return self._submit(ops)

    def of(self, exec_id: str) -> list[list[Any]]:
        """The submissions that write something of run ``exec_id``."""
        return [ops for ops in self.log if any(_about(op, exec_id) for op in ops)]


def _about(op: Any, exec_id: str) -> bool:
    if isinstance(op, Insert):
        return exec_id in op.values
    if isinstance(op, Update):
        return op.key == exec_id
    return False


def _kinds(ops: list[Any]) -> list[tuple[str, str]]:
    return [(type(op).__name__, op.table) for op in ops]


async def test_a_run_that_starts_at_once_is_journaled_running_in_one_commit(client, monkeypatch):
    spy = Submissions(client)
    monkeypatch.setattr(client.runtime.journal, "submit", spy)

    @workflow(id=uid("one_step"))
    async def flow(ctx: WorkflowContext, payload: dict) -> int:
        return await ctx.step.run("double", lambda: payload["n"] * 2)

    handle = await flow.invoke(client, {"n": 21})
    assert await client.wait_for_result(handle.id, timeout=10) == 42
    writes = spy.of(handle.id)
    # Its start (row + start event), its step, its finish (status + finish event): three.
    assert [_kinds(ops) for ops in writes] == [
        [("Insert", "executions"), ("Insert", "events")],
        [("Insert", "steps")],
        [("Update", "executions"), ("Insert", "events")],
    ]
    row = writes[0][0]
    assert row.values[row.columns.index("status")] == "running"
    assert row.values[row.columns.index("started_at")] is not None
    events = await rows(
        client,
        "SELECT event_type, data FROM events WHERE execution_id = ? ORDER BY topic_seq",
        [handle.id],
    )
    assert [e[0] for e in events] == ["workflow_start", "workflow_finish"]
    start, finish = (json.loads(e[1]) for e in events)
    meta = {"execution_id": handle.id, "workflow_id": flow.id}
    assert start == {"payload": {"n": 21}, "_metadata": meta}
    assert finish == {"result": 42, "_metadata": meta}
    info = await client.get_execution(handle.id)
    assert info.status == "completed" and info.started_at is not None


async def test_the_start_is_in_the_journal_before_the_first_step_runs(client):
    reached = threading.Event()
    go = threading.Event()

    @workflow(id=uid("held"))
    async def flow(ctx: WorkflowContext, payload: None) -> str:
        async def body() -> str:
            reached.set()
            while not go.is_set():
                await asyncio.sleep(0.002)
            return "ok"

        return await ctx.step.run("held", body)

    handle = await flow.invoke(client)
    await until(reached.is_set, what="the step running")
    found = await rows(
        client, "SELECT status, started_at FROM executions WHERE id = ?", [handle.id]
    )
    assert found[0][0] == "running" and found[0][1] is not None
    go.set()
    assert await client.wait_for_result(handle.id, timeout=10) == "ok"


async def test_a_run_that_waits_for_a_slot_journals_its_start_when_it_begins(client, monkeypatch):
    spy = Submissions(client)
    monkeypatch.setattr(client.runtime.journal, "submit", spy)
    go = threading.Event()

    @workflow(id=uid("one_slot"), queue={"concurrency_limit": 1})
    async def flow(ctx: WorkflowContext, payload: dict) -> int:
        async def body() -> int:
            while not go.is_set():
                await asyncio.sleep(0.002)
            return payload["n"]

        return await ctx.step.run("work", body)

    first = await flow.invoke(client, {"n": 1})
    second = await flow.invoke(client, {"n": 2})
    found = dict(
        await rows(
            client, "SELECT id, status FROM executions WHERE id IN (?, ?)", [first.id, second.id]
        )
    )
    assert found == {first.id: "running", second.id: "queued"}
    go.set()
    assert await client.wait_for_result(second.id, timeout=10) == 2
    writes = spy.of(second.id)
    assert _kinds(writes[0]) == [("Insert", "executions")]
    assert writes[0][0].values[writes[0][0].columns.index("status")] == "queued"
    assert _kinds(writes[1]) == [("Update", "executions"), ("Insert", "events")]  # begins
    events = await rows(
        client,
        "SELECT event_type FROM events WHERE execution_id = ? ORDER BY topic_seq",
        [second.id],
    )
    assert events == [("workflow_start",), ("workflow_finish",)]


async def test_a_start_the_journal_refused_gives_its_slot_back(client):
    @workflow(id=uid("refused"), queue={"concurrency_limit": 1})
    async def flow(ctx: WorkflowContext, payload: dict) -> int:
        return payload["n"]

    with refuse_writes(client, JournalError("refused")):
        try:
            await flow.invoke(client, {"n": 1})
        except JournalError:
            pass
        else:
            raise AssertionError("the start was not refused")
    # The only slot is free again: the next run starts (and is journaled running) at once.
    assert await flow.run(client, {"n": 2}, timeout=10) == 2
    assert await client.queue_status() == []


class Report(BaseModel):
    total: int
    tags: tuple[str, ...]


async def test_lifecycle_events_carry_the_payload_and_result_as_journaled(client):
    seen: list[Any] = []
    unsubscribe = client.runtime.subscribe_all(seen.append)

    @workflow(id=uid("typed"))
    async def flow(ctx: WorkflowContext, payload: dict) -> Report:
        return Report(total=payload["a"] + payload["b"], tags=("x", "y"))

    try:
        handle = await flow.invoke(client, {"a": 1, "b": 2})
        result = await client.wait_for_result(handle.id, timeout=10)
    finally:
        unsubscribe()
    assert result == Report(total=3, tags=("x", "y"))
    mine = [e for e in seen if e.data["_metadata"]["execution_id"] == handle.id]
    assert [e.event_type for e in mine] == ["workflow_start", "workflow_finish"]
    assert mine[0].data["payload"] == {"a": 1, "b": 2}
    assert mine[1].data["result"] == {"total": 3, "tags": ["x", "y"]}  # a view of the model
    assert mine[1].data["result"].total == 3
    stored = await rows(
        client,
        "SELECT e.data, x.result FROM events e JOIN executions x ON x.id = e.execution_id "
        "WHERE e.execution_id = ? AND e.event_type = 'workflow_finish'",
        [handle.id],
    )
    data, result_json = stored[0]
    assert json.loads(data)["result"] == json.loads(result_json)  # the row's result, as is


DECODED: list[int] = []


def result_id(events: list[Any]) -> str:
    """The execution id of the last finish event among ``events``."""
    return [e for e in events if e.event_type == "workflow_finish"][-1].data["_metadata"][
        "execution_id"
    ]


class Counted(BaseModel):
    """Counts how often a value of it is made (built, or decoded from the journal)."""

    n: int

    @model_validator(mode="after")
    def _count(self) -> Counted:
        DECODED.append(self.n)
        return self


async def test_a_result_is_decoded_for_a_finish_event_only_when_a_subscriber_reads_it(client):
    @workflow(id=uid("counted"))
    async def flow(ctx: WorkflowContext, payload: dict) -> Counted:
        return Counted(n=payload["n"])

    DECODED.clear()
    light: list[Any] = []  # like polos_nb.channels, which every runtime has
    unsubscribe_light = client.runtime.subscribe_all(light.append, payloads=False)
    result = await flow.run(client, {"n": 7}, timeout=10)
    assert isinstance(result, Counted) and result.n == 7
    assert DECODED == [7, 7]  # made by the workflow, decoded for the waiter
    mine = [e for e in light if e.data["_metadata"]["execution_id"] == result_id(light)]
    assert [e.event_type for e in mine] == ["workflow_start", "workflow_finish"]
    assert all(set(e.data) == {"_metadata"} for e in mine)  # no payload, no result
    unsubscribe_light()
    DECODED.clear()
    seen: list[Any] = []
    unsubscribe = client.runtime.subscribe_all(seen.append)
    try:
        result = await flow.run(client, {"n": 8}, timeout=10)
    finally:
        unsubscribe()
    assert result.n == 8
    assert DECODED == [8, 8, 8]  # and once for the finish event someone watched
    (finish,) = [e for e in seen if e.event_type == "workflow_finish"]
    assert finish.data["result"] == {"n": 8} and finish.data["result"].n == 8


async def test_the_clients_subscribe_all_without_payloads_gives_run_metadata_only(client):
    @workflow(id=uid("counted"))
    async def flow(ctx: WorkflowContext, payload: dict) -> Counted:
        return Counted(n=payload["n"])

    @workflow(id=uid("failing"))
    async def failing(ctx: WorkflowContext, payload: None) -> None:
        raise ValueError("no")

    DECODED.clear()
    light: list[Any] = []
    unsubscribe = client.subscribe_all(light.append, payloads=False)
    try:
        result = await flow.run(client, {"n": 5}, timeout=10)
        handle = await failing.invoke(client)
        await wait_status(client, handle.id, "failed")
        await until(lambda: any(e.event_type == "workflow_error" for e in light))
    finally:
        unsubscribe()
    assert result.n == 5
    assert DECODED == [5, 5]  # made by the workflow, decoded for the waiter: not for `light`
    ran = result_id(light)
    assert [
        (e.event_type, e.data) for e in light if e.data["_metadata"]["execution_id"] == ran
    ] == [
        (kind, {"_metadata": {"execution_id": ran, "workflow_id": flow.id}})
        for kind in ("workflow_start", "workflow_finish")
    ]
    failed = [e for e in light if e.data["_metadata"]["execution_id"] == handle.id]
    assert [e.event_type for e in failed] == ["workflow_start", "workflow_error"]
    assert all(set(e.data) == {"_metadata"} for e in failed)  # no error either
    assert all(
        e.sequence_id is not None for e in light if (e.event_type or "").startswith("workflow_")
    )


async def test_child_runs_start_at_once_in_their_parents_commit(client, monkeypatch):
    spy = Submissions(client)
    monkeypatch.setattr(client.runtime.journal, "submit", spy)

    @workflow(id=uid("child"))
    async def child(ctx: WorkflowContext, payload: dict) -> int:
        return payload["n"] + 1

    @workflow(id=uid("parent"))
    async def parent(ctx: WorkflowContext, payload: None) -> int:
        return await ctx.step.invoke_and_wait("c", child, {"n": 1})

    handle = await parent.invoke(client)
    assert await client.wait_for_result(handle.id, timeout=10) == 2
    (child_id,) = [
        r[0]
        for r in await rows(
            client, "SELECT id FROM executions WHERE parent_execution_id = ?", [handle.id]
        )
    ]
    first = spy.of(child_id)[0]
    row = next(op for op in first if isinstance(op, Insert) and op.table == "executions")
    assert row.values[row.columns.index("status")] == "running"
    assert not any(
        isinstance(op, Update) and op.key == child_id and "running" in op.values
        for ops in spy.log
        for op in ops
    )
    info = await wait_status(client, child_id, "completed")
    assert info.started_at is not None

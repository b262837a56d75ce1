"""Queues and concurrency keys (D12, D18): limits, FIFO admission, per-key slots, restarts.

Live concurrency is measured inside an async step (it runs on the engine loop): a counter
goes up when the step body starts and down when it ends, and a gate (a thread-safe flag
polled with ``asyncio.sleep``) holds the bodies until the test lets them go.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any

import duckdb
import pytest

from polos_nb import PolosClient, Queue, UserError, WorkflowContext, queue, workflow
from polos_nb.engine import _workflow as registry
from tests.engine.helpers import rows, settle, until, wait_status


# ====================================================================== helpers
def uid(name: str) -> str:
    return f"{name}_{uuid.uuid4().hex[:10]}"


class Gate:
    """Holds step bodies (on the engine loop) until the test opens it."""

    def __init__(self, opened: bool = False) -> None:
        self._open = threading.Event()
        if opened:
            self._open.set()

    def open(self) -> None:
        self._open.set()

    async def wait(self) -> None:
        while not self._open.is_set():
            await asyncio.sleep(0.002)


class Live:
    """Counts step bodies running at once, overall and per group (e.g. concurrency key)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.now = 0
        self.peak = 0
        self.by_group: dict[str, int] = defaultdict(int)
        self.peak_by_group: dict[str, int] = defaultdict(int)
        self.starts: list[Any] = []

    async def run(
        self, name: Any, gate: Gate | None = None, group: str = "", hold: float = 0.005
    ) -> Any:
        with self.lock:
            self.now += 1
            self.peak = max(self.peak, self.now)
            self.by_group[group] += 1
            self.peak_by_group[group] = max(self.peak_by_group[group], self.by_group[group])
            self.starts.append(name)
        try:
            if gate is not None:
                await gate.wait()
            await asyncio.sleep(hold)
        finally:
            with self.lock:
                self.now -= 1
                self.by_group[group] -= 1
        return name


async def status_of(client: PolosClient, name: str, key: str | None = None):
    """The ``queue_status`` entry of one queue and key, or None when nothing runs or waits there."""
    for entry in await client.queue_status():
        if entry.name == name and entry.concurrency_key == key:
            return entry
    return None


# ====================================================================== limits and order
async def test_limit_never_exceeded_with_many_concurrent_submissions(client):
    wf_id = uid("limit3")
    live = Live()
    gate = Gate()

    @workflow(id=wf_id, queue={"concurrency_limit": 3})
    async def flow(ctx: WorkflowContext, payload: dict) -> int:
        await ctx.step.run("work", live.run, payload["n"], gate, hold=0.002)
        return payload["n"] * 2

    handles = await asyncio.gather(*(flow.invoke(client, {"n": i}) for i in range(40)))
    await until(lambda: live.now == 3, what="three running")
    await settle()
    assert live.now == 3
    gate.open()
    results = await asyncio.gather(*(client.wait_for_result(h.id, timeout=60) for h in handles))
    assert sorted(results) == [i * 2 for i in range(40)]
    assert live.peak == 3  # the limit was used fully and never exceeded
    assert sorted(live.starts) == list(range(40))  # each body ran once
    queue_names = await rows(
        client, "SELECT DISTINCT queue_name FROM executions WHERE workflow_id = ?", [wf_id]
    )
    assert queue_names == [(wf_id,)]  # the default queue is named after the workflow
    assert await status_of(client, wf_id) is None  # nothing left running or queued


async def test_fifo_order_and_queue_status(client):
    wf_id = uid("fifo")
    live = Live()
    gate = Gate()

    @workflow(id=wf_id, queue={"name": f"{wf_id}-q", "concurrency_limit": 1})
    async def flow(ctx: WorkflowContext, payload: dict) -> int:
        await ctx.step.run("work", live.run, payload["n"], gate)
        return payload["n"]

    handles = [await flow.invoke(client, {"n": i}) for i in range(8)]
    ids = [h.id for h in handles]
    await until(lambda: live.now == 1, what="first run")
    await settle()
    assert live.starts == [0]
    status = await status_of(client, f"{wf_id}-q")
    assert status is not None
    assert (status.concurrency_limit, status.concurrency_key) == (1, None)
    assert status.running == [ids[0]]
    assert status.queued == ids[1:]  # oldest first
    journal = dict(
        await rows(client, "SELECT id, status FROM executions WHERE workflow_id = ?", [wf_id])
    )
    assert [journal[i] for i in ids[1:]] == ["queued"] * 7
    gate.open()
    assert [await client.wait_for_result(i, timeout=30) for i in ids] == list(range(8))
    assert live.starts == list(range(8))  # started in submission order
    assert live.peak == 1
    assert await status_of(client, f"{wf_id}-q") is None


async def test_shared_queue_limits_two_workflows_together(client):
    shared = Queue(uid("shared"), concurrency_limit=2)
    live = Live()
    gate = Gate()
    a_id, b_id = uid("shared_a"), uid("shared_b")

    @workflow(id=a_id, queue=shared)
    async def flow_a(ctx: WorkflowContext, payload: dict) -> str:
        return await ctx.step.run("work", live.run, f"a{payload['n']}", gate)

    @workflow(id=b_id, queue=shared)
    async def flow_b(ctx: WorkflowContext, payload: dict) -> str:
        return await ctx.step.run("work", live.run, f"b{payload['n']}", gate)

    handles = []
    for i in range(5):
        handles.append(await flow_a.invoke(client, {"n": i}))
        handles.append(await flow_b.invoke(client, {"n": i}))
    await until(lambda: live.now == 2, what="two runs")
    await settle()
    assert live.starts == ["a0", "b0"]  # one of each: the two share the limit
    status = await status_of(client, shared.name)
    assert status is not None and len(status.running) == 2 and len(status.queued) == 8
    gate.open()
    results = [await client.wait_for_result(h.id, timeout=30) for h in handles]
    assert results == [f"{w}{i}" for i in range(5) for w in "ab"]
    assert live.peak == 2
    assert live.starts == results  # FIFO across both workflows
    names = await rows(
        client,
        "SELECT DISTINCT queue_name FROM executions WHERE workflow_id IN (?, ?)",
        [a_id, b_id],
    )
    assert names == [(shared.name,)]


async def test_queue_helper_and_dict_name(client):
    q = queue(uid("helper"), concurrency_limit=4)
    assert q == Queue(q.name, 4)
    wf_id = uid("helper_wf")
    live = Live()
    gate = Gate()

    @workflow(id=wf_id, queue=q)
    async def flow(ctx: WorkflowContext, payload: dict) -> int:
        return await ctx.step.run("work", live.run, payload["n"], gate)

    handles = await asyncio.gather(*(flow.invoke(client, {"n": i}) for i in range(16)))
    await until(lambda: live.now == 4, what="four running")
    await settle()
    gate.open()
    await asyncio.gather(*(client.wait_for_result(h.id, timeout=30) for h in handles))
    assert live.peak == 4


# ====================================================================== concurrency keys
async def test_per_key_limits_are_independent(client):
    wf_id = uid("per_key")
    live = Live()
    gates = {"a1": Gate(), "a2": Gate(opened=True), "b1": Gate(opened=True)}

    @workflow(id=wf_id, queue={"concurrency_limit": 1})
    async def flow(ctx: WorkflowContext, payload: dict) -> str:
        return await ctx.step.run("work", live.run, payload["name"], gates[payload["name"]])

    a1 = await flow.invoke(client, {"name": "a1"}, concurrency_key="acme")
    await until(lambda: live.now == 1, what="a1 running")
    a2 = await flow.invoke(client, {"name": "a2"}, concurrency_key="acme")
    b1 = await flow.invoke(client, {"name": "b1"}, concurrency_key="globex")
    # Key "acme" is saturated by a1; "globex" runs at once.
    assert await client.wait_for_result(b1.id, timeout=10) == "b1"
    assert (await client.get_execution(a1.id)).status == "running"
    assert (await client.get_execution(a2.id)).status == "queued"
    acme = await status_of(client, wf_id, "acme")
    assert acme is not None and (acme.running, acme.queued, acme.concurrency_limit) == (
        [a1.id],
        [a2.id],
        1,
    )
    assert await status_of(client, wf_id, "globex") is None
    keys = dict(
        await rows(
            client, "SELECT id, concurrency_key FROM executions WHERE workflow_id = ?", [wf_id]
        )
    )
    assert keys == {a1.id: "acme", a2.id: "acme", b1.id: "globex"}
    gates["a1"].open()
    assert await client.wait_for_result(a2.id, timeout=10) == "a2"
    assert live.starts == ["a1", "b1", "a2"]
    assert live.peak == 2  # two at once overall (a1 and b1), one per key


async def test_many_keys_each_limited_never_exceeded(client):
    wf_id = uid("many_keys")
    live = Live()
    gate = Gate()
    keys = ["k0", "k1", "k2", "k3"]

    @workflow(id=wf_id, queue={"concurrency_limit": 2})
    async def flow(ctx: WorkflowContext, payload: dict) -> int:
        return await ctx.step.run("work", live.run, payload["n"], gate, payload["key"])

    handles = await asyncio.gather(
        *(
            flow.invoke(client, {"n": i, "key": keys[i % 4]}, concurrency_key=keys[i % 4])
            for i in range(40)
        )
    )
    # Every key gets its own two slots: 8 run at once while the gate is closed.
    await until(lambda: live.now == 8, what="two runs per key")
    await settle()
    assert live.now == 8
    assert {k: live.by_group[k] for k in keys} == dict.fromkeys(keys, 2)
    gate.open()
    results = await asyncio.gather(*(client.wait_for_result(h.id, timeout=60) for h in handles))
    assert sorted(results) == list(range(40))
    assert {k: live.peak_by_group[k] for k in keys} == dict.fromkeys(keys, 2)
    assert live.peak == 8


# ====================================================================== waiting holds no slot (D12)
async def test_waiting_execution_holds_no_slot(client):
    wf_id = uid("no_slot")
    live = Live()
    gates: dict[str, Gate] = {"b1": Gate(opened=True), "b2": Gate()}

    @workflow(id=wf_id, queue={"concurrency_limit": 1})
    async def flow(ctx: WorkflowContext, payload: dict) -> Any:
        if payload["name"] == "a":
            resp = await ctx.step.suspend("hold")
            await ctx.step.run("after", live.run, "a-after")
            return resp.data
        return await ctx.step.run("work", live.run, payload["name"], gates[payload["name"]])

    a = await flow.invoke(client, {"name": "a"})
    await wait_status(client, a.id, "waiting")
    assert await status_of(client, wf_id) is None  # the waiting run holds nothing
    # With the only slot free, another run goes through while A waits.
    assert await flow.run(client, {"name": "b1"}, timeout=10) == "b1"
    assert (await client.get_execution(a.id)).status == "waiting"
    # B2 takes the slot; resuming A queues it behind B2 instead of exceeding the limit.
    b2 = await flow.invoke(client, {"name": "b2"})
    await until(lambda: live.now == 1, what="b2 running")
    await client.resume(wf_id, a.id, "hold", {"ok": True})
    await wait_status(client, a.id, "queued")
    await settle()
    status = await status_of(client, wf_id)
    assert status is not None and (status.running, status.queued) == ([b2.id], [a.id])
    assert live.starts == ["b1", "b2"]
    gates["b2"].open()
    assert await client.wait_for_result(a.id, timeout=10) == {"ok": True}
    assert await client.wait_for_result(b2.id, timeout=10) == "b2"
    assert live.starts == ["b1", "b2", "a-after"]
    assert live.peak == 1


async def test_cancelled_queued_execution_leaves_the_queue(client):
    wf_id = uid("cancel_queued")
    live = Live()
    gate = Gate()

    @workflow(id=wf_id, queue={"concurrency_limit": 1})
    async def flow(ctx: WorkflowContext, payload: dict) -> str:
        return await ctx.step.run("work", live.run, payload["name"], gate)

    a = await flow.invoke(client, {"name": "a"})
    b = await flow.invoke(client, {"name": "b"})
    c = await flow.invoke(client, {"name": "c"})
    await until(lambda: live.now == 1, what="a running")
    assert await client.cancel(b.id) is True
    assert (await client.get_execution(b.id)).status == "cancelled"
    status = await status_of(client, wf_id)
    assert status is not None and (status.running, status.queued) == ([a.id], [c.id])
    gate.open()
    assert await client.wait_for_result(c.id, timeout=10) == "c"
    assert live.starts == ["a", "c"]  # the cancelled run never started
    assert await rows(client, "SELECT count(*) FROM steps WHERE execution_id = ?", [b.id]) == [(0,)]


# ====================================================================== restart (D18)
def _journal_statuses(path: Path, wf_id: str) -> dict[str, str]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return dict(
            con.execute(
                "SELECT id, status FROM executions WHERE workflow_id = ?", [wf_id]
            ).fetchall()
        )
    finally:
        con.close()


async def test_limit_holds_across_restart(journal_path):
    wf_id = uid("restart_limit")
    live = Live()
    gate = Gate()

    @workflow(id=wf_id, queue=Queue(f"{wf_id}-q", concurrency_limit=2))
    async def flow(ctx: WorkflowContext, payload: dict) -> int:
        await ctx.step.run("work", live.run, payload["n"], gate)
        return payload["n"]

    client = PolosClient(journal=journal_path)
    ids = [(await flow.invoke(client, {"n": i})).id for i in range(6)]
    await until(lambda: live.now == 2, what="two running")
    await settle()
    assert live.starts == [0, 1]
    client.close()  # cancels the two running bodies; nothing is lost
    assert live.now == 0
    statuses = _journal_statuses(journal_path, wf_id)
    assert [statuses[i] for i in ids] == ["running"] * 2 + ["queued"] * 4

    client = PolosClient(journal=journal_path)
    try:
        await until(lambda: live.now == 2, what="two running after reopen")
        await settle()
        assert live.now == 2 and live.peak == 2
        status = await status_of(client, f"{wf_id}-q")
        assert status is not None and (status.running, status.queued) == (sorted(ids[:2]), ids[2:])
        gate.open()
        assert [await client.wait_for_result(i, timeout=30) for i in ids] == list(range(6))
        assert live.peak == 2
        # The interrupted bodies ran again (at least once), the queued ones once, in order.
        assert live.starts == [0, 1, 0, 1, 2, 3, 4, 5]
    finally:
        client.close()


# ====================================================================== invoke-time queues
async def test_invoke_with_queue_name_and_limit(client):
    wf_id = uid("invoke_q")
    qname = uid("adhoc")
    live = Live()
    gate = Gate()

    @workflow(id=wf_id)
    async def flow(ctx: WorkflowContext, payload: dict) -> int:
        return await ctx.step.run("work", live.run, payload["n"], gate)

    handles = [
        await client.invoke(wf_id, {"n": i}, queue_name=qname, queue_concurrency_limit=2)
        for i in range(6)
    ]
    await until(lambda: live.now == 2, what="two running")
    await settle()
    status = await status_of(client, qname)
    assert status is not None
    assert (status.concurrency_limit, len(status.running), status.queued) == (
        2,
        2,
        [h.id for h in handles[2:]],
    )
    # Runs of the same workflow outside that queue are not limited by it.
    other = await client.invoke(wf_id, {"n": 99})
    await until(lambda: live.now == 3, what="run outside the queue")
    gate.open()
    assert [await client.wait_for_result(h.id, timeout=30) for h in handles] == list(range(6))
    assert await client.wait_for_result(other.id, timeout=10) == 99
    assert dict(
        await rows(client, "SELECT id, queue_name FROM executions WHERE workflow_id = ?", [wf_id])
    ) == {
        **{h.id: qname for h in handles},
        other.id: wf_id,
    }
    assert live.peak == 3


async def test_invoke_queue_and_concurrency_key_from_workflow_handle(client):
    wf_id = uid("wf_invoke_q")
    qname = uid("named")
    live = Live()
    gate = Gate()

    @workflow(id=wf_id, queue={"name": qname, "concurrency_limit": 1})
    async def flow(ctx: WorkflowContext, payload: dict) -> int:
        return await ctx.step.run("work", live.run, payload["n"], gate, payload["key"])

    handles = await asyncio.gather(
        *(
            flow.invoke(client, {"n": i, "key": f"c{i % 2}"}, concurrency_key=f"c{i % 2}")
            for i in range(10)
        )
    )
    await until(lambda: live.now == 2, what="one running per key")
    await settle()
    assert live.by_group == {"c0": 1, "c1": 1}
    gate.open()
    await asyncio.gather(*(client.wait_for_result(h.id, timeout=30) for h in handles))
    assert live.peak_by_group == {"c0": 1, "c1": 1}
    assert await rows(
        client, "SELECT DISTINCT queue_name FROM executions WHERE workflow_id = ?", [wf_id]
    ) == [(qname,)]


# ====================================================================== bad input
@pytest.mark.parametrize("limit", [0, -1, True, False, 1.5, "3"])
async def test_bad_limit_at_definition(client, limit):
    wf_id = uid("bad_limit")

    async def body(ctx: WorkflowContext) -> None:
        return None

    with pytest.raises(UserError, match="concurrency_limit must be a positive integer"):
        workflow(id=wf_id, queue={"concurrency_limit": limit})(body)
    with pytest.raises(UserError, match="concurrency_limit must be a positive integer"):
        Queue(uid("q"), concurrency_limit=limit)
    with pytest.raises(UserError, match="concurrency_limit must be a positive integer"):
        queue(uid("q"), limit)
    assert registry.get_workflow(wf_id) is None  # nothing registered


async def test_other_bad_queue_definitions(client):
    async def body(ctx: WorkflowContext) -> None:
        return None

    with pytest.raises(UserError, match="non-empty name"):
        Queue("", concurrency_limit=1)
    with pytest.raises(UserError, match="non-empty name"):
        Queue("   ")
    with pytest.raises(UserError, match="Unknown queue option"):
        workflow(id=uid("bad_q"), queue={"concurrency_limt": 2})(body)
    with pytest.raises(UserError, match="queue= takes a name, a Queue or a dict"):
        workflow(id=uid("bad_q"), queue=3)(body)


@pytest.mark.parametrize("limit", [0, -2, True])
async def test_bad_limit_at_invoke_writes_nothing(client, limit):
    wf_id = uid("bad_invoke_limit")

    @workflow(id=wf_id)
    async def flow(ctx: WorkflowContext) -> None:
        return None

    with pytest.raises(UserError, match="concurrency_limit must be a positive integer"):
        await client.invoke(wf_id, queue_name=uid("q"), queue_concurrency_limit=limit)
    with pytest.raises(UserError, match="concurrency_limit must be a positive integer"):
        await client.invoke(wf_id, queue_concurrency_limit=limit)  # the workflow's own queue
    assert await rows(client, "SELECT count(*) FROM executions") == [(0,)]


async def test_invoke_limit_without_queue_name_applies_to_the_workflow_queue(client):
    wf_id = uid("own_q_limit")
    live = Live()
    gate = Gate()

    @workflow(id=wf_id)
    async def flow(ctx: WorkflowContext, payload: dict) -> int:
        return await ctx.step.run("work", live.run, payload["n"], gate)

    handles = await asyncio.gather(
        *(client.invoke(wf_id, {"n": i}, queue_concurrency_limit=2) for i in range(10))
    )
    await until(lambda: live.now == 2, what="two running")
    await settle()
    gate.open()
    await asyncio.gather(*(client.wait_for_result(h.id, timeout=30) for h in handles))
    assert live.peak == 2


async def test_invoke_time_limit_holds_across_restart(journal_path):
    wf_id = uid("restart_adhoc")
    qname = uid("adhoc_q")
    live = Live()
    gate = Gate()

    @workflow(id=wf_id)
    async def flow(ctx: WorkflowContext, payload: dict) -> int:
        await ctx.step.run("work", live.run, payload["n"], gate)
        return payload["n"]

    client = PolosClient(journal=journal_path)
    ids = [
        (await client.invoke(wf_id, {"n": i}, queue_name=qname, queue_concurrency_limit=1)).id
        for i in range(4)
    ]
    await until(lambda: live.now == 1, what="one running")
    client.close()

    client = PolosClient(journal=journal_path)
    try:
        await until(lambda: live.now >= 1, what="running after reopen")
        await settle()
        assert live.now == 1
        gate.open()
        assert [await client.wait_for_result(i, timeout=30) for i in ids] == list(range(4))
        assert live.peak == 1
    finally:
        client.close()

"""Child-process side of the crash tests (``tests/engine/test_crash.py``).

The workflows live here so that the test process and every child process register the
same ids (``from tests.engine import crash_child``). Run a mode with::

    python -m tests.engine.crash_child <mode> '<json args>'

Modes print one JSON line on stdout when they finish normally. A mode that arms
``kill_at_commit`` (or kills itself) ends with SIGKILL (return code -9) instead.

Every step body appends ``"<cycle> <execution id> <step key>"`` to a counter file
(open, append, flush, fsync) so the tests can count side effects per step and per
process; ``<cycle>`` comes from ``$CRASH_CYCLE`` (default 0).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import signal
import sys
import time
from typing import Any

from polos_nb import PolosClient, WorkflowContext, workflow
from polos_nb.engine import events
from polos_nb.testing import FakeClock, kill_at_commit

TERMINAL = ("completed", "failed", "cancelled")
FAKE_START = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


# ---------------------------------------------------------------------- side effects
def _append(counter: str, execution_id: str, key: str) -> None:
    line = f"{os.environ.get('CRASH_CYCLE', '0')} {execution_id} {key}\n"
    with open(counter, "a") as f:
        f.write(line)
        f.flush()
        os.fsync(f.fileno())


def sync_effect(counter: str, execution_id: str, key: str, value: Any) -> dict[str, Any]:
    _append(counter, execution_id, key)
    return {"step": key, "value": value}


async def async_effect(counter: str, execution_id: str, key: str, value: Any) -> dict[str, Any]:
    await asyncio.sleep(0)
    _append(counter, execution_id, key)
    await asyncio.sleep(0)
    return {"step": key, "value": value, "async": True}


# ---------------------------------------------------------------------- workflows
@workflow(id="crash_leaf")
async def crash_leaf(ctx: WorkflowContext, payload: dict) -> int:
    """The child of ``crash_main``: one side-effecting step."""
    out = await ctx.step.run(
        "leaf-work", sync_effect, payload["counter"], ctx.execution_id, "leaf-work", payload["x"]
    )
    return out["value"] * 10


@workflow(id="crash_main")
async def crash_main(ctx: WorkflowContext, payload: dict) -> dict:
    """Sync and async steps, a uuid, a child invoke_and_wait and a publish_event."""
    counter = payload["counter"]
    eid = ctx.execution_id
    a = await ctx.step.run("a", sync_effect, counter, eid, "a", payload["x"])
    uid = await ctx.step.uuid("uid")
    b = await ctx.step.run("b", async_effect, counter, eid, "b", uid)
    child = await ctx.step.invoke_and_wait(
        "child", crash_leaf, {"counter": counter, "x": payload["x"] + 1}
    )
    seq = await ctx.step.publish_event("pub", f"crash/{eid}", {"uid": uid}, event_type="crash_pub")
    c = await ctx.step.run("c", sync_effect, counter, eid, "c", [a["value"], child])
    d = await ctx.step.run("d", async_effect, counter, eid, "d", seq)
    return {"a": a, "uid": uid, "b": b, "child": child, "seq": seq, "c": c, "d": d}


def expected_main_result(x: int, uid: str) -> dict:
    """What ``crash_main`` returns for payload ``{"x": x}`` once it has journaled ``uid``."""
    return {
        "a": {"step": "a", "value": x},
        "uid": uid,
        "b": {"step": "b", "value": uid, "async": True},
        "child": (x + 1) * 10,
        "seq": 1,
        "c": {"step": "c", "value": [x, (x + 1) * 10]},
        "d": {"step": "d", "value": 1, "async": True},
    }


@workflow(id="crash_approval")
async def crash_approval(ctx: WorkflowContext, payload: dict) -> dict:
    """Steps, then a suspension; returns the resume payload."""
    counter = payload["counter"]
    first = await ctx.step.run("before-1", sync_effect, counter, ctx.execution_id, "before-1", 1)
    second = await ctx.step.run("before-2", async_effect, counter, ctx.execution_id, "before-2", 2)
    if payload.get("gate_topic"):
        # Hold the run before its suspension until an event arrives (early-resume case).
        await ctx.step.wait_for_event("gate", payload["gate_topic"])
    resp = await ctx.step.suspend("approval", data={"amount": 42, "_form": {"approved": "bool"}})
    after = await ctx.step.run("after", sync_effect, counter, ctx.execution_id, "after", resp.data)
    return {
        "first": first["value"],
        "second": second["value"],
        "resume": resp.data,
        "after": after["value"],
    }


@workflow(id="crash_nap")
async def crash_nap(ctx: WorkflowContext, payload: dict) -> dict:
    """A step, a one-hour durable sleep, a step."""
    counter = payload["counter"]
    await ctx.step.run("before", sync_effect, counter, ctx.execution_id, "before", 0)
    await ctx.step.wait_for("nap", seconds=payload.get("seconds", 3600))
    woke = await ctx.step.now("woke")
    await ctx.step.run("after", sync_effect, counter, ctx.execution_id, "after", 0)
    return {"woke_ms": woke}


# ---------------------------------------------------------------------- helpers
def _emit(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)
    time.sleep(60)  # never reached


async def _wait_status(
    client: PolosClient, execution_id: str, status: str, timeout: float = 30
) -> None:
    deadline = time.monotonic() + timeout
    while True:
        info = await client.get_execution(execution_id)
        if info.status == status:
            return
        if info.status in TERMINAL or time.monotonic() > deadline:
            raise RuntimeError(f"execution {execution_id} is {info.status}, expected {status}")
        await asyncio.sleep(0.01)


# ---------------------------------------------------------------------- modes
async def mode_count(a: dict) -> None:
    """Run ``crash_main`` once to completion; report the commits it took."""
    client = PolosClient(journal=a["journal"])
    before = client.runtime.journal.commits
    handle = await crash_main.invoke(client, {"counter": a["counter"], "x": a["x"]})
    result = await client.wait_for_result(handle.id, timeout=60)
    commits = client.runtime.journal.commits - before
    _emit({"commits": commits, "id": handle.id, "result": result})
    client.close()


async def mode_kill(a: dict) -> None:
    """Arm a SIGKILL at commit ``n`` (``when`` before/after), then run ``crash_main``."""
    client = PolosClient(journal=a["journal"])
    kill_at_commit(client, a["n"], a["when"])
    handle = await crash_main.invoke(client, {"counter": a["counter"], "x": a["x"]})
    await client.wait_for_result(handle.id, timeout=60)
    _emit({"survived": True, "id": handle.id})
    os._exit(3)  # the kill point was never reached


async def mode_soak(a: dict) -> None:
    """One kill cycle: recover what earlier cycles left, start new runs, finish them all.

    ``kill_n > 0`` arms ``kill_at_commit(kill_n, when)``; the test may also SIGKILL this
    process from outside at a random moment after the ``ready`` line.
    """
    client = PolosClient(journal=a["journal"])  # reopening resumes interrupted runs
    if a["kill_n"] > 0:
        kill_at_commit(client, a["kill_n"], a["when"])
    _emit({"ready": True})
    roots = await client.list_executions(workflow_id="crash_main", limit=100000, root_only=True)
    active = [info.id for info in roots if info.status not in TERMINAL]
    for i in range(max(0, a["target_active"] - len(active))):
        handle = await crash_main.invoke(client, {"counter": a["counter"], "x": a["x0"] + i})
        active.append(handle.id)
    results = await asyncio.gather(*(client.wait_for_result(eid, timeout=120) for eid in active))
    _emit({"finished": active, "results": results})
    client.close()


async def mode_suspend_start(a: dict) -> None:
    """Start ``crash_approval`` and SIGKILL this process once it waits (at the gate or the suspension)."""
    client = PolosClient(journal=a["journal"])
    payload = {"counter": a["counter"]}
    if a.get("gate_topic"):
        payload["gate_topic"] = a["gate_topic"]
    handle = await crash_approval.invoke(client, payload)
    await _wait_status(client, handle.id, "waiting")
    _emit({"id": handle.id})
    _die()


async def mode_resume(a: dict) -> None:
    """Deliver the resume; with ``wait`` get the result, else SIGKILL right after the resume commits."""
    client = PolosClient(journal=a["journal"])
    await client.resume("crash_approval", a["id"], "approval", a["data"])
    if not a.get("wait"):
        _emit({"resumed": True})
        _die()
    result = await client.wait_for_result(a["id"], timeout=60)
    _emit({"result": result})
    client.close()


async def mode_publish_and_wait(a: dict) -> None:
    """Open the journal (recovery), publish the gate event, wait for the result."""
    client = PolosClient(journal=a["journal"])
    await events.publish(client, a["topic"], {"data": {"open": True}})
    result = await client.wait_for_result(a["id"], timeout=60)
    _emit({"result": result})
    client.close()


async def mode_nap_start(a: dict) -> None:
    """Start ``crash_nap`` on a FakeClock; SIGKILL this process once the sleep is registered."""
    clock = FakeClock(start=FAKE_START)
    client = PolosClient(journal=a["journal"], clock=clock)
    handle = await crash_nap.invoke(client, {"counter": a["counter"], "seconds": a["seconds"]})
    await _wait_status(client, handle.id, "waiting")
    _emit({"id": handle.id, "timers": [t.isoformat() for t in clock.pending_timers()]})
    _die()


async def mode_prepare(a: dict) -> None:
    """Start ``runs`` crash_main runs and SIGKILL this process at its ``kill_n``-th commit."""
    client = PolosClient(journal=a["journal"])
    kill_at_commit(client, a["kill_n"], "after")
    handles = [
        await crash_main.invoke(client, {"counter": a["counter"], "x": a["x0"] + i})
        for i in range(a["runs"])
    ]
    await asyncio.gather(*(client.wait_for_result(h.id, timeout=120) for h in handles))
    _emit({"survived": True})
    os._exit(3)


def _arm_kill_on_open(n: int, when: str) -> None:
    """SIGKILL this process at the ``n``-th commit after the next journal opens.

    The hook is armed inside the journal's constructor, so the kill can land while the
    engine is still recovering (re-arming waits, re-driving interrupted runs), before a
    client exists to arm ``kill_at_commit`` on.
    """
    from polos_nb.engine import _runtime
    from polos_nb.engine.journal import DuckDBJournal

    class KillingJournal(DuckDBJournal):
        def __init__(self, path: str) -> None:
            super().__init__(path)
            target, phase = self.commits + n, f"{when}_commit"

            def hook(event: str, count: int) -> None:
                if event == phase and count == target:
                    os.kill(os.getpid(), signal.SIGKILL)

            self.fault_hook = hook

    _runtime.open_journal = KillingJournal  # type: ignore[assignment]


async def mode_recover(a: dict) -> None:
    """Open the journal (recovery resumes interrupted runs), optionally dying at commit
    ``kill_n`` counted from the open; finish every run otherwise."""
    if a.get("kill_n"):
        _arm_kill_on_open(a["kill_n"], a.get("when", "after"))
    client = PolosClient(journal=a["journal"])
    roots = await client.list_executions(workflow_id="crash_main", limit=100000, root_only=True)
    active = [info.id for info in roots if info.status not in TERMINAL]
    await asyncio.gather(*(client.wait_for_result(eid, timeout=120) for eid in active))
    _emit({"finished": active})
    client.close()


async def mode_sql_kill(a: dict) -> None:
    """Recover, start runs, and run a slow ``%polos sql`` query beside them; the test
    SIGKILLs this process while the query runs."""
    from polos_nb.notebook import sql

    client = PolosClient(journal=a["journal"])

    def slow(seconds: float) -> float:
        time.sleep(seconds)
        return seconds

    def register(con: Any) -> None:
        # The writer connection may still hold the last result an earlier read left
        # unfetched; DuckDB refuses to register a function then, so finish one first.
        con.execute("SELECT 1").fetchall()
        con.create_function("polos_test_sleep", slow, ["DOUBLE"], "DOUBLE", side_effects=True)

    client.runtime.journal.read(register).result()
    roots = await client.list_executions(workflow_id="crash_main", limit=100000, root_only=True)
    active = [info.id for info in roots if info.status not in TERMINAL]
    for i in range(max(0, a["target_active"] - len(active))):
        handle = await crash_main.invoke(client, {"counter": a["counter"], "x": a["x0"] + i})
        active.append(handle.id)
    query = asyncio.create_task(
        asyncio.to_thread(
            sql,
            "SELECT polos_test_sleep(5.0) AS slept, count(*) AS steps FROM steps",
            client=client,
        )
    )
    _emit({"query": "running"})
    results = await asyncio.gather(*(client.wait_for_result(eid, timeout=120) for eid in active))
    frame = await query
    _emit({"query": "done", "slept": float(frame["slept"][0]), "results": len(results)})
    client.close()


def soak_server() -> None:
    """A fork server for the soak: import once, then fork one fresh worker per kill cycle.

    Reads one JSON request per line on stdin (``{"cycle": c, "args": {...}}``). For each it
    forks a worker that runs :func:`mode_soak` with ``$CRASH_CYCLE = c`` (no engine, thread
    or journal exists in this server, so the worker starts from nothing, like a new
    process), prints ``{"pid": ...}``, and once the worker is gone prints
    ``{"exit": pid, "code": ...}`` (``-9`` for SIGKILL). The worker is reaped only when the
    next request comes, so the test can SIGKILL it by pid without racing a reused pid.
    Saves an interpreter start per cycle.
    """
    previous = None
    for line in sys.stdin:
        if previous is not None:  # reap the last worker only now: its pid stays unused until then
            os.waitpid(previous, 0)
            previous = None
        request = json.loads(line)
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            os.environ["CRASH_CYCLE"] = str(request["cycle"])
            code = 0
            try:
                asyncio.run(mode_soak(request["args"]))
            except BaseException:
                import traceback

                traceback.print_exc()
                code = 1
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
        _emit({"pid": pid})
        info = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)  # wait, but leave it a zombie
        killed = info.si_code in (os.CLD_KILLED, os.CLD_DUMPED)
        _emit({"exit": pid, "code": -info.si_status if killed else info.si_status})
        previous = pid
    if previous is not None:
        os.waitpid(previous, 0)


MODES = {
    "count": mode_count,
    "kill": mode_kill,
    "soak": mode_soak,
    "suspend_start": mode_suspend_start,
    "resume": mode_resume,
    "publish_and_wait": mode_publish_and_wait,
    "nap_start": mode_nap_start,
    "prepare": mode_prepare,
    "recover": mode_recover,
    "sql_kill": mode_sql_kill,
}


def main() -> None:
    if sys.argv[1] == "soak_server":
        soak_server()
        return
    mode, args = sys.argv[1], json.loads(sys.argv[2])
    asyncio.run(MODES[mode](args))


if __name__ == "__main__":
    main()

"""polos_nb flow-control benchmark: queue dispatch, queue admission and event-trigger latency.

Run with ``bash scripts/bench.sh`` (runs bench_engine.py, then this) or
``.venv/bin/python bench/bench_flow.py``. A benchmark, not a test (pytest does not collect it).
Takes well under a minute. Prints one table; the same table goes to its own section of
docs/benchmarks.md (between the ``bench_flow`` markers; the rest of the file is left alone).

Everything below comes from ONE run, measured round by round side by side (each round
takes a few samples of every kind, so machine noise hits all of them alike):

(a) queue dispatch: time from calling ``await client.invoke(...)`` until the workflow
    function's first line runs (``time.perf_counter()`` recorded inside the workflow, in
    this process). For an unlimited queue, and for a queue with ``concurrency_limit=1``:
    there, runs queued behind a busy slot are admitted when the previous run ends, and
    the admission latency is measured from the previous run's completion commit (the
    moment the journal's writer thread returns from the transaction that sets it
    ``completed``) to the next run's first line.
(b) event trigger: time from calling ``await events.publish(...)`` until the first line of
    the ``@workflow(trigger_on_event=...)`` execution it starts.
(c) the unit: one step commit of the same engine in the same run, timed inside a workflow
    around ``await ctx.step.run(key, noop)`` (the first step of each run excluded: it
    shares a commit with the run's start), cross-checked with the per-step overhead
    ``(T(N steps) - T(0 steps)) / N`` as in bench_engine.py and a raw single-row DuckDB
    commit on a bare connection.

Every latency is reported as median and p90 and as a multiple of the step commit. The
writer-thread log also gives how many commits and reads lie on each latency's path.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import duckdb  # noqa: E402

from polos_nb import PolosClient, Queue, WorkflowContext, events, workflow  # noqa: E402
from polos_nb.engine._runtime import _STEP_COLUMNS  # noqa: E402
from polos_nb.engine.journal import _duckdb as journal_mod  # noqa: E402
from polos_nb.engine.journal._migrations import MIGRATIONS  # noqa: E402

TOPIC = "bench/flow"
START_MARK = "<!-- bench_flow:start -->"
END_MARK = "<!-- bench_flow:end -->"

# --------------------------------------------------------------------------- writer-thread log
# Wrap the journal's transaction and read methods at run time (no source edit) to know when
# each commit returned on the writer thread and which executions it ended (a few list appends
# per commit; lists grow for the whole run, which is short).
_COMMITS: list[tuple[float, float]] = []  # (start, end) of every transaction
_READS: list[tuple[float, float]] = []
_READ_NAMES: list[str] = []  # the reader function of each read (which engine code asked)
_ENDED_AT: dict[str, float] = {}  # execution id -> writer-side end of its completion commit
_orig_transaction = journal_mod.DuckDBJournal._transaction
_orig_read = journal_mod.DuckDBJournal._do_read


def _logged_transaction(self: Any, ops: list[Any]) -> Any:
    t = time.perf_counter()
    error = _orig_transaction(self, ops)
    end = time.perf_counter()
    _COMMITS.append((t, end))
    if error is None:
        for op in ops:
            if (
                type(op) is journal_mod.Update
                and op.table == "executions"
                and op.columns
                and op.columns[0] == "status"
                and op.values[0] in ("completed", "failed", "cancelled")
            ):
                _ENDED_AT[op.key] = end
    return error


def _logged_read(self: Any, job: Any) -> None:
    reader = job.reader
    t = time.perf_counter()

    def timed(
        con: Any,
    ) -> Any:  # logs before the future is settled (settling may hand over the GIL)
        try:
            return reader(con)
        finally:
            _READS.append((t, time.perf_counter()))
            _READ_NAMES.append(getattr(reader, "__qualname__", "?"))

    job.reader = timed
    return _orig_read(self, job)


journal_mod.DuckDBJournal._transaction = _logged_transaction  # type: ignore[method-assign]
journal_mod.DuckDBJournal._do_read = _logged_read  # type: ignore[method-assign]

# --------------------------------------------------------------------------- workflows under test
FIRST: dict[str, float] = {}  # sample key -> perf_counter at the workflow's first line
LAST: dict[str, float] = {}  # sample key -> perf_counter at the workflow's last line
EXEC_OF: dict[str, str] = {}  # sample key -> execution id (recorded by the workflow)
STEP_TIMES: list[float] = []
GATE: dict[str, Any] = {"event": None}


async def noop() -> None:
    return None


async def _hold_gate() -> None:
    gate = asyncio.Event()  # created on the engine loop
    GATE["event"] = gate
    await gate.wait()


@workflow(id="flow_unlimited")
async def flow_unlimited(ctx: WorkflowContext, payload: dict) -> None:
    FIRST[payload["k"]] = time.perf_counter()
    EXEC_OF[payload["k"]] = ctx.execution_id
    LAST[payload["k"]] = time.perf_counter()


@workflow(id="flow_limited", queue=Queue("bench_flow_limit1", 1))
async def flow_limited(ctx: WorkflowContext, payload: dict) -> None:
    FIRST[payload["k"]] = time.perf_counter()
    EXEC_OF[payload["k"]] = ctx.execution_id
    if payload.get("gate"):
        await _hold_gate()  # holds the only slot until the round's runs are all queued
    LAST[payload["k"]] = time.perf_counter()


@workflow(id="flow_triggered", trigger_on_event=TOPIC)
async def flow_triggered(ctx: WorkflowContext, event):  # type: ignore[no-untyped-def]  # gets the EventPayload
    key = event.data["k"]
    FIRST[key] = time.perf_counter()
    EXEC_OF[key] = ctx.execution_id
    LAST[key] = time.perf_counter()


@workflow(id="flow_steps")
async def flow_steps(ctx: WorkflowContext, payload: dict) -> int:
    times = []
    for i in range(payload["n"]):
        t = time.perf_counter()
        await ctx.step.run(f"s{i}", noop)
        times.append(time.perf_counter() - t)
    if payload.get("record"):
        STEP_TIMES.extend(times[1:])  # the first step shares its commit with the run's start
    return payload["n"]


# --------------------------------------------------------------------------- raw DuckDB baseline
class RawDuckDB:
    """A bare connection committing one ``steps``-shaped row per autocommit INSERT (as bench_engine)."""

    def __init__(self, path: str) -> None:
        self.con = duckdb.connect(path)
        for _v, _n, statements in MIGRATIONS:
            for statement in statements:
                if "CREATE TABLE steps" in statement or "ALTER TABLE steps" in statement:
                    self.con.execute(statement)
        self.sql = (
            f"INSERT INTO steps ({', '.join(_STEP_COLUMNS)}) VALUES "
            f"({', '.join(['?'] * len(_STEP_COLUMNS))})"
        )
        self.i = 0

    def commit_block(self, k: int) -> list[float]:
        out = []
        for _ in range(k):
            self.i += 1
            now = dt.datetime.now(dt.UTC)
            params = [
                self.i,
                "01JBENCHRAWEXECUTION00000",
                "01JBENCHRAWEXECUTION00000",
                self.i,
                f"s{self.i}",
                "run",
                1,
                "completed",
                "0123456789abcdef",
                "null",
                None,
                None,
                now,
                now,
                1,
            ]
            t = time.perf_counter()
            self.con.execute(self.sql, params)
            out.append(time.perf_counter() - t)
        return out

    def close(self) -> None:
        self.con.close()


# --------------------------------------------------------------------------- helpers
def _ms(seconds: float) -> float:
    return seconds * 1e3


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def _count_in(spans: list[tuple[float, float]], a: float, b: float) -> int:
    """Writer-side operations that ended inside (a, b]."""
    return sum(1 for _, end in spans if a < end <= b)


def _reads_in(a: float, b: float) -> str:
    return ",".join(
        sorted(name for (_, end), name in zip(_READS, _READ_NAMES, strict=False) if a < end <= b)
    )


async def _until(pred: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise RuntimeError("benchmark sample timed out")
        await asyncio.sleep(0.0005)


# --------------------------------------------------------------------------- samples
async def sample_unlimited(client: PolosClient, key: str, res: dict[str, list[float]]) -> None:
    t0 = time.perf_counter()
    handle = await client.invoke(flow_unlimited, {"k": key})
    t_ret = time.perf_counter()
    await client.wait_for_result(handle.id, timeout=30)
    first = FIRST[key]
    res["unl_first"].append(first - t0)
    res["unl_return"].append(t_ret - t0)
    res["unl_commits"].append(_count_in(_COMMITS, t0, first))
    res["unl_reads"].append(_count_in(_READS, t0, first))
    res["unl_read_names"].append(_reads_in(t0, first))


async def sample_trigger(client: PolosClient, key: str, res: dict[str, list[float]]) -> None:
    t0 = time.perf_counter()
    await events.publish(client, TOPIC, {"k": key})
    t_ret = time.perf_counter()
    await _until(lambda: key in EXEC_OF)
    await client.wait_for_result(EXEC_OF[key], timeout=30)
    first = FIRST[key]
    res["trg_first"].append(first - t0)
    res["trg_return"].append(t_ret - t0)
    res["trg_commits"].append(_count_in(_COMMITS, t0, first))
    res["trg_reads"].append(_count_in(_READS, t0, first))
    res["trg_read_names"].append(_reads_in(t0, first))


async def limited_round(client: PolosClient, r: int, k: int, res: dict[str, list[float]]) -> None:
    """One gate run holds the slot; k runs queue behind it; then the gate opens and the k runs
    are admitted one after another, each when the previous one's completion commit returns."""
    GATE["event"] = None
    gate_key = f"lim{r}g"
    t0 = time.perf_counter()
    gate_handle = await client.invoke(flow_limited, {"k": gate_key, "gate": True})
    await _until(lambda: GATE["event"] is not None)
    res["lim_free_first"].append(FIRST[gate_key] - t0)
    keys = [gate_key]
    handles = [gate_handle]
    for j in range(k):
        key = f"lim{r}-{j}"
        keys.append(key)
        handles.append(await client.invoke(flow_limited, {"k": key}))
    status = await client.queue_status()
    queued = sum(len(q.queued) for q in status if q.name == "bench_flow_limit1")
    if queued != k:
        raise RuntimeError(f"expected {k} runs queued behind the gate, found {queued}")
    gate = GATE["event"]
    client.runtime.loop.call_soon_threadsafe(gate.set)
    await client.wait_for_result(handles[-1].id, timeout=60)
    for h in handles:
        await client.wait_for_result(h.id, timeout=60)
    for prev_key, prev_handle, key in zip(keys, handles, keys[1:], strict=False):
        ended = _ENDED_AT[prev_handle.id]
        first = FIRST[key]
        if not first > ended:
            raise RuntimeError("a queued run started before the previous run's completion commit")
        res["lim_admit"].append(first - ended)
        res["lim_finish_commit"].append(ended - LAST[prev_key])
        res["lim_last_to_first"].append(first - LAST[prev_key])
        res["lim_commits"].append(_count_in(_COMMITS, ended, first))
        res["lim_reads"].append(_count_in(_READS, ended, first))


async def step_round(client: PolosClient, n: int, r: int, res: dict[str, list[float]]) -> None:
    order = (0, n) if r % 2 == 0 else (n, 0)
    times = {}
    for k in order:
        t = time.perf_counter()
        assert await flow_steps.run(client, {"n": k, "record": bool(k)}) == k
        times[k] = time.perf_counter() - t
    res["step_overhead"].append((times[n] - times[0]) / n)


async def run_all(work: str, args: argparse.Namespace) -> dict[str, Any]:
    res: dict[str, Any] = {
        k: []
        for k in (
            "raw",
            "step_overhead",
            "unl_first",
            "unl_return",
            "unl_commits",
            "unl_reads",
            "trg_first",
            "trg_return",
            "trg_commits",
            "trg_reads",
            "lim_free_first",
            "lim_admit",
            "lim_finish_commit",
            "lim_last_to_first",
            "lim_commits",
            "lim_reads",
            "unl_read_names",
            "trg_read_names",
        )
    }
    client = PolosClient(journal=os.path.join(work, "flow.duckdb"))
    raw = RawDuckDB(os.path.join(work, "raw.duckdb"))
    t_start = time.perf_counter()
    # warm-up (trigger registered, code paths hot, raw connection warm)
    for i in range(5):
        await sample_unlimited(client, f"wu{i}", {k: [] for k in res})
        await sample_trigger(client, f"wt{i}", {k: [] for k in res})
    await limited_round(client, -1, 3, {k: [] for k in res})
    await flow_steps.run(client, {"n": args.steps})
    raw.commit_block(10)
    k = args.per_round
    print(
        f"{args.rounds} rounds x ({k} unlimited invokes, {k} trigger publishes, 1 + {k} limit-1 queue runs, "
        f"0/{args.steps}-step runs, {k} raw commits) ...",
        flush=True,
    )
    for r in range(args.rounds):
        kinds = ["unl", "trg", "lim", "steps", "raw"]
        shift = r % len(kinds)
        for kind in kinds[shift:] + kinds[:shift]:  # rotate the order round by round
            if kind == "unl":
                for j in range(k):
                    await sample_unlimited(client, f"u{r}-{j}", res)
            elif kind == "trg":
                for j in range(k):
                    await sample_trigger(client, f"t{r}-{j}", res)
            elif kind == "lim":
                await limited_round(client, r, k, res)
            elif kind == "steps":
                await step_round(client, args.steps, r, res)
            else:
                res["raw"].extend(raw.commit_block(k))
    res["step_commit"] = list(STEP_TIMES)
    res["elapsed_s"] = time.perf_counter() - t_start
    client.close()
    raw.close()
    return res


# --------------------------------------------------------------------------- report
def summarize(res: dict[str, Any]) -> dict[str, Any]:
    def stat(key: str) -> dict[str, float]:
        v = res[key]
        return {"n": len(v), "med": _ms(statistics.median(v)), "p90": _ms(_pct(v, 0.9))}

    s: dict[str, Any] = {
        k: stat(k)
        for k in (
            "raw",
            "step_commit",
            "step_overhead",
            "unl_first",
            "unl_return",
            "trg_first",
            "trg_return",
            "lim_free_first",
            "lim_admit",
            "lim_finish_commit",
            "lim_last_to_first",
        )
    }
    for k in ("unl_commits", "unl_reads", "trg_commits", "trg_reads", "lim_commits", "lim_reads"):
        s[k] = statistics.median(res[k])
    s["unit_ms"] = s["step_commit"]["med"]
    s["elapsed_s"] = res["elapsed_s"]
    return s


def table_rows(s: dict[str, Any]) -> list[tuple[str, ...]]:
    unit, raw = s["unit_ms"], s["raw"]["med"]

    def row(label: str, key: str, note: str = "", ratios: bool = True) -> tuple[str, ...]:
        v = s[key]
        return (
            label,
            f"{v['n']}",
            f"{v['med']:.2f} ms",
            f"{v['p90']:.2f} ms",
            f"{v['med'] / unit:.2f}x" if ratios else "",
            f"{v['med'] / raw:.2f}x" if ratios else "",
            note,
        )

    path = "{c:.0f} commits, {r:.0f} reads"
    return [
        row(
            "(c) raw DuckDB commit: 1 step-shaped row, plain INSERT, autocommit (bare connection)",
            "raw",
            "baseline",
        ),
        row(
            "(c) engine single-step commit: `await ctx.step.run(key, noop)` timed in the workflow",
            "step_commit",
            "the unit",
        ),
        row(
            "(c) engine per-step overhead: (T(N steps) - T(0 steps)) / N, per round",
            "step_overhead",
            "cross-check",
        ),
        row(
            "(a) unlimited queue: `await client.invoke()` called -> workflow's first line",
            "unl_first",
            path.format(c=s["unl_commits"], r=s["unl_reads"]) + " on the path",
        ),
        row("      `await client.invoke()` called -> returns the handle", "unl_return", "info"),
        row(
            "(a) concurrency_limit=1 queue, slot free: invoke() called -> first line",
            "lim_free_first",
            "1 per round",
        ),
        row(
            "(a) concurrency_limit=1 queue, run queued: previous run's completion commit -> next run's first line",
            "lim_admit",
            path.format(c=s["lim_commits"], r=s["lim_reads"]) + " on the path",
        ),
        row(
            "      previous run's last line -> its completion commit returns",
            "lim_finish_commit",
            "info",
        ),
        row("      previous run's last line -> next run's first line", "lim_last_to_first", "info"),
        row(
            "(b) event trigger: `await events.publish()` called -> triggered workflow's first line",
            "trg_first",
            path.format(c=s["trg_commits"], r=s["trg_reads"]) + " on the path",
        ),
        row("      `await events.publish()` called -> returns", "trg_return", "info"),
    ]


HEADER = (
    "Figure",
    "samples",
    "median",
    "p90",
    "median / step commit",
    "median / raw commit",
    "note",
)


def print_table(rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(r[i]) for r in [HEADER, *rows]) for i in range(len(HEADER))]
    line = "  ".join(f"{h:<{w}}" for h, w in zip(HEADER, widths, strict=False))
    print(line)
    print("-" * len(line))
    for r in rows:
        print("  ".join(f"{c:<{w}}" for c, w in zip(r, widths, strict=False)))


def notes(s: dict[str, Any]) -> list[str]:
    unit = s["unit_ms"]
    u, t, a = s["unl_first"], s["trg_first"], s["lim_admit"]
    return [
        f"Dispatch on an unlimited queue costs {u['med'] / unit:.1f} step commits: `invoke()` commits the new "
        f"execution ({s['unl_commits']:.0f} commit on the path), then the engine starts the run's task at once; "
        "the run's 'running' status is written without waiting (commit_nowait), so the first line does not wait "
        "for a second commit. The rest is the two thread hops (caller loop -> engine loop, engine loop -> "
        "writer thread and back).",
        f"Admission on a concurrency_limit=1 queue costs {a['med']:.2f} ms ({a['med'] / unit:.2f} step commits) "
        "after the previous run's completion commit: the slot is released and the next run's task created on "
        f"the engine loop with no journal round trip ({s['lim_commits']:.0f} commits, {s['lim_reads']:.0f} reads "
        "on the path); what is left is the writer -> engine-loop hop that delivers the commit and the "
        "engine loop's bookkeeping. From the previous run's last line, the next run starts after "
        f"{s['lim_last_to_first']['med']:.2f} ms, i.e. mostly the finish commit.",
        f"An event trigger costs {t['med'] / unit:.1f} step commits from `publish()` to the triggered first line: "
        f"{s['trg_commits']:.0f} commits and {s['trg_reads']:.0f} read(s) lie on its path (the event row, "
        "then the new execution and the cursor move in one BEGIN/COMMIT transaction; the trigger takes the "
        "committed event in hand and reads the topic only when its cursor has a gap), each a round trip to "
        "the writer thread.",
    ]


def write_markdown(
    path: Path,
    s: dict[str, Any],
    rows: list[tuple[str, ...]],
    env: dict[str, str],
    cmdline: str,
    args: argparse.Namespace,
) -> None:
    lines = [
        START_MARK,
        "## Flow control: queue dispatch, admission and event-trigger latency (bench/bench_flow.py)",
        "",
        f"Measured {env['date']} ({env['cpus']} cores, load average {env['load']} at the start, Python "
        f"{env['python']}, DuckDB {env['duckdb']}). "
        f"This run: `{cmdline}` (took {s['elapsed_s']:.0f} s): {args.rounds} rounds, each taking "
        f"{args.per_round} samples of every kind in rotating order. Latencies are from one run, side by side "
        f"with the step commit they are divided by (the unit: {s['unit_ms']:.2f} ms here).",
        "",
        "| " + " | ".join(HEADER) + " |",
        "|" + "---|" * len(HEADER),
    ]
    for r in rows:
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in r) + " |")
    lines += ["", "Reading the figures:", ""]
    lines += [f"- {n}" for n in notes(s)]
    lines += [
        "",
        "How they are taken: every latency starts at `time.perf_counter()` just before the call on the caller's "
        "event loop and ends at `time.perf_counter()` on the workflow function's first line (same process, "
        "engine thread). Completion commits are timed by wrapping the journal's transaction method at run time "
        "(the end of the transaction that sets the execution `completed`, on the writer thread). Each sample "
        "waits for its run to finish before the next one starts, so they do not queue behind each other; the "
        "limit-1 runs queue behind a gate run that holds the slot until all of the round's runs are queued. "
        "Commits/reads 'on the path' are the writer-thread transactions and reads that ended inside the "
        "latency's window (median). No goals are set for these figures.",
        END_MARK,
    ]
    block = "\n".join(lines) + "\n"
    text = path.read_text() if path.exists() else "# polos_nb benchmarks\n"
    if START_MARK in text and END_MARK in text:
        head, rest = text.split(START_MARK, 1)
        _, tail = rest.split(END_MARK, 1)
        text = head + block.rstrip("\n") + tail
    else:
        text = text.rstrip("\n") + "\n\n" + block
    path.write_text(text)


def environment() -> dict[str, str]:
    return {
        "date": dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
        "cpus": str(os.cpu_count()),
        "python": platform.python_version(),
        "duckdb": duckdb.__version__,
        "platform": platform.platform(),
        "load": "/".join(f"{x:.1f}" for x in os.getloadavg()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--per-round", type=int, default=10, help="samples of each kind per round")
    parser.add_argument("--steps", type=int, default=20, help="N for the per-step overhead runs")
    parser.add_argument("--quick", action="store_true", help="fewer rounds (smoke run)")
    parser.add_argument(
        "--dir", default=None, help="parent of the temp directory (default: system temp)"
    )
    parser.add_argument(
        "--markdown",
        default=str(ROOT / "docs" / "benchmarks.md"),
        help="markdown file whose bench_flow section is replaced ('' to skip)",
    )
    parser.add_argument("--json", default=None, help="also dump raw samples as JSON here")
    parser.add_argument("--keep", action="store_true", help="keep the temp directory")
    args, ignored = parser.parse_known_args()  # scripts/bench.sh passes bench_engine's options too
    if args.quick:
        args.rounds = 6
    env = environment()
    work = tempfile.mkdtemp(prefix="polos-bench-flow-", dir=args.dir)
    print(
        f"polos_nb flow benchmark  {env['date']}  cpus={env['cpus']}  load {env['load']}  "
        f"python {env['python']}  duckdb {env['duckdb']}"
    )
    if ignored:
        print(f"(ignoring options meant for bench_engine.py: {' '.join(ignored)})")
    print(f"work dir: {work}")
    try:
        res = asyncio.run(run_all(work, args))
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    s = summarize(res)
    rows = table_rows(s)
    print()
    print_table(rows)
    print()
    for n in notes(s):
        print("- " + n)
    print(f"\ntotal benchmark time: {s['elapsed_s']:.0f} s")
    known = [a for a in sys.argv[1:] if a not in ignored]
    cmdline = " ".join([".venv/bin/python", "bench/bench_flow.py", *known])
    if args.markdown:
        write_markdown(Path(args.markdown), s, rows, env, cmdline, args)
        print(f"wrote {args.markdown}")
    if args.json:
        Path(args.json).write_text(json.dumps({"summary": s, "raw": res}, default=str, indent=1))


if __name__ == "__main__":
    threading.current_thread().name = "bench-caller"
    main()

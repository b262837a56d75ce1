"""Notebook-layer benchmarks; writes docs/benchmarks-notebook.md.

    .venv/bin/python bench/bench_notebook.py [--quick]

1. ``%load_ext polos_nb`` in a fresh interpreter: with no journal yet (the first cell of a
   new notebook) and with a journal holding an unfinished run (after a kernel restart:
   the journal is opened and the run is listed and shown again).
2. Approval click-to-resume latency in a real kernel: a ``comm_msg`` click (what the
   widget's button sends) until the step after the suspension has run (it writes
   ``time.time()`` to a file; same host clock).
3. Widget traffic while a fast fake model streams: comm messages per second for the run's
   widget, on the wire of a real kernel (iopub), against tokens per second.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

LOAD_CODE = """
import time, sys
from IPython.core.interactiveshell import InteractiveShell
ip = InteractiveShell.instance()
ip.run_line_magic("config", "PolosMagics.warm_up = WARM")
t = time.perf_counter()
ip.run_line_magic("load_ext", "polos_nb")
elapsed = time.perf_counter() - t
heavy = [m for m in ("duckdb", "anywidget", "pandas") if m in sys.modules]
print("@@", elapsed, ",".join(heavy) or "none")
"""

# The first model call of a kernel, made PAUSE seconds after %load_ext (the user writing
# the next cell): a scripted agent's whole run, timed from the call.
FIRST_CALL_CODE = """
import time
from IPython.core.interactiveshell import InteractiveShell
ip = InteractiveShell.instance()
ip.run_line_magic("config", "PolosMagics.warm_up = WARM")
ip.run_line_magic("load_ext", "polos_nb")
time.sleep(PAUSE)
from polos_nb import Agent, PolosClient
from polos_nb.testing import ScriptedModel
client = PolosClient(journal="first.duckdb")
agent = Agent(id="first", provider="fake", model=ScriptedModel("first", ["Hello."]))
t = time.perf_counter()
agent.run_sync(client, "hi")
print("@@", time.perf_counter() - t)
client.close()
"""

SEED_CODE = """
import asyncio
from polos_nb import PolosClient, workflow
@workflow(id="held")
async def held(ctx, payload):
    await ctx.step.run("a", lambda: 1)
    await ctx.step.suspend("ok", data={"question": "go?"})
    return 1
async def main():
    c = PolosClient()
    h = await held.invoke(c, {})
    for _ in range(200):
        if (await c.get_execution(h.id)).status == "waiting":
            break
        await asyncio.sleep(0.01)
    c.close()
asyncio.run(main())
"""


def _fresh_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("POLOS_JOURNAL", "JPY_SESSION_NAME")}
    env["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
    env["POLOS_NB_ALLOW_MODEL_REQUESTS"] = "0"
    return env


def _at_at(stdout: str) -> list[str]:
    return next(x for x in stdout.splitlines() if x.startswith("@@")).split(" ")[1:]


def load_ext(runs: int) -> dict[str, object]:
    """``%load_ext`` time, warm-up on and off alternated in one run (same machine state)."""
    out: dict[str, object] = {}
    for label, seed in (
        ("no journal (new notebook)", False),
        ("journal with an unfinished run (restart)", True),
    ):
        times: dict[bool, list[float]] = {True: [], False: []}
        heavy = ""
        for _ in range(runs):
            for warm in (True, False):
                with tempfile.TemporaryDirectory() as tmp:
                    env = _fresh_env()
                    if seed:
                        subprocess.run(
                            [sys.executable, "-c", SEED_CODE], cwd=tmp, env=env, check=True
                        )
                    proc = subprocess.run(
                        [sys.executable, "-c", LOAD_CODE.replace("WARM", str(warm))],
                        cwd=tmp,
                        env=env,
                        capture_output=True,
                        text=True,
                        check=True,
                    )
                    value, *rest = _at_at(proc.stdout)
                    times[warm].append(float(value))
                    heavy = rest[0] if rest else heavy
        for warm in (True, False):
            out[f"{label}, warm-up {'on' if warm else 'off'}"] = {
                "median_ms": statistics.median(times[warm]) * 1000,
                "max_ms": max(times[warm]) * 1000,
                "heavy_imports": heavy or "none",
            }
    return out


def first_call(runs: int, pause: float) -> dict[str, dict[str, float]]:
    """The first model call of a fresh interpreter, ``pause`` s after ``%load_ext``."""
    times: dict[bool, list[float]] = {True: [], False: []}
    for _ in range(runs):
        for warm in (True, False):
            with tempfile.TemporaryDirectory() as tmp:
                code = FIRST_CALL_CODE.replace("WARM", str(warm)).replace("PAUSE", str(pause))
                proc = subprocess.run(
                    [sys.executable, "-c", code],
                    cwd=tmp,
                    env=_fresh_env(),
                    capture_output=True,
                    text=True,
                    check=True,
                )
                times[warm].append(float(_at_at(proc.stdout)[0]))
    return {
        ("on" if warm else "off"): {
            "median_ms": statistics.median(times[warm]) * 1000,
            "max_ms": max(times[warm]) * 1000,
        }
        for warm in (True, False)
    }


APPROVAL_WF = """
%load_ext polos_nb
import os, time
from polos_nb import workflow, WorkflowContext
@workflow(id="gate")
async def gate(ctx: WorkflowContext, payload: dict) -> int:
    await ctx.step.suspend("ok", data={"_form": {"fields": [{"key": "approved", "type": "boolean", "label": "OK"}]}})
    def stamp():
        with open(payload["file"], "w") as f:
            f.write(repr(time.time()))
    await ctx.step.run("after", stamp)
    return 1
"""


def click_latency(runs: int) -> dict[str, float]:
    from tests.notebook.kernel_harness import Kernel

    tmp = Path(tempfile.mkdtemp(prefix="bench-nb-"))
    k = Kernel(tmp, {"POLOS_JOURNAL": str(tmp / "bench.duckdb")})
    latencies = []
    try:
        k.run(APPROVAL_WF)
        for i in range(runs):
            stamp = tmp / f"stamp-{i}.txt"
            k.run(f"run = %polos run gate {{'file': {str(stamp)!r}}}")
            k.poll("len(run.state.pending)", 1)
            comm_id = k.value("run.widget().model_id")
            t0 = time.time()
            k.click(comm_id, {"kind": "submit", "key": "ok", "decision": "approve", "data": {}})
            while not stamp.exists() or not stamp.read_text():
                time.sleep(0.001)
            latencies.append(float(stamp.read_text()) - t0)
    finally:
        k.close()
    latencies.sort()
    return {
        "runs": runs,
        "median_ms": statistics.median(latencies) * 1000,
        "p90_ms": latencies[int(0.9 * (len(latencies) - 1))] * 1000,
        "max_ms": latencies[-1] * 1000,
    }


STREAM_SETUP = """
%load_ext polos_nb
from polos_nb import Agent
from polos_nb.testing import ScriptedModel, FakeTurn
words = [f"tok{i} " for i in range(N)]
fast = ScriptedModel("fast", [FakeTurn(text="".join(words), chunks=words)])
streamer = Agent(id="streamer", provider="fake", model=fast)
"""


def stream_rate(tokens: int) -> dict[str, float]:
    from tests.notebook.kernel_harness import Kernel

    tmp = Path(tempfile.mkdtemp(prefix="bench-nb-"))
    k = Kernel(tmp, {"POLOS_JOURNAL": str(tmp / "bench.duckdb")})
    try:
        k.run(STREAM_SETUP.replace("N)", f"{tokens})"), timeout=120)
        k.run(
            "import polos_nb.llm._litellm as _l; _l._lit()", timeout=120
        )  # litellm loaded before timing
        msg_id = k.send("run = %polos run streamer go\nprint('@@', run.widget().model_id)")
        _reply, outputs = k.wait(msg_id, timeout=120)
        comm_id = next(x.split()[1] for x in k.text(outputs).splitlines() if x.startswith("@@"))
        start = time.monotonic()
        stamps: list[float] = []
        done = False
        deadline = start + 120
        while time.monotonic() < deadline and not done:
            msg = k._iopub(0.5)
            if msg is None:
                continue
            if msg["msg_type"] == "comm_msg" and msg["content"].get("comm_id") == comm_id:
                stamps.append(time.monotonic())
                state = msg["content"]["data"].get("state") or {}
                if state.get("done") is True:
                    done = True
        streamed = k.value("len(run.state.text.split())")
        flushes = k.value("run.state.flushes")
        widget_sent = k.value("run.widget().messages_sent")
    finally:
        k.close()
    duration = (stamps[-1] - stamps[0]) if len(stamps) > 1 else 0.0
    per_second = [0] * (int(duration) + 1)
    for s in stamps:
        per_second[int(s - stamps[0])] += 1
    return {
        "tokens": tokens,
        "words_shown": streamed,
        "seconds": duration,
        "tokens_per_s": tokens / duration if duration else float("nan"),
        "comm_msgs": len(stamps),
        "comm_msgs_per_s": len(stamps) / duration if duration else float("nan"),
        "max_msgs_in_any_second": max(per_second),
        "flushes": flushes,
        "widget_messages_sent": widget_sent,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    load = load_ext(3 if args.quick else 7)
    pause = 20.0
    first = first_call(2 if args.quick else 3, pause)
    click = click_latency(5 if args.quick else 20)
    stream = stream_rate(5000 if args.quick else 40000)
    print(
        json.dumps(
            {"load_ext": load, "first_call": first, "click": click, "stream": stream}, indent=2
        )
    )
    import ipykernel

    lines = [
        "# Notebook-layer benchmarks",
        "",
        f"`.venv/bin/python bench/bench_notebook.py{' --quick' if args.quick else ''}` on this machine "
        f"({os.cpu_count()} CPUs, Python {sys.version.split()[0]}, ipykernel {ipykernel.__version__}).",
        "",
        "## `%load_ext polos_nb`",
        "",
        "A fresh interpreter each time; the time of the `load_ext` call alone.",
        "",
        "| situation | median | max | heavy modules imported |",
        "|---|---|---|---|",
    ]
    for label, row in load.items():
        r = row  # type: ignore[assignment]
        lines.append(
            f"| {label} | {r['median_ms']:.0f} ms | {r['max_ms']:.0f} ms | {r['heavy_imports']} |"
        )
    lines += [
        "",
        "With no journal, DuckDB, anywidget and pandas stay unimported (they load on first use).",
        "After a restart the journal must be opened (DuckDB) and the unfinished runs shown",
        "(anywidget), which is the difference. The warm-up (`PolosMagics.warm_up`, on by default)",
        "imports litellm in a background thread after the load; the load does not wait for it.",
        "",
        "## The first model call of a kernel",
        "",
        f"A scripted agent's whole first run, started {pause:.0f} s after `%load_ext` (the time to",
        "write the next cell), in a fresh interpreter; warm-up on and off alternated.",
        "",
        "| warm-up | median | max |",
        "|---|---|---|",
    ]
    for label, r in first.items():
        lines.append(f"| {label} | {r['median_ms']:.0f} ms | {r['max_ms']:.0f} ms |")
    lines += [
        "",
        "## Approval click → resume",
        "",
        "A real ipykernel; the click is the `comm_msg` the widget's button sends; the clock stops when",
        "the step after the suspension has run (validation, journal commit of the resume, re-drive).",
        "",
        "| clicks | median | p90 | max |",
        "|---|---|---|---|",
        f"| {click['runs']} | {click['median_ms']:.1f} ms | {click['p90_ms']:.1f} ms | {click['max_ms']:.1f} ms |",
        "",
        "## Widget traffic while a fast model streams",
        "",
        "A scripted model streams one word per chunk as fast as the engine takes them; the run's",
        "widget is displayed. Counted: the widget's comm messages on the kernel's iopub channel.",
        "",
        "| tokens | stream time | tokens/s | comm msgs | msgs/s | most msgs in one second |",
        "|---|---|---|---|---|---|",
        f"| {stream['tokens']} | {stream['seconds']:.2f} s | {stream['tokens_per_s']:.0f} | {stream['comm_msgs']} | "
        f"{stream['comm_msgs_per_s']:.1f} | {stream['max_msgs_in_any_second']} |",
        "",
        "Updates are flushed at most every 80 ms (`%config PolosMagics.flush_interval`): at most one",
        "state update plus one text delta per flush, so the rate is bounded (~25 messages/s)",
        "whatever the token rate; without throttling it would be one message per token.",
        "",
    ]
    (ROOT / "docs" / "benchmarks-notebook.md").write_text("\n".join(lines))
    print("wrote docs/benchmarks-notebook.md")


if __name__ == "__main__":
    main()

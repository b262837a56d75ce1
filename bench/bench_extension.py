"""JupyterLab extension benchmarks; writes docs/benchmarks-extension.md.

    .venv/bin/python bench/bench_extension.py [--quick] [--runs N]

A real JupyterLab (the browser tests' server, ``tests/e2e/server.py``, with polos_nb's
server extension and the built labextension) driven by Debian's Chromium through
Playwright.

1. **Suspension -> inbox badge.** A notebook's kernel starts a run that suspends; the
   workflow writes ``time.time()`` to a file just before it suspends (so the figure also
   counts the suspension's own journal commit), and a MutationObserver in the page records
   ``Date.now()`` when the sidebar tab's badge appears (same host clock). The answer goes
   through the server's API, the badge clears, and the next run starts.
2. **Sidebar with many runs.** A journal at rest (no kernel owns it) holding N completed
   runs, beside one holding 10: from the page's navigation start to the first run row
   painted in the sidebar, the time of the server's first page of runs, and the page's JS
   heap and DOM node count once the list shows (Chromium's performance metrics).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS  # noqa: E402
from tests.e2e.lab import Lab  # noqa: E402
from tests.e2e.server import JupyterServer  # noqa: E402

SETUP = """\
%load_ext polos_nb
import time
from polos_nb import WorkflowContext, workflow
from polos_nb.notebook import start

MARKS = {marks!r}


def mark(i):
    with open(MARKS, "a") as f:
        f.write(f"{{i}} {{time.time()}}\\n")


@workflow(id="bench_wait")
async def bench_wait(ctx: WorkflowContext, payload: dict) -> dict:
    await ctx.step.run("mark", mark, payload["i"])
    answer = await ctx.step.suspend("go", data={{"_form": {{"fields": [{{"key": "ok", "type": "boolean"}}]}}}})
    return answer.data
"""

OBSERVER = """() => {
  window.__badges = [];
  const seen = new Set();
  const check = () => {
    const tab = document.querySelector('.lm-TabBar-tab.polos-tab-waiting');
    const on = !!tab;
    if (on && !seen.has('on')) { seen.add('on'); window.__badges.push(Date.now()); }
    if (!on) { seen.delete('on'); }
  };
  new MutationObserver(check).observe(document.body, {subtree: true, attributes: true, childList: true});
}"""

SEED = """
import asyncio, sys
from polos_nb import PolosClient, workflow

@workflow(id="many")
async def many(ctx, payload):
    await ctx.step.run("a", lambda: payload["i"])
    return payload["i"]

async def main(n, path):
    c = PolosClient(journal=path)
    for start in range(0, n, 500):
        handles = [await many.invoke(c, {"i": i}) for i in range(start, min(n, start + 500))]
        for h in handles:
            await c.wait_for_result(h.id, timeout=300)
    c.close()

asyncio.run(main(int(sys.argv[1]), sys.argv[2]))
"""


def write_notebook(path: Path, cells: list[str]) -> None:
    nb = {
        "cells": [
            {
                "cell_type": "code",
                "execution_count": None,
                "metadata": {},
                "outputs": [],
                "source": c,
            }
            for c in cells
        ],
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    path.write_text(json.dumps(nb))


def seed(n: int, path: Path) -> float:
    import subprocess

    path.parent.mkdir(parents=True, exist_ok=True)
    t = time.perf_counter()
    subprocess.run(
        [sys.executable, "-c", SEED, str(n), str(path)],
        check=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    return time.perf_counter() - t


def badge_latency(browser: Any, server: JupyterServer, rounds: int, tmp: Path) -> list[float]:
    folder = server.folder("badge")
    marks = tmp / "marks.txt"
    nb = folder / "badge.ipynb"
    write_notebook(nb, [SETUP.format(marks=str(marks)), "run = start(bench_wait, {'i': 0})"])
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        lab = Lab(context.new_page(), server, tmp)
        lab.open(nb.relative_to(server.root).as_posix())
        lab.run_cell(0)
        lab.page.evaluate("() => window.jupyterapp.commands.execute('polos:open-sidebar')")
        lab.page.evaluate(OBSERVER)
        out = []
        for i in range(rounds):
            lab.set_source(1, f"run = start(bench_wait, {{'i': {i}}})")
            lab.run_cell(1)
            lab.wait_js(f"() => window.__badges.length > {i}", what=f"badge {i}")
            shown = lab.page.evaluate(f"() => window.__badges[{i}]") / 1000.0
            marked = dict(line.split() for line in marks.read_text().splitlines())[str(i)]
            out.append(shown - float(marked))
            [approval] = lab.wait_until(
                lambda: server.api("GET", "polos/api/state")["approvals"], what="approval"
            )
            server.api(
                "POST",
                "polos/api/answer",
                {"execution_id": approval["execution_id"], "key": "go", "data": {"ok": True}},
            )
            lab.wait_js(
                "() => !document.querySelector('.lm-TabBar-tab.polos-tab-waiting')",
                what="the badge to clear",
            )
        return out
    finally:
        context.close()
        server.shutdown_sessions("badge")


def sidebar_first_paint(
    browser: Any, server: JupyterServer, label: str, source: str
) -> dict[str, Any]:
    """Open JupyterLab in a fresh context and time the first row of journal ``source``."""
    t = time.perf_counter()
    query = urllib.parse.urlencode({"source": source, "limit": 100})
    server.api("GET", f"polos/api/runs?{query}")
    api_ms = (time.perf_counter() - t) * 1000
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        page = context.new_page()
        cdp = context.new_cdp_session(page)
        cdp.send("Performance.enable")
        workspace = f"bench-{label}-{time.monotonic_ns()}"
        page.goto(f"{server.url}lab/workspaces/{workspace}?reset&token={server.token}")
        page.wait_for_function(
            "() => window.jupyterapp && window.jupyterapp.commands.hasCommand('polos:open-sidebar')",
            timeout=120000,
        )
        # after JupyterLab restored its layout (which would show the file browser again)
        page.evaluate(
            "async () => { await window.jupyterapp.restored; window.__polosOpenAt = performance.now();"
            " await window.jupyterapp.commands.execute('polos:open-sidebar'); }"
        )
        row = f".polos-source[data-source='{source}'] .polos-run-row:not(.polos-run-row-loading)"
        page.wait_for_selector(row, timeout=120000)
        first_paint_ms, open_at = page.evaluate("() => [performance.now(), window.__polosOpenAt]")
        shots = ROOT / ".cache" / "bench-extension"
        shots.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(shots / f"sidebar-{label}.png"))
        total = page.evaluate(
            f"() => document.querySelector(\"{row}\").closest('.polos-source')"
            ".querySelector('.polos-source-total').textContent"
        )
        rows = page.evaluate(f'() => document.querySelectorAll("{row}").length')
        page.wait_for_timeout(1000)
        cdp.send("HeapProfiler.collectGarbage")
        metrics = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
        return {
            "api_ms": api_ms,
            "first_paint_ms": first_paint_ms,
            "after_open_ms": first_paint_ms - open_at,
            "heap_mb": metrics["JSHeapUsedSize"] / 1e6,
            "nodes": int(metrics["Nodes"]),
            "rows": rows,
            "total": total,
        }
    finally:
        context.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds, 1,000 runs")
    parser.add_argument("--runs", type=int, default=None, help="runs in the big journal")
    parser.add_argument("--out", default=str(ROOT / "docs" / "benchmarks-extension.md"))
    args = parser.parse_args()
    rounds = 5 if args.quick else 15
    big = args.runs or (1000 if args.quick else 10000)

    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        server = JupyterServer(tmp / "lab")
        print(f"seeding journals at rest: 10 and {big} completed runs ...", flush=True)
        seed_s = seed(big, server.root / "big" / ".polos" / "runs.duckdb")
        seed(10, server.root / "small" / ".polos" / "runs.duckdb")
        print(f"  {big} runs in {seed_s:.0f} s", flush=True)
        server.start()
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(
                    executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
                )
                try:
                    # let the hub find both journals before the clock starts
                    ids: dict[str, str] = {}
                    deadline = time.monotonic() + 60
                    while len(ids) < 2 and time.monotonic() < deadline:
                        for s in server.api("GET", "polos/api/state")["sources"]:
                            for label in ("small", "big"):
                                if str(s.get("journal")).endswith(f"{label}/.polos/runs.duckdb"):
                                    ids[label] = s["id"]
                        time.sleep(0.5)
                    paint = {}
                    for label in ("small", "big", "small", "big"):  # second pass: warm caches
                        paint[label] = sidebar_first_paint(browser, server, label, ids[label])
                        print(label, paint[label], flush=True)
                    latencies = badge_latency(browser, server, rounds, tmp)
                    print("badge latencies (s):", [round(x, 3) for x in latencies], flush=True)
                finally:
                    browser.close()
        finally:
            server.stop()

    import platform

    lat = sorted(latencies)
    p90 = lat[min(len(lat) - 1, round(0.9 * (len(lat) - 1)))]
    small, large = paint["small"], paint["big"]
    lines = [
        "# JupyterLab extension benchmarks",
        "",
        f"`.venv/bin/python bench/bench_extension.py` on this machine ({os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}, Debian's Chromium, headless), sharing the machine "
        "with other work: read the ratios more than the absolute times.",
        "",
        "## Suspension -> inbox badge",
        "",
        "From the workflow's last line before `ctx.step.suspend` (so the suspension's journal "
        "commit is included) to the sidebar tab's badge appearing in the page: the kernel "
        "pushes the change over its comm, the server's long poll answers, the page redraws.",
        "",
        "| rounds | median | p90 | max |",
        "|---|---|---|---|",
        f"| {len(lat)} | {statistics.median(lat) * 1000:.0f} ms | {p90 * 1000:.0f} ms | "
        f"{lat[-1] * 1000:.0f} ms |",
        "",
        f"## Sidebar with {big:,} runs in a journal at rest",
        "",
        "A fresh page (warm server caches, second of two loads): from the page's navigation "
        "start to the first run row painted in the sidebar (most of it is JupyterLab itself "
        "loading; the next column is the part from opening the sidebar); the server's first "
        "page of 100 "
        "runs; the page's JS heap (after a garbage collection) and DOM nodes once the list "
        "shows. The list is virtual: it fetches and draws the rows in view, so the page does "
        "not grow with the journal.",
        "",
        "| journal | first row painted | of which after opening the sidebar "
        "| first page of runs (server) | JS heap | DOM nodes |",
        "|---|---|---|---|---|---|",
    ]
    for name, m in (("10 runs", small), (f"{big:,} runs", large)):
        lines.append(
            f"| {name} | {m['first_paint_ms']:.0f} ms | {m['after_open_ms']:.0f} ms "
            f"| {m['api_ms']:.0f} ms | "
            f"{m['heap_mb']:.1f} MB | {m['nodes']} |"
        )
    lines += [
        "",
        f"Ratios {big:,} / 10: first row {large['first_paint_ms'] / small['first_paint_ms']:.2f}x "
        f"(after opening {large['after_open_ms'] / max(small['after_open_ms'], 0.1):.2f}x), "
        f"server page {large['api_ms'] / max(small['api_ms'], 0.1):.2f}x, "
        f"JS heap {large['heap_mb'] / small['heap_mb']:.2f}x, "
        f"DOM nodes {large['nodes'] / small['nodes']:.2f}x.",
        "",
    ]
    Path(args.out).write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()

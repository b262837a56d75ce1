"""polos_nb agent-layer benchmark: engine overhead per agent turn, streaming latency,
journal bytes per LLM call.

Run with ``.venv/bin/python bench/bench_agents.py`` (``--quick`` for fewer rounds). It
prints a table and writes docs/benchmarks-agents.md. Everything runs against a real
DuckDB journal in a temp directory and real litellm, with in-process fake models.

1. Overhead per agent turn. An agent loops ``TURNS`` times: each turn is one LLM call
   (a fake model that sleeps ``MODEL_MS``) and one tool call (no-op). Overhead per turn
   = (wall time of the run - time spent inside the fake model) / turns. It is compared
   with the same fake called ``TURNS`` times through ``litellm.acompletion`` directly
   (no engine, no journal), which isolates the cost of litellm itself.
2. Streaming latency: a fake provider yields timestamped chunks; the consumer reads
   ``StreamResult.text_chunks``; latency = arrival time - yield time, per chunk.
3. Journal bytes per LLM call for conversations of growing length (one agent run with
   N turns): the journaled output of every ``llm:*`` step, per call. It must stay flat
   (the journal holds each new turn, never the transcript), so the total is linear.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import duckdb  # noqa: E402

from polos_nb import Agent, PolosClient, tool  # noqa: E402
from polos_nb.llm import BackendRequest, LLMResponse, Usage, complete, register_backend  # noqa: E402
from polos_nb.testing import FakeToolCall, FunctionModel  # noqa: E402

MODEL_MS = 20.0


@tool(description="no-op")
def noop(i: int) -> int:
    return i


def looping_model(turns: int, sleep_ms: float, spent: list[float], name: str) -> FunctionModel:
    async def brain(messages: list[dict[str, Any]], info: dict[str, Any]) -> Any:
        t0 = time.perf_counter()
        await asyncio.sleep(sleep_ms / 1000)
        done = sum(1 for m in messages if m["role"] == "tool")
        spent.append(time.perf_counter() - t0)
        if done >= turns - 1:
            return "finished after " + str(done) + " tool calls"
        return FakeToolCall("noop", {"i": done}, id=f"c{done}")

    return FunctionModel(brain, name=name)


async def overhead(client: PolosClient, turns: int, rounds: int) -> dict[str, float]:
    per_turn, direct = [], []
    for r in range(rounds):
        spent: list[float] = []
        model = looping_model(turns, MODEL_MS, spent, f"bench-loop-{r}")
        agent = Agent(
            id=f"bench-overhead-{r}",
            provider="fake",
            model=model,
            tools=[noop],
            stop_conditions=[],
            llm_retries=0,
        )
        os.environ["POLOS_AGENT_MAX_STEPS"] = str(turns + 5)
        t0 = time.perf_counter()
        result = await agent.run(client, "loop")
        wall = time.perf_counter() - t0
        assert result.total_steps == turns, result.stop_reason
        per_turn.append((wall - sum(spent)) / turns)
        spent2: list[float] = []
        direct_model = looping_model(turns, MODEL_MS, spent2, f"bench-direct-{r}")
        t0 = time.perf_counter()
        for _ in range(turns):
            await complete(direct_model.litellm_model, [{"role": "user", "content": "x"}])
        direct.append((time.perf_counter() - t0 - sum(spent2)) / turns)
    return {
        "per_turn_ms": statistics.median(per_turn) * 1000,
        "litellm_ms": statistics.median(direct) * 1000,
    }


class _TimedStream:
    """A provider whose chunks carry the time they were yielded."""

    def __init__(self, chunks: int) -> None:
        self.chunks = chunks

    async def generate(self, request: BackendRequest) -> LLMResponse:
        return LLMResponse(
            content="x", usage=Usage(input_tokens=1, output_tokens=1, total_tokens=2)
        )

    async def stream(self, request: BackendRequest) -> AsyncIterator[dict[str, Any]]:
        for _ in range(self.chunks):
            await asyncio.sleep(0.002)
            yield {"text": f"{time.perf_counter_ns()} "}
        yield {
            "finish": {
                "usage": Usage(
                    input_tokens=1, output_tokens=self.chunks, total_tokens=self.chunks + 1
                )
            }
        }


async def streaming_latency(client: PolosClient, chunks: int) -> dict[str, float]:
    register_backend("bench-stream", _TimedStream(chunks))
    agent = Agent(id="bench-stream", provider="litellm", model="bench-stream/timed", llm_retries=0)
    stream = await agent.stream(client, "go")
    latencies: list[float] = []
    buffer = ""
    async for piece in stream.text_chunks:
        now = time.perf_counter_ns()
        buffer += piece
        *whole, buffer = buffer.split(" ")
        latencies += [(now - int(stamp)) / 1e6 for stamp in whole if stamp]
    await stream.result()
    latencies.sort()
    return {
        "n": len(latencies),
        "p50": statistics.median(latencies),
        "p95": latencies[int(0.95 * len(latencies)) - 1],
        "max": latencies[-1],
    }


async def journal_growth(client: PolosClient, lengths: list[int]) -> list[dict[str, float]]:
    out = []
    for n in lengths:
        model = looping_model(n, 0, [], f"bench-growth-{n}")
        agent = Agent(
            id=f"bench-growth-{n}", provider="fake", model=model, tools=[noop], llm_retries=0
        )
        os.environ["POLOS_AGENT_MAX_STEPS"] = str(n + 5)
        result = await agent.run(client, "loop " * 50)
        out.append({"turns": n, "run_id": result.agent_run_id})
    return out


def measure_growth(path: str, runs: list[dict[str, Any]]) -> list[dict[str, float]]:
    con = duckdb.connect(path, read_only=True)
    try:
        rows = []
        for run in runs:
            sizes = [
                r[0]
                for r in con.execute(
                    "SELECT length(output) FROM steps WHERE execution_id = ? AND step_key LIKE 'llm:%' "
                    "AND status = 'completed' ORDER BY seq",
                    [run["run_id"]],
                ).fetchall()
            ]
            total = con.execute(
                "SELECT sum(length(coalesce(output, ''))) FROM steps WHERE execution_id = ?",
                [run["run_id"]],
            ).fetchone()[0]
            rows.append(
                {
                    "turns": run["turns"],
                    "per_llm_call": sum(sizes) / len(sizes),
                    "last_call": sizes[-1],
                    "all_steps_total": total,
                }
            )
        return rows
    finally:
        con.close()


async def main(args: argparse.Namespace) -> list[tuple[str, str]]:
    workdir = Path(tempfile.mkdtemp(prefix="polos-agent-bench-"))
    path = str(workdir / "journal.duckdb")
    client = PolosClient(journal=path)
    await complete(
        looping_model(1, 0, [], "bench-warm").litellm_model, [{"role": "user", "content": "x"}]
    )
    rounds = 2 if args.quick else 5
    turns = 10
    ov = await overhead(client, turns, rounds)
    st = await streaming_latency(client, 100 if args.quick else 300)
    runs = await journal_growth(client, [5, 10, 20, 40])
    client.close()
    growth = measure_growth(path, runs)
    table = [
        ("Fake model time per LLM call (sleep)", f"{MODEL_MS:.1f} ms"),
        (
            f"Engine overhead per agent turn (1 LLM step + 1 tool step, {turns} turns, median of {rounds})",
            f"{ov['per_turn_ms']:.2f} ms ({ov['per_turn_ms'] / MODEL_MS:.2f}x the model's own time)",
        ),
        (
            "  of which litellm itself (same fake called directly, per call)",
            f"{ov['litellm_ms']:.2f} ms",
        ),
        (
            "  engine + agent loop + 2 journaled steps, per turn",
            f"{ov['per_turn_ms'] - ov['litellm_ms']:.2f} ms",
        ),
        (
            f"Streaming latency provider chunk -> text_chunks consumer ({st['n']} chunks)",
            f"p50 {st['p50']:.2f} ms, p95 {st['p95']:.2f} ms, max {st['max']:.2f} ms",
        ),
    ]
    for g in growth:
        table.append(
            (
                f"Journal bytes per LLM call, conversation of {g['turns']} turns",
                f"{g['per_llm_call']:.0f} B mean, {g['last_call']} B last call; all steps {g['all_steps_total']} B",
            )
        )
    return table


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    started = time.perf_counter()
    table = asyncio.run(main(parser.parse_args()))
    width = max(len(k) for k, _ in table)
    for key, value in table:
        print(f"{key.ljust(width)}  {value}")
    load = os.getloadavg()
    doc = ROOT / "docs" / "benchmarks-agents.md"
    lines = [
        "# Agent-layer benchmarks",
        "",
        f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} with `.venv/bin/python bench/bench_agents.py` "
        f"({time.perf_counter() - started:.0f} s; load average {load[0]:.1f}/{load[1]:.1f}/{load[2]:.1f} on "
        f"{os.cpu_count()} cores). See the script's docstring for what each figure measures.",
        "",
        "| Figure | Measured |",
        "|---|---|",
        *[f"| {k} | {v} |" for k, v in table],
        "",
    ]
    doc.write_text("\n".join(lines))

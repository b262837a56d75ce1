"""OpenTelemetry spans (docs/observability.md), checked with the SDK's in-memory exporter:
a span per run segment, step attempt, LLM call and tool call, in the caller's trace, with
child workflows in their parent's trace; nothing when tracing is off or not installed."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from polos_nb import Agent, PolosClient, WorkflowContext, tool, workflow
from polos_nb.engine import get_all_workflows, unregister_workflow
from polos_nb.testing import FakeToolCall, ScriptedModel

ROOT = Path(__file__).resolve().parents[1]
_EXPORTER = InMemorySpanExporter()
_ACTIVE = [False]


class _Gate(SimpleSpanProcessor):
    """Exports only while a test of this module runs (the provider is process-global)."""

    def on_end(self, span: ReadableSpan) -> None:
        if _ACTIVE[0]:
            super().on_end(span)


_PROVIDER = TracerProvider()
_PROVIDER.add_span_processor(_Gate(_EXPORTER))


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    if not isinstance(trace.get_tracer_provider(), TracerProvider):
        trace.set_tracer_provider(_PROVIDER)
    assert trace.get_tracer_provider() is _PROVIDER, "another test set a tracer provider"
    before = set(get_all_workflows())
    _EXPORTER.clear()
    _ACTIVE[0] = True
    yield _EXPORTER
    _ACTIVE[0] = False
    _EXPORTER.clear()
    for workflow_id in set(get_all_workflows()) - before:
        unregister_workflow(workflow_id)


def uid(name: str) -> str:
    return f"{name}_{uuid.uuid4().hex[:10]}"


def by_name(exporter: InMemorySpanExporter, prefix: str) -> list[Any]:
    return [s for s in exporter.get_finished_spans() if s.name.startswith(prefix)]


async def test_run_and_step_spans_join_the_callers_trace(
    client: PolosClient, spans: InMemorySpanExporter
) -> None:
    wf_id = uid("traced")

    @workflow(id=wf_id)
    async def flow(ctx: WorkflowContext, payload: dict) -> int:
        a = await ctx.step.run("double", lambda: payload["x"] * 2)
        return await ctx.step.run("inc", lambda: a + 1)

    tracer = trace.get_tracer("test")
    with tracer.start_as_current_span("caller") as caller:
        assert await flow.run(client, {"x": 4}, timeout=10) == 9
    trace_id = caller.get_span_context().trace_id

    (run,) = by_name(spans, f"run {wf_id}")
    assert run.context.trace_id == trace_id
    assert run.parent is not None and run.parent.span_id == caller.get_span_context().span_id
    assert run.attributes["polos.workflow_id"] == wf_id
    assert run.attributes["polos.status"] == "completed"
    assert run.status.is_ok
    steps = sorted(by_name(spans, "step "), key=lambda s: s.start_time)
    assert [s.name for s in steps] == ["step double", "step inc"]
    for step in steps:
        assert step.context.trace_id == trace_id
        assert step.parent.span_id == run.context.span_id
        assert step.attributes["polos.execution_id"] == run.attributes["polos.execution_id"]
        assert step.attributes["polos.step.attempt"] == 1


async def test_a_run_without_a_caller_span_starts_its_own_trace(
    client: PolosClient, spans: InMemorySpanExporter
) -> None:
    wf_id = uid("rooted")

    @workflow(id=wf_id)
    async def flow(ctx: WorkflowContext) -> str:
        return await ctx.step.run("only", lambda: "ok")

    assert await flow.run(client, timeout=10) == "ok"
    (run,) = by_name(spans, f"run {wf_id}")
    (step,) = by_name(spans, "step only")
    assert run.parent is None
    assert step.context.trace_id == run.context.trace_id


async def test_failed_attempts_are_error_spans_and_the_failed_run_too(
    client: PolosClient, spans: InMemorySpanExporter
) -> None:
    wf_id = uid("failing")

    def boom() -> None:
        raise ValueError("no good")

    @workflow(id=wf_id)
    async def flow(ctx: WorkflowContext) -> None:
        await ctx.step.run("boom", boom, max_retries=1, base_delay=0.01)

    handle = await flow.invoke(client)
    with pytest.raises(Exception, match="no good"):
        await client.wait_for_result(handle.id, timeout=10)
    attempts = sorted(by_name(spans, "step boom"), key=lambda s: s.attributes["polos.step.attempt"])
    assert [s.attributes["polos.step.attempt"] for s in attempts] == [1, 2]
    for s in attempts:
        assert not s.status.is_ok
        assert "ValueError: no good" in (s.status.description or "")
        assert any(e.name == "exception" for e in s.events)
    (run,) = by_name(spans, f"run {wf_id}")
    assert run.attributes["polos.status"] == "failed" and not run.status.is_ok


async def test_child_workflows_and_later_segments_stay_in_the_trace(
    client: PolosClient, spans: InMemorySpanExporter
) -> None:
    child_id, parent_id = uid("child"), uid("parent")

    @workflow(id=child_id)
    async def child(ctx: WorkflowContext, payload: dict) -> int:
        return await ctx.step.run("compute", lambda: payload["x"] + 1)

    @workflow(id=parent_id)
    async def parent(ctx: WorkflowContext) -> int:
        value = await ctx.step.invoke_and_wait("kid", child, {"x": 1})
        answer = await ctx.step.suspend("approve")  # a later segment, after a wait
        return value + answer.data["n"]

    tracer = trace.get_tracer("test")
    with tracer.start_as_current_span("caller") as caller:
        handle = await parent.invoke(client)
    trace_id = caller.get_span_context().trace_id
    for _ in range(200):
        info = await client.get_execution(handle.id)
        if info.status == "waiting" and by_name(spans, f"run {child_id}"):
            break
        await asyncio.sleep(0.05)
    await client.resume(parent_id, handle.id, "approve", {"n": 40})
    assert await client.wait_for_result(handle.id, timeout=10) == 42

    parent_runs = by_name(spans, f"run {parent_id}")
    (child_run,) = by_name(spans, f"run {child_id}")
    (compute,) = by_name(spans, "step compute")
    assert len(parent_runs) >= 2  # parked at the child, then at the suspension, then done
    assert {s.context.trace_id for s in [*parent_runs, child_run, compute]} == {trace_id}
    parent_span_ids = {s.context.span_id for s in parent_runs}
    assert child_run.parent.span_id in parent_span_ids
    assert compute.parent.span_id == child_run.context.span_id
    assert [s.attributes["polos.status"] for s in sorted(parent_runs, key=lambda s: s.start_time)][
        -1
    ] == "completed"


async def test_a_run_resumed_by_another_engine_stays_in_its_trace(
    journal_path: Path, spans: InMemorySpanExporter
) -> None:
    wf_id = uid("reopened")

    @workflow(id=wf_id)
    async def flow(ctx: WorkflowContext) -> str:
        answer = await ctx.step.suspend("approve")
        return await ctx.step.run("finish", lambda: answer.data["who"])

    tracer = trace.get_tracer("test")
    first = PolosClient(journal=journal_path)
    try:
        with tracer.start_as_current_span("caller") as caller:
            handle = await flow.invoke(first)
        for _ in range(400):
            if (await first.get_execution(handle.id)).status == "waiting":
                break
            await asyncio.sleep(0.05)
    finally:
        first.close()  # the engine goes; the journal keeps the run and its trace context

    second = PolosClient(journal=journal_path)
    try:
        await second.resume(wf_id, handle.id, "approve", {"who": "ada"})
        assert await second.wait_for_result(handle.id, timeout=20) == "ada"
    finally:
        second.close()
    runs = sorted(by_name(spans, f"run {wf_id}"), key=lambda s: s.start_time)
    assert len(runs) >= 2
    context = caller.get_span_context()
    for run in runs:  # the later one was made by the second engine, from the journal
        assert run.context.trace_id == context.trace_id
        assert run.parent.span_id == context.span_id
    (finish,) = by_name(spans, "step finish")
    assert finish.parent.span_id == runs[-1].context.span_id


@tool(description="Look up a city's weather")
def weather(city: str) -> str:
    return f"{city}: 20C"


async def test_llm_and_tool_spans_carry_model_tokens_and_cost(
    client: PolosClient, spans: InMemorySpanExporter
) -> None:
    model = ScriptedModel(
        uid("m"),
        [FakeToolCall("weather", {"city": "Oslo"}, id="w1"), "Oslo is 20C."],
        price=(0.001, 0.002),
    )
    agent = Agent(id=uid("agent"), provider="fake", model=model, tools=[weather])
    result = await agent.run(client, "Weather in Oslo?")
    assert result.result == "Oslo is 20C."

    llm = sorted(by_name(spans, "chat "), key=lambda s: s.start_time)
    assert len(llm) == 2
    for s in llm:
        assert s.attributes["gen_ai.operation.name"] == "chat"
        assert s.attributes["polos.llm.model"] == agent.litellm_model
        assert s.attributes["gen_ai.usage.input_tokens"] > 0
        assert s.attributes["gen_ai.usage.output_tokens"] > 0
        expected = (
            s.attributes["gen_ai.usage.input_tokens"] * 0.001
            + s.attributes["gen_ai.usage.output_tokens"] * 0.002
        )
        assert s.attributes["polos.llm.cost_usd"] == pytest.approx(expected)
    assert llm[0].attributes["polos.llm.tool_calls"] == 1
    (tool_span,) = by_name(spans, "execute_tool weather")
    assert tool_span.attributes["gen_ai.tool.name"] == "weather"
    (run,) = by_name(spans, f"run {agent.id}")
    step_ids = {s.context.span_id: s for s in by_name(spans, "step ")}
    # Each LLM and tool call is inside the journaled step that made it, inside the run.
    for s in [*llm, tool_span]:
        assert s.context.trace_id == run.context.trace_id
        assert s.parent.span_id in step_ids
        assert step_ids[s.parent.span_id].parent.span_id == run.context.span_id


async def test_polos_otel_0_turns_spans_off(
    client: PolosClient, spans: InMemorySpanExporter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POLOS_OTEL", "0")
    wf_id = uid("quiet")

    @workflow(id=wf_id)
    async def flow(ctx: WorkflowContext) -> str:
        return await ctx.step.run("only", lambda: "ok")

    assert await flow.run(client, timeout=10) == "ok"
    assert spans.get_finished_spans() == ()


def test_without_opentelemetry_nothing_is_imported_and_runs_work(tmp_path: Path) -> None:
    script = textwrap.dedent(
        """
        import sys
        sys.modules["opentelemetry"] = None  # as if opentelemetry-api were not installed
        import polos_nb
        from polos_nb import PolosClient, WorkflowContext, workflow

        @workflow(id="plain")
        async def flow(ctx: WorkflowContext) -> str:
            return await ctx.step.run("only", lambda: "ok")

        client = PolosClient(journal=sys.argv[1])
        print(flow.run_sync(client, timeout=30))
        client.close()
        print(sorted(m for m in sys.modules if m.startswith("opentelemetry")))
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "j.duckdb")],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env={**os.environ, "PYTHONWARNINGS": "error::DeprecationWarning:polos_nb"},
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split("\n")[:2] == ["ok", "['opentelemetry']"]


def test_importing_polos_nb_does_not_import_opentelemetry() -> None:
    script = (
        "import sys, polos_nb; print([m for m in sys.modules if m.startswith('opentelemetry')])"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_without_an_sdk_no_span_is_made_and_the_callers_trace_still_reaches_children(
    tmp_path: Path,
) -> None:
    # A fresh process with the OpenTelemetry API and no SDK: spans would record nothing,
    # so none is started; a trace context the caller brings still reaches the runs.
    script = textwrap.dedent(
        """
        import json, sys
        import duckdb
        from opentelemetry import trace
        from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags
        from polos_nb import PolosClient, WorkflowContext, workflow

        started = []
        real = trace.ProxyTracer.start_span
        def counting(self, name, *args, **kwargs):
            started.append(name)
            return real(self, name, *args, **kwargs)
        trace.ProxyTracer.start_span = counting

        @workflow(id="kid")
        async def kid(ctx: WorkflowContext, payload: dict) -> int:
            return await ctx.step.run("add", lambda: payload["x"] + 1)

        @workflow(id="top")
        async def top(ctx: WorkflowContext) -> int:
            return await ctx.step.invoke_and_wait("kid", kid, {"x": 1})

        path = sys.argv[1]
        client = PolosClient(journal=path)
        print(top.run_sync(client, timeout=30))
        print(len(started))
        remote = SpanContext(
            trace_id=0x1234, span_id=0x5678, is_remote=True, trace_flags=TraceFlags(1)
        )
        with trace.use_span(NonRecordingSpan(remote)):
            print(top.run_sync(client, timeout=30))
        client.close()
        con = duckdb.connect(path, read_only=True)
        rows = con.execute(
            "SELECT workflow_id, trace_context FROM executions"
            " WHERE trace_context IS NOT NULL ORDER BY workflow_id"
        ).fetchall()
        print(json.dumps([[w, json.loads(t)["traceparent"].split("-")[1]] for w, t in rows]))
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "j.duckdb")],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[:2] == ["2", "0"]  # a run with a child and steps, and not one span started
    assert lines[2] == "2"
    trace_id = f"{0x1234:032x}"
    assert json.loads(lines[3]) == [["kid", trace_id], ["top", trace_id]]

"""The run widget without a frontend: throttled updates, form answers validated in Python."""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
import time
from typing import Any

from polos_nb.engine import StreamEvent
from polos_nb.notebook import RunState
from tests.notebook.conftest import uid, wait_until
from tests.notebook.test_magics import _workflow


class Recorder:
    def __init__(self) -> None:
        self.snapshots: list[dict[str, Any]] = []
        self.deltas: list[str] = []
        self.lock = threading.Lock()

    def apply(self, snapshot: dict[str, Any]) -> None:
        with self.lock:
            self.snapshots.append(snapshot)

    def delta(self, text: str) -> None:
        with self.lock:
            self.deltas.append(text)


def _event(kind: str, data: dict[str, Any], run_id: str, seq: int | None = None) -> StreamEvent:
    return StreamEvent(
        id="x",
        sequence_id=seq,
        topic="workflow/w/r",
        event_type=kind,
        data={**data, "_metadata": {"execution_id": run_id, "workflow_id": "w"}},
        created_at=dt.datetime.now(dt.UTC),
    )


def test_streamed_tokens_are_throttled_and_nothing_is_lost() -> None:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        state = RunState("r1", "w", interval=0.05)
        sink = Recorder()
        state.attach(sink, loop=loop)
        words = [f"w{i} " for i in range(3000)]

        async def produce() -> None:
            state.feed(_event("stream_start", {"step": "llm:1", "attempt": 1}, "r1"))
            for i, w in enumerate(words):
                state.feed(
                    _event("text_delta", {"step": "llm:1", "content": w, "chunk_index": i}, "r1")
                )
                if i % 50 == 0:
                    await asyncio.sleep(0.01)  # ~0.6 s of streaming, 5000 tokens/s

        started = time.perf_counter()
        asyncio.run_coroutine_threadsafe(produce(), loop).result(30)
        elapsed = time.perf_counter() - started
        time.sleep(0.2)
        expected = "".join(words)
        with sink.lock:
            streamed = "".join(sink.deltas)
            flushes = len(sink.snapshots)
        assert streamed == expected  # every token shown once, in order
        # one snapshot per flush interval at most (plus the attach snapshot and the last flush)
        assert flushes <= elapsed / 0.05 + 3, (flushes, elapsed)
        assert len(sink.deltas) < len(words) / 10
        state.finish(None)
        time.sleep(0.1)
        assert sink.snapshots[-1]["text"] == expected and sink.snapshots[-1]["done"] is True
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()


def test_retried_stream_replaces_its_text_and_replay_is_not_duplicated() -> None:
    state = RunState("r1", "w")
    state.feed(_event("text_delta", {"step": "llm:1", "content": "Hel"}, "r1"))
    state.feed(_event("stream_start", {"step": "llm:1", "attempt": 2}, "r1"))
    state.feed(_event("text_delta", {"step": "llm:1", "content": "Hello"}, "r1"))
    state.feed(_event("text_delta", {"step": "llm:1", "content": "Hello", "replay": True}, "r1"))
    state.feed(_event("text_delta", {"step": "llm:2", "content": "Bye"}, "r1"))
    assert state.text == "Hello\n\nBye"


def test_widget_form_answers_are_validated_in_python(shell: Any) -> None:
    _workflow(shell)
    run = shell.run_line_magic("polos", 'run flow {"n": 4}')
    widget = run.widget()
    wait_until(
        lambda: any(a["key"] == "check" for a in widget.approvals), what="the form in the widget"
    )
    entry = next(a for a in widget.approvals if a["key"] == "check")
    assert entry["status"] == "pending" and entry["schema"]["properties"]["limit"]["maximum"] == 10
    # a click with a bad value: the same message the frontend sends
    widget._handle_custom_msg(
        {
            "kind": "submit",
            "key": "check",
            "decision": "submit",
            "data": {"approved": True, "limit": 50},
        },
        [],
    )
    entry = next(a for a in widget.approvals if a["key"] == "check")
    assert entry["status"] == "invalid" and "limit" in entry["errors"]
    assert [p.key for p in run.pending] == ["check"]
    widget._handle_custom_msg(
        {
            "kind": "submit",
            "key": "check",
            "decision": "submit",
            "data": {"approved": True, "limit": 5},
        },
        [],
    )
    assert run.result(timeout=30) == {"a": 8, "b": 13}
    wait_until(
        lambda: widget.done and widget.status == "completed", what="the widget to show the end"
    )
    entry = next(a for a in widget.approvals if a["key"] == "check")
    assert entry["status"] == "approved" and entry["errors"] == {}
    assert widget.output == '{"a": 8, "b": 13}'
    assert [s["key"] for s in widget.steps] == ["double", "check", "add"]
    assert all(s["status"] == "completed" for s in widget.steps)
    assert repr(widget).startswith("<RunWidget ")


def test_widget_cancel_button(shell: Any) -> None:
    _workflow(shell)
    run = shell.run_line_magic("polos", 'run flow {"n": 4}')
    widget = run.widget()
    wait_until(lambda: run.state.pending, what="the suspension")
    widget._handle_custom_msg({"kind": "cancel"}, [])
    wait_until(lambda: widget.status == "cancelled" and widget.done, what="cancellation")


def test_agent_widget_shows_tools_usage_and_output(shell: Any) -> None:
    model = uid("m")
    shell.run_cell(f"""
from polos_nb import tool
from polos_nb.testing import ScriptedModel, FakeToolCall
@tool(description="Add two numbers")
def add(a: int, b: int) -> int:
    return a + b
model = ScriptedModel({model!r}, [FakeToolCall("add", {{"a": 2, "b": 3}}, id="k1"), "The sum is 5."],
                      price=(0.000001, 0.000002))
""")
    name = uid("calc").replace("-", "_")
    shell.run_cell_magic("polos_agent", f"{name} --model model --tools add", "Calculator.")
    run = shell.run_line_magic("polos", f"run {name} 2+3?")
    widget = run.widget()
    run.result(timeout=30)
    wait_until(lambda: widget.done, what="the end")
    assert widget.output == "The sum is 5."
    assert widget.tools[0]["name"] == "add" and widget.tools[0]["result"] == "5"
    assert widget.usage["input_tokens"] > 0 and widget.usage["cost_usd"] > 0
    llm = [s for s in widget.steps if s["key"].startswith("llm:")]
    assert len(llm) == 2 and llm[0]["tokens"]["input"] > 0
    assert "The sum is 5." in widget.text


def test_a_late_viewer_sees_tools_usage_and_output_from_the_journal(shell: Any) -> None:
    from polos_nb.notebook import _run, show

    model = uid("m")
    shell.run_cell(f"""
from polos_nb import tool
from polos_nb.testing import ScriptedModel, FakeToolCall
@tool(description="Add two numbers")
def add(a: int, b: int) -> int:
    return a + b
model = ScriptedModel({model!r}, [FakeToolCall("add", {{"a": 2, "b": 3}}, id="k1"), "The sum is 5."])
""")
    name = uid("calc").replace("-", "_")
    shell.run_cell_magic("polos_agent", f"{name} --model model --tools add", "Calculator.")
    run = shell.run_line_magic("polos", f"run {name} 2+3")
    run.result(timeout=30)
    _run.forget_runs()  # as after a restart: nothing live was seen
    late = show(run.id)
    snap = late.state.snapshot()
    assert late.done and snap["status"] == "completed" and snap["output"] == "The sum is 5."
    assert snap["tools"][0]["name"] == "add" and snap["tools"][0]["result"] == "5"
    assert snap["tools"][0]["arguments"] == '{"a": 2, "b": 3}'
    assert [s["key"] for s in snap["steps"]] == ["llm:1", "tool:1:k1:add", "llm:2"]
    assert snap["usage"]["input_tokens"] > 0

"""An AgentResult on the last line of a cell shows as a card (``text/html``), built from
the result itself: the answer (a structured one as a field table), why the run stopped,
the tool calls with their arguments and results, and the run id; everything escaped."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from polos_nb import _secrets
from polos_nb.agents import AgentResult
from polos_nb.agents._results import ToolResult
from polos_nb.llm import Usage


class Answer(BaseModel):
    total: int
    note: str


def _html(shell: Any, value: Any) -> str:
    data, _metadata = shell.display_formatter.format(value)
    assert "text/plain" in data  # the model's own repr stays for terminals
    return str(data.get("text/html", ""))


def test_a_structured_result_shows_its_fields_and_tool_calls(shell: Any) -> None:
    result = AgentResult(
        agent_run_id="01run-structured",
        agent_id="calc",
        result=Answer(total=5, note="done"),
        result_schema="Answer",
        tool_results=[
            ToolResult(
                tool_name="add",
                tool_call_id="c1",
                status="completed",
                arguments={"a": 2, "b": 3},
                result=5,
                step=1,
            ),
            ToolResult(
                tool_name="lookup",
                tool_call_id="c2",
                status="failed",
                arguments={"q": "x"},
                error="no such entry",
                step=1,
            ),
        ],
        total_steps=2,
        usage=Usage(input_tokens=120, output_tokens=30, total_tokens=150, cost_usd=0.00042),
    )
    html = _html(shell, result)
    assert 'class="polos-result"' in html and 'data-status="completed"' in html
    assert "<th>total</th><td>5</td>" in html and "<th>note</th><td>done</td>" in html
    assert "result (Answer)" in html
    assert "<b>add</b>" in html and "{&quot;a&quot;: 2, &quot;b&quot;: 3}" in html
    assert 'class="polos-failed"' in html and "no such entry" in html
    assert "2 steps · 2 tool calls · tokens in 120 · out 30 · $0.000420" in html
    assert "01run-structured" in html


def test_a_stopped_run_says_why_and_hostile_text_stays_text(shell: Any) -> None:
    secret = "sk-test-" + "q" * 24
    _secrets.register(secret)
    result = AgentResult(
        agent_run_id="01run-stopped",
        agent_id="<img src=x onerror=alert(1)>",
        result=f"<script>alert('hi')</script> key {secret}",
        stop_reason="max_steps_cap",
        total_steps=1,
    )
    html = _html(shell, result)
    assert 'data-status="stopped"' in html and "max_steps_cap" in html
    assert "stopped before a final answer" in html
    assert "<script>" not in html and "<img src=x" not in html
    assert "&lt;script&gt;" in html and "&lt;img src=x" in html
    assert secret not in html and "[redacted]" in html
    assert "1 step" in html and "tool call" not in html


def _info(**fields: Any) -> Any:
    import datetime as dt

    from polos_nb import ExecutionInfo

    base: dict[str, Any] = {
        "id": "01exec-card",
        "workflow_id": "orders",
        "status": "completed",
        "root_execution_id": "01exec-card",
        "root_workflow_id": "orders",
        "created_at": dt.datetime(2026, 12, 1, 15, 0, 0, tzinfo=dt.UTC),
        "started_at": dt.datetime(2026, 12, 1, 15, 0, 0, tzinfo=dt.UTC),
        "completed_at": dt.datetime(2026, 12, 1, 15, 0, 2, 500000, tzinfo=dt.UTC),
    }
    return ExecutionInfo(**{**base, **fields})


def test_an_execution_info_shows_its_status_time_and_result_fields(shell: Any) -> None:
    info = _info(result={"total": 42, "items": ["a", "b"]}, payload={"order": 7}, queue_name="q1")
    html = _html(shell, info)
    assert 'class="polos-result"' in html and 'data-status="completed"' in html
    assert "workflow orders" in html and "01exec-card" in html
    assert "ran 2.50 s" in html
    assert "<th>total</th><td>42</td>" in html  # a dict result as a field table
    assert "<th>payload</th>" in html and "{&quot;order&quot;: 7}" in html
    assert "<th>queue</th><td>q1</td>" in html


def test_a_failed_execution_shows_its_error_and_hostile_text_is_escaped(shell: Any) -> None:
    _secrets.register("sk-live-abcdefghijklmnopqrstuvwxyz123456")  # as api_key= would
    info = _info(
        status="failed",
        workflow_id="<img src=x onerror=alert(1)>",
        error={"type": "ValueError", "message": "bad <script>alert(2)</script> input"},
        result=None,
        payload={"api_key": "sk-live-abcdefghijklmnopqrstuvwxyz123456"},
    )
    html = _html(shell, info)
    assert 'data-status="failed"' in html
    assert "ValueError: bad &lt;script&gt;" in html
    assert "<script>alert" not in html and "<img src=x" not in html
    assert "sk-live-abcdefghijklmnopqrstuvwxyz123456" not in html  # credentials removed


def test_a_running_execution_says_it_is_a_snapshot(shell: Any) -> None:
    info = _info(status="waiting", completed_at=None, workflow_type="agent", session_id="s-1")
    html = _html(shell, info)
    assert "agent orders" in html and 'data-status="waiting"' in html
    assert "A snapshot" in html and "wait_for_result" in html
    assert "<th>session</th><td>s-1</td>" in html


def test_a_run_waiting_for_a_worker_says_why(shell: Any) -> None:
    note = "No live worker defines workflow 'orders': the run waits until a worker <b>joins"
    info = _info(status="queued", completed_at=None, waiting_for_worker=True, note=note)
    html = _html(shell, info)
    assert "No live worker defines workflow &#x27;orders&#x27;" in html or (
        "No live worker defines workflow &#39;orders&#39;" in html
    )
    assert "worker &lt;b&gt;joins" in html  # escaped
    done = _html(shell, _info(note=note))  # a note on an ended run is stale: not shown
    assert "No live worker" not in done


def test_an_agent_execution_shows_the_answer_not_every_field(shell: Any) -> None:
    info = _info(
        workflow_type="agent",
        workflow_id="adder",
        result={
            "agent_run_id": "01exec-card",
            "result": {"total": 5, "note": "done"},
            "stop_reason": "completed",
            "total_steps": 2,
            "usage": {"input_tokens": 71, "output_tokens": 11, "total_tokens": 82},
            "messages": [{"role": "user", "content": "2+3?"}],
        },
    )
    html = _html(shell, info)
    assert "agent adder" in html and "2 steps" in html
    assert "<th>total</th><td>5</td>" in html
    assert "messages" not in html and "2+3?" not in html

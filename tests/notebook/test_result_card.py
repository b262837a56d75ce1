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

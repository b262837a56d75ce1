"""Model-controlled text in HTML (issue 9, item 6): every HTML polos_nb produces escapes
what it shows, tested with hostile strings in every field."""

from __future__ import annotations

import asyncio
import datetime as dt
import html.parser
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from polos_nb import Agent, ExecutionInfo, PolosClient, tool
from polos_nb.notebook import _html
from polos_nb.notebook._approve import PendingApproval
from polos_nb.notebook._restart import Unfinished
from polos_nb.notebook._run import Run, RunState
from polos_nb.notebook._tools import Comparison, Inspection
from polos_nb.testing import FakeToolCall, ScriptedModel

HOSTILE = [
    "x<img src=x onerror=alert(1)>",
    '"><script>alert(1)</script>',
    "' onmouseover='alert(1)' data-x='",
    "</code></pre><svg onload=alert(1)>",
    "<!-- --><iframe src=javascript:alert(1)></iframe>",
    "&lt;b&gt; & \"quotes\" 'single' `tick`",
]
# "p": descriptions are rendered as a small Markdown subset (paragraphs) after escaping
ALLOWED_TAGS = {
    "style",
    "div",
    "b",
    "code",
    "span",
    "table",
    "tr",
    "th",
    "td",
    "pre",
    "ul",
    "li",
    "p",
}

pytestmark = pytest.mark.usefixtures("litellm_loaded")


class _Collector(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []
        self.text: list[str] = []
        self.comments: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def handle_comment(self, data: str) -> None:
        self.comments.append(data)


def assert_inert(markup: str, hostile: str, what: str) -> None:
    """No element or attribute came from the hostile text, and the text shows as written."""
    parsed = _Collector()
    parsed.feed(markup)
    parsed.close()
    for tag, attrs in parsed.tags:
        assert tag in ALLOWED_TAGS, f"{what}: a <{tag}> element came from text: {markup[:300]}"
        for name, value in attrs:
            assert not name.startswith("on"), f"{what}: an event handler {name}={value!r}"
            assert name in (
                "class",
                "colspan",
                "data-status",
                "data-key",
                "data-call-id",
                "data-run-id",
                "data-position",
            ), f"{what}: unexpected attribute {name}"
    assert not parsed.comments, f"{what}: a comment came from text"
    values = [v for _, attrs in parsed.tags for _, v in attrs if v is not None]
    shown = "".join(parsed.text) + "".join(values)
    assert hostile in shown, f"{what}: the text is not shown as written"


def _state(h: str) -> dict[str, Any]:
    return {
        "run_id": h,
        "workflow_id": h,
        "status": h,
        "note": h,
        "steps": [
            {
                "key": h,
                "kind": h,
                "status": h,
                "ms": h,
                "tokens": {"input": h, "output": h},
                "error": h,
            }
        ],
        "tools": [{"call_id": h, "name": h, "arguments": h, "status": h, "error": h}],
        "text": h + "!",
        "approvals": [
            {"key": h, "status": "pending", "title": h, "description": h, "answer": h},
            {"key": h, "status": h, "title": h},
        ],
        "output": h,
        "error": h,
        "usage": {"input_tokens": h, "output_tokens": h, "cost_usd": h},
    }


def _run_card(h: str) -> str:
    return _html.run_card(_state(h))


def _approval_card(h: str) -> str:
    spec = {"title": h, "description": h, "schema": {"properties": {h: {"type": "string"}}}}
    return _html.approval_card(
        PendingApproval(
            execution_id=h, root_execution_id=h, workflow_id=h, key=h, data={h: h}, spec=spec
        )
    )


def _table(h: str) -> str:
    return _html.table([h, "b"], [[h, 1], [None, h]])


def _info(h: str) -> ExecutionInfo:
    now = dt.datetime.now(dt.UTC)
    return ExecutionInfo(
        id=h,
        workflow_id=h,
        status="failed",
        payload={h: h},
        result=h,
        error={"type": h, "message": h},
        root_execution_id=h,
        root_workflow_id=h,
        created_at=now,
    )


def _inspection(h: str) -> str:
    row = dict.fromkeys(
        ("execution_id", "key", "kind", "status", "input", "output", "error", "model"), h
    )
    row.update(position=h, attempt=h, ms=h, tokens_in=h, tokens_out=h, cost_usd=h)
    return Inspection(_info(h), [row])._repr_html_()


class _Row:
    def __init__(self, h: str) -> None:
        self.position = h
        self.key_a = self.key_b = self.status_a = self.status_b = h
        self.output_a = self.output_b = h
        self.same = False


def _comparison(h: str) -> str:
    return Comparison(h, h, [_Row(h)])._repr_html_()


class _FakeRun:
    def __init__(self, h: str) -> None:
        self.id = self.workflow_id = self.status = h


def _unfinished(h: str) -> str:
    approvals = [PendingApproval(execution_id=h, root_execution_id=h, workflow_id=h, key=h)]
    found = Unfinished(runs=[_FakeRun(h)], approvals=approvals, undefined={h: [h]})  # type: ignore[list-item]
    return found._repr_html_()


PRODUCERS: list[tuple[str, Callable[[str], str]]] = [
    ("run card", _run_card),
    ("approval card", _approval_card),
    ("table", _table),
    ("inspection", _inspection),
    ("comparison", _comparison),
    ("unfinished runs", _unfinished),
]


@pytest.mark.parametrize("hostile", HOSTILE, ids=[f"h{i}" for i in range(len(HOSTILE))])
@pytest.mark.parametrize(("what", "produce"), PRODUCERS, ids=[p[0] for p in PRODUCERS])
def test_every_html_producer_escapes_hostile_text(
    what: str, produce: Callable[[str], str], hostile: str
) -> None:
    assert_inert(produce(hostile), hostile, what)


def test_run_state_fed_hostile_events_renders_inert() -> None:
    """Events as a model shapes them (tool call ids, names, arguments, text) reach the card."""
    from polos_nb.engine import StreamEvent

    h = HOSTILE[0]
    state = RunState("run-1", "wf")
    now = dt.datetime.now(dt.UTC)
    meta = {"_metadata": {"execution_id": "run-1", "workflow_id": "wf"}}

    def ev(kind: str, data: dict[str, Any], seq: int | None = None) -> StreamEvent:
        return StreamEvent(
            id=str(seq),
            sequence_id=seq,
            topic="t",
            event_type=kind,
            data={**data, **meta},
            created_at=now,
        )

    state.feed(ev("tool_call_start", {"call_id": h, "name": h, "arguments": h, "step": 1}))
    state.feed(ev("text_delta", {"step": "llm:1", "content": h}))
    state.feed(ev(f"suspend_approve:1:{h}", {"_form": {"title": h, "description": h}}))
    state.feed(
        ev(
            "step_finish",
            {
                "step_key": f"tool:1:{h}:{h}",
                "step_type": h,
                "status": "failed",
                "error": {"type": h, "message": h},
            },
        )
    )
    state.feed(ev("workflow_error", {"error": {"type": h, "message": h}}, seq=3))
    assert_inert(_html.run_card(state.snapshot()), h, "run card from events")


async def test_a_hostile_tool_call_id_from_the_model_is_shown_inert(tmp_path: Path) -> None:
    """End to end: the model names a tool call with markup; the approval it causes renders inert."""
    hostile = "x<img src=x onerror=alert(1)>"

    @tool(description="Pay an invoice", approval="always")
    def pay(invoice: str) -> str:
        return "paid"

    model = ScriptedModel(
        f"m-{uuid.uuid4().hex[:6]}",
        [FakeToolCall("pay", {"invoice": "INV-1"}, id=hostile), "Done."],
    )
    agent = Agent(id=f"payer-{uuid.uuid4().hex[:6]}", provider="fake", model=model, tools=[pay])
    client = PolosClient(journal=tmp_path / "j.duckdb")
    try:
        handle = await agent.invoke(client, "Pay INV-1")
        run = await asyncio.to_thread(lambda: Run(client, handle.id, workflow_id=agent.id))
        pending = await asyncio.to_thread(run.wait_for_pending, 120)
        assert pending and hostile in pending[0].key
        await asyncio.to_thread(run.preload)
        assert_inert(run._repr_html_(), hostile, "run card of the run")
        assert_inert(pending[0]._repr_html_(), hostile, "approval card of the run")
    finally:
        client.close()

"""What a run's view (widget and snapshot) says, from real runs (issue 11, items 8 and 11).

- the token totals of a run shown after it started count every model call (item 8);
- a reply a guardrail rejected is not shown next to the one it kept (item 11);
- a suspension is a step of the timeline while it waits (item 11);
- a tool call a human rejected shows as failed, also to a view opened later;
- a widget displayed while the model streams shows the text so far, then the rest.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from polos_nb import (
    Agent,
    GuardrailContext,
    GuardrailResult,
    PolosClient,
    WorkflowContext,
    guardrail,
    tool,
    workflow,
)
from polos_nb.notebook import _run, _session
from polos_nb.testing import FakeToolCall, FakeTurn, ScriptedModel
from tests.notebook.conftest import uid, wait_until


@pytest.fixture
def client(tmp_path: Path) -> Iterator[PolosClient]:
    _run.forget_runs()
    c = PolosClient(journal=tmp_path / "view.duckdb")
    yield c
    _run.forget_runs()
    c.close()


def test_a_run_shown_after_it_started_counts_every_model_call(client: PolosClient) -> None:
    gate, entered = threading.Event(), threading.Event()

    @tool(description="Wait for the test")
    def hold(x: int) -> int:
        if x == 2:  # the second step's tool: the first step has ended, usage and all
            entered.set()
            gate.wait(30)
        return x

    model = ScriptedModel(
        uid("tokens"),
        [FakeToolCall("hold", {"x": 1}), FakeToolCall("hold", {"x": 2}), "two calls made"],
    )
    agent = Agent(id=uid("counter"), provider="fake", model=model, tools=[hold])
    handle = _session.call(client, agent.invoke(client, "count"))
    wait_until(entered.is_set, what="the second tool call")
    run = _run.show(handle.id, client=client)  # a view that joins while the run goes on
    gate.set()
    result = _session.call(client, client.wait_for_result(handle.id, timeout=60))
    wait_until(lambda: run.state.done, what="the view to end")
    total = result.usage
    assert model.call_count == 3
    assert run.state.usage["input_tokens"] == total.input_tokens
    assert run.state.usage["output_tokens"] == total.output_tokens
    # and while it runs, the view sums the journaled calls: a late view after the end too
    _run.forget_runs()
    late = _run.show(handle.id, client=client)
    assert late.state.usage["input_tokens"] == total.input_tokens


def test_a_reply_a_guardrail_rejected_is_not_shown(client: PolosClient) -> None:
    @guardrail
    def polite(ctx: Any, g: GuardrailContext) -> GuardrailResult:
        if "stupid" in (g.content or "").lower():
            return GuardrailResult.retry("Please rephrase politely.")
        return GuardrailResult.continue_with()

    model = ScriptedModel(uid("rude"), ["That is a stupid question.", "Good question! It is 42."])
    agent = Agent(id=uid("answerer"), provider="fake", model=model, guardrails=[polite])
    handle = _session.call(client, agent.invoke(client, "What is the answer?", streaming=True))
    run = _run.show(handle.id, client=client)
    wait_until(lambda: run.state.done, what="the run to end")
    assert run.state.output == "Good question! It is 42."
    assert "stupid" not in run.state.text and run.state.text.count("It is 42") == 1
    _run.forget_runs()
    late = _run.show(handle.id, client=client)  # also when read from the journal
    assert "stupid" not in late.state.text
    html = late._repr_html_()
    # the kept text is the output, shown once (no separate stream of the same text)
    assert 'class="polos-stream"' not in html and html.count("Good question! It is 42.") == 2
    # (the output, and the detail of its step in the timeline)


def test_a_suspension_is_listed_as_a_step_while_it_waits(client: PolosClient) -> None:
    @workflow(id=uid("asks"))
    async def asks(ctx: WorkflowContext, payload: Any) -> str:
        await ctx.step.run("prepare", lambda: 1)
        answer = await ctx.step.suspend("review", data={"_form": {"title": "Go on?"}})
        return "yes" if answer["data"]["approved"] else "no"

    handle = _session.call(client, asks.invoke(client, {}))
    run = _run.show(handle.id, client=client)
    wait_until(lambda: "review" in run.state.steps, what="the suspension in the timeline")
    step = run.state.steps["review"]
    assert step["status"] == "waiting" and step["kind"] == "suspend" and step["started"]
    html = run._repr_html_()
    assert 'data-key="review" data-status="waiting"' in html
    run.approve("review")
    wait_until(lambda: run.state.done, what="the run to end")
    assert run.state.steps["review"]["status"] == "completed"


def test_a_rejected_tool_call_shows_as_failed_to_a_later_view(client: PolosClient) -> None:
    @tool(description="Send an email", approval="always")
    def send(to: str) -> str:
        return "sent"

    model = ScriptedModel(uid("sender"), [FakeToolCall("send", {"to": "bo"}), "skipped Bo"])
    agent = Agent(id=uid("sender"), provider="fake", model=model, tools=[send])
    handle = _session.call(client, agent.invoke(client, "mail Bo"))
    run = _run.show(handle.id, client=client)
    wait_until(lambda: run.state.pending, what="the approval")
    [tool_view] = run.state.tools.values()
    assert tool_view["status"] == "waiting"
    run.reject(feedback="not Bo")
    wait_until(lambda: run.state.done, what="the run to end")
    _run.forget_runs()
    late = _run.show(handle.id, client=client)
    [tool_view] = late.state.tools.values()
    assert tool_view["status"] == "failed" and "not Bo" in (tool_view["error"] or "")


class _PausingModel(ScriptedModel):
    """Streams its turn and stops after the second chunk until ``go`` is set."""

    def __init__(self, name: str, turns: list[Any]) -> None:
        super().__init__(name, turns)
        self.paused = threading.Event()
        self.go = threading.Event()

    async def stream(self, request):  # type: ignore[no-untyped-def]
        texts = 0
        async for piece in super().stream(request):
            yield piece
            texts += "text" in piece
            if texts == 2 and not self.go.is_set():
                self.paused.set()
                await asyncio.to_thread(self.go.wait, 30)


def test_a_widget_displayed_mid_reply_shows_the_text_so_far(client: PolosClient) -> None:
    model = _PausingModel(
        uid("story"), [FakeTurn(text="Once upon a time.", chunks=["Once ", "upon ", "a ", "time."])]
    )
    agent = Agent(id=uid("teller"), provider="fake", model=model)
    handle = _session.call(client, agent.invoke(client, "A story", streaming=True))
    assert model.paused.wait(30)  # two chunks are out, and nobody watched
    run = _run.show(handle.id, client=client)  # a view opened mid-reply
    widget = run.widget()
    assert run.state.text == "Once upon " and widget.text == "Once upon "
    sent: list[str] = []  # the deltas the frontend appends to the text it was given
    widget.delta = lambda text: sent.append(text)  # type: ignore[method-assign]
    time.sleep(0.3)  # the view follows the run now (and catches up again: nothing twice)
    assert run.state.text == "Once upon "
    model.go.set()
    wait_until(lambda: run.state.done, what="the run to end")
    assert run.state.text == "Once upon a time." and widget.text == "Once upon a time."
    assert "Once upon a time.".startswith("Once upon " + "".join(sent))
    assert run.state.output == "Once upon a time."

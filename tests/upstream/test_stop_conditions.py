"""Stop conditions written and unit-tested the way upstream code does it: built by hand
against a ``StopConditionContext``, configured with a model, a dict or keywords, and
called directly."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from polos_nb import (
    Agent,
    ExecutedToolConfig,
    HasTextConfig,
    MaxStepsConfig,
    MaxTokensConfig,
    Polos,
    StopConditionContext,
    executed_tool,
    has_text,
    max_steps,
    max_tokens,
    stop_condition,
    tool,
)
from polos_nb.testing import FakeToolCall, FakeTurn, ScriptedModel
from polos_nb.types.types import Step, ToolCall, ToolCallFunction, Usage

from .conftest import uid


class MinSteps(BaseModel):
    at_least: int


@stop_condition
def enough_steps(ctx: StopConditionContext, config: MinSteps) -> bool:
    return len(ctx.steps) >= config.at_least


@stop_condition
async def said_bye(ctx: StopConditionContext) -> bool:
    return any("bye" in (s.content or "") for s in ctx.steps)


def test_context_built_by_hand_and_round_tripped() -> None:
    empty = StopConditionContext()
    assert empty.steps == [] and empty.agent_id is None and empty.agent_run_id is None

    ctx = StopConditionContext(steps=[Step(step=1, content="hi", usage=None)], agent_id="a")
    assert ctx.steps[0].usage.total_tokens == 0
    data = ctx.to_dict()
    assert data["agent_id"] == "a" and data["steps"][0]["content"] == "hi"
    assert StopConditionContext.from_dict(data) == ctx
    assert StopConditionContext.from_dict(ctx) is ctx
    with pytest.raises(TypeError, match="Cannot create StopConditionContext"):
        StopConditionContext.from_dict(["not", "a", "context"])


async def test_conditions_are_called_directly() -> None:
    three = StopConditionContext(steps=[Step(step=i) for i in (1, 2, 3)])
    assert enough_steps(MinSteps(at_least=3))(three) is True
    # a dict or keywords become the annotated config model
    assert enough_steps({"at_least": 4})(three) is False
    assert enough_steps(at_least=2)(three) is True
    assert await said_bye(StopConditionContext(steps=[Step(step=1, content="bye now")])) is True

    heavy = StopConditionContext(
        steps=[
            Step(step=1, usage=Usage(total_tokens=70)),
            Step(step=2, usage=Usage(total_tokens=40)),
        ]
    )
    assert await max_tokens(MaxTokensConfig(limit=100))(heavy) is True
    assert max_steps(MaxStepsConfig(count=3))(three) is True


def test_builtin_defaults_and_empty_configs() -> None:
    assert MaxStepsConfig().count == 20
    nineteen = StopConditionContext(steps=[Step(step=i) for i in range(1, 20)])
    assert max_steps(MaxStepsConfig())(nineteen) is False
    assert max_steps()(nineteen) is True  # without a config: 10 steps

    called = StopConditionContext(
        steps=[
            Step(
                step=1,
                content="done",
                tool_calls=[
                    ToolCall(id="c1", function=ToolCallFunction(name="search", arguments="{}"))
                ],
            )
        ]
    )
    assert executed_tool(ExecutedToolConfig(tool_names=[]))(called) is False
    assert has_text(HasTextConfig(texts=[]))(called) is False
    assert executed_tool(ExecutedToolConfig(tool_names=["search"]))(called) is True
    # texts of two steps do not run together into one word
    split = StopConditionContext(steps=[Step(step=1, content="do"), Step(step=2, content="ne")])
    assert has_text(HasTextConfig(texts=["done"]))(split) is False


def test_decorator_rejects_wrong_annotations() -> None:
    with pytest.raises(TypeError, match="StopConditionContext"):

        @stop_condition
        def wrong_ctx(ctx: str) -> bool:
            return True

    with pytest.raises(TypeError, match="BaseModel"):

        @stop_condition
        def wrong_config(ctx: StopConditionContext, config: int) -> bool:
            return True


async def test_plain_function_as_an_agent_stop_condition() -> None:
    @tool(description="look something up")
    def lookup(q: str) -> str:
        return "found"

    def after_two(ctx: StopConditionContext) -> bool:
        return len(ctx.steps) >= 2

    turns = [FakeTurn(tool_calls=[FakeToolCall("lookup", {"q": str(i)})]) for i in range(5)]
    agent = Agent(
        id=uid("plain_stop"),
        provider="fake",
        model=ScriptedModel(uid("m"), turns),
        tools=[lookup],
        stop_conditions=[after_two],
    )
    async with Polos() as polos:
        result = await agent.run(polos, "go")
    assert result.stop_reason == "stop_condition:after_two" and result.total_steps == 2

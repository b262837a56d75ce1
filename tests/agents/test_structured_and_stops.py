"""Structured output (validated, retried with the error) and stop conditions (visible, never a silent None)."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, Field

from polos_nb import (
    Agent,
    ExecutedToolConfig,
    ExecutionFailedError,
    HasTextConfig,
    MaxStepsConfig,
    MaxTokensConfig,
    PolosClient,
    StopConditionContext,
    executed_tool,
    has_text,
    max_steps,
    max_tokens,
    stop_condition,
    tool,
)
from polos_nb.llm import Usage
from polos_nb.testing import FakeToolCall, FakeTurn, ScriptedModel
from tests.agents.helpers import step_rows, uid


class PersonInfo(BaseModel):
    name: str = Field(description="Full name")
    age: int = Field(ge=0, le=130)
    location: str


async def test_output_schema_returns_a_validated_object(client: PolosClient) -> None:
    model = ScriptedModel(uid("m"), [PersonInfo(name="Alice", age=28, location="SF")])
    agent = Agent(id=uid("person"), provider="fake", model=model, output_schema=PersonInfo)
    response = await agent.run(client, "Hi, I'm Alice, 28, in SF")
    assert isinstance(response.result, PersonInfo)
    assert (response.result.name, response.result.age, response.result.location) == (
        "Alice",
        28,
        "SF",
    )
    assert response.result_schema == "PersonInfo"
    fmt = model.calls[0].params["response_format"]
    assert fmt["type"] == "json_schema" and fmt["json_schema"]["name"] == "PersonInfo"
    assert fmt["json_schema"]["schema"]["additionalProperties"] is False


async def test_invalid_reply_is_retried_with_the_validation_error(client: PolosClient) -> None:
    model = ScriptedModel(
        uid("m"),
        [
            '{"name": "Bob", "age": 200, "location": "LA"}',
            "not json at all",
            '```json\n{"name": "Bob", "age": 40, "location": "LA"}\n```',
        ],
    )
    agent = Agent(
        id=uid("person"), provider="fake", model=model, output_schema=PersonInfo, output_retries=2
    )
    response = await agent.run(client, "Bob, 40, LA")
    assert response.result == PersonInfo(name="Bob", age=40, location="LA")
    assert model.call_count == 3 and response.llm_calls == 3 and response.total_steps == 1
    feedback = model.calls[1].messages[-1]["content"]
    assert "age" in feedback and "less than or equal to 130" in feedback
    assert "not valid JSON" in model.calls[2].messages[-1]["content"]
    keys = [k for k, *_ in await step_rows(client, response.agent_run_id)]
    assert keys == ["llm:1", "llm:1#retry1", "llm:1#retry2"]


async def test_reply_that_never_validates_fails_clearly(client: PolosClient) -> None:
    model = ScriptedModel(uid("m"), ["{}", "{}"])
    agent = Agent(
        id=uid("person"), provider="fake", model=model, output_schema=PersonInfo, output_retries=1
    )
    with pytest.raises(
        ExecutionFailedError, match="OutputValidationError.*did not match output_schema after 2"
    ):
        await agent.run(client, "?")


@tool(description="search")
def search(q: str) -> str:
    return f"results for {q}"


def looping_model(n: int, **usage: int) -> ScriptedModel:
    turns = [
        FakeTurn(
            text=f"step {i}",
            tool_calls=[FakeToolCall("search", {"q": str(i)})],
            usage=Usage(**usage) if usage else None,
        )
        for i in range(n)
    ]
    return ScriptedModel(uid("loop"), turns)


async def test_max_steps_stops_visibly(client: PolosClient) -> None:
    model = looping_model(10)
    agent = Agent(
        id=uid("stop"),
        provider="fake",
        model=model,
        tools=[search],
        stop_conditions=[max_steps(MaxStepsConfig(limit=3))],
    )
    result = await agent.run(client, "research")
    assert result.stop_reason == "stop_condition:max_steps" and not result.completed
    assert result.total_steps == 3 and model.call_count == 3
    assert result.result == "step 2"  # the last text, not None


async def test_default_cap_is_visible(client: PolosClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POLOS_AGENT_MAX_STEPS", "2")
    model = looping_model(5)
    agent = Agent(
        id=uid("cap"), provider="fake", model=model, tools=[search], output_schema=PersonInfo
    )
    result = await agent.run(client, "research")
    assert result.stop_reason == "max_steps_cap" and result.total_steps == 2
    assert result.result == "step 1" and result.result_schema is None


async def test_max_tokens_and_custom_and_composed_conditions(client: PolosClient) -> None:
    model = looping_model(10, input_tokens=40, output_tokens=10, total_tokens=50)
    agent = Agent(
        id=uid("tok"),
        provider="fake",
        model=model,
        tools=[search],
        stop_conditions=[max_tokens(MaxTokensConfig(limit=120))],
    )
    result = await agent.run(client, "x")
    assert result.stop_reason == "stop_condition:max_tokens" and result.total_steps == 3
    assert result.usage.total_tokens == 150

    @stop_condition
    def searched_twice(ctx: StopConditionContext) -> bool:
        return sum(c.name == "search" for s in ctx.steps for c in s.tool_calls) >= 2

    model2 = looping_model(10)
    agent2 = Agent(
        id=uid("custom"),
        provider="fake",
        model=model2,
        tools=[search],
        stop_conditions=[searched_twice],
    )
    result2 = await agent2.run(client, "x")
    assert result2.stop_reason == "stop_condition:searched_twice" and result2.total_steps == 2

    both = executed_tool(ExecutedToolConfig(tool_names=["search"])) & has_text(
        HasTextConfig(texts=["step 1"])
    )
    model3 = looping_model(10)
    agent3 = Agent(
        id=uid("and"), provider="fake", model=model3, tools=[search], stop_conditions=[both]
    )
    result3 = await agent3.run(client, "x")
    assert result3.total_steps == 2 and result3.stop_reason.startswith(
        "stop_condition:(executed_tool&has_text)"
    )

    either = has_text(HasTextConfig(texts=["never"])) | max_steps(MaxStepsConfig(limit=1))
    model4 = looping_model(10)
    agent4 = Agent(
        id=uid("or"), provider="fake", model=model4, tools=[search], stop_conditions=[either]
    )
    assert (await agent4.run(client, "x")).total_steps == 1


async def test_configured_stop_condition_factory(client: PolosClient) -> None:
    class AtLeast(BaseModel):
        n: int

    @stop_condition
    def at_least(ctx: StopConditionContext, config: AtLeast) -> bool:
        return len(ctx.steps) >= config.n

    model = looping_model(10)
    agent = Agent(
        id=uid("fac"),
        provider="fake",
        model=model,
        tools=[search],
        stop_conditions=[at_least(AtLeast(n=4))],
    )
    assert (await agent.run(client, "x")).total_steps == 4

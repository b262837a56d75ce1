"""The litellm adapter: real litellm code path for fakes, streaming, errors, usage and cost."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, Field

from polos_nb import Agent, LLMError, ModelRequestBlockedError, PolosClient
from polos_nb.llm import Usage, complete, json_schema, parse_structured, response_format
from polos_nb.llm._litellm import _cost, _lit, _with_cache_control
from polos_nb.testing import FakeToolCall, FakeTurn, ScriptedModel
from tests.agents.helpers import uid


async def test_complete_through_litellm_plain_and_streamed() -> None:
    model = ScriptedModel(
        uid("m"),
        [
            FakeTurn(text="Hello there", tool_calls=[FakeToolCall("f", {"a": 1}, id="x1")]),
            FakeTurn(text="one two three", chunks=["one", " two", " three"]),
        ],
    )
    reply = await complete(
        model.litellm_model,
        [{"role": "user", "content": "hi"}],
        tools=[{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
    )
    assert reply.content == "Hello there" and reply.tool_calls[0].name == "f"
    assert reply.tool_calls[0].arguments == '{"a": 1}' and reply.tool_calls[0].id == "x1"
    assert reply.usage.total_tokens == reply.usage.input_tokens + reply.usage.output_tokens > 0
    seen: list[str] = []
    streamed = await complete(
        model.litellm_model, [{"role": "user", "content": "hi"}], stream=True, on_text=seen.append
    )
    assert seen == ["one", " two", " three"] and streamed.content == "one two three"
    assert streamed.usage.output_tokens > 0 and model.calls[1].stream is True


async def test_streamed_tool_call_arguments_are_reassembled() -> None:
    model = ScriptedModel(
        uid("m"),
        [
            [
                FakeToolCall("a", {"city": "Paris", "days": 3}, id="c1"),
                FakeToolCall("b", '{"q": "x"}', id="c2"),
            ]
        ],
    )
    reply = await complete(model.litellm_model, [{"role": "user", "content": "hi"}], stream=True)
    assert [(c.id, c.name, c.arguments) for c in reply.tool_calls] == [
        ("c1", "a", '{"city": "Paris", "days": 3}'),
        ("c2", "b", '{"q": "x"}'),
    ]


async def test_errors_are_translated() -> None:
    model = ScriptedModel(uid("m"), [RuntimeError("rate limited")])
    with pytest.raises(LLMError, match="rate limited"):
        await complete(model.litellm_model, [{"role": "user", "content": "hi"}])
    with pytest.raises(ModelRequestBlockedError, match="POLOS_NB_ALLOW_MODEL_REQUESTS"):
        await complete("anthropic/claude-sonnet-4", [{"role": "user", "content": "hi"}])


async def test_cost_from_litellm_price_list_and_custom_prices(client: PolosClient) -> None:
    usage = Usage(input_tokens=1000, output_tokens=500, total_tokens=1500)
    known = _cost(_lit(), "openai/gpt-4o", usage)
    assert known is not None and known > 0  # litellm's bundled (offline) price list
    assert _cost(_lit(), "polos-fake/unpriced", usage) is None
    model = ScriptedModel(
        uid("m"),
        [FakeTurn(text="a", usage=Usage(input_tokens=100, output_tokens=10, total_tokens=110))],
        price=(0.001, 0.002),
    )
    result = await Agent(id=uid("cost"), provider="fake", model=model).run(client, "hi")
    assert result.usage.cost_usd == pytest.approx(100 * 0.001 + 10 * 0.002)
    assert (Usage(cost_usd=1.0) + Usage()).cost_usd == 1.0 and (Usage() + Usage()).cost_usd is None


def test_prompt_caching_marks_the_system_prompt() -> None:
    out = _with_cache_control(
        [{"role": "system", "content": "long rules"}, {"role": "user", "content": "hi"}]
    )
    assert out[0]["content"] == [
        {"type": "text", "text": "long rules", "cache_control": {"type": "ephemeral"}}
    ]
    assert out[1] == {"role": "user", "content": "hi"}


class Inner(BaseModel):
    x: int


class Outer(BaseModel):
    inner: Inner
    tags: list[str] = Field(default_factory=list)


def test_structured_schema_and_parsing() -> None:
    schema, strict = json_schema(Outer)
    assert (
        "$defs" not in str(schema)
        and schema["properties"]["inner"]["additionalProperties"] is False
    )
    assert strict is False  # 'tags' has a default, so OpenAI strict mode is off
    assert json_schema(Inner)[1] is True
    assert response_format(Inner)["json_schema"]["strict"] is True
    assert parse_structured(Outer, '{"inner": {"x": 1}}') == Outer(inner=Inner(x=1))
    with pytest.raises(ValueError, match="empty"):
        parse_structured(Inner, "  ")
    with pytest.raises(ValueError, match="inner.x"):
        parse_structured(Outer, '{"inner": {"x": "no"}}')


async def test_usage_and_cost_add_up_over_every_call_of_a_run(client: PolosClient) -> None:
    from polos_nb import tool

    @tool(description="Look up a number")
    async def lookup_number(ctx, q: str) -> int:
        return 42

    model = ScriptedModel(
        uid("m"),
        [
            FakeTurn(
                tool_calls=[FakeToolCall("lookup_number", {"q": "x"}, id="t1")],
                usage=Usage(input_tokens=100, output_tokens=10, total_tokens=110),
            ),
            FakeTurn(text="42", usage=Usage(input_tokens=300, output_tokens=20, total_tokens=320)),
        ],
        price=(0.001, 0.002),
    )
    agent = Agent(id=uid("cost2"), provider="fake", model=model, tools=[lookup_number])
    result = await agent.run(client, "what number?")
    assert result.total_steps == 2 and len(model.calls) == 2
    assert (result.usage.input_tokens, result.usage.output_tokens, result.usage.total_tokens) == (
        400,
        30,
        430,
    )
    assert result.usage.requests == 2
    assert result.usage.cost_usd == pytest.approx(400 * 0.001 + 30 * 0.002)

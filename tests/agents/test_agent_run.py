"""The agent loop through the fakes: tools in parallel, errors the model sees, usage (D19)."""

from __future__ import annotations

import asyncio
import json

import pytest
from pydantic import BaseModel

from polos_nb import Agent, ExecutionFailedError, PolosClient, tool
from polos_nb.llm import Usage
from polos_nb.testing import FakeToolCall, FakeTurn, FunctionModel, ScriptedModel
from tests.agents.helpers import step_rows, uid


class CityInput(BaseModel):
    city: str


def weather_tool(log: list[str] | None = None):
    @tool(description="Get weather for a city")
    async def get_weather(ctx, input: CityInput) -> dict:
        if log is not None:
            log.append(input.city)
        return {"city": input.city, "temp_c": len(input.city)}

    return get_weather


async def test_two_tool_calls_run_in_parallel_and_feed_back(client: PolosClient) -> None:
    started: list[str] = []
    release = asyncio.Event()

    @tool(description="slow lookup")
    async def lookup(city: str) -> str:
        started.append(city)
        if len(started) == 2:
            release.set()
        await asyncio.wait_for(release.wait(), 5)  # deadlocks unless both calls run at once
        return f"{city}: sunny"

    model = ScriptedModel(
        uid("m"),
        [
            [
                FakeToolCall("lookup", {"city": "NYC"}, id="a"),
                FakeToolCall("lookup", {"city": "London"}, id="b"),
            ],
            "NYC and London are sunny.",
        ],
    )
    agent = Agent(
        id=uid("par"), provider="fake", model=model, system_prompt="Be brief.", tools=[lookup]
    )
    result = await agent.run(client, "Compare NYC and London")

    assert result.result == "NYC and London are sunny."
    assert result.stop_reason == "completed" and result.completed
    assert result.total_steps == 2 and result.llm_calls == 2 and model.call_count == 2
    assert [(r.tool_name, r.status, r.result) for r in result.tool_results] == [
        ("lookup", "completed", "NYC: sunny"),
        ("lookup", "completed", "London: sunny"),
    ]
    second = model.calls[1].messages
    assert second[0] == {"role": "system", "content": "Be brief."}
    tool_msgs = [m for m in second if m["role"] == "tool"]
    assert [(m["tool_call_id"], m["content"]) for m in tool_msgs] == [
        ("a", "NYC: sunny"),
        ("b", "London: sunny"),
    ]
    # The model saw the tool's name, description and JSON schema.
    spec = model.calls[0].tools[0]["function"]
    assert spec["name"] == "lookup" and spec["description"] == "slow lookup"
    assert spec["parameters"]["properties"]["city"]["type"] == "string"
    keys = [k for k, *_ in await step_rows(client, result.agent_run_id)]
    assert keys == ["llm:1", "tool:1:a:lookup", "tool:1:b:lookup", "llm:2"]


async def test_tool_errors_become_results_the_model_sees(client: PolosClient) -> None:
    @tool(description="explodes")
    def boom(x: int) -> int:
        raise RuntimeError(f"kaboom {x}")

    @tool(description="falsy values survive")
    def zero(kind: str) -> object:
        return {"int": 0, "str": "", "list": []}[kind]

    model = ScriptedModel(
        uid("m"),
        [
            [
                FakeToolCall("boom", {"x": 7}, id="c1"),
                FakeToolCall("nope", {}, id="c2"),
                FakeToolCall("boom", '{"x": 7', id="c3"),
                FakeToolCall("boom", {"x": "seven"}, id="c4"),
                FakeToolCall("zero", {"kind": "int"}, id="c5"),
                FakeToolCall("zero", {"kind": "str"}, id="c6"),
                FakeToolCall("zero", {"kind": "list"}, id="c7"),
            ],
            "done",
        ],
    )
    agent = Agent(id=uid("err"), provider="fake", model=model, tools=[boom, zero])
    result = await agent.run(client, "go")
    assert result.result == "done"
    by_id = {r.tool_call_id: r for r in result.tool_results}
    assert by_id["c1"].status == "failed" and "RuntimeError: kaboom 7" in by_id["c1"].error
    assert "Unknown tool 'nope'" in by_id["c2"].error and "boom, zero" in by_id["c2"].error
    assert "not valid JSON" in by_id["c3"].error
    assert "Invalid arguments for tool 'boom'" in by_id["c4"].error and "x:" in by_id["c4"].error
    assert [by_id[c].result for c in ("c5", "c6", "c7")] == [0, "", []]
    assert all(by_id[c].status == "completed" for c in ("c5", "c6", "c7"))
    tool_msgs = {
        m["tool_call_id"]: m["content"] for m in model.calls[1].messages if m["role"] == "tool"
    }
    assert tool_msgs["c1"].startswith("Error: RuntimeError: kaboom 7")
    assert tool_msgs["c2"].startswith("Error: Unknown tool")
    assert tool_msgs["c5"] == "0" and tool_msgs["c6"] == "" and tool_msgs["c7"] == "[]"
    # Only the valid calls ran as steps; bad ones never reached a tool.
    keys = [k for k, *_ in await step_rows(client, result.agent_run_id)]
    assert keys == [
        "llm:1",
        "tool:1:c1:boom",
        "tool:1:c5:zero",
        "tool:1:c6:zero",
        "tool:1:c7:zero",
        "llm:2",
    ]


async def test_provider_kwargs_pass_through_and_usage_adds_up(client: PolosClient) -> None:
    def reply(messages, info):
        return FakeTurn(
            text=f"params={sorted(info['params'])}",
            usage=Usage(input_tokens=10, output_tokens=5, total_tokens=15),
        )

    model = FunctionModel(reply, name=uid("fn"))
    agent = Agent(id=uid("kw"), provider="fake", model=model, temperature=0.2, top_p=0.9)
    result = await agent.run(client, "hi", reasoning={"effort": "medium"})
    params = model.calls[0].params
    assert params["reasoning"] == {"effort": "medium"}
    assert params["temperature"] == 0.2 and params["top_p"] == 0.9
    assert (
        result.usage.input_tokens == 10
        and result.usage.output_tokens == 5
        and result.usage.total_tokens == 15
    )
    assert result.usage.requests == 1


async def test_model_by_name_and_sync_tool_with_plain_params(client: PolosClient) -> None:
    @tool
    def add(a: int, b: int = 1) -> int:
        """Add two integers."""
        return a + b

    name = uid("named")
    ScriptedModel(name, [FakeToolCall("add", {"a": 2, "b": 3}), "5"])
    agent = Agent(id=uid("add"), provider="fake", model=name, tools=[add])
    result = await agent.run(client, "2+3?")
    assert result.tool_results[0].result == 5
    assert add.definition()["function"]["description"] == "Add two integers."
    assert add.parameters["required"] == ["a"]


async def test_llm_failure_retries_then_fails_the_run(client: PolosClient) -> None:
    model = ScriptedModel(uid("m"), [RuntimeError("provider down"), "recovered"])
    agent = Agent(id=uid("retry"), provider="fake", model=model, llm_retries=1)
    result = await agent.run(client, "hi")
    assert result.result == "recovered" and model.call_count == 2
    rows = await step_rows(client, result.agent_run_id)
    assert [(k, a, s) for k, _, a, s in rows] == [
        ("llm:1", 1, "retrying"),
        ("llm:1", 2, "completed"),
    ]

    broken = ScriptedModel(uid("m"), [RuntimeError("down"), RuntimeError("still down")])
    failing = Agent(id=uid("retry"), provider="fake", model=broken, llm_retries=1)
    with pytest.raises(ExecutionFailedError, match="still down"):
        await failing.run(client, "hi")


async def test_network_providers_are_blocked_in_tests(client: PolosClient) -> None:
    agent = Agent(id=uid("net"), provider="openai", model="gpt-4o-mini")
    with pytest.raises(ExecutionFailedError, match="ModelRequestBlockedError"):
        await agent.run(client, "hi")


def test_bad_agent_definitions_are_clear_errors() -> None:
    from polos_nb import UserError

    with pytest.raises(UserError, match="Unknown provider 'nope'"):
        Agent(id=uid("bad"), provider="nope", model="x")
    with pytest.raises(UserError, match="output_schema must be a Pydantic model"):
        Agent(id=uid("bad"), provider="fake", model="x", output_schema=dict)
    with pytest.raises(UserError, match="stop_conditions"):
        Agent(id=uid("bad"), provider="fake", model="x", stop_conditions=[5])
    with pytest.raises(UserError, match="share an id"):
        Agent(id=uid("bad"), provider="fake", model="x", tools=[weather_tool(), weather_tool()])


def test_every_seed_provider_maps_to_litellm() -> None:
    from polos_nb.llm import litellm_model

    got = {
        p: litellm_model(p, "m")
        for p in (
            "openai",
            "anthropic",
            "gemini",
            "groq",
            "fireworks",
            "together",
            "azure",
            "local",
        )
    }
    assert got == {
        "openai": "openai/m",
        "anthropic": "anthropic/m",
        "gemini": "gemini/m",
        "groq": "groq/m",
        "fireworks": "fireworks_ai/m",
        "together": "together_ai/m",
        "azure": "azure/m",
        "local": "polos-local/m",
    }
    assert litellm_model("litellm", "openai/gpt-4o") == "openai/gpt-4o"
    assert json.loads(json.dumps(got))


async def test_duplicate_or_missing_call_ids_are_made_unique(client: PolosClient) -> None:
    model = ScriptedModel(
        uid("m"),
        [
            [
                FakeToolCall("get_weather", {"city": "A"}, id="same"),
                FakeToolCall("get_weather", {"city": "B"}, id="same"),
            ],
            "ok",
        ],
    )
    agent = Agent(id=uid("dup"), provider="fake", model=model, tools=[weather_tool()])
    result = await agent.run(client, "go")
    assert [r.tool_call_id for r in result.tool_results] == ["same", "same_1"]
    assert [r.result["city"] for r in result.tool_results] == ["A", "B"]
    sent = model.calls[1].messages
    assert [c["id"] for c in sent[1]["tool_calls"]] == ["same", "same_1"]
    assert [m["tool_call_id"] for m in sent if m["role"] == "tool"] == ["same", "same_1"]

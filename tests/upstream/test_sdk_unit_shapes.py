"""What upstream Polos's own SDK unit tests expect of its public objects, written as user
code: run configs built by hand, a stream followed from a handle, workflow attributes,
and the exception types (and message words) that code catches."""

from __future__ import annotations

import json

import pytest

from polos_nb import (
    Agent,
    AgentStreamHandle,
    BatchWorkflowInput,
    CompactionConfig,
    ExecutionHandle,
    Polos,
    StreamResult,
    Workflow,
    WorkflowContext,
    batch_agent_invoke,
    tool,
    workflow,
)
from polos_nb.agents.agent import AgentRunConfig, FullEventIterator, TextChunkIterator
from polos_nb.features.events import StreamEvent
from polos_nb.testing import FunctionModel, ScriptedModel

from .conftest import uid


def echo_agent(name: str) -> Agent:
    """An agent whose model answers with the last user message, and records its params."""

    def reply(messages: list[dict], info: dict) -> str:
        echo_agent.params.append(info["params"])  # type: ignore[attr-defined]
        return f"echo: {messages[-1]['content']}"

    return Agent(id=uid(name), provider="fake", model=FunctionModel(reply, uid(name)))


echo_agent.params = []  # type: ignore[attr-defined]


# ---------------------------------------------------------------- AgentRunConfig
async def test_agent_run_config_built_by_hand_runs_in_a_batch() -> None:
    agent = echo_agent("hand_config")
    config = AgentRunConfig(agent=agent, input="Hello", session_id="sess-1", user_id="user-1")
    assert config.agent is agent
    assert config.input == "Hello"
    assert (config.session_id, config.user_id) == ("sess-1", "user-1")
    assert config.streaming is False and config.initial_state is None
    assert AgentRunConfig(agent=agent, input="Hi", custom_param="value").kwargs == {
        "custom_param": "value"
    }

    async with Polos() as polos:
        handles = await batch_agent_invoke(polos, [config, agent.with_input("Bye", user_id="u2")])
        results = [await h for h in handles]
        infos = [await h.get(polos) for h in handles]
    assert [r.result for r in results] == ["echo: Hello", "echo: Bye"]
    assert (infos[0]["session_id"], infos[0]["user_id"]) == ("sess-1", "user-1")
    assert infos[1]["user_id"] == "u2"


async def test_with_input_takes_upstreams_arguments_inside_a_workflow() -> None:
    agent = echo_agent("child_config")
    config = agent.with_input("Check this", session_id="s9", run_timeout_seconds=60)
    assert (config.session_id, config.run_timeout_seconds, config.streaming) == ("s9", 60, False)

    @workflow(id=uid("parent"))
    async def parent(ctx: WorkflowContext, payload: dict) -> str:
        one = await ctx.step.agent_invoke_and_wait("one", agent.with_input(payload["text"]))
        both = await ctx.step.batch_agent_invoke_and_wait(
            "both", [AgentRunConfig(agent=agent, input="a"), agent.with_input("b")]
        )
        return " | ".join([one.result, *(r.result.result for r in both)])

    async with Polos() as polos:
        assert await parent.run(polos, {"text": "x"}) == "echo: x | echo: a | echo: b"


async def test_run_timeout_seconds_is_the_runs_not_the_models() -> None:
    agent = echo_agent("timeout_kw")
    echo_agent.params.clear()  # type: ignore[attr-defined]
    async with Polos() as polos:
        result = await agent.run(polos, "ping", run_timeout_seconds=30, temperature=0)
    assert result.result == "echo: ping"
    params = echo_agent.params[-1]  # type: ignore[attr-defined]
    assert params.get("temperature") == 0
    assert "run_timeout_seconds" not in params and "initial_state" not in params


async def test_a_dict_tool_is_sent_to_the_provider_as_given() -> None:
    builtin = {"type": "web_search_20250305", "name": "web_search", "max_uses": 2}
    seen: list[list[dict]] = []

    def reply(messages: list[dict], info: dict) -> str:
        seen.append(info["tools"])
        return "searched"

    @tool(description="Look up an order")
    def lookup(order_id: str) -> str:
        return order_id

    agent = Agent(
        id=uid("builtin"),
        provider="fake",
        model=FunctionModel(reply, uid("builtin")),
        tools=[lookup, builtin],
    )
    assert agent.provider_tools == [builtin]
    async with Polos() as polos:
        assert (await agent.run(polos, "Search the web")).result == "searched"
    assert builtin in seen[0]
    assert any(t.get("function", {}).get("name") == "lookup" for t in seen[0])


async def test_provider_base_url_is_the_endpoint_not_a_model_parameter() -> None:
    agent = echo_agent("endpoint")
    local = Agent(
        id=uid("endpoint"),
        provider="fake",
        model=agent.model,
        provider_base_url="http://localhost:11434/v1",
        provider_llm_api="chat_completions",
    )
    assert local.provider_base_url == "http://localhost:11434/v1"
    assert local.provider_llm_api == "chat_completions"
    assert local.provider_kwargs["api_base"] == "http://localhost:11434/v1"
    echo_agent.params.clear()  # type: ignore[attr-defined]
    async with Polos() as polos:
        assert (await local.run(polos, "hi")).result == "echo: hi"
    params = echo_agent.params[-1]  # type: ignore[attr-defined]
    assert "provider_base_url" not in params and "provider_llm_api" not in params
    with pytest.raises(ValueError, match="provider_llm_api"):
        Agent(id=uid("endpoint"), provider="openai", model="gpt-4o", provider_llm_api="graphql")


# ---------------------------------------------------------------- streams from handles
async def test_stream_result_from_a_handle() -> None:
    agent = Agent(
        id=uid("streamer"), provider="fake", model=ScriptedModel(uid("s"), ["Hello World"])
    )
    async with Polos() as polos:
        handle = await agent.invoke(polos, "Say hello", streaming=True, session_id="sess")
        result = StreamResult(handle, polos)
        assert result.agent_run_id == result.id == handle.id
        assert result.root_execution_id == handle.id
        assert result.topic == f"workflow/{agent.id}/{handle.id}"
        assert (result.workflow_id, result.session_id) == (agent.id, "sess")
        assert result.to_dict()["id"] == handle.id
        assert handle.id in repr(result)
        assert isinstance(result.text_chunks, TextChunkIterator)
        assert isinstance(result.events, FullEventIterator)
        assert "".join([chunk async for chunk in TextChunkIterator(result)]) == "Hello World"
        kinds = [event.event_type async for event in FullEventIterator(result)]
        assert kinds[-1] == "agent_finish"
        assert await result.text() == "Hello World"
        assert (await result.result()).result == "Hello World"
        assert (await result.get())["status"] == "completed"
        events = result.events
        async for _event in events:
            break  # a reader who stops early closes the iterator, as a generator
        await events.aclose()


async def test_agent_stream_handle_follows_a_run_by_its_ids() -> None:
    agent = Agent(id=uid("ids"), provider="fake", model=ScriptedModel(uid("s"), ["By id."]))
    async with Polos() as polos:
        started = await agent.stream(polos, "Go")
        run_id = started.agent_run_id
        stream = AgentStreamHandle(polos, run_id, agent.id, None)
        assert stream.root_execution_id == run_id
        assert stream.topic == f"workflow/{agent.id}/{run_id}"
        assert stream.last_valid_event_id is None and stream.created_at is None
        events = [event async for event in stream]
    text = "".join(e.data["content"] for e in events if e.event_type == "text_delta")
    assert text == "By id."
    assert events[-1].event_type == "agent_finish"
    assert stream.last_valid_event_id == events[-1].id


def test_handles_and_events_built_by_hand() -> None:
    handle = ExecutionHandle(
        id="exec-1", workflow_id="agent-1", root_workflow_id="agent-1", root_execution_id=None
    )
    assert handle.root_execution_id == "exec-1"
    assert json.loads(json.dumps(handle.to_dict()))["workflow_id"] == "agent-1"
    event = StreamEvent(
        id="e1",
        sequence_id=1,
        topic="workflow/a/x",
        event_type="text_delta",
        data={"content": "Hi"},
    )
    assert event.data["content"] == "Hi" and event.created_at is not None


# ---------------------------------------------------------------- Workflow attributes
def test_workflow_attributes_upstream_code_reads() -> None:
    async def with_payload(ctx: WorkflowContext, payload: dict) -> dict:
        return payload

    def no_payload(ctx: WorkflowContext) -> None:
        return None

    wf = Workflow(id=uid("attrs"), func=with_payload)
    assert (wf.is_async, wf.has_payload_param, wf.is_schedulable) == (True, True, False)
    assert wf.workflow_type == "workflow" and wf.queue_name is None and wf.state_schema is None
    plain = Workflow(id=uid("attrs"), func=no_payload, schedule=True)
    assert (plain.is_async, plain.has_payload_param, plain.is_schedulable) == (False, False, True)
    queued = Workflow(
        id=uid("attrs"), func=with_payload, queue_name="shared", queue_concurrency_limit=5
    )
    assert (queued.queue_name, queued.queue_concurrency_limit) == ("shared", 5)
    assert Agent(id=uid("agent_attrs"), provider="fake", model="x").is_async is True


def test_scheduled_and_event_triggered_is_a_value_error() -> None:
    async def body(ctx: WorkflowContext, payload: dict) -> None:
        return None

    with pytest.raises(ValueError, match="cannot be both scheduled and event-triggered"):
        Workflow(id=uid("both"), func=body, schedule=True, trigger_on_event="orders/new")


# ---------------------------------------------------------------- errors code catches
def test_agent_options_of_the_wrong_type_are_type_errors() -> None:
    with pytest.raises(TypeError, match="Invalid stop_condition"):
        Agent(id=uid("bad"), provider="openai", model="gpt-4", stop_conditions=["not a callable"])
    with pytest.raises(TypeError, match="Invalid guardrail"):
        Agent(id=uid("bad"), provider="openai", model="gpt-4", guardrails=[123])
    with pytest.raises(TypeError, match="Invalid hook"):
        Agent(id=uid("bad"), provider="openai", model="gpt-4", on_start=5)


async def test_unknown_workflow_in_a_batch_is_not_found() -> None:
    async with Polos() as polos:
        with pytest.raises(ValueError, match="Workflow 'unknown-workflow' not found"):
            await polos.batch_invoke([BatchWorkflowInput(id="unknown-workflow", payload={})])


def test_compaction_fields_given_as_none_take_their_defaults() -> None:
    config = CompactionConfig(max_conversation_tokens=None, enabled=None)
    assert config.max_conversation_tokens == CompactionConfig().max_conversation_tokens
    assert config.enabled is True
    agent = Agent(
        id=uid("compact"),
        provider="openai",
        model="gpt-4",
        compaction=CompactionConfig(max_conversation_tokens=50000),
    )
    assert agent.compaction.max_conversation_tokens == 50000


def test_agent_positional_arguments_in_upstreams_order() -> None:
    """Upstream's order: id, provider, model, description, system_prompt, tools, ..."""

    @tool(description="Says hi")
    async def hi(ctx: WorkflowContext, name: str) -> str:
        return f"hi {name}"

    model = ScriptedModel(["done"])
    agent = Agent(uid("positional"), "fake", model, "Greets people", "Be brief.", [hi], 0.2, 50)
    assert agent.description == "Greets people"
    assert agent.system_prompt == "Be brief."
    assert [t.id for t in agent.tools] == [hi.id]
    assert agent.temperature == 0.2
    assert agent.max_output_tokens == 50


def test_a_scripted_model_takes_its_script_alone() -> None:
    from polos_nb.errors import UserError

    model = ScriptedModel(["Hello!", "Bye."])
    assert model.remaining == 2 and model.name
    with pytest.raises(UserError, match="the name is a string"):
        ScriptedModel(42, ["x"])  # type: ignore[arg-type]

"""Gap 4: agent events as upstream emits them, for live and late readers."""

from __future__ import annotations

import json

from pydantic import BaseModel

from polos_nb import (
    Agent,
    GuardrailContext,
    GuardrailResult,
    HookContext,
    HookResult,
    MaxStepsConfig,
    Polos,
    StreamResult,
    WorkflowContext,
    guardrail,
    hook,
    max_steps,
    tool,
)
from polos_nb.testing import FakeToolCall, ScriptedModel

from .conftest import uid


class CityInput(BaseModel):
    city: str


@tool(description="Get current weather for a city")
async def get_weather(ctx: WorkflowContext, input: CityInput) -> dict:
    return {"city": input.city, "temperature": 18, "condition": "Cloudy"}


def storyteller(name: str, model: ScriptedModel, **options) -> Agent:
    return Agent(
        id=uid(name),
        provider="fake",
        model=model,
        system_prompt="You are a creative storyteller.",
        tools=[get_weather],
        stop_conditions=[max_steps(MaxStepsConfig(count=5))],
        **options,
    )


async def collect(result) -> tuple[str, list[str], list[dict]]:
    text, tools, finishes = "", [], []
    async for event in result.events:
        event_type = event.event_type
        if event_type == "text_delta":
            text += event.data.get("content", "")
        elif event_type == "tool_call":
            tool_name = event.data.get("tool_call", {}).get("function", {}).get("name", "unknown")
            tools.append(tool_name)
        elif event_type == "agent_finish":
            finishes.append(json.loads(json.dumps(event.data)))
    return text, tools, finishes


async def test_stream_events_carry_upstream_tool_calls_and_json_results() -> None:
    model = ScriptedModel(
        uid("story"),
        [FakeToolCall("get_weather", {"city": "Paris"}), "Once upon a time in cloudy Paris."],
    )
    agent = storyteller("storyteller", model)
    async with Polos() as polos:
        result = await agent.stream(polos, "Tell me a story about the weather in Paris")
        text, tools, finishes = await collect(result)
    assert text == "Once upon a time in cloudy Paris."
    assert tools == ["get_weather"]
    assert len(finishes) == 1
    assert finishes[0]["result"]["result"] == "Once upon a time in cloudy Paris."
    assert finishes[0]["result"]["total_steps"] == 2


async def test_a_late_reader_gets_the_whole_stream() -> None:
    model = ScriptedModel(
        uid("late"),
        [FakeToolCall("get_weather", {"city": "Tokyo"}), "Sunny in Tokyo, said the robot."],
    )
    agent = storyteller("late_storyteller", model)
    async with Polos() as polos:
        result = await agent.stream(polos, "A story, please")
        final = await result.result()  # the run ends before anyone reads its stream
        assert final.result == "Sunny in Tokyo, said the robot."
        text, tools, finishes = await collect(result)
        assert text == "Sunny in Tokyo, said the robot."
        assert tools == ["get_weather"]
        assert len(finishes) == 1
        chunks = [chunk async for chunk in result.text_chunks]
        assert "".join(chunks) == "Sunny in Tokyo, said the robot."
        assert await result.text() == "Sunny in Tokyo, said the robot."
        # reading twice gives the same story, each tool call once
        again = await collect(result)
        assert again[:2] == (text, tools)


async def test_tool_calls_offer_function_name_and_arguments_to_guardrails_and_hooks() -> None:
    seen: list[tuple[str, str, str]] = []

    @guardrail
    def block_dangerous_tools(ctx: WorkflowContext, guardrail_ctx: GuardrailContext):
        for call in guardrail_ctx.tool_calls or []:
            seen.append(("guardrail", call.function.name, call.function.arguments))
            if call.function.name in ("delete_file", "send_email"):
                return GuardrailResult.fail(f"Blocked: dangerous tool '{call.function.name}'")
        return GuardrailResult.continue_with()

    @hook
    def log_step_end(ctx: WorkflowContext, hook_ctx: HookContext) -> HookResult:
        for call in hook_ctx.current_output.tool_calls:
            seen.append(("hook", call.function.name, json.loads(call.function.arguments)["city"]))
        return HookResult.continue_with()

    model = ScriptedModel(uid("guarded"), [FakeToolCall("get_weather", {"city": "Oslo"}), "Done."])
    agent = storyteller(
        "guarded", model, guardrails=[block_dangerous_tools], on_agent_step_end=[log_step_end]
    )
    async with Polos() as polos:
        result = await agent.run(polos, "Weather in Oslo?")
    assert result.result == "Done."
    assert ("guardrail", "get_weather", '{"city": "Oslo"}') in seen
    assert ("hook", "get_weather", "Oslo") in seen
    call = result.steps[0].tool_calls[0]
    assert call.type == "function" and call.call_id == call.id


async def test_a_guarded_agent_streams_its_text_once_live_and_late() -> None:
    # Upstream example 06's chat loop: an agent with guardrails, streamed, its text_delta
    # contents printed as they come. The guardrails hold the text back until it passes;
    # it then comes once, to the live reader and to a reader who starts after the end.
    @guardrail
    def redact_pii(ctx: WorkflowContext, guardrail_ctx: GuardrailContext) -> GuardrailResult:
        content = (guardrail_ctx.content or "").replace("john@example.com", "[EMAIL REDACTED]")
        return GuardrailResult.continue_with(modified_content=content)

    model = ScriptedModel(uid("safe"), ["Write to john@example.com.", "Hello again."])
    agent = Agent(
        id=uid("safe_assistant"),
        provider="fake",
        model=model,
        system_prompt="You are a helpful assistant.",
        guardrails=[redact_pii],
        stop_conditions=[max_steps(MaxStepsConfig(count=5))],
    )
    async with Polos() as polos:
        result = await agent.stream(polos, "My email?", session_id="chat-1")
        text, _, _ = await collect(result)
        assert text == "Write to [EMAIL REDACTED]."
        # the run has ended: reading again (or late) gives the same text, once
        assert await result.text() == "Write to [EMAIL REDACTED]."
        assert (await collect(result))[0] == "Write to [EMAIL REDACTED]."

        handle = await agent.invoke(polos, "And now?", session_id="chat-1", streaming=True)
        late = StreamResult(handle, polos)
        assert (await late.result()).result == "Hello again."
        assert await late.text() == "Hello again."
        assert (await collect(late))[0] == "Hello again."

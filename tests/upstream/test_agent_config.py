"""``AgentConfig``: the agent's settings as hooks and guardrails read them upstream.

Upstream code imports ``AgentConfig`` (top level or ``polos.types.types``), reads
``hook_ctx.agent_config`` in its step and tool hooks and ``guardrail_ctx.llm_config`` in its
guardrails, and builds contexts by hand in its own unit tests, sometimes with ``None`` for
what an agent leaves empty.
"""

from __future__ import annotations

from pydantic import BaseModel

from polos_nb import (
    Agent,
    AgentConfig,
    GuardrailContext,
    GuardrailResult,
    HookContext,
    HookResult,
    Polos,
    WorkflowContext,
    guardrail,
    hook,
    tool,
)
from polos_nb.testing import FakeToolCall, ScriptedModel

from .conftest import uid


def test_agent_config_is_importable_where_upstream_puts_it() -> None:
    from polos_nb.types import AgentConfig as FromTypes
    from polos_nb.types.types import AgentConfig as FromTypesTypes

    assert FromTypes is AgentConfig and FromTypesTypes is AgentConfig
    config = AgentConfig(name="support", provider="openai", model="gpt-4o")
    assert (config.name, config.provider, config.model) == ("support", "openai", "gpt-4o")
    assert config.tools == [] and config.system_prompt is None and config.temperature is None


def test_contexts_built_by_hand_carry_a_config() -> None:
    config = AgentConfig(name="support", provider="openai", model="gpt-4o", temperature=0.1)
    hook_ctx = HookContext(workflow_id="support", agent_config=config)
    assert hook_ctx.agent_config == config
    assert HookContext(workflow_id="support").agent_config is None

    g = GuardrailContext(content="hi", agent_workflow_id="support", llm_config=config)
    assert g.llm_config.model == "gpt-4o"
    assert GuardrailContext(content="hi").llm_config.name == ""  # upstream's empty config
    assert GuardrailContext.from_dict(g.to_dict()).llm_config == config

    # upstream's own code passes None for a reply without tool calls and for unknown ids
    bare = GuardrailContext(
        content="hi", tool_calls=None, agent_workflow_id=None, agent_run_id=None
    )
    assert bare.tool_calls == [] and bare.agent_workflow_id == "" and bare.agent_run_id == ""

    result = GuardrailResult.continue_with(modified_llm_config=config)
    assert result.modified_llm_config == config
    assert GuardrailResult().modified_llm_config is None


class Answer(BaseModel):
    text: str


async def test_hooks_and_guardrails_see_the_agents_config() -> None:
    seen: dict[str, AgentConfig | None] = {}

    @tool
    def lookup(ctx: WorkflowContext, city: str) -> str:
        """Look a city up."""
        return f"{city}: sunny"

    @hook
    def on_step(ctx: WorkflowContext, hook_ctx: HookContext) -> HookResult:
        seen["step"] = hook_ctx.agent_config
        return HookResult.continue_with()

    @hook
    def before_tool(ctx: WorkflowContext, hook_ctx: HookContext) -> HookResult:
        assert hook_ctx.agent_config is not None
        seen["tool"] = hook_ctx.agent_config
        return HookResult.continue_with()

    @guardrail
    def check(ctx: WorkflowContext, guardrail_ctx: GuardrailContext) -> GuardrailResult:
        seen["guardrail"] = guardrail_ctx.llm_config
        return GuardrailResult.continue_with()

    model = ScriptedModel(
        uid("configured"), [FakeToolCall("lookup", {"city": "Oslo"}), '{"text": "Sunny."}']
    )
    agent = Agent(
        id=uid("configured_agent"),
        provider="fake",
        model=model,
        system_prompt="You report the weather.",
        tools=[lookup],
        temperature=0.2,
        max_output_tokens=300,
        output_schema=Answer,
        guardrail_max_retries=1,
        on_agent_step_start=[on_step],
        on_tool_start=[before_tool],
        guardrails=[check],
    )
    async with Polos() as polos:
        result = await agent.run(polos, "Weather in Oslo?", api_key="sk-not-to-be-shown-1234")
        assert result.result == Answer(text="Sunny.")

    config = seen["tool"]
    assert config is not None
    assert seen["step"] == config and seen["guardrail"] == config
    assert config.name == agent.id
    assert config.provider == "fake"
    assert config.system_prompt == "You report the weather."
    assert config.temperature == 0.2 and config.max_output_tokens == 300
    assert config.guardrail_max_retries == 1
    assert [t["function"]["name"] for t in config.tools] == ["lookup"]
    assert config.output_schema_name == "Answer"
    assert config.output_schema is not None and "text" in config.output_schema["properties"]
    assert config.provider_kwargs is None  # the run's only option was a credential

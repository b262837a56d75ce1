"""Every name upstream Polos's top-level package offers that a user's program imports,
and the batch helpers that start several runs from outside a workflow."""

from __future__ import annotations

import pytest

import polos_nb
from polos_nb import Agent, BatchWorkflowInput, Polos, WorkflowContext, workflow
from polos_nb.testing import ScriptedModel

from .conftest import uid

# upstream's polos.__all__ without its sandbox and channel names
UPSTREAM_TOP_LEVEL = [
    "Polos",
    "workflow",
    "Workflow",
    "get_workflow",
    "get_all_workflows",
    "PolosClient",
    "ExecutionHandle",
    "Queue",
    "queue",
    "batch_invoke",
    "batch_agent_invoke",
    "Agent",
    "AgentStreamHandle",
    "StreamResult",
    "stop_condition",
    "max_steps",
    "max_tokens",
    "executed_tool",
    "has_text",
    "MaxTokensConfig",
    "MaxStepsConfig",
    "ExecutedToolConfig",
    "HasTextConfig",
    "StopConditionContext",
    "tool",
    "Tool",
    "ToolApproval",
    "hook",
    "HookContext",
    "HookResult",
    "HookAction",
    "guardrail",
    "GuardrailContext",
    "GuardrailResult",
    "Worker",
    "WorkflowContext",
    "AgentContext",
    "WorkflowState",
    "events",
    "schedules",
    "SchedulePayload",
    "EventPayload",
    "BatchEventPayload",
    "BatchStepResult",
    "Step",
    "Usage",
    "AgentConfig",
    "ToolCall",
    "ToolResult",
    "ToolCallFunction",
    "WorkflowTimeoutError",
    "StepExecutionError",
    "BatchWorkflowInput",
    "create_ask_user_tool",
    "AskUserInput",
    "AskUserField",
    "AskUserFieldOption",
    "create_web_search_tool",
    "WebSearchToolConfig",
    "WebSearchResult",
    "WebSearchResultItem",
    "WebSearchOptions",
    "WebSearchFunction",
]


@pytest.mark.parametrize("name", UPSTREAM_TOP_LEVEL)
def test_upstream_top_level_name(name: str) -> None:
    assert hasattr(polos_nb, name)


def test_aliases_are_the_same_objects() -> None:
    assert polos_nb.AgentContext is WorkflowContext
    assert polos_nb.Step is polos_nb.AgentStep


async def test_batch_invoke_and_batch_agent_invoke() -> None:
    @workflow(id=uid("double"))
    async def double(ctx: WorkflowContext, payload: dict) -> int:
        return payload["n"] * 2

    greeter = Agent(
        id=uid("greeter"),
        provider="fake",
        model=ScriptedModel(uid("m"), ["hello one", "hello two"]),
    )
    async with Polos() as polos:
        handles = await polos_nb.batch_invoke(
            polos, [BatchWorkflowInput(id=double.id, payload={"n": n}) for n in (1, 2, 3)]
        )
        assert [await h for h in handles] == [2, 4, 6]
        agent_handles = await polos_nb.batch_agent_invoke(
            polos, [greeter.with_input("one"), greeter.with_input("two")]
        )
        texts = sorted([(await h).result for h in agent_handles])
    assert texts == ["hello one", "hello two"]


def test_tool_definition_under_upstream_name() -> None:
    @polos_nb.tool(description="Add two numbers")
    def add(a: int, b: int) -> int:
        return a + b

    definition = add.to_llm_tool_definition()
    assert definition == add.definition()
    assert definition["function"]["name"] == "add"
    assert set(definition["function"]["parameters"]["properties"]) == {"a", "b"}
    ask = polos_nb.create_ask_user_tool().to_llm_tool_definition()
    assert "question" in ask["function"]["parameters"]["properties"]

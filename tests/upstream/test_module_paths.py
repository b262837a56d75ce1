"""Gap 8: upstream's module paths resolve, so changing ``polos`` to ``polos_nb`` is enough."""

from __future__ import annotations

import importlib

import pytest

# Every import line the upstream examples use (python-examples/*), with polos -> polos_nb.
UPSTREAM_IMPORTS = [
    "from polos_nb import Polos",
    "from polos_nb import Polos, events",
    "from polos_nb import Agent, max_steps, MaxStepsConfig",
    "from polos_nb import tool, WorkflowContext",
    "from polos_nb import workflow, WorkflowContext",
    "from polos_nb import workflow, WorkflowContext, queue",
    "from polos_nb import workflow, WorkflowContext, WorkflowState",
    "from polos_nb import workflow, WorkflowContext, StepExecutionError",
    "from polos_nb import workflow, WorkflowContext, EventPayload, BatchEventPayload",
    "from polos_nb import workflow, WorkflowContext, schedules, SchedulePayload",
    "from polos_nb import hook, WorkflowContext, HookContext, HookResult",
    "from polos_nb import guardrail, GuardrailContext, GuardrailResult, WorkflowContext",
    "from polos_nb import Agent, WorkflowContext, tool",
    "from polos_nb import PolosClient",
    "from polos_nb import Polos, schedules, SchedulePayload",
    "from polos_nb import Agent, max_steps, MaxStepsConfig, create_web_search_tool, "
    "WebSearchToolConfig, create_ask_user_tool",
    "from polos_nb.features import events",
    "from polos_nb.types import AgentResult",
    "from polos_nb.types.types import BatchWorkflowInput",
    "from polos_nb.memory.types import CompactionConfig",
]

# Other public upstream module paths (the SDK's own layout) that user code reaches for.
UPSTREAM_NAMES = {
    "polos_nb.features.events": [
        "EventData",
        "EventPayload",
        "StreamEvent",
        "batch_publish",
        "publish",
        "stream_workflow",
    ],
    "polos_nb.features.schedules": ["SchedulePayload", "create"],
    "polos_nb.features.wait": ["WaitException"],
    "polos_nb.types": [
        "AgentResult",
        "BatchStepResult",
        "BatchWorkflowInput",
        "Step",
        "ToolCall",
        "ToolCallFunction",
        "ToolResult",
        "Usage",
    ],
    "polos_nb.types.types": ["AgentResult", "Step", "ToolCall", "ToolCallFunction", "Usage"],
    "polos_nb.memory": ["CompactionConfig"],
    "polos_nb.memory.types": ["CompactionConfig"],
    "polos_nb.core.step": ["ExecutionCancelledError", "StepExecutionError"],
    "polos_nb.core.workflow": ["Workflow", "get_all_workflows", "get_workflow", "workflow"],
    "polos_nb.core.context": ["AgentContext", "WorkflowContext"],
    "polos_nb.core.state": ["WorkflowState"],
    "polos_nb.middleware.hook": ["HookAction", "HookContext", "HookResult", "hook"],
    "polos_nb.middleware.guardrail": ["GuardrailContext", "GuardrailResult", "guardrail"],
    "polos_nb.agents.stop_conditions": ["MaxStepsConfig", "max_steps", "stop_condition"],
    "polos_nb.runtime.client": ["ExecutionHandle", "PolosClient"],
    "polos_nb.runtime.worker": ["Worker"],
    "polos_nb.runtime.batch": ["batch_agent_invoke", "batch_invoke"],
    "polos_nb.agents.agent": ["Agent", "AgentRunConfig", "StreamResult"],
    "polos_nb.tools.tool": ["Tool", "ToolApproval", "tool"],
    "polos_nb.tools.ask_user": [
        "AskUserField",
        "AskUserFieldOption",
        "AskUserInput",
        "create_ask_user_tool",
    ],
    "polos_nb.tools.web_search": [
        "WebSearchFunction",
        "WebSearchOptions",
        "WebSearchResult",
        "WebSearchResultItem",
        "WebSearchToolConfig",
        "create_web_search_tool",
    ],
    "polos_nb.polos": ["Polos"],
}


@pytest.mark.parametrize("line", UPSTREAM_IMPORTS)
def test_upstream_import_lines_resolve(line: str) -> None:
    exec(compile(line, "<upstream import>", "exec"), {})


@pytest.mark.parametrize("module", sorted(UPSTREAM_NAMES))
def test_upstream_module_paths_offer_their_names(module: str) -> None:
    mod = importlib.import_module(module)
    for name in UPSTREAM_NAMES[module]:
        assert hasattr(mod, name), f"{module}.{name}"


def test_the_shims_are_the_same_objects() -> None:
    import polos_nb
    from polos_nb.features import events
    from polos_nb.memory.types import CompactionConfig
    from polos_nb.types import AgentResult, Step
    from polos_nb.types.types import BatchWorkflowInput

    assert events.publish is polos_nb.events.publish
    assert events.stream_workflow is polos_nb.events.stream_workflow
    assert AgentResult is polos_nb.AgentResult and Step is polos_nb.AgentStep
    assert BatchWorkflowInput is polos_nb.BatchWorkflowInput
    assert CompactionConfig is polos_nb.CompactionConfig

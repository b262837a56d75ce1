"""Gap 8: upstream's module paths resolve, so changing ``polos`` to ``polos_nb`` is enough."""

from __future__ import annotations

import importlib
import pickle
from pathlib import Path

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
    "polos_nb.agents.agent": [
        "Agent",
        "AgentRunConfig",
        "AgentStreamHandle",
        "FullEventIterator",
        "StreamResult",
        "TextChunkIterator",
    ],
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
    # upstream's polos.execution.* and polos.channels.* (the sandbox tools and channels)
    "polos_nb.execution": [
        "DockerEnvironment",
        "ExecutionEnvironment",
        "LocalEnvironment",
        "ManagedSandbox",
        "SandboxManager",
        "SandboxToolsConfig",
        "create_exec_tool",
        "evaluate_allowlist",
        "parse_duration",
        "sandbox_tools",
        "truncate_output",
    ],
    "polos_nb.execution.types": [
        "DockerEnvironmentConfig",
        "E2BEnvironmentConfig",
        "EnvironmentInfo",
        "ExecOptions",
        "ExecResult",
        "ExecToolConfig",
        "GlobOptions",
        "GrepMatch",
        "GrepOptions",
        "LocalEnvironmentConfig",
        "SandboxScope",
        "SandboxToolsConfig",
    ],
    "polos_nb.execution.environment": ["ExecutionEnvironment"],
    "polos_nb.execution.docker": ["DEFAULT_CONTAINER_WORKDIR", "DockerEnvironment"],
    "polos_nb.execution.local": ["DEFAULT_TIMEOUT_SECONDS", "LocalEnvironment"],
    "polos_nb.execution.sandbox": [
        "DEFAULT_WORKSPACES_DIR",
        "WORKSPACES_DIR_ENV",
        "ManagedSandbox",
    ],
    "polos_nb.execution.sandbox_manager": [
        "DEFAULT_IDLE_TIMEOUT",
        "SandboxManager",
        "parse_duration",
    ],
    "polos_nb.execution.sandbox_tools": ["sandbox_tools"],
    "polos_nb.execution.security": [
        "assert_safe_path",
        "evaluate_allowlist",
        "is_within_restriction",
        "match_glob",
    ],
    "polos_nb.execution.output": [
        "DEFAULT_MAX_CHARS",
        "is_binary",
        "parse_grep_output",
        "strip_ansi",
        "truncate_output",
    ],
    "polos_nb.channels.channel": [
        "Channel",
        "ChannelContext",
        "ChannelOutputMode",
        "SuspendNotification",
    ],
    "polos_nb.channels.slack": ["SlackBlock", "SlackChannel", "SlackChannelConfig"],
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


# The names each execution/channels module re-exports unchanged (everything but the adapters).
SAME_AS_OURS = {
    "polos_nb.execution": ("polos_nb.sandbox", None),
    "polos_nb.execution.types": ("polos_nb.sandbox", None),
    "polos_nb.execution.environment": ("polos_nb.sandbox", None),
    "polos_nb.execution.local": ("polos_nb.sandbox", ["LocalEnvironment"]),
    "polos_nb.execution.sandbox": ("polos_nb.sandbox", ["ManagedSandbox", "SandboxScope"]),
    "polos_nb.execution.sandbox_manager": (
        "polos_nb.sandbox",
        ["SandboxManager", "parse_duration"],
    ),
    "polos_nb.execution.sandbox_tools": ("polos_nb.sandbox", None),
    "polos_nb.execution.security": (
        "polos_nb.sandbox",
        ["evaluate_allowlist", "is_within_restriction"],
    ),
    "polos_nb.execution.output": (
        "polos_nb.sandbox",
        ["is_binary", "parse_grep_output", "strip_ansi", "truncate_output"],
    ),
    "polos_nb.channels.channel": ("polos_nb.channels", None),
    "polos_nb.channels.slack": ("polos_nb.channels", ["SlackChannel", "SlackChannelConfig"]),
}


@pytest.mark.parametrize("module", sorted(SAME_AS_OURS))
def test_execution_and_channel_paths_are_our_objects(module: str) -> None:
    ours_name, names = SAME_AS_OURS[module]
    mod, ours = importlib.import_module(module), importlib.import_module(ours_name)
    for name in names if names is not None else mod.__all__:
        if name == "DockerEnvironment":
            continue  # needs the docker SDK; checked below
        assert getattr(mod, name) is getattr(ours, name), f"{module}.{name}"


def test_docker_environment_under_upstreams_paths() -> None:
    pytest.importorskip("docker")
    import polos_nb.execution
    import polos_nb.sandbox
    from polos_nb.execution.docker import DockerEnvironment

    assert DockerEnvironment is polos_nb.sandbox.DockerEnvironment
    assert polos_nb.execution.DockerEnvironment is DockerEnvironment


def test_importing_execution_does_not_import_the_docker_sdk() -> None:
    import subprocess
    import sys

    code = "import sys, polos_nb.execution; print('docker' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_assert_safe_path_adapter_raises_a_value_error(tmp_path: Path) -> None:
    import polos_nb
    from polos_nb.execution.security import PathOutsideRestriction, assert_safe_path

    assert_safe_path("src/main.py", str(tmp_path))  # inside: nothing raised
    (tmp_path / "out").symlink_to("/etc")
    for escaping in ("../../etc/passwd", "/etc/passwd", "out/passwd"):
        with pytest.raises(ValueError, match="path traversal") as info:
            assert_safe_path(escaping, str(tmp_path))
        assert isinstance(info.value, polos_nb.SandboxPathError)
        assert isinstance(info.value, PathOutsideRestriction)
        assert info.value.path == escaping
    again = pickle.loads(pickle.dumps(info.value))
    assert str(again) == str(info.value)


def test_match_glob_adapter_matches_whole_strings() -> None:
    from polos_nb.execution.security import match_glob

    assert match_glob("npm test", "npm *")
    assert match_glob("anything at all", "*")
    assert match_glob("a.b", "a.b") and not match_glob("axb", "a.b")  # '.' is literal
    assert not match_glob("npm", "npm *")
    assert not match_glob("x npm test", "npm *")
    assert match_glob("python3 -c 'print(1)'", "python3 *")


def test_slack_block_is_a_json_object_alias() -> None:
    from typing import Any

    from polos_nb.channels.slack import SlackBlock

    assert SlackBlock == dict[str, Any]


def test_a_module_named_as_its_function_still_works_as_the_function() -> None:
    """Importing ``polos_nb.tools.tool`` sets the package's ``tool`` to the module: code
    that then takes ``tool`` from the package (in any import order) can still decorate."""
    import polos_nb.execution.sandbox_tools
    import polos_nb.tools.tool
    from polos_nb.tools import tool

    @tool(description="Echo")
    async def echo(ctx: object, text: str) -> str:
        return text

    assert isinstance(echo, polos_nb.tools.tool.Tool)
    assert callable(polos_nb.execution.sandbox_tools)

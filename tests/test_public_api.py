"""The public surface is deliberate: ``__all__`` is sorted, complete and importable."""

from __future__ import annotations

import polos_nb
import polos_nb.agents
import polos_nb.channels
import polos_nb.engine
import polos_nb.errors
import polos_nb.llm
import polos_nb.notebook
import polos_nb.sandbox
import polos_nb.testing
import polos_nb.tools

EXPECTED_TOP_LEVEL = {
    # upstream Polos's top-level names that polos_nb offers under the same name
    "AgentContext",
    "AgentStreamHandle",
    "Step",
    "ToolApproval",
    "WebSearchFunction",
    "WebSearchOptions",
    "WebSearchResult",
    "WebSearchResultItem",
    "batch_agent_invoke",
    "batch_invoke",
    "WorkflowNotFoundError",
    "BatchEventPayload",
    "Queue",
    "QueueStatus",
    "RetryPolicy",
    "ScheduleInfo",
    "SchedulePayload",
    "StepTimeoutError",
    "queue",
    "register_secret",
    "schedules",
    "BatchStepResult",
    "BatchWorkflowInput",
    "ChildWorkflowError",
    "DuplicateStepKeyError",
    "ExecutionBlockedError",
    "UnresolvedClassError",
    "EventData",
    "EventPayload",
    "ExecutionCancelledError",
    "ExecutionFailedError",
    "ExecutionHandle",
    "ExecutionInfo",
    "ExecutionNotFoundError",
    "JournalCorruptError",
    "JournalError",
    "JournalLockedError",
    "JournalUnavailableError",
    "JournalVersionError",
    "NonDeterminismError",
    "NotAClientError",
    "PayloadValidationError",
    "PolosClient",
    "PolosError",
    "ResumeError",
    "SerializationError",
    "StepExecutionError",
    "StreamEvent",
    "UserError",
    "WaitTimeoutError",
    "Worker",
    "Workflow",
    "WorkflowContext",
    "WorkflowState",
    "WorkflowTimeoutError",
    "__version__",
    "events",
    "get_all_workflows",
    "get_workflow",
    "workflow",
}
# The agent layer (agents/, tools/, llm/):
EXPECTED_TOP_LEVEL |= {
    "Agent",
    "AgentConfig",
    "AgentError",
    "AgentResult",
    "AgentRunConfig",
    "AgentStep",
    "ApprovalRequired",
    "AskUserField",
    "AskUserFieldOption",
    "AskUserInput",
    "CompactionConfig",
    "ExecutedToolConfig",
    "GuardrailContext",
    "GuardrailFailedError",
    "GuardrailResult",
    "HasTextConfig",
    "HookAction",
    "HookContext",
    "HookFailedError",
    "HookResult",
    "LLMError",
    "LocalModelUnavailableError",
    "MaxStepsConfig",
    "MaxTokensConfig",
    "ModelRequestBlockedError",
    "OutputValidationError",
    "StopCondition",
    "StopConditionContext",
    "StreamResult",
    "Tool",
    "ToolResult",
    "ToolRetry",
    "Usage",
    "WebSearchToolConfig",
    "create_ask_user_tool",
    "create_web_search_tool",
    "executed_tool",
    "guardrail",
    "has_text",
    "hook",
    "max_steps",
    "max_tokens",
    "stop_condition",
    "tool",
}

# The sandbox layer (upstream's execution names):
EXPECTED_TOP_LEVEL |= {
    "DockerConfig",  # upstream README's name for DockerEnvironmentConfig
    "DockerEnvironment",
    "DockerEnvironmentConfig",
    "E2BEnvironmentConfig",
    "EnvironmentInfo",
    "ExecOptions",
    "ExecResult",
    "ExecToolConfig",
    "ExecutionEnvironment",
    "GlobOptions",
    "GrepMatch",
    "GrepOptions",
    "LocalEnvironment",
    "LocalEnvironmentConfig",
    "ManagedSandbox",
    "SandboxError",
    "SandboxFileError",
    "SandboxFileNotFoundError",
    "SandboxManager",
    "SandboxPathError",
    "SandboxToolsConfig",
    "sandbox_tools",
}

# The notebook layer (approvals work without a widget, in scripts too):
EXPECTED_TOP_LEVEL |= {
    "ApprovalPendingError",
    "ApprovalValidationError",
    "PendingApproval",
    "approval_form",
    "approve",
    "pending_approvals",
}

# Upstream Polos names that upstream code imports from the top level:
EXPECTED_TOP_LEVEL |= {
    "Polos",
    "ToolCall",
    "ToolCallFunction",
}

# Channels (upstream's polos.channels names, exported from the top level as upstream does):
EXPECTED_TOP_LEVEL |= {
    "Channel",
    "ChannelContext",
    "ChannelError",
    "ChannelOutputMode",
    "SlackChannel",
    "SlackChannelConfig",
    "SuspendNotification",
}


def test_top_level_names() -> None:
    assert set(polos_nb.__all__) == EXPECTED_TOP_LEVEL


def _isort_key(name: str) -> tuple[int, str]:
    group = 0 if name.isupper() and len(name) > 1 else 1 if name[:1].isupper() else 2
    return group, name


def test_all_lists_are_sorted_and_resolve() -> None:
    for module in (
        polos_nb,
        polos_nb.engine,
        polos_nb.errors,
        polos_nb.testing,
        polos_nb.agents,
        polos_nb.channels,
        polos_nb.llm,
        polos_nb.tools,
        polos_nb.notebook,
        polos_nb.sandbox,
    ):
        names = [n for n in module.__all__ if n != "__version__"]
        # ruff's RUF022 order: CONSTANTS first, then CamelCase, then the rest
        assert names == sorted(names, key=_isort_key), module.__name__
        for name in module.__all__:
            assert hasattr(module, name), f"{module.__name__}.{name}"


def test_every_error_derives_from_polos_error() -> None:
    for name in polos_nb.errors.__all__:
        cls = getattr(polos_nb.errors, name)
        assert issubclass(cls, polos_nb.PolosError), name


def test_seed_imports_work() -> None:
    # The seeds' import lines, with only the package name changed.
    from polos_nb import BatchWorkflowInput, PolosClient, Worker, WorkflowContext, workflow  # noqa: F401
    from polos_nb import events as ev

    assert callable(ev.publish) and callable(ev.stream_workflow)


def test_seed_agent_imports_work() -> None:
    # The seeds' agent import lines, with only the package name changed.
    from polos_nb import (  # noqa: F401
        Agent,
        MaxStepsConfig,
        MaxTokensConfig,
        PolosClient,
        WorkflowContext,
        max_steps,
        max_tokens,
        tool,
    )

    assert max_steps(MaxStepsConfig(limit=15)).name == "max_steps"


def test_import_polos_nb_does_not_import_litellm() -> None:
    import subprocess
    import sys

    code = "import sys, polos_nb; assert 'litellm' not in sys.modules, 'litellm imported eagerly'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_load_ext_is_lazy() -> None:
    # %load_ext polos_nb (no journal yet) must not import litellm, duckdb or anywidget itself
    # (the background warm-up does, after the load: tests/notebook/test_warm_up.py).
    import subprocess
    import sys
    import tempfile

    code = (
        "import sys\n"
        "from IPython.core.interactiveshell import InteractiveShell\n"
        "ip = InteractiveShell.instance()\n"
        "ip.run_line_magic('config', 'PolosMagics.warm_up = False')\n"
        "ip.run_line_magic('load_ext', 'polos_nb')\n"
        "heavy = [m for m in ('litellm', 'duckdb', 'anywidget', 'pandas') if m in sys.modules]\n"
        "assert heavy == [], heavy\n"
        "assert 'polos' in ip.magics_manager.magics['line']\n"
        "assert 'polos_agent' in ip.magics_manager.magics['cell']\n"
    )
    with tempfile.TemporaryDirectory() as tmp:
        env = {
            k: v
            for k, v in __import__("os").environ.items()
            if k not in ("POLOS_JOURNAL", "JPY_SESSION_NAME")
        }
        out = subprocess.run(
            [sys.executable, "-c", code], cwd=tmp, env=env, capture_output=True, text=True
        )
    assert out.returncode == 0, out.stderr
    assert out.stdout == ""


def test_the_package_is_marked_typed() -> None:
    """PEP 561: ``py.typed`` is in the package and declared as package data, so users'
    type checkers read polos_nb's annotations; the engine is type-checked strictly."""
    import tomllib
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    assert (root / "polos_nb" / "py.typed").is_file()
    config = tomllib.loads((root / "pyproject.toml").read_text())
    assert "py.typed" in config["tool"]["setuptools"]["package-data"]["polos_nb"]
    strict = [o for o in config["tool"]["mypy"]["overrides"] if "polos_nb.engine.*" in o["module"]]
    assert strict and strict[0]["disallow_untyped_defs"] and strict[0]["warn_return_any"]
    assert "polos_nb.contracts" in strict[0]["module"]

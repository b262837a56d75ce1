"""polos_nb: durable AI agents and workflows, journaled to DuckDB, inside your notebook.

```python
from polos_nb import PolosClient, workflow, WorkflowContext

@workflow
async def greet(ctx: WorkflowContext, payload: dict) -> str:
    name = await ctx.step.run("lookup", lambda: payload["name"].title())
    return f"Hello, {name}!"

client = PolosClient()
print(await greet.run(client, {"name": "ada"}))

agent = Agent(id="helper", provider="openai", model="gpt-4o-mini", tools=[...])
print((await agent.run(client, "Hi!")).result)     # every LLM and tool call is a step
```
"""

from polos_nb._secrets import register as register_secret
from polos_nb.agents import (
    Agent,
    AgentConfig,
    AgentResult,
    AgentRunConfig,
    AgentStep,
    AgentStreamHandle,
    CompactionConfig,
    ExecutedToolConfig,
    GuardrailContext,
    GuardrailResult,
    HasTextConfig,
    HookAction,
    HookContext,
    HookResult,
    MaxStepsConfig,
    MaxTokensConfig,
    StopCondition,
    StopConditionContext,
    StreamResult,
    ToolResult,
    executed_tool,
    guardrail,
    has_text,
    hook,
    max_steps,
    max_tokens,
    stop_condition,
)
from polos_nb.channels import (
    Channel,
    ChannelContext,
    ChannelOutputMode,
    SlackChannel,
    SlackChannelConfig,
    SuspendNotification,
)
from polos_nb.engine import (
    BatchEventPayload,
    BatchStepResult,
    BatchWorkflowInput,
    EventData,
    EventPayload,
    ExecutionHandle,
    ExecutionInfo,
    Polos,
    PolosClient,
    Queue,
    QueueStatus,
    RetryPolicy,
    ScheduleInfo,
    SchedulePayload,
    StreamEvent,
    Worker,
    Workflow,
    WorkflowContext,
    WorkflowState,
    events,
    get_all_workflows,
    get_workflow,
    queue,
    schedules,
    workflow,
)
from polos_nb.errors import (
    AgentError,
    ApprovalPendingError,
    ApprovalValidationError,
    ChannelError,
    ChildWorkflowError,
    DuplicateStepKeyError,
    ExecutionBlockedError,
    ExecutionCancelledError,
    ExecutionFailedError,
    ExecutionNotFoundError,
    GuardrailFailedError,
    HookFailedError,
    JournalCorruptError,
    JournalError,
    JournalLockedError,
    JournalUnavailableError,
    JournalVersionError,
    LLMError,
    LocalModelUnavailableError,
    ModelRequestBlockedError,
    NonDeterminismError,
    NotAClientError,
    OutputValidationError,
    PayloadValidationError,
    PolosError,
    ResumeError,
    SandboxError,
    SandboxFileError,
    SandboxFileNotFoundError,
    SandboxPathError,
    SerializationError,
    StepExecutionError,
    StepTimeoutError,
    UnresolvedClassError,
    UserError,
    WaitTimeoutError,
    WorkflowNotFoundError,
    WorkflowTimeoutError,
)
from polos_nb.llm import ToolCall, ToolCallFunction, Usage
from polos_nb.notebook import PendingApproval, approval_form, approve, pending_approvals
from polos_nb.runtime.batch import batch_agent_invoke, batch_invoke
from polos_nb.sandbox import (
    DockerConfig,
    DockerEnvironmentConfig,
    E2BEnvironmentConfig,
    EnvironmentInfo,
    ExecOptions,
    ExecResult,
    ExecToolConfig,
    ExecutionEnvironment,
    GlobOptions,
    GrepMatch,
    GrepOptions,
    LocalEnvironment,
    LocalEnvironmentConfig,
    ManagedSandbox,
    SandboxManager,
    SandboxToolsConfig,
    sandbox_tools,
)
from polos_nb.tools import (
    ApprovalRequired,
    AskUserField,
    AskUserFieldOption,
    AskUserInput,
    Tool,
    ToolApproval,
    ToolRetry,
    WebSearchFunction,
    WebSearchOptions,
    WebSearchResult,
    WebSearchResultItem,
    WebSearchToolConfig,
    create_ask_user_tool,
    create_web_search_tool,
    tool,
)

__version__ = "0.1.0"

AgentContext = WorkflowContext
"""Upstream's name for the context an agent's code gets: here the same class."""
Step = AgentStep
"""Upstream's top-level name for one step of an agent run (``AgentStep``); ``ctx.step``'s
class is ``polos_nb.core.step.Step``."""


def __getattr__(name: str) -> type:
    if name == "DockerEnvironment":  # needs the docker SDK: imported when first asked for
        from polos_nb import sandbox

        return sandbox.DockerEnvironment
    raise AttributeError(f"module 'polos_nb' has no attribute {name!r}")


def load_ipython_extension(ip: object) -> None:
    """``%load_ext polos_nb``: the magics, the completer, unfinished runs (see polos_nb.notebook)."""
    from polos_nb.notebook import load_ipython_extension as load

    load(ip)


def unload_ipython_extension(ip: object) -> None:
    """``%unload_ext polos_nb``."""
    from polos_nb.notebook import unload_ipython_extension as unload

    unload(ip)


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    """Jupyter server extension: ``jpserver_extensions = {"polos_nb": true}`` (see polos_nb.server)."""
    return [{"module": "polos_nb.server"}]


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    """The prebuilt JupyterLab extension inside the package (built from extension/)."""
    return [{"src": "labextension", "dest": "polos-nb"}]


__all__ = [
    "Agent",
    "AgentConfig",
    "AgentContext",
    "AgentError",
    "AgentResult",
    "AgentRunConfig",
    "AgentStep",
    "AgentStreamHandle",
    "ApprovalPendingError",
    "ApprovalRequired",
    "ApprovalValidationError",
    "AskUserField",
    "AskUserFieldOption",
    "AskUserInput",
    "BatchEventPayload",
    "BatchStepResult",
    "BatchWorkflowInput",
    "Channel",
    "ChannelContext",
    "ChannelError",
    "ChannelOutputMode",
    "ChildWorkflowError",
    "CompactionConfig",
    "DockerConfig",
    "DockerEnvironment",
    "DockerEnvironmentConfig",
    "DuplicateStepKeyError",
    "E2BEnvironmentConfig",
    "EnvironmentInfo",
    "EventData",
    "EventPayload",
    "ExecOptions",
    "ExecResult",
    "ExecToolConfig",
    "ExecutedToolConfig",
    "ExecutionBlockedError",
    "ExecutionCancelledError",
    "ExecutionEnvironment",
    "ExecutionFailedError",
    "ExecutionHandle",
    "ExecutionInfo",
    "ExecutionNotFoundError",
    "GlobOptions",
    "GrepMatch",
    "GrepOptions",
    "GuardrailContext",
    "GuardrailFailedError",
    "GuardrailResult",
    "HasTextConfig",
    "HookAction",
    "HookContext",
    "HookFailedError",
    "HookResult",
    "JournalCorruptError",
    "JournalError",
    "JournalLockedError",
    "JournalUnavailableError",
    "JournalVersionError",
    "LLMError",
    "LocalEnvironment",
    "LocalEnvironmentConfig",
    "LocalModelUnavailableError",
    "ManagedSandbox",
    "MaxStepsConfig",
    "MaxTokensConfig",
    "ModelRequestBlockedError",
    "NonDeterminismError",
    "NotAClientError",
    "OutputValidationError",
    "PayloadValidationError",
    "PendingApproval",
    "Polos",
    "PolosClient",
    "PolosError",
    "Queue",
    "QueueStatus",
    "ResumeError",
    "RetryPolicy",
    "SandboxError",
    "SandboxFileError",
    "SandboxFileNotFoundError",
    "SandboxManager",
    "SandboxPathError",
    "SandboxToolsConfig",
    "ScheduleInfo",
    "SchedulePayload",
    "SerializationError",
    "SlackChannel",
    "SlackChannelConfig",
    "Step",
    "StepExecutionError",
    "StepTimeoutError",
    "StopCondition",
    "StopConditionContext",
    "StreamEvent",
    "StreamResult",
    "SuspendNotification",
    "Tool",
    "ToolApproval",
    "ToolCall",
    "ToolCallFunction",
    "ToolResult",
    "ToolRetry",
    "UnresolvedClassError",
    "Usage",
    "UserError",
    "WaitTimeoutError",
    "WebSearchFunction",
    "WebSearchOptions",
    "WebSearchResult",
    "WebSearchResultItem",
    "WebSearchToolConfig",
    "Worker",
    "Workflow",
    "WorkflowContext",
    "WorkflowNotFoundError",
    "WorkflowState",
    "WorkflowTimeoutError",
    "__version__",
    "approval_form",
    "approve",
    "batch_agent_invoke",
    "batch_invoke",
    "create_ask_user_tool",
    "create_web_search_tool",
    "events",
    "executed_tool",
    "get_all_workflows",
    "get_workflow",
    "guardrail",
    "has_text",
    "hook",
    "max_steps",
    "max_tokens",
    "pending_approvals",
    "queue",
    "register_secret",
    "sandbox_tools",
    "schedules",
    "stop_condition",
    "tool",
    "workflow",
]

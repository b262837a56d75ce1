"""Stable names for polos_nb's classes in the journal.

Typed JSON (``polos_nb._serde``) names the class of a journaled model as
``module:Qualname``. For polos_nb's own classes that name is the *public* one, the
package that exports the class (``polos_nb:EventPayload``, ``polos_nb.llm:LLMResponse``),
never the private module that defines it, so moving code between private modules never
makes a journal undecodable.

Journals written before schema 7 named classes by their private modules.
:data:`RENAMED` maps each of those names to its public one; migration 7 rewrites the
stored names, and decoding consults the table too (a copy of an old journal decodes
even before it is migrated). Never edit an entry: add new ones when a public class moves.
"""

from __future__ import annotations

__all__ = ["PUBLIC_PACKAGES", "RENAMED"]

PUBLIC_PACKAGES = (
    "polos_nb",
    "polos_nb.engine",
    "polos_nb.agents",
    "polos_nb.llm",
    "polos_nb.tools",
    "polos_nb.sandbox",
)
"""Where a class's public name is looked for, in this order."""

RENAMED: dict[str, str] = {
    "polos_nb.agents._results:AgentResult": "polos_nb:AgentResult",
    "polos_nb.agents._results:AgentStep": "polos_nb:AgentStep",
    "polos_nb.agents._results:StopConditionContext": "polos_nb:StopConditionContext",
    "polos_nb.agents._results:ToolResult": "polos_nb:ToolResult",
    "polos_nb.engine._admission:QueueStatus": "polos_nb:QueueStatus",
    "polos_nb.engine._context:WorkflowState": "polos_nb:WorkflowState",
    "polos_nb.engine._journal_tools:ReplayReport": "polos_nb.engine:ReplayReport",
    "polos_nb.engine._journal_tools:StepComparison": "polos_nb.engine:StepComparison",
    "polos_nb.engine._policy:Queue": "polos_nb:Queue",
    "polos_nb.engine._policy:RetryPolicy": "polos_nb:RetryPolicy",
    "polos_nb.engine._schedules:ScheduleInfo": "polos_nb:ScheduleInfo",
    "polos_nb.engine._schedules:SchedulePayload": "polos_nb:SchedulePayload",
    "polos_nb.engine._triggers:BatchEventPayload": "polos_nb:BatchEventPayload",
    "polos_nb.engine._types:BatchStepResult": "polos_nb:BatchStepResult",
    "polos_nb.engine._types:BatchWorkflowInput": "polos_nb:BatchWorkflowInput",
    "polos_nb.engine._types:EventData": "polos_nb:EventData",
    "polos_nb.engine._types:EventPayload": "polos_nb:EventPayload",
    "polos_nb.engine._types:ExecutionHandle": "polos_nb:ExecutionHandle",
    "polos_nb.engine._types:ExecutionInfo": "polos_nb:ExecutionInfo",
    "polos_nb.engine._types:StreamEvent": "polos_nb:StreamEvent",
    "polos_nb.llm._types:LLMResponse": "polos_nb.llm:LLMResponse",
    "polos_nb.llm._types:ToolCall": "polos_nb:ToolCall",
    "polos_nb.llm._types:ToolCallFunction": "polos_nb:ToolCallFunction",
    "polos_nb.llm._types:Usage": "polos_nb:Usage",
    "polos_nb.notebook._approve:PendingApproval": "polos_nb:PendingApproval",
    "polos_nb.sandbox._types:DockerEnvironmentConfig": "polos_nb:DockerEnvironmentConfig",
    "polos_nb.sandbox._types:E2BEnvironmentConfig": "polos_nb:E2BEnvironmentConfig",
    "polos_nb.sandbox._types:EnvironmentInfo": "polos_nb:EnvironmentInfo",
    "polos_nb.sandbox._types:ExecOptions": "polos_nb:ExecOptions",
    "polos_nb.sandbox._types:ExecResult": "polos_nb:ExecResult",
    "polos_nb.sandbox._types:ExecToolConfig": "polos_nb:ExecToolConfig",
    "polos_nb.sandbox._types:GlobOptions": "polos_nb:GlobOptions",
    "polos_nb.sandbox._types:GrepMatch": "polos_nb:GrepMatch",
    "polos_nb.sandbox._types:GrepOptions": "polos_nb:GrepOptions",
    "polos_nb.sandbox._types:LocalEnvironmentConfig": "polos_nb:LocalEnvironmentConfig",
    "polos_nb.sandbox._types:SandboxToolsConfig": "polos_nb:SandboxToolsConfig",
    "polos_nb.tools._ask_user:AskUserField": "polos_nb:AskUserField",
    "polos_nb.tools._ask_user:AskUserFieldOption": "polos_nb:AskUserFieldOption",
    "polos_nb.tools._ask_user:AskUserInput": "polos_nb:AskUserInput",
    "polos_nb.tools._web_search:WebSearchInput": "polos_nb.tools:WebSearchInput",
    "polos_nb.tools._web_search:WebSearchOptions": "polos_nb.tools:WebSearchOptions",
    "polos_nb.tools._web_search:WebSearchResult": "polos_nb.tools:WebSearchResult",
    "polos_nb.tools._web_search:WebSearchResultItem": "polos_nb.tools:WebSearchResultItem",
    "polos_nb.tools._web_search:WebSearchToolConfig": "polos_nb:WebSearchToolConfig",
}
"""Private ``module:Qualname`` names journals up to schema 4 hold → their public names."""

"""Tools an agent's model can call: ``@tool``, ``ask_user`` and ``web_search``.

This package imports only the foundation; the agent layer runs tools as engine steps.
"""

from ._approval import approval_answer, approval_granted
from ._ask_user import (
    AskUserField,
    AskUserFieldOption,
    AskUserInput,
    AskUserTool,
    create_ask_user_tool,
)
from ._tool import ApprovalRequired, Tool, ToolApproval, ToolArgumentsError, ToolRetry, tool
from ._web_search import (
    WebSearchFunction,
    WebSearchInput,
    WebSearchOptions,
    WebSearchResult,
    WebSearchResultItem,
    WebSearchToolConfig,
    create_web_search_tool,
)

__all__ = [
    "ApprovalRequired",
    "AskUserField",
    "AskUserFieldOption",
    "AskUserInput",
    "AskUserTool",
    "Tool",
    "ToolApproval",
    "ToolArgumentsError",
    "ToolRetry",
    "WebSearchFunction",
    "WebSearchInput",
    "WebSearchOptions",
    "WebSearchResult",
    "WebSearchResultItem",
    "WebSearchToolConfig",
    "approval_answer",
    "approval_granted",
    "create_ask_user_tool",
    "create_web_search_tool",
    "tool",
]

"""``polos.tools.web_search`` under its upstream path."""

from ._web_search import (
    WebSearchFunction,
    WebSearchOptions,
    WebSearchResult,
    WebSearchResultItem,
    WebSearchToolConfig,
    create_web_search_tool,
)

__all__ = [
    "WebSearchFunction",
    "WebSearchOptions",
    "WebSearchResult",
    "WebSearchResultItem",
    "WebSearchToolConfig",
    "create_web_search_tool",
]

"""``web_search``: a tool that queries an HTTP search API (Tavily's protocol by default)."""

from __future__ import annotations

import inspect
import os
from collections.abc import Awaitable, Callable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from polos_nb import _secrets
from polos_nb.config import StrictConfig

from ._tool import Tool

__all__ = [
    "WebSearchFunction",
    "WebSearchInput",
    "WebSearchOptions",
    "WebSearchResult",
    "WebSearchResultItem",
    "WebSearchToolConfig",
    "create_web_search_tool",
]


class WebSearchOptions(BaseModel):
    """Options passed to a custom ``search`` function."""

    max_results: int = 5
    topic: str = "general"


class WebSearchResultItem(BaseModel):
    title: str = ""
    url: str = ""
    content: str = ""
    score: float | None = None
    published_date: str | None = None


class WebSearchResult(BaseModel):
    """What a search returns: the query, an optional short answer and the hits."""

    query: str
    answer: str | None = None
    results: list[WebSearchResultItem] = Field(default_factory=list)


class WebSearchInput(BaseModel):
    """What the model sends."""

    query: str = Field(description="What to search for")
    max_results: int | None = Field(
        default=None, ge=1, le=20, description="How many results (default 5)"
    )
    topic: Literal["general", "news"] | None = Field(default=None, description="general or news")


SearchFn = Callable[[str, WebSearchOptions], "WebSearchResult | Awaitable[WebSearchResult]"]
WebSearchFunction = SearchFn
"""A custom ``search`` function: ``(query, options) -> WebSearchResult`` (sync or async)."""


class WebSearchToolConfig(StrictConfig):
    """How ``web_search`` searches.

    ``base_url`` + ``/search`` receives a Tavily-style JSON POST; the key is taken from
    ``api_key`` or, at call time, from ``$TAVILY_API_KEY``. Pass ``search`` (a sync or
    async ``(query, WebSearchOptions) -> WebSearchResult``) to use another engine.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True, extra="forbid")

    search: Any = None
    max_results: int = 5
    topic: str = "general"
    tool_id: str = "web_search"
    approval: Literal["always", "none"] | None = None
    api_key: str | None = None
    search_depth: Literal["basic", "advanced"] = "basic"
    include_answer: bool = True
    include_raw_content: bool = False
    base_url: str = "https://api.tavily.com"
    timeout: float = 30.0


async def _http_search(
    config: WebSearchToolConfig, query: str, options: WebSearchOptions
) -> WebSearchResult:
    import httpx

    key = config.api_key or os.environ.get("TAVILY_API_KEY")
    _secrets.register(key)  # an API answer that echoes it is journaled without it
    if not key:
        raise RuntimeError(
            "web_search has no API key: set TAVILY_API_KEY or WebSearchToolConfig(api_key=...)."
        )
    body = {
        "query": query,
        "max_results": options.max_results,
        "topic": options.topic,
        "search_depth": config.search_depth,
        "include_answer": config.include_answer,
        "include_raw_content": config.include_raw_content,
    }
    async with httpx.AsyncClient(timeout=config.timeout) as http:
        response = await http.post(
            config.base_url.rstrip("/") + "/search",
            json=body,
            headers={"Authorization": f"Bearer {key}"},
        )
    if response.status_code != 200:
        raise RuntimeError(
            f"search API answered HTTP {response.status_code}: {response.text[:300]}"
        )
    data = response.json()
    return WebSearchResult(
        query=query,
        answer=data.get("answer"),
        results=[
            WebSearchResultItem(
                **{k: v for k, v in r.items() if k in WebSearchResultItem.model_fields}
            )
            for r in data.get("results", [])
        ],
    )


def create_web_search_tool(config: WebSearchToolConfig | None = None) -> Tool:
    """A tool that searches the web and returns ``{query, answer, results: [...]}``.

    ```python
    search = create_web_search_tool(WebSearchToolConfig(max_results=3))
    agent = Agent(..., tools=[search])
    ```
    """
    cfg = config or WebSearchToolConfig()
    _secrets.register(cfg.api_key)

    async def web_search(input: WebSearchInput) -> dict[str, Any]:
        options = WebSearchOptions(
            max_results=input.max_results or cfg.max_results, topic=input.topic or cfg.topic
        )
        if cfg.search is not None:
            found = cfg.search(input.query, options)
            if inspect.isawaitable(found):
                found = await found
        else:
            found = await _http_search(cfg, input.query, options)
        result = (
            found if isinstance(found, WebSearchResult) else WebSearchResult.model_validate(found)
        )
        return result.model_dump(mode="json")

    return Tool(
        web_search,
        id=cfg.tool_id,
        description="Search the web for current information. Returns a short answer and the top results.",
        approval=cfg.approval,
    )

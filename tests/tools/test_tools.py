"""@tool schemas and argument validation, and the web-search tool against a local HTTP server."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any, ClassVar

import pytest
from pydantic import BaseModel, Field

from polos_nb import (
    Agent,
    PolosClient,
    UserError,
    WebSearchToolConfig,
    create_web_search_tool,
    tool,
)
from polos_nb.testing import FakeToolCall, ScriptedModel
from polos_nb.tools import ToolArgumentsError
from tests.agents.helpers import uid


class Address(BaseModel):
    street: str
    zip: str = Field(description="postal code")


class Order(BaseModel):
    item: str
    qty: int = Field(ge=1)
    ship_to: Address


def test_schema_from_a_pydantic_input() -> None:
    @tool(description="Place an order")
    async def place(ctx, input: Order) -> str:
        return "ok"

    spec = place.definition()
    assert spec["type"] == "function" and spec["function"]["name"] == "place"
    params = spec["function"]["parameters"]
    assert "$defs" not in json.dumps(params)  # refs are inlined for every provider
    assert params["properties"]["ship_to"]["properties"]["zip"]["description"] == "postal code"
    assert sorted(params["required"]) == ["item", "qty", "ship_to"]


def test_schema_from_plain_parameters_and_docstring() -> None:
    @tool
    def convert(amount: float, currency: str = "EUR") -> float:
        """Convert an amount.

        More details the model does not need."""
        return amount

    assert convert.description == "Convert an amount."
    assert convert.parameters["required"] == ["amount"]
    assert convert.parameters["properties"]["currency"]["default"] == "EUR"
    assert convert(2.0) == 2.0  # still callable directly


def test_argument_errors_are_messages_for_the_model() -> None:
    @tool(description="x")
    def f(input: Order) -> str:
        return "ok"

    with pytest.raises(ToolArgumentsError, match="not valid JSON"):
        f.parse_arguments('{"item": ')
    with pytest.raises(ToolArgumentsError, match="must be a JSON object"):
        f.parse_arguments("[1, 2]")
    with pytest.raises(
        ToolArgumentsError, match=r"qty: Input should be greater than or equal to 1"
    ):
        f.parse_arguments({"item": "a", "qty": 0, "ship_to": {"street": "s", "zip": "1"}})
    with pytest.raises(ToolArgumentsError, match=r"ship_to.zip: Field required"):
        f.parse_arguments({"item": "a", "qty": 1, "ship_to": {"street": "s"}})
    assert (
        f.parse_arguments({"item": "a", "qty": 1, "ship_to": {"street": "s", "zip": "1"}}).qty == 1
    )
    with pytest.raises(UserError, match="tool id"):
        tool(id="bad id!")(lambda: None)


class _SearchAPI(BaseHTTPRequestHandler):
    requests: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).requests.append(
            {"path": self.path, "auth": self.headers.get("Authorization"), "body": body}
        )
        if body["query"] == "fail":
            self.send_response(500)
            self.end_headers()
            self.wfile.write(b"boom")
            return
        payload = {
            "answer": f"answer to {body['query']}",
            "results": [
                {
                    "title": f"hit {i}",
                    "url": f"https://example.test/{i}",
                    "content": "text",
                    "score": 0.9 - i / 10,
                    "extra": "ignored",
                }
                for i in range(body["max_results"])
            ],
        }
        data = json.dumps(payload).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def search_server() -> Iterator[str]:
    _SearchAPI.requests = []
    server = HTTPServer(("127.0.0.1", 0), _SearchAPI)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


async def test_web_search_tool_over_http(client: PolosClient, search_server: str) -> None:
    search = create_web_search_tool(
        WebSearchToolConfig(base_url=search_server, api_key="k-123", max_results=2)
    )
    model = ScriptedModel(
        uid("m"),
        [
            [
                FakeToolCall("web_search", {"query": "durable agents"}, id="s1"),
                FakeToolCall("web_search", {"query": "fail"}, id="s2"),
            ],
            "Found it.",
        ],
    )
    agent = Agent(id=uid("search"), provider="fake", model=model, tools=[search])
    result = await agent.run(client, "search")
    ok, failed = result.tool_results
    assert ok.result["answer"] == "answer to durable agents"
    assert [r["title"] for r in ok.result["results"]] == ["hit 0", "hit 1"]
    assert failed.status == "failed" and "HTTP 500" in failed.error
    req = next(r for r in _SearchAPI.requests if r["body"]["query"] == "durable agents")
    assert req["path"] == "/search" and req["auth"] == "Bearer k-123"
    assert req["body"]["max_results"] == 2 and req["body"]["search_depth"] == "basic"


async def test_web_search_without_key_and_with_custom_search(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from polos_nb.tools import WebSearchOptions, WebSearchResult

    monkeypatch.delenv("TAVILY_API_KEY", raising=False)
    plain = create_web_search_tool()
    with pytest.raises(RuntimeError, match="no API key"):
        await plain.invoke(None, plain.parse_arguments({"query": "x"}))

    async def fake_search(query: str, options: WebSearchOptions) -> WebSearchResult:
        return WebSearchResult(query=query, answer=f"{options.max_results}/{options.topic}")

    custom = create_web_search_tool(WebSearchToolConfig(search=fake_search))
    out = await custom.invoke(
        None, custom.parse_arguments({"query": "q", "max_results": 3, "topic": "news"})
    )
    assert out == {"query": "q", "answer": "3/news", "results": []}

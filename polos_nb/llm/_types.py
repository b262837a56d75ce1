"""The provider-neutral values an LLM call produces: tool calls, usage, the response."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, Field, model_validator

__all__ = ["LLMResponse", "ToolCall", "ToolCallFunction", "Usage"]


class ToolCallFunction(BaseModel):
    """The function part of a tool call, as upstream Polos (and OpenAI) shape it."""

    name: str
    arguments: str = "{}"


class ToolCall(BaseModel):
    """A tool call the model asked for. ``arguments`` is the raw JSON text the model wrote.

    Upstream Polos's shape works too: ``call.function.name``, ``call.function.arguments``,
    ``call.type`` (``"function"``) and ``call.call_id``; ``ToolCall(id=...,
    function=ToolCallFunction(name=..., arguments=...))`` and
    ``ToolCall.model_validate({"id": ..., "type": "function", "function": {...}})``
    build one.
    """

    id: str
    name: str
    arguments: str = "{}"

    @model_validator(mode="before")
    @classmethod
    def _upstream_shape(cls, data: Any) -> Any:
        if isinstance(data, dict) and "function" in data:
            fn = data["function"]
            if isinstance(fn, ToolCallFunction):
                fn = fn.model_dump()
            if not isinstance(fn, dict):
                raise ValueError("a tool call's 'function' must be {'name': ..., 'arguments': ...}")
            rest = {k: v for k, v in data.items() if k not in ("function", "type", "call_id")}
            arguments = fn.get("arguments", "{}")
            if not isinstance(arguments, str):
                arguments = json.dumps(arguments)
            return {**rest, "name": fn.get("name"), "arguments": arguments}
        return data

    @property
    def function(self) -> ToolCallFunction:
        """Upstream's view: ``call.function.name`` and ``call.function.arguments``."""
        return ToolCallFunction(name=self.name, arguments=self.arguments)

    @property
    def type(self) -> str:
        return "function"

    @property
    def call_id(self) -> str:
        """Upstream keeps a second id for the provider; here it is the same as ``id``."""
        return self.id

    def to_event(self) -> dict[str, Any]:
        """The tool call as upstream's ``tool_call`` event carries it."""
        return {
            "id": self.id,
            "call_id": self.id,
            "type": "function",
            "function": {"name": self.name, "arguments": self.arguments},
        }

    def to_message(self) -> dict[str, Any]:
        """The OpenAI chat-format entry of an assistant message's ``tool_calls``."""
        return {
            "id": self.id,
            "type": "function",
            "function": {"name": self.name, "arguments": self.arguments},
        }


class Usage(BaseModel):
    """Token counts (and cost in USD where litellm knows the model's price).

    Usages add up: ``total = a + b``. ``cost_usd`` is ``None`` when no price is known.
    """

    input_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int = 0
    cache_read_input_tokens: int = 0
    cache_creation_input_tokens: int = 0
    cost_usd: float | None = None
    requests: int = 0

    def __add__(self, other: Usage) -> Usage:
        cost: float | None
        if self.cost_usd is None and other.cost_usd is None:
            cost = None
        else:
            cost = (self.cost_usd or 0.0) + (other.cost_usd or 0.0)
        return Usage(
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            total_tokens=self.total_tokens + other.total_tokens,
            cache_read_input_tokens=self.cache_read_input_tokens + other.cache_read_input_tokens,
            cache_creation_input_tokens=self.cache_creation_input_tokens
            + other.cache_creation_input_tokens,
            cost_usd=cost,
            requests=self.requests + other.requests,
        )


class LLMResponse(BaseModel):
    """One assistant turn: its text, the tool calls it asked for, and what it cost.

    This is what an agent journals per LLM call: only the new turn, never the whole
    transcript, so the journal grows linearly with the conversation.
    """

    content: str | None = None
    tool_calls: list[ToolCall] = Field(default_factory=list)
    usage: Usage = Field(default_factory=Usage)
    model: str = ""
    finish_reason: str | None = None

    def to_message(self) -> dict[str, Any]:
        """The assistant message in OpenAI chat format, ready to append to a transcript."""
        message: dict[str, Any] = {"role": "assistant", "content": self.content}
        if self.tool_calls:
            message["tool_calls"] = [call.to_message() for call in self.tool_calls]
        return message

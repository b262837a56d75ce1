"""What an agent run returns: ``AgentResult`` with its steps, tool results and usage."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, Field, PlainSerializer, field_validator

from polos_nb import _serde
from polos_nb.llm import ToolCall, Usage

__all__ = ["AgentResult", "AgentStep", "AnyValue", "StopConditionContext", "ToolResult"]


def _decode(value: Any) -> Any:
    return _serde.decode(value, strict=False) if isinstance(value, (dict, list)) else value


AnyValue = Annotated[
    Any,
    BeforeValidator(_decode),
    PlainSerializer(lambda v: _serde.encode(v), when_used="json"),
]
"""Any value, kept exactly through the journal (a Pydantic object comes back as itself)."""


class ToolResult(BaseModel):
    """The outcome of one tool call: ``status`` is ``"completed"`` or ``"failed"``.

    A failed call still has a result the model saw (``error``); a falsy ``result``
    (``0``, ``""``, ``[]``) is kept as is.
    """

    tool_name: str
    tool_call_id: str
    status: str
    arguments: AnyValue = None
    result: AnyValue = None
    error: str | None = None
    step: int = 0


class AgentStep(BaseModel):
    """One LLM call of a run and the tool calls it led to."""

    step: int
    content: str | None = None
    tool_calls: list[ToolCall] = Field(default_factory=list)
    tool_results: list[ToolResult] = Field(default_factory=list)
    usage: Usage = Field(default_factory=Usage)

    @field_validator("usage", mode="before")
    @classmethod
    def _no_usage(cls, value: Any) -> Any:
        """``usage=None`` (upstream's "not reported") is zero usage."""
        return Usage() if value is None else value


class StopConditionContext(BaseModel):
    """What a stop condition sees after each step: every step so far and the run's ids.

    ``StopConditionContext(steps=[AgentStep(step=1, content="done")])`` builds one by hand
    (to test a condition); the ids are then ``None``.
    """

    steps: list[AgentStep] = Field(default_factory=list)
    agent_id: str | None = None
    agent_run_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The context as JSON data."""
        return self.model_dump(mode="json")

    @classmethod
    def from_dict(cls, data: Any) -> StopConditionContext:
        """A context from :meth:`to_dict`'s data (a context is returned as is)."""
        if isinstance(data, StopConditionContext):
            return data
        if isinstance(data, dict):
            return cls.model_validate(data)
        raise TypeError(f"Cannot create StopConditionContext from {type(data).__name__}.")

    @property
    def usage(self) -> Usage:
        total = Usage()
        for step in self.steps:
            total = total + step.usage
        return total


class AgentResult(BaseModel):
    """The outcome of an agent run.

    Attributes:
        result: the final text, or an ``output_schema`` instance. When the run stopped
            early (a stop condition or the step cap), ``stop_reason`` says so and
            ``result`` is the last text the model wrote (possibly ``""``), never a
            silent ``None`` for a completed answer.
        stop_reason: ``"completed"``, ``"stop_condition:<name>"`` or ``"max_steps_cap"``.
        total_steps: number of agent steps (LLM turns).
        llm_calls: number of LLM calls, retries included.
        messages: the conversation (without the system prompt): hand it to another agent.
    """

    agent_run_id: str
    agent_id: str = ""
    result: AnyValue = None
    result_schema: str | None = None
    stop_reason: str = "completed"
    tool_results: list[ToolResult] = Field(default_factory=list)
    steps: list[AgentStep] = Field(default_factory=list)
    total_steps: int = 0
    llm_calls: int = 0
    usage: Usage = Field(default_factory=Usage)
    messages: list[dict[str, Any]] = Field(default_factory=list)
    conversation_id: str | None = None

    @property
    def completed(self) -> bool:
        """True when the model gave its final answer (no stop condition or cap cut it short)."""
        return self.stop_reason == "completed"

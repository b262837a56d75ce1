"""Guardrails: checks on an agent's input and on every model reply.

```python
from polos_nb import guardrail, GuardrailContext, GuardrailResult

@guardrail
def no_secrets(ctx, g: GuardrailContext) -> GuardrailResult:
    if "password" in (g.content or "").lower():
        return GuardrailResult.retry("Do not reveal passwords.")
    return GuardrailResult.continue_with()

agent = Agent(..., guardrails=[no_secrets], input_guardrails=[...])
```

Output guardrails (``guardrails=``) run after every model reply, in order, each as a
journaled step (``guardrail:<step>:<index>``, retries ``...#retry<k>``):

- ``continue_with()`` passes; ``continue_with(modified_content=..., modified_tool_calls=...)``
  changes the reply (``modified_tool_calls=[]`` runs no tools); later guardrails see the change;
- ``fail(message)`` asks the model again with the message as feedback, under a new step
  key, at most ``guardrail_max_retries`` times, then fails the run with
  :class:`GuardrailFailedError` (upstream Polos's documented loop; with
  ``guardrail_max_retries=0`` the first failure fails the run);
- ``retry(feedback)`` is the same as ``fail(feedback)``.

Input guardrails (``input_guardrails=``) see the prompt as ``content`` before the first
model call: ``modified_content`` replaces it, ``fail`` (or ``retry``) fails the run.

A plain string is a guardrail too: the agent's model judges the reply against it (a
JSON ``{passed, reason}`` answer); a failed judgement retries with the reason.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from polos_nb.errors import SignatureError, UserError
from polos_nb.llm import ToolCall

from ._results import AgentStep
from .hooks import AgentConfig, HookAction, HookResult, _AsDict

__all__ = ["Guardrail", "GuardrailContext", "GuardrailResult", "guardrail"]


class GuardrailContext(_AsDict):
    """What a guardrail checks: the reply (or the prompt) and the tool calls it asks for.

    ``agent_workflow_id`` is upstream's name for the agent's id (``agent_id``); give either
    and both read it, e.g. ``GuardrailContext(content="...", agent_workflow_id="my_agent")``
    to test a guardrail by hand. ``llm_config`` is the agent's :class:`AgentConfig`
    (empty names when built by hand without one).
    """

    kind: Literal["input", "output"] = "output"
    content: str | None = None
    tool_calls: list[ToolCall] = Field(default_factory=list)
    agent_id: str = ""
    agent_workflow_id: str = ""
    agent_run_id: str = ""
    session_id: str | None = None
    user_id: str | None = None
    conversation_id: str | None = None
    step: int = 0
    attempt: int = 0
    steps: list[AgentStep] = Field(default_factory=list)
    llm_config: AgentConfig = Field(
        default_factory=lambda: AgentConfig(name="", provider="", model="")
    )

    @field_validator("tool_calls", mode="before")
    @classmethod
    def _no_calls(cls, value: Any) -> Any:
        # upstream's type is ``list[ToolCall] | None``: None (a reply without tool calls)
        # reads as no calls, so ``for call in g.tool_calls`` always works here
        return [] if value is None else value

    @field_validator("agent_id", "agent_workflow_id", "agent_run_id", mode="before")
    @classmethod
    def _no_id(cls, value: Any) -> Any:
        return "" if value is None else value  # upstream's ids may be given as None

    @model_validator(mode="after")
    def _one_agent_id(self) -> GuardrailContext:
        if not self.agent_id:
            self.agent_id = self.agent_workflow_id
        elif not self.agent_workflow_id:
            self.agent_workflow_id = self.agent_id
        return self


class GuardrailResult(HookResult):
    """A guardrail's decision: ``continue_with(...)``, ``retry(feedback)`` or ``fail(message)``.

    ``modified_llm_config`` (upstream's field) is accepted and kept, but not applied: the
    agent's settings do not change during a run (upstream's SDK does not apply it either).
    """

    modified_content: str | None = None
    modified_tool_calls: list[ToolCall] | None = None
    modified_llm_config: AgentConfig | None = None

    @classmethod
    def continue_with(cls, **modifications: Any) -> GuardrailResult:
        """Pass, optionally with ``modified_content=`` and/or ``modified_tool_calls=``."""
        return cls(action=HookAction.CONTINUE, **modifications)

    @classmethod
    def fail(cls, message: str) -> GuardrailResult:
        """Reject the reply: the model tries again with ``message`` as feedback, at most
        ``guardrail_max_retries`` times; then the run fails with :class:`GuardrailFailedError`.

        On the agent's input (``input_guardrails``) it fails the run at once.
        """
        return cls(action=HookAction.FAIL, error_message=message)

    @classmethod
    def retry(cls, feedback: str) -> GuardrailResult:
        """Same as :meth:`fail`: ask the model again, telling it ``feedback``."""
        return cls(action=HookAction.RETRY, error_message=feedback)


class Guardrail:
    """A function ``(ctx, guardrail_ctx) -> GuardrailResult | None`` or a rule in words."""

    def __init__(self, func: Callable[..., Any] | str, name: str | None = None) -> None:
        if isinstance(func, str):
            self.func: Callable[..., Any] | None = None
            self.rule: str | None = func
            self.name = name or "rule"
            return
        if not callable(func):
            raise SignatureError(
                f"Invalid guardrail type: {func!r} ({type(func).__name__}) is neither a function "
                "(ctx, guardrail_ctx) nor a rule in words."
            )
        params = [
            p
            for p in inspect.signature(func).parameters.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        ]
        if len(params) != 2:
            raise SignatureError(
                f"A guardrail must have exactly 2 parameters (ctx, guardrail_ctx); "
                f"{getattr(func, '__name__', func)!r} takes {len(params)}."
            )
        self.func = func
        self.rule = None
        func_name: str = getattr(func, "__name__", "guardrail")
        self.name = name or func_name

    async def call(self, ctx: Any, gctx: GuardrailContext) -> GuardrailResult:
        assert self.func is not None
        value = self.func(ctx, gctx)
        if inspect.isawaitable(value):
            value = await value
        if value is None:
            return GuardrailResult()
        if isinstance(value, GuardrailResult):
            return value
        if isinstance(value, HookResult):
            return GuardrailResult(**value.model_dump())
        raise UserError(
            f"Guardrail {self.name!r} returned {type(value).__name__}; return a GuardrailResult."
        )

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self.func is None:
            raise UserError(
                f"Guardrail {self.name!r} is a rule in words; the agent's model judges it."
            )
        return self.func(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<Guardrail {self.name}>"


def guardrail(func: Callable[..., Any] | str | None = None) -> Any:
    """Make ``fn(ctx, guardrail_ctx)`` (or a rule in words) a guardrail.

    ``@guardrail`` and ``@guardrail()`` are the same; the guardrail stays callable as the
    function (``my_guardrail(ctx, guardrail_ctx)``).
    """
    if func is None:
        return guardrail
    return func if isinstance(func, Guardrail) else Guardrail(func)


def as_guardrails(value: Any) -> list[Guardrail]:
    if value is None:
        return []
    items = value if isinstance(value, (list, tuple)) else [value]
    return [guardrail(item) for item in items]

"""Stop conditions: when an agent stops before the model gives its final answer.

```python
from polos_nb import max_steps, max_tokens, MaxStepsConfig, MaxTokensConfig, stop_condition

stop_conditions = [max_steps(MaxStepsConfig(limit=15)), max_tokens(MaxTokensConfig(limit=50_000))]

@stop_condition
def called_submit(ctx: StopConditionContext) -> bool:
    return any(c.name == "submit" for s in ctx.steps for c in s.tool_calls)
```

They are checked after every step that ran tools, in order; the first that is true ends
the run with ``stop_reason="stop_condition:<name>"``. Combine them with ``|`` (either)
and ``&`` (both). They must be deterministic functions of the context: on replay they
are evaluated again against the journaled steps.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar

from pydantic import Field, model_validator

from polos_nb.config import StrictConfig
from polos_nb.errors import UserError

from ._results import StopConditionContext

__all__ = [
    "ExecutedToolConfig",
    "HasTextConfig",
    "MaxStepsConfig",
    "MaxTokensConfig",
    "StopCondition",
    "executed_tool",
    "has_text",
    "max_steps",
    "max_tokens",
    "stop_condition",
]


class StopCondition:
    """A named predicate over :class:`StopConditionContext` (sync or async)."""

    def __init__(
        self,
        func: Callable[[StopConditionContext], bool | Awaitable[bool]],
        name: str | None = None,
    ) -> None:
        self.func = func
        self.name = name or getattr(func, "__name__", "stop_condition")

    async def evaluate(self, ctx: StopConditionContext) -> bool:
        value = self.func(ctx)
        if inspect.isawaitable(value):
            value = await value
        return bool(value)

    def __or__(self, other: StopCondition) -> StopCondition:
        async def either(ctx: StopConditionContext) -> bool:
            return await self.evaluate(ctx) or await other.evaluate(ctx)

        return StopCondition(either, f"({self.name}|{other.name})")

    def __and__(self, other: StopCondition) -> StopCondition:
        async def both(ctx: StopConditionContext) -> bool:
            return await self.evaluate(ctx) and await other.evaluate(ctx)

        return StopCondition(both, f"({self.name}&{other.name})")

    def __repr__(self) -> str:
        return f"<StopCondition {self.name}>"


def stop_condition(func: Callable[..., Any]) -> Any:
    """Make ``fn(ctx)`` a stop condition, or ``fn(ctx, config)`` a factory of them.

    With a second (config) parameter, ``fn(config)`` returns the configured condition.
    """
    params = list(inspect.signature(func).parameters)
    if len(params) == 1:
        return StopCondition(func)
    if len(params) != 2:
        raise UserError(
            f"A stop condition takes (ctx) or (ctx, config); {func.__name__} takes {len(params)}."
        )

    def configure(config: Any = None, **kwargs: Any) -> StopCondition:
        return StopCondition(
            lambda ctx: func(ctx, config if config is not None else kwargs), func.__name__
        )

    configure.__name__ = func.__name__
    configure.__doc__ = func.__doc__
    return configure


class MaxStepsConfig(StrictConfig):
    """``limit``: the number of agent steps (LLM turns) after which the run stops.

    Upstream Polos calls it ``count``: ``MaxStepsConfig(count=10)`` is the same as
    ``MaxStepsConfig(limit=10)`` (``.count`` reads it too).
    """

    _aliases: ClassVar[dict[str, str]] = {"count": "limit"}

    limit: int = Field(default=10, ge=1)

    @model_validator(mode="before")
    @classmethod
    def _upstream_count(cls, data: object) -> object:
        return cls._apply_aliases(data) if isinstance(data, dict) else data

    @property
    def count(self) -> int:
        """Upstream's name for :attr:`limit`."""
        return self.limit


class MaxTokensConfig(StrictConfig):
    """``limit``: total tokens (input + output) after which the run stops."""

    limit: int


class ExecutedToolConfig(StrictConfig):
    """``tool_names``: stop once every one of these tools has been called."""

    tool_names: list[str]


class HasTextConfig(StrictConfig):
    """``texts``: stop once every one of these strings appears in the model's text."""

    texts: list[str]


def max_steps(config: MaxStepsConfig | None = None) -> StopCondition:
    """Stop after ``config.limit`` steps (default 10). Also lifts the default step cap."""
    limit = (config or MaxStepsConfig()).limit
    cond = StopCondition(lambda ctx: len(ctx.steps) >= limit, "max_steps")
    cond.max_steps_limit = limit  # type: ignore[attr-defined]
    return cond


def max_tokens(config: MaxTokensConfig) -> StopCondition:
    """Stop once the run has used ``config.limit`` tokens or more."""
    return StopCondition(lambda ctx: ctx.usage.total_tokens >= config.limit, "max_tokens")


def executed_tool(config: ExecutedToolConfig) -> StopCondition:
    """Stop once all of ``config.tool_names`` have been called."""
    wanted = set(config.tool_names)
    return StopCondition(
        lambda ctx: wanted <= {c.name for s in ctx.steps for c in s.tool_calls}, "executed_tool"
    )


def has_text(config: HasTextConfig) -> StopCondition:
    """Stop once all of ``config.texts`` appear in the model's text so far."""
    return StopCondition(
        lambda ctx: all(t in "".join(s.content or "" for s in ctx.steps) for t in config.texts),
        "has_text",
    )

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
import typing
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar

from pydantic import BaseModel, Field, model_validator

from polos_nb.config import StrictConfig
from polos_nb.errors import SignatureError

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
    """A named predicate over :class:`StopConditionContext` (sync or async).

    Calling it, ``cond(ctx)``, calls the function: a ``bool``, or an awaitable of one
    for an ``async def`` condition.
    """

    def __init__(
        self,
        func: Callable[[StopConditionContext], bool | Awaitable[bool]],
        name: str | None = None,
    ) -> None:
        self.func = func
        self.name = name or getattr(func, "__name__", "stop_condition")

    def __call__(self, ctx: StopConditionContext) -> bool | Awaitable[bool]:
        return self.func(ctx)

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


def _annotations(func: Callable[..., Any]) -> dict[str, Any]:
    """The parameters' annotations, resolved; one that does not resolve (a class local to
    a function, under ``from __future__ import annotations``) is left out, not judged."""
    try:
        return typing.get_type_hints(func)
    except Exception:
        raw = getattr(func, "__annotations__", {})
        return {k: v for k, v in raw.items() if not isinstance(v, str)} | {
            k: v for k, v in raw.items() if v == "StopConditionContext"
        }


def stop_condition(func: Callable[..., Any]) -> Any:
    """Make ``fn(ctx)`` a stop condition, or ``fn(ctx, config)`` a factory of them.

    With a second (config) parameter, ``fn(config)`` returns the configured condition.
    When that parameter is annotated with a Pydantic model class, the configuration may
    also be given as a dict or as keyword arguments (``fn({"limit": 5})``,
    ``fn(limit=5)``) and the function receives the model. ``ctx`` may be left
    unannotated; annotated, it must be ``StopConditionContext`` (``SignatureError``, a
    ``TypeError``, otherwise).
    """
    params = list(inspect.signature(func).parameters)
    hints = _annotations(func)
    name = getattr(func, "__name__", "stop_condition")
    if params and params[0] in hints:
        first = hints[params[0]]
        if first is not StopConditionContext and first != "StopConditionContext":
            raise SignatureError(
                f"Invalid stop_condition function {name!r}: first parameter must be typed "
                f"as 'StopConditionContext', got {first!r}."
            )
    if len(params) == 1:
        return StopCondition(func)
    if len(params) != 2:
        raise SignatureError(
            f"A stop condition takes (ctx) or (ctx, config); {name} takes {len(params)}."
        )
    config_class = hints.get(params[1])
    if config_class is not None and not (
        isinstance(config_class, type) and issubclass(config_class, BaseModel)
    ):
        raise SignatureError(
            f"Invalid stop_condition function {name!r}: its config parameter must be "
            f"a Pydantic BaseModel class, got {config_class!r}."
        )

    def configure(config: Any = None, **kwargs: Any) -> StopCondition:
        if config_class is not None and not isinstance(config, config_class):
            if isinstance(config, dict):
                config = config_class.model_validate(config)
            elif config is None:
                config = config_class(**kwargs)
        elif config is None:
            config = kwargs
        return StopCondition(lambda ctx: func(ctx, config), name)

    configure.__name__ = name
    configure.__doc__ = func.__doc__
    return configure


class MaxStepsConfig(StrictConfig):
    """``limit``: the number of agent steps (LLM turns) after which the run stops
    (default 20, as upstream).

    Upstream Polos calls it ``count``: ``MaxStepsConfig(count=10)`` is the same as
    ``MaxStepsConfig(limit=10)`` (``.count`` reads it too).
    """

    _aliases: ClassVar[dict[str, str]] = {"count": "limit"}

    limit: int = Field(default=20, ge=1)

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
    """Stop after ``config.limit`` steps; ``max_steps()`` without a config stops after 10.

    Also lifts the default step cap (``$POLOS_AGENT_MAX_STEPS``).
    """
    limit = 10 if config is None else config.limit
    cond = StopCondition(lambda ctx: len(ctx.steps) >= limit, "max_steps")
    cond.max_steps_limit = limit  # type: ignore[attr-defined]
    return cond


def max_tokens(config: MaxTokensConfig) -> StopCondition:
    """Stop once the run has used ``config.limit`` tokens or more (an async condition)."""

    async def used_tokens(ctx: StopConditionContext) -> bool:
        return ctx.usage.total_tokens >= config.limit

    return StopCondition(used_tokens, "max_tokens")


def executed_tool(config: ExecutedToolConfig) -> StopCondition:
    """Stop once all of ``config.tool_names`` have been called (never, for an empty list)."""
    wanted = set(config.tool_names)
    return StopCondition(
        lambda ctx: bool(wanted) and wanted <= {c.name for s in ctx.steps for c in s.tool_calls},
        "executed_tool",
    )


def has_text(config: HasTextConfig) -> StopCondition:
    """Stop once all of ``config.texts`` appear in the model's text so far (never, for an
    empty list). Each step's text is searched with the others, separated by a space."""
    texts = list(config.texts)

    def found(ctx: StopConditionContext) -> bool:
        text = " ".join(s.content for s in ctx.steps if s.content)
        return bool(texts) and all(t in text for t in texts)

    return StopCondition(found, "has_text")

"""Lifecycle hooks: code that runs at fixed points of an agent run and can change it.

```python
from polos_nb import hook, HookContext, HookResult

@hook
def no_deletes(ctx, hook_ctx: HookContext) -> HookResult:
    if hook_ctx.current_tool == "delete_file":
        return HookResult.fail("deleting files is not allowed")
    return HookResult.continue_with()

agent = Agent(..., on_tool_start=[no_deletes])
```

Hook points and what a ``HookResult`` can do there:

==========================  =======================================================
``on_start``                ``current_payload`` is the run's payload, upstream's shape:
                            ``{"input", "streaming", "provider_kwargs"}``; a
                            ``modified_payload`` dict is merged into it (a new
                            ``"input"`` replaces the prompt; a plain value replaces
                            the input on its own); FAIL fails the run
``on_agent_step_start``     ``current_payload`` is ``{"step", "messages"}``; FAIL fails the run
``on_agent_step_end``       FAIL fails the run (``current_output`` is the AgentStep)
``on_tool_start``           ``modified_payload`` (a dict) is merged into the arguments;
                            FAIL skips the tool and the model sees the message
``on_tool_end``             ``modified_output`` replaces the result the model sees
``on_end``                  ``modified_output`` replaces the run's result; FAIL fails it
==========================  =======================================================

Every hook call is a journaled step (``hook:<point>:<where>:<index>``), so a hook with
side effects runs once per run even across crashes. Do not call ``ctx.step`` inside a
hook. Hooks may be sync or async; returning ``None`` means continue.

Workflows take ``on_start`` and ``on_end`` too (``@workflow(on_start=[...], on_end=[...])``,
as upstream): ``on_start`` sees the payload as ``current_payload`` and may change it
(``modified_payload``: a dict is merged into a dict or model payload, anything else replaces
it; the result is validated against the workflow's payload type); ``on_end`` sees the result as
``current_output`` and may change it the same way (``modified_output``). ``fail(message)``
fails the run with :class:`~polos_nb.errors.HookFailedError`. Their steps are
``hook:on_start:workflow:<index>`` and ``hook:on_end:workflow:<index>``. A run that started
before its workflow had ``on_start`` hooks (an earlier definition, or an earlier polos_nb,
which kept them without running them) goes on without them when it resumes.
"""

from __future__ import annotations

import enum
import inspect
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, Field, model_validator

from polos_nb.engine import Workflow, WorkflowContext, set_workflow_hook_runner
from polos_nb.errors import HookFailedError, SignatureError, UserError

from ._results import AgentStep, AnyValue

__all__ = ["AgentConfig", "Hook", "HookAction", "HookContext", "HookResult", "hook"]

HOOK_POINTS = (
    "on_start",
    "on_agent_step_start",
    "on_agent_step_end",
    "on_tool_start",
    "on_tool_end",
    "on_end",
)


class HookAction(str, enum.Enum):
    """What a hook or guardrail decided. A ``str`` enum: ``"fail" == HookAction.FAIL``."""

    CONTINUE = "continue"
    FAIL = "fail"
    RETRY = "retry"


class _AsDict(BaseModel):
    """``to_dict()`` / ``from_dict(data)``: the model as JSON data and back."""

    def to_dict(self) -> dict[str, Any]:
        """This object as JSON data."""
        return self.model_dump(mode="json")

    @classmethod
    def from_dict(cls, data: Any) -> Any:
        """An object from :meth:`to_dict`'s data (an instance is returned as is)."""
        if isinstance(data, cls):
            return data
        if isinstance(data, dict):
            return cls.model_validate(data)
        raise TypeError(f"Cannot create {cls.__name__} from {type(data).__name__}.")


class AgentConfig(BaseModel):
    """The settings of the agent a hook or guardrail runs for (upstream Polos's name).

    A hook reads it as ``hook_ctx.agent_config``, a guardrail as ``guardrail_ctx.llm_config``:
    ``name`` is the agent's id, ``tools`` the tool definitions the model is offered,
    ``provider_kwargs`` the run's own provider options (credentials left out). It describes
    the agent; changing it changes nothing. ``AgentConfig(name=..., provider=..., model=...)``
    builds one by hand, e.g. to test a hook.
    """

    name: str
    provider: str
    model: str
    tools: list[dict[str, Any]] = Field(default_factory=list)
    system_prompt: str | None = None
    max_output_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    provider_base_url: str | None = None
    provider_llm_api: str | None = None
    provider_kwargs: dict[str, Any] | None = None
    output_schema: dict[str, Any] | None = None
    output_schema_name: str | None = None
    guardrail_max_retries: int | None = None


class HookContext(_AsDict):
    """What a hook sees. ``current_payload``/``current_output`` may be any value.

    ``workflow_id`` is upstream's name for the agent's id (``agent_id``); give either and
    both read it, e.g. ``HookContext(workflow_id="my_agent")`` to test a hook by hand.
    ``agent_config`` is the agent's :class:`AgentConfig` (``None`` when built by hand
    without one).
    """

    hook_point: str = ""
    workflow_id: str = ""
    agent_id: str = ""
    agent_run_id: str = ""
    session_id: str | None = None
    user_id: str | None = None
    conversation_id: str | None = None
    steps: list[AgentStep] = Field(default_factory=list)
    current_step: int = 0
    current_tool: str | None = None
    current_payload: AnyValue = None
    current_output: AnyValue = None
    agent_config: AgentConfig | None = None

    @model_validator(mode="after")
    def _one_agent_id(self) -> HookContext:
        if not self.agent_id:
            self.agent_id = self.workflow_id
        elif not self.workflow_id:
            self.workflow_id = self.agent_id
        return self


class HookResult(_AsDict):
    """A hook's decision. Build it with :meth:`continue_with` or :meth:`fail`."""

    action: HookAction = HookAction.CONTINUE
    modified_payload: AnyValue = None
    modified_output: AnyValue = None
    error_message: str | None = None

    @classmethod
    def continue_with(cls, **modifications: Any) -> HookResult:
        """Go on, optionally with ``modified_payload=`` / ``modified_output=``."""
        return cls(action=HookAction.CONTINUE, **modifications)

    @classmethod
    def fail(cls, message: str) -> HookResult:
        """Stop: fail the run (or, in ``on_tool_start``, refuse the tool call)."""
        return cls(action=HookAction.FAIL, error_message=message)

    @property
    def failed(self) -> bool:
        return self.action == HookAction.FAIL


class Hook:
    """A function ``(ctx, hook_ctx) -> HookResult | None``, sync or async."""

    def __init__(self, func: Callable[..., Any], name: str | None = None) -> None:
        if not callable(func):
            raise SignatureError(
                f"Invalid hook type: {func!r} ({type(func).__name__}) is not a function "
                "(ctx, hook_ctx)."
            )
        params = [
            p
            for p in inspect.signature(func).parameters.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        ]
        if len(params) != 2:
            raise SignatureError(
                f"A hook must have exactly 2 parameters (ctx, hook_ctx); "
                f"{getattr(func, '__name__', func)!r} takes {len(params)}."
            )
        self.func = func
        func_name: str = getattr(func, "__name__", "hook")
        self.name = name or func_name

    async def call(self, ctx: Any, hook_ctx: Any) -> HookResult:
        if inspect.iscoroutinefunction(self.func):
            value = await self.func(ctx, hook_ctx)
        else:
            value = self.func(ctx, hook_ctx)
            if inspect.isawaitable(value):
                value = await value
        if value is None:
            return HookResult()
        if not isinstance(value, HookResult):
            raise UserError(
                f"Hook {self.name!r} returned {type(value).__name__}; return a HookResult or None."
            )
        return value

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.func(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<Hook {self.name}>"


def hook(func: Callable[..., Any] | None = None) -> Any:
    """Make ``fn(ctx, hook_ctx)`` a lifecycle hook (see the module docs for the points).

    ``@hook`` and ``@hook()`` are the same.
    """
    if func is None:
        return hook
    return func if isinstance(func, Hook) else Hook(func)


def as_hooks(value: Any) -> list[Hook]:
    if value is None:
        return []
    items = value if isinstance(value, (list, tuple)) else [value]
    return [hook(item) for item in items]


def _changed(value: Any, change: Any) -> Any:
    """A hook's change: a dict is merged into a dict (or a model's fields), as upstream."""
    if isinstance(change, dict):
        if isinstance(value, dict):
            return {**value, **change}
        if isinstance(value, BaseModel):
            return {**value.model_dump(), **change}
    return change


async def _workflow_hooks(
    wf: Workflow, ctx: WorkflowContext, point: str, payload: Any, output: Any
) -> tuple[Any, Any]:
    hooks = as_hooks(wf.on_start if point == "on_start" else wf.on_end)
    for i, h in enumerate(hooks):
        hook_ctx = HookContext(
            hook_point=point,
            workflow_id=wf.id,
            agent_run_id=ctx.execution_id,
            session_id=ctx.session_id,
            user_id=ctx.user_id,
            current_payload=payload,
            current_output=output,
        )

        async def call(h: Hook = h, hook_ctx: HookContext = hook_ctx) -> HookResult:
            return await h.call(ctx, hook_ctx)

        result: HookResult = await ctx.step.run(f"hook:{point}:workflow:{i}", call, max_retries=0)
        if result.action == HookAction.FAIL:
            raise HookFailedError(h.name, result.error_message or "failed")
        if result.modified_payload is not None:
            payload = _changed(payload, result.modified_payload)
        if result.modified_output is not None:
            output = _changed(output, result.modified_output)
    return payload, output


async def run_workflow_with_hooks(wf: Workflow, ctx: WorkflowContext, payload: Any) -> Any:
    """A workflow's body between its ``on_start`` and ``on_end`` hooks (see the module docs)."""
    # A run journaled before its workflow's hooks ran (polos_nb ignored them then) goes on
    # without on_start: running it now would not match the steps the journal holds.
    if wf.on_start and (ctx.step.known("hook:on_start:workflow:0") or not ctx.step.journaled()):
        changed, _ = await _workflow_hooks(wf, ctx, "on_start", payload, None)
        if changed is not payload:
            payload = wf.validate_payload(changed)
    result = await wf.call_body(ctx, payload)
    if wf.on_end:
        _, result = await _workflow_hooks(wf, ctx, "on_end", payload, result)
    return result


set_workflow_hook_runner(run_workflow_with_hooks)

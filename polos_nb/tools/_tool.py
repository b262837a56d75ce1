"""``@tool``: turn a function into something an agent's model can call."""

from __future__ import annotations

import asyncio
import copy
import inspect
import json
import typing
from collections.abc import Callable
from typing import Any, Literal, overload

from pydantic import BaseModel, ConfigDict, ValidationError, create_model

from polos_nb import _tracing
from polos_nb.errors import UserError

__all__ = ["ApprovalRequired", "Tool", "ToolArgumentsError", "ToolRetry", "tool"]

ToolApproval = Literal["always", "none"]


class ToolRetry(Exception):
    """Raise inside a tool to have the tool call retried (up to the tool's ``max_retries``).

    Any other exception becomes an error result the model sees.
    """


class ApprovalRequired(BaseException):
    """Raise inside a tool to ask a human first; the agent suspends with ``data`` as the form.

    If the approver answers ``{"approved": True}``, the tool runs again and
    :func:`polos_nb.tools.approval_granted` returns the answer; otherwise the model sees
    a rejection (with the approver's ``feedback``). It derives from ``BaseException`` so
    that ``except Exception`` in tool code does not swallow it.

    ``data`` may carry an upstream-style ``_form`` (title, description, fields, context):
    the suspension then shows that form. With ``tool_handles_answer=True`` the tool runs
    again whatever the answer (:func:`polos_nb.tools.approval_answer`) and decides itself
    what a rejection returns and what "always" remembers; the agent keeps no per-tool
    "always" of its own for it.
    """

    def __init__(
        self,
        data: dict[str, Any] | None = None,
        message: str = "approval required",
        *,
        tool_handles_answer: bool = False,
    ) -> None:
        super().__init__(message)
        self.data = dict(data or {})
        if tool_handles_answer:
            self.data["_tool_handles_answer"] = True


class ToolArgumentsError(ValueError):
    """The model's arguments for a tool are not valid JSON or do not fit its input schema."""


def _is_ctx_param(param: inspect.Parameter, hint: Any) -> bool:
    if param.name in ("ctx", "context"):
        return True
    name = getattr(hint, "__name__", "") or str(hint)
    return "Context" in name


def _inline(schema: dict[str, Any]) -> dict[str, Any]:
    defs = schema.pop("$defs", {})

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                merged = {
                    **copy.deepcopy(defs[ref.split("/")[-1]]),
                    **{k: v for k, v in node.items() if k != "$ref"},
                }
                return walk(merged)
            return {k: walk(v) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    out = walk(schema)
    out.pop("title", None)
    return out


class Tool:
    """A function an agent's model can call, with a name, a description and a JSON schema.

    Create one with :func:`tool`. Calling the tool object calls the function directly.
    """

    kind = "function"

    def __init__(
        self,
        func: Callable[..., Any],
        *,
        id: str | None = None,
        description: str | None = None,
        parameters: dict[str, Any] | None = None,
        approval: ToolApproval | None = None,
        max_retries: int = 0,
    ) -> None:
        if not callable(func):
            raise UserError(f"@tool needs a function, got {func!r}.")
        self.func = func
        self.id = id or getattr(func, "__name__", "") or ""
        if not self.id or not self.id.replace("_", "a").replace("-", "a").isalnum():
            raise UserError(
                f"A tool id must be letters, digits, '_' or '-' (got {self.id!r}): @tool(id='my_tool')."
            )
        doc = inspect.getdoc(func)
        self.description = (
            description if description is not None else (doc.split("\n\n")[0] if doc else "")
        )
        self.approval = approval if approval in ("always",) else None
        self.max_retries = max_retries
        self._is_async = inspect.iscoroutinefunction(func)
        self._takes_ctx, self._mode, self.input_model = self._inspect(func)
        if parameters is not None:
            self.parameters = parameters
        else:
            self.parameters = _inline(self.input_model.model_json_schema())
            self.parameters.setdefault("properties", {})
        self.__doc__ = doc
        self.__name__ = self.id
        self.__wrapped__ = func

    @property
    def name(self) -> str:
        """The name the model calls the tool by (its id)."""
        return self.id

    def __repr__(self) -> str:
        return f"<Tool {self.id!r}>"

    def _inspect(self, func: Callable[..., Any]) -> tuple[bool, str, type[BaseModel]]:
        params = [
            p
            for p in inspect.signature(func).parameters.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
        ]
        try:
            hints = typing.get_type_hints(func)
        except Exception:
            hints = {}
        takes_ctx = bool(params) and _is_ctx_param(params[0], hints.get(params[0].name))
        rest = params[1:] if takes_ctx else params
        if len(rest) == 1:
            hint = hints.get(rest[0].name)
            if isinstance(hint, type) and issubclass(hint, BaseModel):
                return takes_ctx, "model", hint
        fields: dict[str, Any] = {}
        for p in rest:
            hint = hints.get(p.name, Any)
            fields[p.name] = (hint, ... if p.default is inspect.Parameter.empty else p.default)
        model = create_model(f"{self.id}_input", __config__=ConfigDict(extra="forbid"), **fields)
        return takes_ctx, "kwargs", model

    # ------------------------------------------------------------------ the model's view
    def definition(self) -> dict[str, Any]:
        """The tool as the model sees it (OpenAI ``tools`` entry: name, description, schema)."""
        return {
            "type": "function",
            "function": {
                "name": self.id,
                "description": self.description,
                "parameters": self.parameters,
            },
        }

    def to_llm_tool_definition(self) -> dict[str, Any]:
        """Upstream Polos's name for :meth:`definition`."""
        return self.definition()

    def parse_arguments(self, arguments: str | dict[str, Any] | None) -> Any:
        """Parse and validate the model's arguments; raises :class:`ToolArgumentsError`.

        The error message is written for the model, so it can correct its call.
        """
        if isinstance(arguments, str):
            text = arguments.strip() or "{}"
            try:
                data = json.loads(text)
            except json.JSONDecodeError as exc:
                raise ToolArgumentsError(
                    f"The arguments for tool {self.id!r} are not valid JSON ({exc.msg} at position {exc.pos}). "
                    "Call it again with a JSON object."
                ) from None
            except RecursionError:
                raise ToolArgumentsError(
                    f"The arguments for tool {self.id!r} are nested too deeply to read. "
                    "Call it again with a flatter JSON object."
                ) from None
        else:
            data = arguments or {}
        if not isinstance(data, dict):
            raise ToolArgumentsError(
                f"The arguments for tool {self.id!r} must be a JSON object, got {type(data).__name__}."
            )
        try:
            return self.input_model.model_validate(data)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or '<arguments>'}: {err['msg']}"
                for err in exc.errors()
            )
            raise ToolArgumentsError(
                f"Invalid arguments for tool {self.id!r}: {problems}. Call it again with arguments matching its schema."
            ) from None

    # ------------------------------------------------------------------ running
    async def invoke(self, ctx: Any, validated: BaseModel) -> Any:
        """Run the function with already-validated input (sync functions run in a thread)."""
        args: list[Any] = [ctx] if self._takes_ctx else []
        kwargs: dict[str, Any] = {}
        if self._mode == "model":
            args.append(validated)
        else:
            kwargs = {name: getattr(validated, name) for name in type(validated).model_fields}
        with _tracing.span(
            f"execute_tool {self.id}",
            {
                "gen_ai.operation.name": "execute_tool",
                "gen_ai.tool.name": self.id,
                "gen_ai.tool.description": self.description or None,
            },
        ):
            if self._is_async:
                return await self.func(*args, **kwargs)
            result = await asyncio.to_thread(self.func, *args, **kwargs)
            if inspect.isawaitable(result):
                result = await result
            return result

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.func(*args, **kwargs)


@overload
def tool(func: Callable[..., Any], /) -> Tool: ...
@overload
def tool(
    func: None = None,
    /,
    *,
    id: str | None = None,
    description: str | None = None,
    parameters: dict[str, Any] | None = None,
    approval: ToolApproval | None = None,
    max_retries: int = 0,
) -> Callable[[Callable[..., Any]], Tool]: ...


def tool(func: Callable[..., Any] | None = None, /, **options: Any) -> Any:
    """Make a sync or async function a tool an agent can call.

    ```python
    class WeatherInput(BaseModel):
        city: str

    @tool(description="Get weather for a city")
    async def get_weather(ctx: WorkflowContext, input: WeatherInput) -> dict:
        return {"city": input.city, "temp_c": 21}

    @tool                                   # plain typed parameters work too
    def add(a: int, b: int) -> int:
        "Add two integers."
        return a + b
    ```

    The function takes an optional first ``ctx`` parameter, then either one Pydantic
    model or plain typed parameters; the model sees the tool's id, description (the
    docstring's first paragraph by default) and the input's JSON schema. A raised
    exception becomes an error result the model sees; raise :class:`ToolRetry` to retry
    the call instead. ``approval="always"`` asks a human before every call.
    """

    def decorate(f: Callable[..., Any]) -> Tool:
        return Tool(f, **options)

    if func is not None:
        return decorate(func)
    return decorate

"""Test doubles for LLMs: a scripted model and a function model.

Both are reached through litellm's custom-provider mechanism (model strings
``polos-fake/<name>``), so an agent using one runs the real litellm adapter path,
streaming included. Both record every call, so tests can count LLM calls.

```python
from polos_nb.testing import ScriptedModel, FakeToolCall

model = ScriptedModel("weather", [
    FakeToolCall("get_weather", {"city": "NYC"}),     # turn 1: a tool call
    "It is sunny in NYC.",                             # turn 2: text
])
agent = Agent(id="weather", provider="fake", model=model, tools=[get_weather])
# or: Agent(id="weather", provider="fake", model="weather")
assert model.call_count == 2
```
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
import json
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from polos_nb.errors import UserError
from polos_nb.llm import BackendRequest, LLMResponse, ToolCall, Usage, register_backend, set_price

__all__ = [
    "FakeCall",
    "FakeToolCall",
    "FakeTurn",
    "FunctionModel",
    "ScriptedModel",
    "get_fake_model",
]

PREFIX = "polos-fake"
_MODELS: dict[str, _FakeModel] = {}
_IDS = itertools.count(1)


@dataclass
class FakeToolCall:
    """A tool call in a scripted turn. ``arguments`` may be a dict or raw (even broken) JSON text."""

    name: str
    arguments: dict[str, Any] | str = field(default_factory=dict)
    id: str | None = None


@dataclass
class FakeTurn:
    """One assistant turn: text and/or tool calls, with optional usage and stream chunking.

    ``error`` makes the call raise instead (to test retries). ``chunks`` sets how the
    text is split when streamed (default: by words).
    """

    text: str | None = None
    tool_calls: list[FakeToolCall] = field(default_factory=list)
    usage: Usage | None = None
    error: BaseException | None = None
    chunks: list[str] | None = None


@dataclass
class FakeCall:
    """What a fake model was called with."""

    messages: list[dict[str, Any]]
    tools: list[dict[str, Any]]
    params: dict[str, Any]
    stream: bool


def _as_turn(spec: Any) -> FakeTurn:
    if isinstance(spec, FakeTurn):
        return spec
    if isinstance(spec, str):
        return FakeTurn(text=spec)
    if isinstance(spec, FakeToolCall):
        return FakeTurn(tool_calls=[spec])
    if isinstance(spec, list) and all(isinstance(x, FakeToolCall) for x in spec):
        return FakeTurn(tool_calls=list(spec))
    if isinstance(spec, BaseModel):
        return FakeTurn(text=spec.model_dump_json())
    if isinstance(spec, dict):
        return FakeTurn(text=json.dumps(spec))
    if isinstance(spec, BaseException):
        return FakeTurn(error=spec)
    raise TypeError(f"Cannot make a fake assistant turn from {spec!r}.")


def _estimate(text: str) -> int:
    return max(1, (len(text) + 3) // 4)


class _FakeModel:
    """Shared machinery: registration, call recording, turn → response, streaming."""

    def __init__(self, name: str | None, price: tuple[float, float] | None = None) -> None:
        self.name = name or f"fake-{next(_IDS)}"
        self.calls: list[FakeCall] = []
        self._lock = threading.Lock()
        _MODELS[self.name] = self
        register_backend(PREFIX, _Dispatcher())
        if price is not None:
            set_price(self.litellm_model, *price)

    @property
    def litellm_model(self) -> str:
        """The litellm model string (``polos-fake/<name>``)."""
        return f"{PREFIX}/{self.name}"

    @property
    def call_count(self) -> int:
        """How many times the model was called."""
        return len(self.calls)

    async def _next_turn(self, request: BackendRequest) -> FakeTurn:
        raise NotImplementedError

    def _record(self, request: BackendRequest, stream: bool) -> int:
        with self._lock:
            self.calls.append(FakeCall(request.messages, request.tools, request.params, stream))
            return len(self.calls)

    def _response(self, turn: FakeTurn, request: BackendRequest, number: int) -> LLMResponse:
        number = getattr(turn, "_number", None) or number  # the turn's place in a script
        calls = [
            ToolCall(
                id=c.id or f"call_{number}_{i}",
                name=c.name,
                arguments=c.arguments if isinstance(c.arguments, str) else json.dumps(c.arguments),
            )
            for i, c in enumerate(turn.tool_calls)
        ]
        usage = turn.usage
        if usage is None:
            prompt = _estimate(json.dumps(request.messages, default=str))
            completion = _estimate((turn.text or "") + "".join(c.arguments for c in calls))
            usage = Usage(
                input_tokens=prompt, output_tokens=completion, total_tokens=prompt + completion
            )
        return LLMResponse(
            content=turn.text,
            tool_calls=calls,
            usage=usage,
            model=self.litellm_model,
            finish_reason="tool_calls" if calls else "stop",
        )

    async def generate(self, request: BackendRequest) -> LLMResponse:
        number = self._record(request, stream=False)
        turn = await self._next_turn(request)
        if turn.error is not None:
            raise turn.error
        return self._response(turn, request, number)

    async def stream(self, request: BackendRequest) -> AsyncIterator[dict[str, Any]]:
        number = self._record(request, stream=True)
        turn = await self._next_turn(request)
        response = self._response(turn, request, number)
        text = turn.text or ""
        pieces = turn.chunks if turn.chunks is not None else list(text.split(" "))
        if turn.chunks is None and pieces:
            pieces = [p + (" " if i < len(pieces) - 1 else "") for i, p in enumerate(pieces)]
        for piece in pieces:
            if piece:
                yield {"text": piece}
                await asyncio.sleep(0)
        if turn.error is not None:
            raise turn.error
        for i, call in enumerate(response.tool_calls):
            half = len(call.arguments) // 2
            yield {
                "tool_call": {
                    "index": i,
                    "id": call.id,
                    "name": call.name,
                    "arguments": call.arguments[:half],
                }
            }
            yield {
                "tool_call": {
                    "index": i,
                    "id": None,
                    "name": None,
                    "arguments": call.arguments[half:],
                }
            }
        yield {"finish": {"usage": response.usage, "finish_reason": response.finish_reason}}


class ScriptedModel(_FakeModel):
    """A model that answers with the next turn of a script, one per call.

    A turn is a string (text), a ``dict``/Pydantic object (its JSON as text), a
    :class:`FakeToolCall` or a list of them (tool calls), a :class:`FakeTurn`, or an
    exception (the call fails). Running out of turns raises an error naming the model.
    ``price=(usd_per_input_token, usd_per_output_token)`` makes usage carry a cost.
    ``ScriptedModel(["Hello!"])`` (the script alone) takes a generated name.

    The script goes on across runs. After a kernel restart the script is defined again
    from its start, while a resumed run already made some calls (journaled, so not made
    again): the first call the model gets for such a run takes the turn after those, as
    the journal says where the run is. A tool call's id is ``call_<turn>_<i>`` (the turn's
    place in the script, 1-based), the same before and after a restart.
    """

    def __init__(
        self,
        name: str | None = None,
        turns: list[Any] | None = None,
        *,
        price: tuple[float, float] | None = None,
    ) -> None:
        if isinstance(name, list | tuple) and turns is None:  # the script, without a name
            name, turns = None, list(name)
        if name is not None and not isinstance(name, str):
            raise UserError(
                f"ScriptedModel(name, turns): the name is a string (got {type(name).__name__}); "
                "pass the script as turns=[...] or as the only argument."
            )
        self.turns: list[FakeTurn] = [_as_turn(t) for t in (turns or [])]
        self._position = 0
        self._runs: set[str] = set()  # the runs this model has answered
        super().__init__(name, price)

    def add(self, *turns: Any) -> ScriptedModel:
        """Append turns to the script."""
        self.turns.extend(_as_turn(t) for t in turns)
        return self

    @property
    def remaining(self) -> int:
        return len(self.turns) - self._position

    async def _next_turn(self, request: BackendRequest) -> FakeTurn:
        journaled = _journaled_llm_calls()
        with self._lock:
            if journaled is not None:
                run_id, done = journaled
                if run_id not in self._runs:
                    # The first call this model sees for the run. A run that already made
                    # `done` model calls (journaled before a kernel restart: the script was
                    # defined again, from its start) continues at its next turn.
                    self._runs.add(run_id)
                    self._position = max(self._position, done)
            if self._position >= len(self.turns):
                raise RuntimeError(
                    f"ScriptedModel {self.name!r} has no turn left for call {len(self.calls)} "
                    f"(its script has {len(self.turns)}). Add turns with .add(...)."
                )
            turn = self.turns[self._position]
            self._position += 1
            return _numbered(turn, self._position)

    def __repr__(self) -> str:
        return f"<ScriptedModel {self.name!r} {self._position}/{len(self.turns)} turns used>"


class FunctionModel(_FakeModel):
    """A model whose every turn is computed by ``fn(messages, info)`` (sync or async).

    ``info`` is a dict with ``tools`` (the tool specs the model was given),
    ``response_format``, ``params`` and ``call`` (1-based call number). The function
    returns anything :class:`ScriptedModel` accepts as a turn.
    """

    def __init__(
        self,
        fn: Callable[..., Any],
        name: str | None = None,
        *,
        price: tuple[float, float] | None = None,
    ) -> None:
        self.fn = fn
        super().__init__(name or getattr(fn, "__name__", None), price)

    async def _next_turn(self, request: BackendRequest) -> FakeTurn:
        info = {
            "tools": request.tools,
            "response_format": request.response_format,
            "params": request.params,
            "call": len(self.calls),
        }
        value = self.fn(request.messages, info)
        if inspect.isawaitable(value):
            value = await value
        return _as_turn(value)

    def __repr__(self) -> str:
        return f"<FunctionModel {self.name!r} calls={len(self.calls)}>"


def _numbered(turn: FakeTurn, number: int) -> FakeTurn:
    """``turn`` tagged with its place in the script (names its tool calls' ids)."""
    import copy

    tagged = copy.copy(turn)
    tagged._number = number  # type: ignore[attr-defined]
    return tagged


def _journaled_llm_calls() -> tuple[str, int] | None:
    """(run id, model calls it made before this one) for the agent run being served, from
    its journal; None outside a run."""
    from polos_nb.engine._context import CURRENT

    ctx = CURRENT.get()
    if ctx is None:
        return None
    ex = getattr(ctx, "_ex", None)
    steps = getattr(ex, "steps", None) or {}
    done = sum(
        1
        for key, record in list(steps.items())
        if key.startswith("llm:") and getattr(record, "status", None) == "completed"
    )
    return str(ctx.execution_id), done


def get_fake_model(name: str) -> _FakeModel | None:
    """The fake model registered under ``name`` (what ``provider="fake", model=name`` uses)."""
    return _MODELS.get(name)


class _Dispatcher:
    """The litellm backend for ``polos-fake/<name>``: finds the fake model by name."""

    def _model(self, request: BackendRequest) -> _FakeModel:
        model = _MODELS.get(request.model)
        if model is None:
            raise LookupError(
                f"No fake model named {request.model!r}. Create ScriptedModel({request.model!r}, [...]) first."
            )
        return model

    async def generate(self, request: BackendRequest) -> LLMResponse:
        return await self._model(request).generate(request)

    def stream(self, request: BackendRequest) -> AsyncIterator[dict[str, Any]]:
        return self._model(request).stream(request)

"""The litellm adapter: the only module that imports litellm (lazily, on first use).

Every provider of the seeds goes through ``litellm.acompletion``; so do the test doubles
and the local model, which plug in as litellm *custom providers* (see
:func:`register_backend`), so the real adapter path runs for them too. Errors raised by
litellm become :class:`polos_nb.errors.LLMError` here and nowhere else.
"""

from __future__ import annotations

import asyncio
import gc
import os
import threading
from collections.abc import AsyncIterator, Callable
from typing import Any, Protocol

from polos_nb import _secrets, _tracing
from polos_nb.errors import LLMError, ModelRequestBlockedError, UserError

from ._types import LLMResponse, ToolCall, Usage
from ._warnings import library_warnings_shown

__all__ = [
    "PROVIDERS",
    "Backend",
    "BackendRequest",
    "complete",
    "litellm_model",
    "model_requests_allowed",
    "register_backend",
    "set_price",
]

PROVIDERS: dict[str, str] = {
    "openai": "openai",
    "anthropic": "anthropic",
    "gemini": "gemini",
    "groq": "groq",
    "fireworks": "fireworks_ai",
    "together": "together_ai",
    "azure": "azure",
    "local": "polos-local",
    "fake": "polos-fake",
    "litellm": "",
}
"""Provider names an ``Agent`` accepts, and the litellm prefix each maps to."""

WARMUP_PREFIX = "polos-warmup"  # warm_up()'s own in-process model
_OFFLINE_PREFIXES = {"polos-local", "polos-fake", WARMUP_PREFIX}
_BACKENDS: dict[str, Backend] = {}
_LOCK = threading.Lock()
_LITELLM: Any = None


class BackendRequest:
    """What a custom backend receives: the model name (without prefix) and the call's parameters."""

    def __init__(self, model: str, messages: list[dict[str, Any]], params: dict[str, Any]) -> None:
        self.model = model
        self.messages = messages
        self.params = params
        self.tools: list[dict[str, Any]] = list(params.get("tools") or [])
        self.response_format: dict[str, Any] | None = params.get("response_format")
        self.tool_choice: Any = params.get("tool_choice")


class Backend(Protocol):
    """An in-process model reached through litellm (test doubles, the local model).

    ``generate`` returns one :class:`LLMResponse`; ``stream`` yields chunks, each a dict
    with one of ``"text"`` (a str), ``"tool_call"`` (``{"index", "id", "name",
    "arguments"}``, arguments may arrive in pieces) or ``"finish"`` (``{"usage": Usage,
    "finish_reason": str}``).
    """

    async def generate(self, request: BackendRequest) -> LLMResponse: ...

    def stream(self, request: BackendRequest) -> AsyncIterator[dict[str, Any]]: ...


def model_requests_allowed() -> bool:
    """False when ``POLOS_NB_ALLOW_MODEL_REQUESTS=0``: calls to network providers then raise.

    The test suite sets it so that no test can reach a real provider; the fakes and the
    local model are never blocked.
    """
    return os.environ.get("POLOS_NB_ALLOW_MODEL_REQUESTS", "1").lower() not in ("0", "false", "no")


def litellm_model(provider: str, model: str) -> str:
    """The litellm model string for an agent's ``provider`` and ``model``."""
    if provider not in PROVIDERS:
        raise UserError(
            f"Unknown provider {provider!r}. Use one of: {', '.join(sorted(PROVIDERS))} "
            "(or provider='litellm' with a full litellm model string such as 'openai/gpt-4o')."
        )
    prefix = PROVIDERS[provider]
    if not prefix:
        return model
    if model.startswith(prefix + "/"):
        return model
    return f"{prefix}/{model}"


def _lit() -> Any:
    global _LITELLM
    if _LITELLM is None:
        with _LOCK:
            if _LITELLM is None:
                os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
                # litellm appends "This looks like a bug in LiteLLM ... file it" and a link to
                # any error without an HTTP status: an in-process model's own error (a
                # ScriptedModel out of turns), a refused connection. It is neither, and the
                # link would reach the model's error into polos_nb's messages and journal.
                os.environ.setdefault("LITELLM_DISABLE_BUG_REPORT_LINK", "true")
                # Importing litellm makes hundreds of thousands of objects, and each automatic
                # full collection on the way walks all of them: paused, a new process reached
                # its first agent result 0.8-1.5 s sooner here (of 6-8 s, on a loaded machine).
                # Cyclic garbage of other threads waits those seconds; other objects are freed
                # as always. (The notebook's warm-up pauses it around this and more.)
                collecting = gc.isenabled()
                if collecting:
                    gc.disable()
                try:
                    import litellm

                    litellm.suppress_debug_info = True
                    litellm.telemetry = False
                    _short_lived_logging()
                    _logging_only_when_asked(litellm)
                    _backends_price_their_replies()
                    _prewarm()
                    _install_backends(litellm)
                finally:
                    if collecting:
                        gc.enable()
                _LITELLM = litellm
    return _LITELLM


_LOG_TASKS: set[Any] = set()


def _prewarm() -> None:
    """Build litellm's response models once, now, off the first call's critical path.

    Pydantic builds some of litellm's types lazily on first use (and may warn about
    their definitions: :func:`library_warnings_shown` keeps that from failing a call).
    """
    from litellm.types.utils import Delta, Message, ModelResponse, ModelResponseStream

    ModelResponse(choices=[{"index": 0, "message": Message(content="", reasoning_content="x")}])
    # litellm validates these dicts into its choice models (its annotations ask for the models).
    ModelResponseStream(
        choices=[{"index": 0, "delta": Delta(content="", reasoning_content="x")}]  # type: ignore[list-item]
    )


_CALLBACK_LISTS = ("callbacks", "success_callback", "_async_success_callback")


def _logging_callbacks_configured(lit: Any, logging_obj: Any) -> bool:
    """True when someone asked litellm for logging callbacks (``litellm.callbacks = [...]``,
    ``litellm.success_callback``, or per call)."""
    return any(getattr(lit, name, None) for name in _CALLBACK_LISTS) or any(
        getattr(logging_obj, name, None)
        for name in ("dynamic_success_callbacks", "dynamic_async_success_callbacks")
    )


def _logging_only_when_asked(lit: Any) -> None:
    """Skip litellm's per-call success logging while no logging callback is registered.

    After every call (plain or streamed) litellm runs an async success handler on the
    caller's loop. With no callback it has no one to tell, yet it copies the whole
    transcript (to truncate base64 in it), prices the call a second time and builds a
    logging payload: work that grows with the conversation and ran on the engine loop,
    between an agent's turns (bench/bench_peers.py measures the overhead per turn).
    Registering a callback (``litellm.callbacks = [MyLogger()]``) turns the handler back
    on for the calls that follow.
    """
    try:
        from litellm.litellm_core_utils.litellm_logging import Logging
    except Exception:  # pragma: no cover - other litellm versions
        return
    original = Logging.async_success_handler
    if getattr(original, "_polos_nb_gate", False):
        return

    async def async_success_handler(self: Any, *args: Any, **kwargs: Any) -> Any:
        if not _logging_callbacks_configured(lit, self):
            return None
        return await original(self, *args, **kwargs)

    async_success_handler._polos_nb_gate = True  # type: ignore[attr-defined]
    # A deliberate patch of litellm's class (see the docstring).
    Logging.async_success_handler = async_success_handler  # type: ignore[method-assign]


_PRICED = "polos_nb_priced"  # hidden-params flag: an in-process backend priced this reply


def _backends_price_their_replies() -> None:
    """Let litellm take the price of an in-process backend's reply from the reply itself.

    The adapter of the in-process backends (the test doubles, the local model) prices each
    reply it builds with :func:`_cost` (``set_price``, else litellm's price list) and
    stamps it on the reply. litellm would otherwise price the same reply again after the
    call (model-info lookups over its whole price list, then a "zero cost" diagnosis when
    no price is found: about a millisecond a call, every agent turn). Replies of other
    providers are priced by litellm as before.
    """
    try:
        from litellm.litellm_core_utils.litellm_logging import Logging
    except Exception:  # pragma: no cover - other litellm versions
        return
    original = Logging.response_cost_calculator
    if getattr(original, "_polos_nb_gate", False):
        return

    def response_cost_calculator(self: Any, result: Any = None, *args: Any, **kwargs: Any) -> Any:
        hidden = getattr(result, "_hidden_params", None)
        if isinstance(hidden, dict) and hidden.get(_PRICED):
            return hidden.get("response_cost")
        return original(self, result, *args, **kwargs)

    response_cost_calculator._polos_nb_gate = True  # type: ignore[attr-defined]
    # A deliberate patch of litellm's class (see the docstring).
    Logging.response_cost_calculator = response_cost_calculator  # type: ignore[method-assign]


def _short_lived_logging() -> None:
    """Run litellm's async logging callbacks as short tasks, not as a long-lived worker.

    litellm starts a worker task on the first event loop that makes a call and keeps it
    for ever; the engine's loop closes with its journal, which would leave that task
    dangling. Each callback coroutine now runs as its own task on the calling loop.
    """
    try:
        from litellm.litellm_core_utils.logging_worker import GLOBAL_LOGGING_WORKER
    except Exception:  # pragma: no cover - other litellm versions
        return

    def enqueue(async_coroutine: Any) -> None:
        coroutine = async_coroutine
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            coroutine.close()
            return
        task = loop.create_task(coroutine)
        _LOG_TASKS.add(task)
        task.add_done_callback(_LOG_TASKS.discard)

    # A deliberate patch of litellm's worker instance (see the docstring).
    GLOBAL_LOGGING_WORKER.ensure_initialized_and_enqueue = enqueue  # type: ignore[method-assign]


class _WarmUpBackend:
    """Answers ``polos-warmup/...`` at once: a model call without a model.

    ``polos-warmup/tools`` calls the request's first tool (no arguments) until a tool
    result is in the conversation, then answers "ok": the notebook's warm-up runs an agent
    turn with a tool on it. Every other name answers "ok" at once.
    """

    async def generate(self, request: BackendRequest) -> LLMResponse:
        usage = Usage(input_tokens=1, output_tokens=1)
        answered = any(_role(m) == "tool" for m in request.messages)
        if request.model == "tools" and request.tools and not answered:
            name = request.tools[0].get("function", {}).get("name", "")
            call = ToolCall(id="warm-up-call", name=name, arguments="{}")
            return LLMResponse(content=None, tool_calls=[call], usage=usage)
        return LLMResponse(content="ok", usage=usage)

    async def stream(self, request: BackendRequest) -> AsyncIterator[dict[str, Any]]:
        yield {"text": "ok"}
        yield {"finish": {"usage": Usage(input_tokens=1, output_tokens=1), "finish_reason": "stop"}}


def _role(message: Any) -> Any:
    return message.get("role") if isinstance(message, dict) else getattr(message, "role", None)


def warm_up() -> None:
    """Import litellm and make one plain and one streamed call with a tool, now.

    ``import litellm`` takes seconds, and its first call imports more (its tokenizer, its
    helpers) and builds more pydantic models; doing both here moves them off the first real
    call. The calls go to an in-process backend: no network request. Blocks (run it on a
    thread: the notebook layer does after ``%load_ext``); not from a running event loop.
    """
    with library_warnings_shown():
        _lit()
    register_backend(WARMUP_PREFIX, _WarmUpBackend())
    tool = {
        "type": "function",
        "function": {"name": "noop", "description": "Warm-up.", "parameters": {"type": "object"}},
    }
    messages = [{"role": "system", "content": "Warm-up."}, {"role": "user", "content": "hi"}]

    async def calls() -> None:
        await complete(f"{WARMUP_PREFIX}/ok", messages, tools=[tool])
        await complete(f"{WARMUP_PREFIX}/ok", messages, tools=[tool], stream=True)

    asyncio.run(calls())


def register_backend(prefix: str, backend: Backend) -> None:
    """Make ``backend`` answer ``litellm.acompletion(model=f"{prefix}/<name>")``.

    Registering again under the same prefix replaces the backend.
    """
    with _LOCK:
        _BACKENDS[prefix] = backend
        lit = _LITELLM
    if lit is not None:
        _install_backends(lit)


def _install_backends(lit: Any) -> None:
    adapter_cls = _adapter_class(lit)
    current = {item["provider"]: item for item in lit.custom_provider_map}
    for prefix in list(_BACKENDS):
        item = current.get(prefix)
        if item is None or getattr(item["custom_handler"], "prefix", None) != prefix:
            current[prefix] = {"provider": prefix, "custom_handler": adapter_cls(prefix)}
    lit.custom_provider_map = list(current.values())
    from litellm.utils import custom_llm_setup

    custom_llm_setup()


_ADAPTER: Any = None


def _adapter_class(lit: Any) -> Any:
    """A litellm ``CustomLLM`` that forwards to the registered backend of its prefix."""
    global _ADAPTER
    if _ADAPTER is not None:
        return _ADAPTER
    from litellm.types.utils import (
        ChatCompletionMessageToolCall,
        Choices,
        Function,
        Message,
        ModelResponse,
    )
    from litellm.types.utils import Usage as LUsage

    class _Adapter(lit.CustomLLM):
        def __init__(self, prefix: str) -> None:
            super().__init__()
            self.prefix = prefix

        def _request(
            self, model: str, messages: list[Any], optional_params: dict[str, Any]
        ) -> BackendRequest:
            name = model.split("/", 1)[1] if model.startswith(self.prefix + "/") else model
            return BackendRequest(name, list(messages), dict(optional_params))

        def _backend(self) -> Backend:
            backend = _BACKENDS.get(self.prefix)
            if backend is None:
                raise LLMError(
                    self.prefix, f"no backend registered for provider prefix {self.prefix!r}"
                )
            return backend

        async def acompletion(
            self, model: str, messages: list[Any], *args: Any, **kwargs: Any
        ) -> Any:
            out = await self._backend().generate(
                self._request(model, messages, kwargs.get("optional_params") or {})
            )
            calls = [
                ChatCompletionMessageToolCall(
                    id=c.id, type="function", function=Function(name=c.name, arguments=c.arguments)
                )
                for c in out.tool_calls
            ]
            message = Message(role="assistant", content=out.content, tool_calls=calls or None)
            u = out.usage
            response = ModelResponse(
                model=model,
                choices=[
                    Choices(
                        index=0,
                        finish_reason=out.finish_reason or ("tool_calls" if calls else "stop"),
                        message=message,
                    )
                ],
                usage=LUsage(
                    prompt_tokens=u.input_tokens,
                    completion_tokens=u.output_tokens,
                    total_tokens=u.total_tokens or u.input_tokens + u.output_tokens,
                ),
            )
            response._hidden_params[_PRICED] = True
            priced = model if model.startswith(self.prefix + "/") else f"{self.prefix}/{model}"
            response._hidden_params["response_cost"] = _cost(lit, priced, u)
            return response

        async def astreaming(
            self, model: str, messages: list[Any], *args: Any, **kwargs: Any
        ) -> Any:
            request = self._request(model, messages, kwargs.get("optional_params") or {})
            async for chunk in self._backend().stream(request):
                if "text" in chunk:
                    yield {
                        "text": chunk["text"],
                        "tool_use": None,
                        "is_finished": False,
                        "finish_reason": "",
                        "usage": None,
                        "index": 0,
                    }
                elif "tool_call" in chunk:
                    tc = chunk["tool_call"]
                    yield {
                        "text": "",
                        "is_finished": False,
                        "finish_reason": "",
                        "usage": None,
                        "index": 0,
                        "tool_use": {
                            "id": tc.get("id"),
                            "type": "function",
                            "index": tc.get("index", 0),
                            "function": {
                                "name": tc.get("name"),
                                "arguments": tc.get("arguments", ""),
                            },
                        },
                    }
                elif "finish" in chunk:
                    fin = chunk["finish"]
                    u: Usage = fin.get("usage") or Usage()
                    yield {
                        "text": "",
                        "tool_use": None,
                        "is_finished": True,
                        "finish_reason": fin.get("finish_reason") or "stop",
                        "index": 0,
                        "usage": {
                            "prompt_tokens": u.input_tokens,
                            "completion_tokens": u.output_tokens,
                            "total_tokens": u.total_tokens or u.input_tokens + u.output_tokens,
                        },
                    }

        def completion(self, model: str, messages: list[Any], *args: Any, **kwargs: Any) -> Any:
            return asyncio.run(self.acompletion(model, messages, *args, **kwargs))

    _ADAPTER = _Adapter
    return _Adapter


# ---------------------------------------------------------------------------- calls
def _with_cache_control(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Mark the system prompt cacheable (Anthropic-style ``cache_control``)."""
    out = []
    for message in messages:
        if message.get("role") == "system" and isinstance(message.get("content"), str):
            message = {
                **message,
                "content": [
                    {
                        "type": "text",
                        "text": message["content"],
                        "cache_control": {"type": "ephemeral"},
                    }
                ],
            }
        out.append(message)
    return out


def _usage_from(raw: Any) -> Usage:
    if raw is None:
        return Usage(requests=1)

    def get(obj: Any, name: str) -> Any:
        return obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)

    details = get(raw, "prompt_tokens_details")
    cached = (
        (get(details, "cached_tokens") if details is not None else None)
        or get(raw, "cache_read_input_tokens")
        or 0
    )
    inp = int(get(raw, "prompt_tokens") or 0)
    outp = int(get(raw, "completion_tokens") or 0)
    return Usage(
        input_tokens=inp,
        output_tokens=outp,
        total_tokens=int(get(raw, "total_tokens") or inp + outp),
        cache_read_input_tokens=int(cached or 0),
        cache_creation_input_tokens=int(get(raw, "cache_creation_input_tokens") or 0),
        requests=1,
    )


_PRICES: dict[str, tuple[float, float]] = {}
_UNPRICED: dict[str, int] = {}  # models litellm had no price for -> len(litellm.model_cost) then


def set_price(model: str, input_per_token: float, output_per_token: float) -> None:
    """Price a model litellm does not know (a custom or fine-tuned one), in USD per token."""
    _PRICES[model] = (input_per_token, output_per_token)


def _cost(lit: Any, model: str, usage: Usage) -> float | None:
    if model in _PRICES:
        inp, out = _PRICES[model]
        return usage.input_tokens * inp + usage.output_tokens * out
    # litellm searches its whole price list before it gives up on a model it does not know
    # (a test double's, every turn): remember the miss until a model is added to the list.
    known = len(getattr(lit, "model_cost", None) or ())
    if _UNPRICED.get(model) == known:
        return None
    try:
        prompt_cost, completion_cost = lit.cost_per_token(
            model=model, prompt_tokens=usage.input_tokens, completion_tokens=usage.output_tokens
        )
    except Exception:
        _UNPRICED[model] = known
        return None
    return float(prompt_cost) + float(completion_cost)


async def complete(
    model: str,
    messages: list[dict[str, Any]],
    *,
    tools: list[dict[str, Any]] | None = None,
    tool_choice: Any = None,
    response_format: dict[str, Any] | None = None,
    stream: bool = False,
    on_text: Callable[[str], None] | None = None,
    prompt_cache: bool = False,
    **params: Any,
) -> LLMResponse:
    """Call ``model`` (a litellm model string) once and return the assistant turn.

    With ``stream=True`` the reply is streamed and ``on_text`` is called with each text
    delta as it arrives; the return value is the same complete :class:`LLMResponse`.
    Extra keyword arguments (``temperature``, ``reasoning_effort``, ``reasoning``, …)
    are passed to the provider unchanged. Raises :class:`LLMError` if the call fails and
    :class:`ModelRequestBlockedError` if network model requests are disabled.
    """
    prefix = model.split("/", 1)[0] if "/" in model else ""
    if prefix not in _OFFLINE_PREFIXES and not model_requests_allowed():
        raise ModelRequestBlockedError(model)
    # Credentials this call may use (or a provider error may echo) are never journaled.
    _secrets.register_env()
    _secrets.register_kwargs(params)
    provider, _, name = model.partition("/") if prefix else ("", "", model)
    with (
        _tracing.span(
            f"chat {model}",
            {
                "gen_ai.operation.name": "chat",
                "gen_ai.provider.name": provider or None,
                "gen_ai.request.model": name,
                "polos.llm.model": model,
                "polos.llm.stream": stream,
            },
        ) as span,
        library_warnings_shown(),
    ):
        if prefix == "polos-local" and prefix not in _BACKENDS:
            from ._local import ensure_local_backend

            ensure_local_backend()
        reply = await _complete(
            model,
            prefix,
            messages,
            tools=tools,
            tool_choice=tool_choice,
            response_format=response_format,
            stream=stream,
            on_text=on_text,
            prompt_cache=prompt_cache,
            params=params,
        )
        if span.recording:
            usage = reply.usage
            span.set("gen_ai.usage.input_tokens", usage.input_tokens)
            span.set("gen_ai.usage.output_tokens", usage.output_tokens)
            span.set("polos.llm.cost_usd", usage.cost_usd)
            span.set("polos.llm.tool_calls", len(reply.tool_calls))
            if reply.finish_reason:
                span.set("gen_ai.response.finish_reasons", [str(reply.finish_reason)])
        return reply


async def _complete(
    model: str,
    prefix: str,
    messages: list[dict[str, Any]],
    *,
    tools: list[dict[str, Any]] | None,
    tool_choice: Any,
    response_format: dict[str, Any] | None,
    stream: bool,
    on_text: Callable[[str], None] | None,
    prompt_cache: bool,
    params: dict[str, Any],
) -> LLMResponse:
    # The first import of litellm takes seconds: keep it off the caller's event loop.
    lit = _LITELLM if _LITELLM is not None else await asyncio.to_thread(_lit)
    kwargs: dict[str, Any] = dict(params)
    if prefix in _BACKENDS:
        # Custom providers declare no supported OpenAI params; let every given one through.
        kwargs["allowed_openai_params"] = sorted(
            set(params) | {"tool_choice", "response_format", "tools"}
        )
    if tools:
        kwargs["tools"] = tools
        if tool_choice is not None:
            kwargs["tool_choice"] = tool_choice
    if response_format is not None:
        kwargs["response_format"] = response_format
    if prompt_cache and prefix == "anthropic":
        messages = _with_cache_control(messages)
    try:
        if not stream:
            resp = await lit.acompletion(
                model=model, messages=messages, _skip_mcp_handler=True, **kwargs
            )
            choice = resp.choices[0]
            msg = choice.message
            calls = [
                ToolCall(
                    id=c.id or f"call_{i}",
                    name=c.function.name or "",
                    arguments=c.function.arguments or "{}",
                )
                for i, c in enumerate(msg.tool_calls or [])
            ]
            usage = _usage_from(getattr(resp, "usage", None))
            content = (
                msg.content
                if isinstance(msg.content, str) or msg.content is None
                else str(msg.content)
            )
            finish = choice.finish_reason
        else:
            resp = await lit.acompletion(
                model=model,
                messages=messages,
                stream=True,
                stream_options={"include_usage": True},
                _skip_mcp_handler=True,
                **kwargs,
            )
            parts: list[str] = []
            pending: dict[int, dict[str, str]] = {}
            raw_usage: Any = None
            finish = None
            async for chunk in resp:
                if getattr(chunk, "usage", None) is not None:
                    raw_usage = chunk.usage
                if not chunk.choices:
                    continue
                choice = chunk.choices[0]
                delta = choice.delta
                text = getattr(delta, "content", None)
                if text:
                    parts.append(text)
                    if on_text is not None:
                        on_text(text)
                for tc in getattr(delta, "tool_calls", None) or []:
                    entry = pending.setdefault(
                        tc.index or 0, {"id": "", "name": "", "arguments": ""}
                    )
                    if tc.id:
                        entry["id"] = tc.id
                    if tc.function is not None:
                        if tc.function.name:
                            entry["name"] = tc.function.name
                        if tc.function.arguments:
                            entry["arguments"] += tc.function.arguments
                if choice.finish_reason:
                    finish = choice.finish_reason
            calls = [
                ToolCall(
                    id=e["id"] or f"call_{i}", name=e["name"], arguments=e["arguments"] or "{}"
                )
                for i, e in sorted(pending.items())
            ]
            content = "".join(parts) or None
            usage = _usage_from(raw_usage)
    except (LLMError, UserError):
        raise
    except Exception as exc:
        raise LLMError(model, f"{type(exc).__name__}: {exc}") from exc
    hidden = getattr(resp, "_hidden_params", None) if not stream else None
    if isinstance(hidden, dict) and hidden.get(_PRICED):
        usage.cost_usd = hidden.get("response_cost")  # priced by the in-process backend
    else:
        usage.cost_usd = _cost(lit, model, usage)
    return LLMResponse(
        content=content, tool_calls=calls, usage=usage, model=model, finish_reason=finish
    )

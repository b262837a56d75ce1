"""``Agent``: a durable workflow whose body is the agent loop."""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from pydantic import BaseModel

from polos_nb import _secrets
from polos_nb.engine import (
    ExecutionHandle,
    PolosClient,
    Workflow,
    WorkflowContext,
    register_workflow,
)
from polos_nb.errors import SignatureError, UserError
from polos_nb.llm import litellm_model
from polos_nb.tools import Tool

from ._loop import AgentInput, env_max_steps, run_agent
from ._results import AgentResult
from ._stream import StreamResult
from .guardrails import as_guardrails
from .hooks import HOOK_POINTS, as_hooks
from .memory import CompactionConfig
from .stop_conditions import StopCondition

__all__ = ["Agent", "AgentRunConfig"]

_NO_INPUT: Any = object()
"""``input`` not given to ``Agent.run`` / ``Agent.stream`` (a clear error, not Python's)."""


class AgentRunConfig:
    """An agent with the input of one run, for ``ctx.step.agent_invoke*``,
    ``ctx.step.batch_agent_invoke*`` and ``batch_agent_invoke``.

    ``agent.with_input("...")`` builds one; so does
    ``AgentRunConfig(agent=agent, input="...", session_id="s1")``.

    Args:
        agent: the :class:`Agent` to run.
        input: a prompt or a list of chat messages.
        session_id: picks the agent's conversation memory (as ``conversation_id``).
            Outside a workflow the run is also recorded under it; inside one, the child
            run belongs to the parent's session.
        user_id: recorded with a run started outside a workflow (a child has its
            parent's).
        streaming: publish the reply's text as ``text_delta`` events.
        initial_state: the run's state, for an agent whose workflow has a state schema.
        run_timeout_seconds: fail the run after this long.
        conversation_id: polos_nb's name for the conversation; wins over ``session_id``.
        **kwargs: passed to the provider unchanged (``temperature=0``), as in ``agent.run``.
    """

    def __init__(
        self,
        agent: Agent,
        input: Any,
        session_id: str | None = None,
        user_id: str | None = None,
        streaming: bool = False,
        initial_state: Any = None,
        run_timeout_seconds: float | None = None,
        *,
        conversation_id: str | uuid.UUID | None = None,
        **kwargs: Any,
    ) -> None:
        self.agent = agent
        self.workflow = agent
        self.input = input
        self.session_id = session_id
        self.user_id = user_id
        self.streaming = streaming
        self.initial_state = initial_state
        self.run_timeout_seconds = run_timeout_seconds
        self.conversation_id = conversation_id
        self.kwargs = kwargs

    @property
    def payload(self) -> dict[str, Any]:
        """The agent run's payload, as journaled."""
        cid = self.conversation_id if self.conversation_id is not None else self.session_id
        return self.agent._payload(
            self.input, streaming=self.streaming, conversation_id=cid, provider_kwargs=self.kwargs
        )

    def __repr__(self) -> str:
        return f"<AgentRunConfig {self.agent.id!r} input={self.input!r:.60}>"


def _model_string(provider: str, model: Any) -> str:
    # A model object (e.g. polos_nb.testing.ScriptedModel) names its own litellm model.
    explicit = getattr(model, "litellm_model", None)
    if isinstance(explicit, str):
        return explicit
    if not isinstance(model, str) or not model:
        raise UserError(f"Agent model must be a model name such as 'gpt-4o' (got {model!r}).")
    return litellm_model(provider, model)


class Agent(Workflow):
    """An LLM agent: a durable workflow (``workflow_type="agent"``) whose body is the loop.

    ```python
    agent = Agent(id="weather-agent", provider="openai", model="gpt-4o",
                  system_prompt="You are a helpful weather assistant.", tools=[get_weather])
    response = await agent.run(client, "What's the weather in NYC?")
    print(response.result)
    ```

    The positional order of the arguments is upstream Polos's, up to ``stream_to_workflow``
    (``Agent("id", "openai", "gpt-4o", "a description", "the system prompt")``); the
    arguments after it are keywords only.

    Args:
        id: unique id; the agent is registered under it (defining it again replaces it).
        provider: ``openai``, ``anthropic``, ``gemini``, ``groq``, ``fireworks``, ``together``,
            ``azure``, ``local`` (Gemma 3 270M in-process, the ``local`` extra), ``fake``
            (test doubles) or ``litellm`` (``model`` is then a full litellm model string).
        model: the provider's model name, or a test double from ``polos_nb.testing``.
        description: what the agent does, in a sentence (for people, and for agents that
            pick among agents).
        system_prompt: instructions sent first in every call.
        tools: ``@tool`` functions (and ``create_ask_user_tool()``, ``create_web_search_tool()``),
            and tools the provider runs itself, given as their definition dicts (e.g.
            ``{"type": "web_search_20250305", "name": "web_search"}`` for Anthropic): those
            are sent to the model unchanged (in ``agent.provider_tools``) and never run here.
        output_schema: a Pydantic class; ``result`` is then a validated instance. A reply
            that does not validate is sent back with the error, at most ``output_retries`` times.
        stop_conditions: checked after every step that ran tools (see ``stop_conditions``);
            a plain ``fn(ctx) -> bool`` (sync or async) is taken as a condition too.
            Without a ``max_steps`` condition the run stops after ``$POLOS_AGENT_MAX_STEPS``
            (default 10) steps, with ``stop_reason="max_steps_cap"``.
        guardrails / input_guardrails: checks on every reply / on the prompt.
        on_start, on_end, on_agent_step_start, on_agent_step_end, on_tool_start, on_tool_end:
            lifecycle hooks (a function or a list).
        compaction: ``CompactionConfig`` for conversation memory.
        prompt_cache: mark the system prompt cacheable where the provider needs it (Anthropic).
        llm_retries: retries of a failed model call (network errors), each journaled.
        channels: notification channels (``polos_nb.channels``) told when a run of this
            agent waits for an approval or an answer, instead of the client's.
        temperature, max_output_tokens, **provider_kwargs: passed to every model call.
        provider_base_url: the provider's endpoint, e.g. an OpenAI-compatible server
            (``http://localhost:11434/v1``); sent to every call as litellm's ``api_base``.
        provider_llm_api: upstream's choice of OpenAI API (``"responses"`` or
            ``"chat_completions"``); recorded only: litellm picks the API for the model.
    """

    workflow_type = "agent"

    def __init__(
        self,
        id: str,
        provider: str = "openai",
        model: Any = "gpt-4o",
        description: str | None = None,
        system_prompt: str | None = None,
        tools: Sequence[Tool | dict[str, Any]] | None = None,
        temperature: float | None = None,
        max_output_tokens: int | None = None,
        provider_base_url: str | None = None,
        provider_llm_api: str | None = None,
        queue: Any = None,
        stop_conditions: Sequence[StopCondition | Callable[..., Any]] | None = None,
        output_schema: type[BaseModel] | None = None,
        on_start: Any = None,
        on_end: Any = None,
        on_agent_step_start: Any = None,
        on_agent_step_end: Any = None,
        on_tool_start: Any = None,
        on_tool_end: Any = None,
        guardrails: list[Any] | None = None,
        guardrail_max_retries: int = 2,
        compaction: CompactionConfig | None = None,
        stream_to_workflow: bool = False,
        *,
        input_guardrails: list[Any] | None = None,
        output_retries: int = 2,
        prompt_cache: bool = True,
        llm_retries: int = 2,
        channels: list[Any] | None = None,
        **provider_kwargs: Any,
    ) -> None:
        self.provider = provider
        self.model = model
        if provider_llm_api not in (None, "responses", "chat_completions"):
            raise UserError(
                f"Agent {id!r}: provider_llm_api is 'responses' or 'chat_completions' "
                f"(got {provider_llm_api!r})."
            )
        self.provider_base_url = provider_base_url
        self.provider_llm_api = provider_llm_api
        if provider_base_url is not None:
            provider_kwargs.setdefault("api_base", provider_base_url)
        self.litellm_model = _model_string(provider, model)
        self.system_prompt = system_prompt
        # A dict is a tool the provider runs itself (e.g. Anthropic's web search); it is
        # sent to the model as given, and never run here.
        self.provider_tools: list[dict[str, Any]] = [t for t in tools or [] if isinstance(t, dict)]
        self.tools: list[Tool] = [t for t in tools or [] if not isinstance(t, dict)]
        for t in self.tools:
            if not isinstance(t, Tool):
                raise UserError(
                    f"Agent {id!r}: tools must be @tool functions or provider tool "
                    f"definitions (dicts), got {t!r}."
                )
        ids = [t.id for t in self.tools]
        if len(set(ids)) != len(ids):
            raise UserError(
                f"Agent {id!r}: two tools share an id: {sorted(i for i in ids if ids.count(i) > 1)}."
            )
        if output_schema is not None and not (
            isinstance(output_schema, type) and issubclass(output_schema, BaseModel)
        ):
            raise UserError(
                f"Agent {id!r}: output_schema must be a Pydantic model class (got {output_schema!r})."
            )
        self.output_schema = output_schema
        self.stop_conditions = [
            StopCondition(c) if callable(c) and not isinstance(c, StopCondition) else c
            for c in stop_conditions or []
        ]
        for cond in self.stop_conditions:
            if not isinstance(cond, StopCondition):
                raise SignatureError(
                    f"Invalid stop_condition for agent {id!r}: {cond!r}. stop_conditions takes "
                    "StopCondition objects such as max_steps(MaxStepsConfig(limit=10)), "
                    "or functions (ctx) -> bool."
                )
        self.guardrails = as_guardrails(guardrails)
        self.input_guardrails = as_guardrails(input_guardrails)
        self.guardrail_max_retries = guardrail_max_retries
        self.output_retries = output_retries
        hooks = {
            "on_start": on_start,
            "on_end": on_end,
            "on_agent_step_start": on_agent_step_start,
            "on_agent_step_end": on_agent_step_end,
            "on_tool_start": on_tool_start,
            "on_tool_end": on_tool_end,
        }
        self.hooks = {point: as_hooks(hooks[point]) for point in HOOK_POINTS}
        self.compaction = compaction or CompactionConfig()
        self.prompt_cache = prompt_cache
        self.llm_retries = llm_retries
        self.stream_to_workflow = stream_to_workflow
        _secrets.register_kwargs(provider_kwargs)  # never journaled nor displayed
        self.provider_kwargs = dict(provider_kwargs)
        if temperature is not None:
            if not isinstance(temperature, (int, float)) or not math.isfinite(temperature):
                raise UserError(
                    f"Agent {id!r}: temperature must be a finite number such as 0.2 "
                    f"(got {temperature!r})."
                )
            self.provider_kwargs["temperature"] = temperature
        if max_output_tokens is not None:
            self.provider_kwargs["max_tokens"] = max_output_tokens
        self.temperature = temperature
        self.max_output_tokens = max_output_tokens

        async def agent_loop(ctx: WorkflowContext, payload: Any) -> AgentResult:
            return await run_agent(self, ctx, payload)

        agent_loop.__name__ = id
        super().__init__(
            agent_loop,
            id=id,
            description=description or system_prompt,
            queue=queue,
            channels=channels,
        )
        # upstream's attributes: each hook point's hooks (the loop runs them, not Workflow.call)
        self.on_start = self.hooks["on_start"]
        self.on_end = self.hooks["on_end"]
        self.on_agent_step_start = self.hooks["on_agent_step_start"]
        self.on_agent_step_end = self.hooks["on_agent_step_end"]
        self.on_tool_start = self.hooks["on_tool_start"]
        self.on_tool_end = self.hooks["on_tool_end"]
        register_workflow(self)

    def __repr__(self) -> str:
        return f"<Agent {self.id!r} model={self.litellm_model!r}>"

    async def call(self, ctx: WorkflowContext, payload: Any) -> Any:
        """Run the agent loop once; it runs the agent's hooks itself, on_start and on_end
        included (with the agent's payload shape), so the workflow hook runner is skipped."""
        return await self.call_body(ctx, payload)

    def step_cap(self) -> int:
        """The most steps a run takes: the ``max_steps`` limit, else ``$POLOS_AGENT_MAX_STEPS``."""
        found = [getattr(c, "max_steps_limit", None) for c in self.stop_conditions]
        limits: list[int] = [x for x in found if x is not None]
        return min(limits) if limits else env_max_steps()

    # ------------------------------------------------------------------ payloads
    def _payload(
        self, input: Any, *, streaming: bool, conversation_id: Any, provider_kwargs: dict[str, Any]
    ) -> dict[str, Any]:
        if isinstance(input, BaseModel) and not isinstance(input, AgentInput):
            input = input.model_dump_json()
        _secrets.register_kwargs(provider_kwargs)  # journaled as a fingerprint, never the value
        return AgentInput(
            input=input,
            streaming=streaming,
            conversation_id=str(conversation_id) if conversation_id is not None else None,
            provider_kwargs=provider_kwargs,
        ).model_dump()

    def with_input(
        self,
        input: Any,
        initial_state: Any = None,
        session_id: str | None = None,
        user_id: str | None = None,
        streaming: bool = False,
        run_timeout_seconds: float | None = None,
        *,
        conversation_id: str | uuid.UUID | None = None,
        **provider_kwargs: Any,
    ) -> AgentRunConfig:
        """This agent with an input, for ``ctx.step.agent_invoke_and_wait(key, config)``
        and the batch forms (see :class:`AgentRunConfig` for the arguments).

        ``input`` is a prompt or a list of chat messages (e.g. another agent's
        ``result.messages`` plus a new user message: a hand-off).
        """
        return AgentRunConfig(
            self,
            input,
            session_id=session_id,
            user_id=user_id,
            streaming=streaming,
            initial_state=initial_state,
            run_timeout_seconds=run_timeout_seconds,
            conversation_id=conversation_id,
            **provider_kwargs,
        )

    # ------------------------------------------------------------------ running
    def _input_after_client(self, client: Any, input: Any, method: str) -> Any:
        """``input`` as given; a call with one argument, or whose first argument is not a
        client, is refused with the call it should have been."""
        call = f"{self._call_name}.{method}"
        if input is _NO_INPUT:
            self._require_client(client, call, given=client)
            raise TypeError(
                f"{call}() needs the input after the client: `await {call}(client, 'your prompt')`."
            )
        self._require_client(client, call, given=input)
        return input

    async def invoke(  # type: ignore[override]
        self,
        client: PolosClient,
        input: Any = None,
        *,
        conversation_id: str | uuid.UUID | None = None,
        session_id: str | None = None,
        user_id: str | None = None,
        streaming: bool = False,
        initial_state: Any = None,
        run_timeout_seconds: float | None = None,
        **provider_kwargs: Any,
    ) -> ExecutionHandle:
        """Start a run and return its handle at once (``await handle`` gives the AgentResult).

        ``initial_state`` and ``run_timeout_seconds`` are the run's, as for a workflow;
        other keyword arguments go to the provider unchanged.
        """
        self._require_client(client, f"{self._call_name}.invoke", given=input)
        if isinstance(input, dict) and "input" in input:
            payload = input
        else:
            cid = conversation_id if conversation_id is not None else session_id
            payload = self._payload(
                input, streaming=streaming, conversation_id=cid, provider_kwargs=provider_kwargs
            )
        return await super().invoke(
            client,
            payload,
            session_id=session_id,
            user_id=user_id,
            initial_state=initial_state,
            run_timeout_seconds=run_timeout_seconds,
        )

    async def run(  # type: ignore[override]
        self,
        client: PolosClient,
        input: Any = _NO_INPUT,
        *,
        conversation_id: str | uuid.UUID | None = None,
        session_id: str | None = None,
        user_id: str | None = None,
        timeout: float | None = 600.0,
        initial_state: Any = None,
        run_timeout_seconds: float | None = None,
        **provider_kwargs: Any,
    ) -> AgentResult:
        """Run the agent to the end and return its :class:`AgentResult`.

        Keyword arguments other than the ones named here go to the provider unchanged
        (e.g. ``reasoning={"effort": "medium"}``, ``temperature=0``).
        """
        input = self._input_after_client(client, input, "run")
        handle = await self.invoke(
            client,
            input,
            conversation_id=conversation_id,
            session_id=session_id,
            user_id=user_id,
            initial_state=initial_state,
            run_timeout_seconds=run_timeout_seconds,
            **provider_kwargs,
        )
        return await client.wait_for_result(handle.id, timeout=timeout)

    async def stream(
        self,
        client: PolosClient,
        input: Any = _NO_INPUT,
        *,
        conversation_id: str | uuid.UUID | None = None,
        session_id: str | None = None,
        user_id: str | None = None,
        initial_state: Any = None,
        run_timeout_seconds: float | None = None,
        **provider_kwargs: Any,
    ) -> StreamResult:
        """Start a streaming run; iterate ``text_chunks`` or ``events``, then ``await result()``."""
        input = self._input_after_client(client, input, "stream")
        handle = await self.invoke(
            client,
            input,
            conversation_id=conversation_id,
            session_id=session_id,
            user_id=user_id,
            streaming=True,
            initial_state=initial_state,
            run_timeout_seconds=run_timeout_seconds,
            **provider_kwargs,
        )
        return StreamResult(handle, client, guarded=bool(self.guardrails))

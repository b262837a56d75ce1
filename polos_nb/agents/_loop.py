"""The agent loop: one run = one execution; each LLM call and each tool call is a step.

Step keys (readable in the journal):

===============================  ==============================================
``memory:load`` / ``:store``     read / append the conversation topic
``llm:<n>``                      the n-th LLM call; retries ``llm:<n>#retry<k>``
``guardrail:<n>:<i>[#retry<k>]`` output guardrail i on that reply
``tool:<n>:<call id>:<name>``    one tool call (the calls of a turn run in parallel)
``ask_user:<n>:<call id>``       a suspension for the ``ask_user`` tool
``approve_<tool>_<n>_<call id>`` a suspension asking a human to approve a tool call
                                 (see ``_approvals``; older journals: ``approve:<n>:<call id>``)
``hook:<point>:<where>:<i>``     a lifecycle hook
===============================  ==============================================
"""

from __future__ import annotations

import asyncio
import json
import os
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from polos_nb import _secrets
from polos_nb.contracts import (
    AGENT_STEP_END,
    AGENT_STEP_START,
    COMPACT_STEP_KEY,
    STREAM_START,
    TEXT_DELTA,
    TEXT_FINAL,
    TOOL_CALL,
    TOOL_CALL_FINISH,
    TOOL_CALL_START,
    llm_step_key,
    tool_step_key,
)
from polos_nb.engine import RetryPolicy, WorkflowContext
from polos_nb.errors import (
    GuardrailFailedError,
    HookFailedError,
    OutputValidationError,
    StepExecutionError,
    UserError,
)
from polos_nb.llm import LLMResponse, ToolCall, Usage, complete, parse_structured, response_format
from polos_nb.tools import ApprovalRequired, Tool, ToolArgumentsError, ToolRetry
from polos_nb.tools._approval import APPROVAL

from . import memory
from ._approvals import approval_key, approval_request, legacy_approval_key, rejection_message
from ._results import AgentResult, AgentStep, StopConditionContext, ToolResult
from ._stream import text_catch_up
from .guardrails import Guardrail, GuardrailContext, GuardrailResult
from .hooks import AgentConfig, HookAction, HookContext, HookResult

if TYPE_CHECKING:
    from ._agent import Agent

__all__ = ["AgentInput", "run_agent"]

DEFAULT_MAX_STEPS = 10


class AgentInput(BaseModel):
    """The payload of an agent execution."""

    input: Any = ""
    streaming: bool = False
    conversation_id: str | None = None
    provider_kwargs: dict[str, Any] = {}


def _to_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, BaseModel):
        return value.model_dump_json()
    try:
        return json.dumps(value, default=str)
    except Exception:
        return str(value)


def _jsonable(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    try:
        json.dumps(value)
        return value
    except Exception:
        return _to_text(value)


def _input_messages(value: Any) -> list[dict[str, Any]]:
    if isinstance(value, str):
        return [{"role": "user", "content": value}]
    if isinstance(value, list) and all(isinstance(m, dict) and "role" in m for m in value):
        return [dict(m) for m in value]
    if isinstance(value, BaseModel):
        return [{"role": "user", "content": value.model_dump_json()}]
    raise UserError(
        f"An agent's input must be a string or a list of chat messages ({{'role': ..., 'content': ...}}), "
        f"got {type(value).__name__}."
    )


def _unique_call_ids(response: LLMResponse, n: int, used: set[str] | None = None) -> LLMResponse:
    """Give every tool call of a reply a non-empty id that no other call of the run has
    (ids name the tool steps and the approvals; a model may repeat an id, e.g. after a
    restart). ``used`` holds the ids of the run's earlier steps. Deterministic, so a replay
    renames exactly as the first run did."""
    seen: set[str] = set(used or ())
    calls = []
    changed = False
    for i, call in enumerate(response.tool_calls):
        call_id = call.id or f"call_{n}_{i}"
        if call_id in seen:
            call_id = f"{call_id}_{i}"
        while call_id in seen:
            call_id = f"{call_id}_{n}"
        if call_id != call.id:
            call = call.model_copy(update={"id": call_id})
            changed = True
        seen.add(call_id)
        calls.append(call)
    return response.model_copy(update={"tool_calls": calls}) if changed else response


def build_agent_config(agent: Agent, provider_kwargs: dict[str, Any]) -> AgentConfig:
    """The :class:`AgentConfig` hooks and guardrails see for ``agent`` (upstream's fields).

    ``provider_kwargs`` are the run's own options; credentials are left out."""
    run_kwargs = {
        k: v
        for k, v in provider_kwargs.items()
        if not _secrets.is_credential_name(k) and not isinstance(v, _secrets.Redacted)
    }
    schema = agent.output_schema
    return AgentConfig(
        name=agent.id,
        provider=agent.provider or "",
        model=agent.model if isinstance(agent.model, str) else agent.litellm_model,
        tools=[t.definition() for t in agent.tools] + [dict(t) for t in agent.provider_tools],
        system_prompt=agent.system_prompt,
        max_output_tokens=agent.max_output_tokens,
        temperature=agent.temperature,
        provider_base_url=agent.provider_base_url,
        provider_llm_api=agent.provider_llm_api,
        provider_kwargs=run_kwargs or None,
        output_schema=schema.model_json_schema() if schema is not None else None,
        output_schema_name=schema.__name__ if schema is not None else None,
        guardrail_max_retries=agent.guardrail_max_retries,
    )


class _Run:
    def __init__(self, agent: Agent, ctx: WorkflowContext, payload: AgentInput) -> None:
        self.agent = agent
        self.ctx = ctx
        self.payload = payload
        self.conversation_id = payload.conversation_id or ctx.session_id
        self.steps: list[AgentStep] = []
        self.tool_results: list[ToolResult] = []
        self.usage = Usage()
        self.llm_calls = 0
        self.transcript: list[dict[str, Any]] = []
        self.n = 0
        self.call_ids: set[str] = set()  # tool call ids of the run's accepted replies
        self.tools: dict[str, Tool] = {t.id: t for t in agent.tools}
        # A credential given to an earlier process reads back as "[redacted]": leave it out,
        # so the provider falls back to the agent's own or the environment's credential.
        self.params = {
            k: v
            for k, v in {**agent.provider_kwargs, **payload.provider_kwargs}.items()
            if not isinstance(v, _secrets.Redacted)
        }
        self.streaming = payload.streaming or agent.stream_to_workflow
        self._attempts: dict[str, int] = {}
        self._always_approved: set[str] = set()  # tools approved "always" earlier in this run
        self._turn_replayed = False
        self._fresh_tools = False
        self._agent_config: AgentConfig | None = None

    @property
    def agent_config(self) -> AgentConfig:
        """What hooks (``agent_config``) and guardrails (``llm_config``) see; built once."""
        if self._agent_config is None:
            self._agent_config = build_agent_config(self.agent, self.payload.provider_kwargs)
        return self._agent_config

    # ------------------------------------------------------------------ helpers
    def emit(self, event_type: str, data: dict[str, Any]) -> None:
        self.ctx.emit(event_type, data)

    def _hook_ctx(self, point: str, **fields: Any) -> HookContext:
        return HookContext(
            hook_point=point,
            workflow_id=self.agent.id,
            agent_id=self.agent.id,
            agent_run_id=self.ctx.execution_id,
            session_id=self.ctx.session_id,
            user_id=self.ctx.user_id,
            conversation_id=self.conversation_id,
            steps=list(self.steps),
            current_step=self.n,
            agent_config=self.agent_config,
            **fields,
        )

    async def _run_hooks(
        self, point: str, where: str, *, fail_raises: bool = True, **fields: Any
    ) -> HookResult:
        """Run the hooks of ``point`` in order; returns the merged decision."""
        merged = HookResult()
        payload, output = fields.get("current_payload"), fields.get("current_output")
        for i, h in enumerate(self.agent.hooks[point]):
            hctx = self._hook_ctx(
                point, **{**fields, "current_payload": payload, "current_output": output}
            )

            async def call(h: Any = h, hctx: HookContext = hctx) -> HookResult:
                return await h.call(self.ctx, hctx)

            result: HookResult = await self.ctx.step.run(
                f"hook:{point}:{where}:{i}", call, max_retries=0
            )
            if result.action == HookAction.FAIL:
                if fail_raises:
                    raise HookFailedError(h.name, result.error_message or "failed")
                return result
            if result.modified_payload is not None:
                payload = result.modified_payload
                merged.modified_payload = payload
            if result.modified_output is not None:
                output = result.modified_output
                merged.modified_output = output
        return merged

    # ------------------------------------------------------------------ memory
    async def _load_memory(self) -> list[dict[str, Any]]:
        if not self.conversation_id:
            return []
        topic = memory.conversation_topic(self.agent.id, self.conversation_id)
        events = await self.ctx.step.read_topic("memory:load", topic)
        summary, turns = memory.history_from_events(events)
        config = self.agent.compaction
        history = [m for _, msgs in turns for m in msgs]
        if (
            config.enabled
            and turns
            and memory.estimate_tokens(history) > config.max_conversation_tokens
        ):
            fold, kept = memory.split_for_compaction(turns, config)
            if fold:
                summary = await self._summarise(
                    summary, [m for _, msgs in fold for m in msgs], config
                )
                await self.ctx.step.publish_event(
                    "memory:compact",
                    topic,
                    {"summary": summary, "through": fold[-1][0]},
                    event_type="compaction",
                )
                turns = kept
                history = [m for _, msgs in turns for m in msgs]
        return (memory.summary_messages(summary) if summary else []) + history

    async def _summarise(
        self, previous: str | None, messages: list[dict[str, Any]], config: Any
    ) -> str:
        text = "\n".join(
            f"{m.get('role')}: {_to_text(m.get('content') or m.get('tool_calls') or '')}"
            for m in messages
        )
        if previous:
            text = f"Earlier summary: {previous}\n\n{text}"
        prompt = [
            {"role": "system", "content": memory.COMPACTION_PROMPT},
            {"role": "user", "content": text},
        ]

        async def call() -> str:
            try:
                reply = await complete(
                    self.agent.litellm_model, prompt, max_tokens=config.max_summary_tokens
                )
            except Exception:
                return previous or ""  # fall back to the recent turns only
            return reply.content or previous or ""

        return await self.ctx.step.run(COMPACT_STEP_KEY, call, max_retries=0)

    async def _store_memory(self, new_messages: list[dict[str, Any]]) -> None:
        if not self.conversation_id:
            return
        topic = memory.conversation_topic(self.agent.id, self.conversation_id)
        await self.ctx.step.publish_event(
            "memory:store",
            topic,
            {"messages": new_messages, "agent_run_id": self.ctx.execution_id},
            event_type="turn",
        )

    # ------------------------------------------------------------------ LLM
    def _messages(self, extra: list[dict[str, Any]]) -> list[dict[str, Any]]:
        system = (
            [{"role": "system", "content": self.agent.system_prompt}]
            if self.agent.system_prompt
            else []
        )
        return system + self.transcript + extra

    async def _llm_call(self, key: str, extra: list[dict[str, Any]]) -> LLMResponse:
        agent = self.agent
        live = self.streaming and not agent.guardrails
        messages = self._messages(extra)
        tools = [t.definition() for t in agent.tools] + agent.provider_tools or None
        fmt = response_format(agent.output_schema) if agent.output_schema is not None else None

        async def call() -> LLMResponse:
            attempt = self._attempts[key] = self._attempts.get(key, 0) + 1
            index = 0
            streamed: list[str] = []  # this attempt's text so far, for a reader who joins now

            def on_text(text: str) -> None:
                nonlocal index
                streamed.append(text)
                self.emit(TEXT_DELTA, {"step": key, "content": text, "chunk_index": index})
                index += 1

            forget = None
            if live:
                self.emit(STREAM_START, {"step": key, "attempt": attempt})
                forget = self.ctx.catch_up(key, lambda: text_catch_up(key, attempt, streamed))
            try:
                return await complete(
                    agent.litellm_model,
                    messages,
                    tools=tools,
                    response_format=fmt,
                    stream=live,
                    on_text=on_text if live else None,
                    prompt_cache=agent.prompt_cache,
                    **self.params,
                )
            finally:
                if forget is not None:
                    forget()

        policy = RetryPolicy(
            max_retries=agent.llm_retries, base_delay=0.5, max_delay=8.0, non_retryable=(UserError,)
        )
        n = self.n

        def tool_call_events(reply: LLMResponse) -> list[tuple[str, dict[str, Any]]]:
            # Upstream publishes a streamed reply's tool calls as durable `tool_call` events;
            # they are journaled with the reply, so a replay does not repeat them.
            if not live:
                return []
            return [
                (
                    TOOL_CALL,
                    {
                        "step": n,
                        "chunk_index": i,
                        "content": None,
                        "tool_call": c.to_event(),
                        "usage": None,
                    },
                )
                for i, c in enumerate(_unique_call_ids(reply, n).tool_calls)
            ]

        # A replayed call publishes nothing live: its text was shown when it ran, and
        # StreamResult rebuilds it from the journal for readers who missed it (D22).
        response: LLMResponse = await self.ctx.step.run_with_events(
            key, tool_call_events, call, retry=policy
        )
        self.llm_calls += 1
        return response

    async def _output_guardrails(
        self, key: str, response: LLMResponse, attempt: int
    ) -> tuple[LLMResponse, Any]:
        """Apply every output guardrail; returns the (possibly changed) reply and a retry verdict."""
        content, calls = response.content, list(response.tool_calls)
        for i, g in enumerate(self.agent.guardrails):
            gctx = GuardrailContext(
                kind="output",
                content=content,
                tool_calls=calls,
                agent_id=self.agent.id,
                agent_run_id=self.ctx.execution_id,
                session_id=self.ctx.session_id,
                user_id=self.ctx.user_id,
                conversation_id=self.conversation_id,
                step=self.n,
                attempt=attempt,
                steps=list(self.steps),
                llm_config=self.agent_config,
            )
            gkey = f"guardrail:{self.n}:{i}" + (f"#retry{attempt}" if attempt else "")
            result = await self._guardrail_step(gkey, g, gctx)
            if result.action in (HookAction.FAIL, HookAction.RETRY):
                # Upstream's documented loop: regenerate with the failure as feedback, up to
                # guardrail_max_retries times, then fail the run (_generate counts).
                return response, (g.name, result.error_message or "rejected")
            if result.modified_content is not None:
                content = result.modified_content
            if result.modified_tool_calls is not None:
                calls = [
                    c if isinstance(c, ToolCall) else ToolCall.model_validate(c)
                    for c in result.modified_tool_calls
                ]
        return response.model_copy(update={"content": content, "tool_calls": calls}), None

    async def _guardrail_step(
        self, key: str, g: Guardrail, gctx: GuardrailContext
    ) -> GuardrailResult:
        if g.rule is None:

            async def call() -> GuardrailResult:
                return await g.call(self.ctx, gctx)
        else:
            rule = g.rule

            async def call() -> GuardrailResult:
                fmt = {
                    "type": "json_schema",
                    "json_schema": {
                        "name": "verdict",
                        "strict": True,
                        "schema": {
                            "type": "object",
                            "additionalProperties": False,
                            "required": ["passed", "reason"],
                            "properties": {
                                "passed": {"type": "boolean"},
                                "reason": {"type": "string"},
                            },
                        },
                    },
                }
                text = gctx.content or json.dumps([c.model_dump() for c in gctx.tool_calls])
                reply = await complete(
                    self.agent.litellm_model,
                    [
                        {
                            "role": "system",
                            "content": "You check replies against a rule. Answer with JSON {passed, reason}.",
                        },
                        {"role": "user", "content": f"Rule: {rule}\n\nReply to check:\n{text}"},
                    ],
                    response_format=fmt,
                )
                verdict = json.loads(reply.content or "{}")
                if verdict.get("passed"):
                    return GuardrailResult.continue_with()
                return GuardrailResult.retry(
                    str(verdict.get("reason") or f"The reply breaks the rule: {rule}")
                )

        return await self.ctx.step.run(key, call, max_retries=0)

    async def _generate(self) -> tuple[LLMResponse, Any, Usage]:
        """One agent step's model reply, after guardrails and structured-output checks."""
        agent = self.agent
        extra: list[dict[str, Any]] = []
        usage = Usage()
        attempt = 0
        guard_retries = output_retries = 0
        while True:
            key = llm_step_key(self.n, attempt)
            raw = _unique_call_ids(await self._llm_call(key, extra), self.n, self.call_ids)
            usage = usage + raw.usage
            response, verdict = (
                await self._output_guardrails(key, raw, attempt)
                if agent.guardrails
                else (raw, None)
            )
            if verdict is not None:
                guard_retries += 1
                name, feedback = verdict
                if guard_retries > agent.guardrail_max_retries:
                    raise GuardrailFailedError(
                        name,
                        f"{feedback} (still failing after {agent.guardrail_max_retries} retries)",
                    )
                extra = [
                    {
                        "role": "assistant",
                        "content": raw.content
                        or json.dumps([c.model_dump() for c in raw.tool_calls]),
                    },
                    {
                        "role": "user",
                        "content": f"Your previous reply was rejected ({name}): {feedback} Please revise it.",
                    },
                ]
                attempt += 1
                continue
            parsed: Any = response.content
            if not response.tool_calls and agent.output_schema is not None:
                try:
                    parsed = parse_structured(agent.output_schema, response.content)
                except ValueError as exc:
                    output_retries += 1
                    if output_retries > agent.output_retries:
                        raise OutputValidationError(agent.id, output_retries, str(exc)) from None
                    extra = [
                        {"role": "assistant", "content": response.content or ""},
                        {
                            "role": "user",
                            "content": f"{exc} Reply again with only one JSON object matching the schema.",
                        },
                    ]
                    attempt += 1
                    continue
            if agent.guardrails and self.streaming and not self.ctx.step.recorded(f"text:{self.n}"):
                self.emit(STREAM_START, {"step": key, "attempt": 1})
                if response.content:
                    self.emit(
                        TEXT_DELTA, {"step": key, "content": response.content, "chunk_index": 0}
                    )
                    # Journaled, so a reader who starts late gets the text too; its
                    # _metadata (as live events have) ties it to this run's step.
                    await self.ctx.step.publish_workflow_event(
                        f"text:{self.n}",
                        {
                            "step": key,
                            "content": response.content,
                            "_metadata": {
                                "execution_id": self.ctx.execution_id,
                                "workflow_id": agent.id,
                            },
                        },
                        event_type=TEXT_FINAL,
                    )
            return response, parsed, usage

    # ------------------------------------------------------------------ tools
    def _fail_result(self, call: ToolCall, message: str, arguments: Any = None) -> ToolResult:
        return ToolResult(
            tool_name=call.name,
            tool_call_id=call.id,
            status="failed",
            arguments=arguments,
            error=message,
            step=self.n,
        )

    async def _tool_step(
        self, key: str, tool: Tool, args: Any, approval: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        async def body() -> dict[str, Any]:
            token = APPROVAL.set(approval)
            try:
                value = await tool.invoke(self.ctx, args)
            except ToolRetry:
                raise
            except ApprovalRequired as exc:
                return {"ok": False, "approval": exc.data, "error": str(exc)}
            except Exception as exc:
                return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
            finally:
                APPROVAL.reset(token)
            return {"ok": True, "result": value}

        policy = RetryPolicy(max_retries=tool.max_retries, base_delay=0.5, retry_on=(ToolRetry,))
        try:
            return await self.ctx.step.run(key, body, retry=policy)
        except StepExecutionError as exc:
            return {
                "ok": False,
                "error": f"{(exc.error_type or 'Error').rsplit('.', 1)[-1]}: {exc.error_message}",
            }

    async def _approve(
        self,
        call: ToolCall,
        tool: Tool,
        arguments: Any,
        extra: dict[str, Any],
        *,
        remember: bool = True,
    ) -> dict[str, Any]:
        """Ask a human to approve this tool call (every approval goes through here).

        ``remember=False``: the tool handles "always" itself (``tool_handles_answer``), so
        the run keeps no per-tool "always" for it and every request reaches the human.
        """
        if remember and tool.id in self._always_approved:
            # An earlier answer said "always" for this tool. Deterministic on replay: that
            # answer is a journaled step, replayed before this point.
            return {"approved": True, "always": True}
        extra = {k: v for k, v in extra.items() if k != "_tool_handles_answer"}
        legacy = legacy_approval_key(self.n, call.id)
        key = legacy if self.ctx.step.known(legacy) else approval_key(tool.id, self.n, call.id)
        resp = await self.ctx.step.suspend(key, data=approval_request(tool.id, arguments, extra))
        data = resp.data if isinstance(resp.data, dict) else {}
        if remember and data.get("approved") is True and data.get("always") is True:
            self._always_approved.add(tool.id)
        return dict(data)

    async def _run_tools(self, calls: list[ToolCall]) -> list[ToolResult]:
        n = self.n
        results: dict[str, ToolResult] = {}
        runnable: list[tuple[ToolCall, Tool, Any]] = []
        fresh: dict[str, bool] = {}  # calls whose outcome is decided now (not replayed)
        for call in calls:
            args_json: Any = call.arguments
            tool = self.tools.get(call.name)
            fresh[call.id] = not self._turn_replayed or not (
                self.ctx.step.known(tool_step_key(n, call.id, call.name))
                or self.ctx.step.known(f"ask_user:{n}:{call.id}")
            )
            if fresh[call.id]:
                self.emit(
                    TOOL_CALL_START,
                    {"step": n, "call_id": call.id, "name": call.name, "arguments": call.arguments},
                )
            if tool is None:
                known = ", ".join(sorted(self.tools)) or "none"
                results[call.id] = self._fail_result(
                    call, f"Unknown tool {call.name!r}. Available tools: {known}."
                )
                continue
            try:
                args = tool.parse_arguments(call.arguments)
            except ToolArgumentsError as exc:
                results[call.id] = self._fail_result(call, str(exc), args_json)
                continue
            args_json = args.model_dump(mode="json")
            if self.agent.hooks["on_tool_start"]:
                decision = await self._run_hooks(
                    "on_tool_start",
                    f"{n}:{call.id}",
                    fail_raises=False,
                    current_tool=tool.id,
                    current_payload=args_json,
                )
                if decision.action == HookAction.FAIL:
                    results[call.id] = self._fail_result(
                        call, f"Tool call blocked: {decision.error_message}", args_json
                    )
                    continue
                if isinstance(decision.modified_payload, dict):
                    try:
                        args = tool.parse_arguments({**args_json, **decision.modified_payload})
                    except ToolArgumentsError as exc:
                        results[call.id] = self._fail_result(call, str(exc), args_json)
                        continue
                    args_json = args.model_dump(mode="json")
            if tool.kind == "ask_user":
                resp = await self.ctx.step.suspend(f"ask_user:{n}:{call.id}", data=tool.form(args))  # type: ignore[attr-defined]
                results[call.id] = ToolResult(
                    tool_name=tool.id,
                    tool_call_id=call.id,
                    status="completed",
                    arguments=args_json,
                    result=resp.data,
                    step=n,
                )
                continue
            if tool.approval == "always":
                answer = await self._approve(call, tool, args_json, {})
                if answer.get("approved") is not True:
                    results[call.id] = self._fail_result(
                        call, rejection_message(tool.id, answer), args_json
                    )
                    continue
            runnable.append((call, tool, args))
        outcomes = await asyncio.gather(
            *(
                self._tool_step(tool_step_key(n, call.id, call.name), tool, args)
                for call, tool, args in runnable
            )
        )
        for (call, tool, args), out in zip(runnable, outcomes, strict=False):
            if "approval" in out:  # the tool asked for a human first (ApprovalRequired)
                request = out["approval"] if isinstance(out["approval"], dict) else {}
                own = request.get("_tool_handles_answer") is True
                answer = await self._approve(
                    call,
                    tool,
                    args.model_dump(mode="json"),
                    request,
                    remember=not own,
                )
                if own:  # the tool decides what any answer means: it runs again with it
                    out = await self._tool_step(
                        tool_step_key(n, call.id, call.name, "answer"), tool, args, answer
                    )
                elif answer.get("approved") is True:
                    out = await self._tool_step(
                        tool_step_key(n, call.id, call.name, "approved"), tool, args, answer
                    )
                else:
                    out = {"ok": False, "error": rejection_message(tool.id, answer)}
            args_json = args.model_dump(mode="json")
            if out.get("ok"):
                results[call.id] = ToolResult(
                    tool_name=tool.id,
                    tool_call_id=call.id,
                    status="completed",
                    arguments=args_json,
                    result=out.get("result"),
                    step=n,
                )
            else:
                results[call.id] = self._fail_result(call, str(out.get("error")), args_json)
        ordered: list[ToolResult] = []
        for call in calls:
            result = results[call.id]
            if self.agent.hooks["on_tool_end"]:
                decision = await self._run_hooks(
                    "on_tool_end",
                    f"{n}:{call.id}",
                    current_tool=call.name,
                    current_payload=result.arguments,
                    current_output=result.result if result.status == "completed" else result.error,
                )
                if decision.modified_output is not None:
                    result = result.model_copy(
                        update={
                            "result": decision.modified_output,
                            "status": "completed",
                            "error": None,
                        }
                    )
            if fresh[call.id]:
                self.emit(
                    TOOL_CALL_FINISH,
                    {
                        "step": n,
                        "call_id": call.id,
                        "name": call.name,
                        "status": result.status,
                        "result": _jsonable(result.result),
                        "error": result.error,
                    },
                )
            ordered.append(result)
        self._fresh_tools = any(fresh.values())
        return ordered

    def _start_payload(self, user_input: Any) -> dict[str, Any]:
        """The run's payload as upstream's ``on_start`` hooks see it."""
        payload: dict[str, Any] = {
            "input": user_input,
            "streaming": self.streaming,
            "provider_kwargs": dict(self.payload.provider_kwargs),
        }
        if self.payload.conversation_id is not None:
            payload["conversation_id"] = self.payload.conversation_id
        return payload

    def _tool_message(self, result: ToolResult) -> dict[str, Any]:
        content = (
            _to_text(result.result) if result.status == "completed" else f"Error: {result.error}"
        )
        return {"role": "tool", "tool_call_id": result.tool_call_id, "content": content}

    # ------------------------------------------------------------------ the run
    async def execute(self) -> AgentResult:
        agent, ctx = self.agent, self.ctx
        user_input = self.payload.input
        start_payload = self._start_payload(user_input)
        if agent.hooks["on_start"]:
            decision = await self._run_hooks("on_start", "run", current_payload=start_payload)
            changed = decision.modified_payload
            if isinstance(changed, dict):  # upstream: the payload, merged ({"input": ...})
                start_payload = {**start_payload, **changed}
                user_input = start_payload.get("input", user_input)
            elif changed is not None:  # a new input on its own
                user_input = changed
                start_payload = {**start_payload, "input": changed}
        if agent.input_guardrails and isinstance(user_input, str):
            for i, g in enumerate(agent.input_guardrails):
                gctx = GuardrailContext(
                    kind="input",
                    content=user_input,
                    agent_id=agent.id,
                    agent_run_id=ctx.execution_id,
                    session_id=ctx.session_id,
                    user_id=ctx.user_id,
                    conversation_id=self.conversation_id,
                    llm_config=self.agent_config,
                )
                result = await self._guardrail_step(f"guardrail:input:{i}", g, gctx)
                if result.action in (HookAction.FAIL, HookAction.RETRY):
                    raise GuardrailFailedError(g.name, result.error_message or "input rejected")
                if result.modified_content is not None:
                    user_input = result.modified_content
        history = await self._load_memory()
        self.transcript = history + _input_messages(user_input)
        turn_start = len(history)
        cap = agent.step_cap()
        stop_reason = "completed"
        final: Any = None
        while True:
            self.n += 1
            n = self.n
            # A turn whose model call is in the journal replays: its live events were sent.
            self._turn_replayed = self.ctx.step.recorded(llm_step_key(n))
            self._fresh_tools = False
            if not self._turn_replayed:
                self.emit(AGENT_STEP_START, {"step": n})
            if agent.hooks["on_agent_step_start"]:
                await self._run_hooks(
                    "on_agent_step_start",
                    str(n),
                    current_payload={"step": n, "messages": list(self.transcript)},
                )
            response, parsed, usage = await self._generate()
            self.call_ids.update(c.id for c in response.tool_calls)
            self.usage = self.usage + usage
            self.transcript.append(response.to_message())
            step = AgentStep(
                step=n, content=response.content, tool_calls=response.tool_calls, usage=usage
            )
            if response.tool_calls:
                step.tool_results = await self._run_tools(response.tool_calls)
                self.tool_results.extend(step.tool_results)
                self.transcript.extend(self._tool_message(r) for r in step.tool_results)
            self.steps.append(step)
            if not self._turn_replayed or self._fresh_tools:
                self.emit(
                    AGENT_STEP_END,
                    {
                        "step": n,
                        "usage": usage.model_dump(),
                        "tool_calls": len(response.tool_calls),
                    },
                )
            if agent.hooks["on_agent_step_end"]:
                await self._run_hooks("on_agent_step_end", str(n), current_output=step)
            if not response.tool_calls:
                final = parsed
                break
            fired = None
            if agent.stop_conditions:
                sctx = StopConditionContext(
                    steps=self.steps, agent_id=agent.id, agent_run_id=ctx.execution_id
                )
                for cond in agent.stop_conditions:
                    if await cond.evaluate(sctx):
                        fired = cond.name
                        break
            if fired is not None:
                stop_reason = f"stop_condition:{fired}"
            elif n >= cap:
                stop_reason = "max_steps_cap"
            if stop_reason != "completed":
                final = response.content or ""
                break
        await self._store_memory(self.transcript[turn_start:])
        if agent.hooks["on_end"]:
            decision = await self._run_hooks(
                "on_end", "run", current_payload=start_payload, current_output=final
            )
            if decision.modified_output is not None:
                final = decision.modified_output
        schema = (
            agent.output_schema.__name__
            if agent.output_schema is not None and stop_reason == "completed"
            else None
        )
        return AgentResult(
            agent_run_id=ctx.execution_id,
            agent_id=agent.id,
            result=final,
            result_schema=schema,
            stop_reason=stop_reason,
            tool_results=self.tool_results,
            steps=self.steps,
            total_steps=len(self.steps),
            llm_calls=self.llm_calls,
            usage=self.usage,
            messages=self.transcript,
            conversation_id=self.conversation_id,
        )


async def run_agent(agent: Agent, ctx: WorkflowContext, payload: Any) -> AgentResult:
    """Run the agent loop for one execution (re-entered from the top on every replay)."""
    if isinstance(payload, str):
        payload = {"input": payload}
    data = AgentInput.model_validate(payload or {})
    return await _Run(agent, ctx, data).execute()


def env_max_steps() -> int:
    try:
        return max(1, int(os.environ.get("POLOS_AGENT_MAX_STEPS", DEFAULT_MAX_STEPS)))
    except ValueError:
        return DEFAULT_MAX_STEPS

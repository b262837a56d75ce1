"""``StreamResult``: follow a streaming agent run as text chunks or as events."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

from polos_nb.contracts import (
    AGENT_STEP_END,
    AGENT_STEP_START,
    STEP_FINISH,
    STEP_START,
    STREAM_START,
    TEXT_DELTA,
    TEXT_FINAL,
    TOOL_CALL,
    TOOL_CALL_FINISH,
    TOOL_CALL_START,
    parse_step_key,
)
from polos_nb.engine import ExecutionHandle, PolosClient, StreamEvent, events, get_workflow
from polos_nb.errors import UserError

__all__ = ["AgentStreamHandle", "FullEventIterator", "StreamResult", "TextChunkIterator"]


def _content_of(result: Any) -> str | None:
    if isinstance(result, dict):
        value = result.get("content")
        if value is None and isinstance(result.get("v"), dict):  # a tagged model read leniently
            value = result["v"].get("content")
        return value if isinstance(value, str) else None
    value = getattr(result, "content", None)
    return value if isinstance(value, str) else None


def text_catch_up(key: str, attempt: int, streamed: list[str]) -> list[tuple[str, dict[str, Any]]]:
    """What a reader who starts watching while model call ``key`` streams gets first
    (``ctx.catch_up``): its ``stream_start``, then the text streamed so far (``streamed``:
    the call's deltas until now) as one ``text_delta`` with ``chunk_index`` 0; both are
    marked ``replay``. The live deltas that follow continue it: nothing missed, nothing
    twice."""
    missed: list[tuple[str, dict[str, Any]]] = [
        (STREAM_START, {"step": key, "attempt": attempt, "replay": True})
    ]
    if streamed:
        text = "".join(streamed)
        streamed[:] = [text]  # joined once: the next reader joins from here
        missed.append(
            (TEXT_DELTA, {"step": key, "content": text, "chunk_index": 0, "replay": True})
        )
    return missed


class _TextTracker:
    """Turns text events into new text only: no token is shown twice (D22).

    Text is tracked per LLM step key. A retry of a step (``stream_start``) or a replay
    re-sends text; only what goes beyond what was already shown for that step is new.
    The final text of a step (from its journaled ``step_finish``) fills in anything a
    late subscriber missed. A stream that begins while a step streams starts with the
    step's catch-up (:func:`text_catch_up`: its ``stream_start``, then its text so far),
    so its later deltas simply continue it. Should a subscriber get a step's deltas
    without that beginning (its first ``text_delta`` has a ``chunk_index`` above 0 and
    no ``stream_start`` came first: a subscriber that did not catch up), it holds that
    step's deltas back and shows the step's whole text when the step ends.
    """

    def __init__(self, execution_id: str, guarded: bool, *, every_execution: bool = False) -> None:
        self.execution_id = execution_id
        self.guarded = guarded
        self.every_execution = every_execution
        self.shown: dict[tuple[str, str], str] = {}
        self.current: dict[tuple[str, str], str] = {}
        self.joined_late: set[tuple[str, str]] = set()  # steps whose beginning was missed

    def _advance(self, step: tuple[str, str], text: str) -> str:
        already = self.shown.get(step, "")
        if len(text) > len(already) and text.startswith(already):
            self.shown[step] = text
            return text[len(already) :]
        return ""

    def feed(self, event: StreamEvent) -> str:
        data = event.data if isinstance(event.data, dict) else {}
        exec_id = str((data.get("_metadata") or {}).get("execution_id"))
        if exec_id != self.execution_id and not self.every_execution:
            return ""
        kind = event.event_type
        if kind == STREAM_START:
            step = (exec_id, str(data.get("step")))
            self.current[step] = ""
            self.joined_late.discard(step)
        elif kind == TEXT_DELTA:
            step = (exec_id, str(data.get("step")))
            index = data.get("chunk_index")
            if step not in self.current and isinstance(index, int) and index > 0:
                self.joined_late.add(step)
            if step in self.joined_late:
                return ""  # the step's end brings its whole text
            text = self.current.get(step, "") + str(data.get("content") or "")
            self.current[step] = text
            return self._advance(step, text)
        elif kind == TEXT_FINAL:
            step = (exec_id, str(data.get("step")))
            self.joined_late.discard(step)
            return self._advance(step, str(data.get("content") or ""))
        elif kind == STEP_FINISH and not self.guarded:
            key = str(data.get("step_key", ""))
            if parse_step_key(key).kind == "llm" and data.get("status") == "completed":
                self.joined_late.discard((exec_id, key))
                content = _content_of(data.get("result"))
                if content:
                    return self._advance((exec_id, key), content)
        return ""


_GUARD_KEY = re.compile(r"^guardrail:(\d+):")
# Events that belong to an LLM call still being decided (retries, guardrails): the tool
# calls it asked for are announced once the agent moves past it.
_IN_CALL = (STREAM_START, TEXT_DELTA, TEXT_FINAL, STEP_START, TOOL_CALL)


def _belongs_to_call(kind: str, key: str, n: int) -> bool:
    """Is this event still about the agent's n-th LLM call (its attempts, its guardrails)?"""
    if kind in _IN_CALL:
        return True
    if kind != STEP_FINISH:
        return False
    parsed = parse_step_key(key)
    if parsed.kind == "llm" and parsed.step is not None:
        return parsed.step == n
    return key.startswith(f"guardrail:{n}:")


def _tool_call_event(template: StreamEvent, exec_id: str, wf_id: Any, n: int, call: Any) -> Any:
    """A ``tool_call`` event rebuilt from the journal, shaped as the live one."""
    call = call if isinstance(call, dict) else {}
    data = {
        "step": n,
        "chunk_index": 0,
        "content": None,
        "tool_call": {
            "id": call.get("id"),
            "call_id": call.get("id"),
            "type": "function",
            "function": {"name": call.get("name"), "arguments": call.get("arguments", "{}")},
        },
        "usage": None,
        "replay": True,
        "_metadata": {"execution_id": exec_id, "workflow_id": wf_id},
    }
    return template.model_copy(
        update={
            "id": f"{template.id}:tool_call:{call.get('id')}",
            "event_type": "tool_call",
            "data": data,
        }
    )


class StreamResult:
    """A streaming agent run.

    ```python
    result = await agent.stream(client, "What's the weather in Tokyo?")
    async for chunk in result.text_chunks:
        print(chunk, end="", flush=True)
    final = await result.result()          # AgentResult
    ```

    ``text_chunks`` and ``events`` can each be iterated (more than once; each iteration
    starts from the run's first event, also after the run ended, and ends when the run
    ends).

    A run started elsewhere can be followed from its handle:
    ``StreamResult(handle, client)``, e.g. with ``handle = await
    agent.invoke(client, "...", streaming=True)`` or ``ExecutionHandle(id=run_id)``.
    ``id``/``agent_run_id``, ``workflow_id``, ``root_execution_id``, ``session_id``,
    ``user_id``, ``created_at``, ``parent_execution_id`` and ``step_key`` are the handle's;
    ``await result.get()`` gives the run's current status.
    """

    def __init__(
        self, handle: ExecutionHandle, client: PolosClient, *, guarded: bool | None = None
    ) -> None:
        if not isinstance(handle, ExecutionHandle) and isinstance(client, ExecutionHandle):
            handle, client = client, handle  # (client, handle): the order polos_nb used first
        if not isinstance(handle, ExecutionHandle):
            raise UserError(
                f"StreamResult(handle, client) takes an ExecutionHandle first, "
                f"got {type(handle).__name__}."
            )
        self.client = client
        self.handle = handle
        self.agent_run_id = handle.id
        self.topic = f"workflow/{handle.root_workflow_id}/{handle.root_execution_id}"
        if guarded is None:
            # Built by hand: guardrails hold text back until a reply passes them.
            agent = get_workflow(handle.workflow_id) if handle.workflow_id else None
            guarded = bool(getattr(agent, "guardrails", None))
        self._guarded = guarded

    @property
    def id(self) -> str:
        """The run's execution id (the same as ``agent_run_id``)."""
        return self.handle.id

    @property
    def workflow_id(self) -> str:
        return self.handle.workflow_id

    @property
    def root_execution_id(self) -> str:
        return self.handle.root_execution_id

    @property
    def root_workflow_id(self) -> str:
        return self.handle.root_workflow_id

    @property
    def parent_execution_id(self) -> str | None:
        return self.handle.parent_execution_id

    @property
    def session_id(self) -> str | None:
        return self.handle.session_id

    @property
    def user_id(self) -> str | None:
        return self.handle.user_id

    @property
    def created_at(self) -> dt.datetime | None:
        return self.handle.created_at

    @property
    def step_key(self) -> str | None:
        return self.handle.step_key

    async def get(self) -> Any:
        """The run's current status, result and error (as ``client.get_execution``)."""
        return await self.handle.get(self.client)

    def to_dict(self) -> dict[str, Any]:
        """The handle as JSON data."""
        return self.handle.to_dict()

    def __repr__(self) -> str:
        # Upstream's shape; the status when this process runs the agent now (no I/O).
        parts = [f"agent_run_id={self.agent_run_id!r}"]
        if self.workflow_id:
            parts.append(f"workflow_id={self.workflow_id!r}")
        if self.root_execution_id and self.root_execution_id != self.agent_run_id:
            parts.append(f"topic={self.topic!r}")
        status = self.handle._known_status(self.client)
        if status:
            parts.append(f"status={status!r}")
        return f"StreamResult({', '.join(parts)})"

    @property
    def events(self) -> FullEventIterator:
        """Every event of the run's tree until it ends: ``stream_start``, ``text_delta``,
        ``tool_call`` (upstream's shape: ``data["tool_call"]["function"]["name"]``),
        ``tool_call_start``/``tool_call_finish``, ``agent_step_start``/``_end`` (with
        usage), ``step_start``/``step_finish``, ``suspend_<key>``, ``agent_finish``…

        A reader who starts late (even after the run ended) gets the whole story: the
        text the model streamed before it started reading comes as ``text_delta`` events
        and the tool calls as ``tool_call`` events (both marked ``data["replay"]``),
        rebuilt from the journal; a reply still streaming comes as its ``stream_start``
        and one ``text_delta`` with the text so far (both marked ``data["replay"]``), then
        its next chunks. No text is given twice, and each tool call once.
        """
        return FullEventIterator(self)

    async def _events(self) -> AsyncGenerator[StreamEvent, None]:
        seen: set[tuple[Any, ...]] = set()
        tracker = _TextTracker(self.agent_run_id, self._guarded, every_execution=True)
        # Tool calls of an LLM step, per execution, not announced yet: (n, event, calls).
        pending: dict[str, tuple[int, StreamEvent, list[Any]]] = {}

        def flush(exec_id: str) -> list[StreamEvent]:
            if exec_id not in pending:
                return []
            n, template, calls = pending.pop(exec_id)
            meta = (template.data or {}).get("_metadata") or {}
            out = []
            for call in calls:
                ident = (
                    "tool_call",
                    exec_id,
                    n,
                    call.get("id") if isinstance(call, dict) else None,
                )
                if ident in seen:
                    continue
                seen.add(ident)
                out.append(_tool_call_event(template, exec_id, meta.get("workflow_id"), n, call))
            return out

        async for event in events.stream_workflow(
            self.client, self.workflow_id, self.agent_run_id, last_sequence_id=0
        ):
            data = event.data if isinstance(event.data, dict) else {}
            exec_id = str((data.get("_metadata") or {}).get("execution_id"))
            kind = event.event_type or ""
            key = str(data.get("step_key", "")) if kind == STEP_FINISH else ""
            parsed = parse_step_key(key)
            llm = parsed.step if parsed.kind == "llm" else None
            if exec_id in pending and not _belongs_to_call(kind, key, pending[exec_id][0]):
                for extra in flush(exec_id):
                    yield extra
            if kind in (
                TOOL_CALL_START,
                TOOL_CALL_FINISH,
                TOOL_CALL,
                AGENT_STEP_START,
                AGENT_STEP_END,
            ):
                ident: tuple[Any, ...] = (
                    kind,
                    exec_id,
                    data.get("step"),
                    data.get("call_id") or (data.get("tool_call") or {}).get("id"),
                )
                if ident in seen:
                    continue
                seen.add(ident)
                yield event
                continue
            if kind == TEXT_DELTA:
                piece = tracker.feed(event)
                if piece:
                    yield event if piece == data.get("content") else _with_content(event, piece)
                continue
            if kind in (STEP_FINISH, TEXT_FINAL):
                piece = tracker.feed(event)
                if piece:
                    yield _synthetic_delta(event, piece)
            if llm is not None and data.get("status") == "completed":
                result = data.get("result")
                calls = result.get("tool_calls") if isinstance(result, dict) else None
                if calls:
                    pending[exec_id] = (llm, event, list(calls))
                else:
                    pending.pop(exec_id, None)
            if data.get("replay") and kind == STREAM_START:
                ident = (kind, exec_id, data.get("step"))
                if ident in seen:
                    continue
                seen.add(ident)
            yield event
        for exec_id in list(pending):
            for extra in flush(exec_id):
                yield extra

    @property
    def text_chunks(self) -> TextChunkIterator:
        """The run's text as it is generated, each token once (also across retries and
        replays, and for a reader who starts late: it gets the text from the start, the
        text so far of a reply still streaming in one chunk, then the next ones)."""
        return TextChunkIterator(self)

    async def _text_chunks(self) -> AsyncGenerator[str, None]:
        tracker = _TextTracker(self.agent_run_id, self._guarded)
        async for event in events.stream_workflow(
            self.client, self.workflow_id, self.agent_run_id, last_sequence_id=0
        ):
            piece = tracker.feed(event)
            if piece:
                yield piece

    async def text(self) -> str:
        """All text of the run, once it ends."""
        return "".join([chunk async for chunk in self.text_chunks])

    async def result(self, timeout: float | None = None) -> Any:
        """Wait for the run to end and return its ``AgentResult`` (or raise its error)."""
        return await self.client.wait_for_result(self.agent_run_id, timeout=timeout)


class TextChunkIterator:
    """The text of a streaming run, chunk by chunk: what ``StreamResult.text_chunks`` is.

    ``async for chunk in TextChunkIterator(result)`` is the same as
    ``async for chunk in result.text_chunks``; an iterator is used up once iterated.
    """

    def __init__(self, result: StreamResult) -> None:
        self.result = result
        self._chunks: AsyncGenerator[str, None] | None = None

    def __aiter__(self) -> TextChunkIterator:
        return self

    async def __anext__(self) -> str:
        if self._chunks is None:
            self._chunks = self.result._text_chunks()
        return await self._chunks.__anext__()

    async def aclose(self) -> None:
        """Stop reading (as an async generator's ``aclose``)."""
        if self._chunks is not None:
            await self._chunks.aclose()


class FullEventIterator:
    """Every event of a streaming run: what ``StreamResult.events`` is.

    ``async for event in FullEventIterator(result)`` is the same as
    ``async for event in result.events``; an iterator is used up once iterated.
    """

    def __init__(self, result: StreamResult) -> None:
        self.result = result
        self._events: AsyncGenerator[StreamEvent, None] | None = None

    def __aiter__(self) -> FullEventIterator:
        return self

    async def __anext__(self) -> StreamEvent:
        if self._events is None:
            self._events = self.result._events()
        return await self._events.__anext__()

    async def aclose(self) -> None:
        """Stop reading (as an async generator's ``aclose``)."""
        if self._events is not None:
            await self._events.aclose()


class AgentStreamHandle:
    """Follow an agent run's events from its ids, e.g. in a web handler that was given
    the run id: ``async for event in AgentStreamHandle(client, run_id, agent_id,
    root_execution_id): ...``. It yields the same events as ``StreamResult.events``
    (from the run's first one, also after it ended) and ends when the run ends.

    ``last_valid_event_id`` is the id of the last event yielded. ``created_at`` is
    recorded but not needed: the journal holds the run's events from its start.
    """

    def __init__(
        self,
        client: PolosClient,
        agent_run_id: str,
        root_workflow_id: str,
        root_execution_id: str | None = None,
        created_at: str | None = None,
    ) -> None:
        self.client = client
        self.agent_run_id = agent_run_id
        self.root_workflow_id = root_workflow_id
        self.root_execution_id = root_execution_id or agent_run_id
        self.topic = f"workflow/{self.root_workflow_id}/{self.root_execution_id}"
        self.last_valid_event_id: str | None = None
        self.created_at = created_at

    async def __aiter__(self) -> AsyncIterator[StreamEvent]:
        handle = ExecutionHandle(
            id=self.agent_run_id,
            workflow_id=self.root_workflow_id
            if self.root_execution_id == self.agent_run_id
            else "",
            root_workflow_id=self.root_workflow_id,
            root_execution_id=self.root_execution_id,
        )
        async for event in StreamResult(handle, self.client).events:
            self.last_valid_event_id = event.id
            yield event

    def __repr__(self) -> str:
        # Upstream's shape; the status when this process runs the agent now (no I/O).
        parts = [f"agent_run_id={self.agent_run_id!r}"]
        if self.root_workflow_id:
            parts.append(f"root_workflow_id={self.root_workflow_id!r}")
        if self.root_execution_id != self.agent_run_id:
            parts.append(f"root_execution_id={self.root_execution_id!r}")
        status = ExecutionHandle(id=self.agent_run_id)._known_status(self.client)
        if status:
            parts.append(f"status={status!r}")
        return f"AgentStreamHandle({', '.join(parts)})"


def _with_content(event: StreamEvent, content: str) -> StreamEvent:
    return event.model_copy(update={"data": {**event.data, "content": content}})


def _synthetic_delta(event: StreamEvent, content: str) -> StreamEvent:
    data = event.data if isinstance(event.data, dict) else {}
    step = data.get("step_key") if event.event_type == STEP_FINISH else data.get("step")
    return event.model_copy(
        update={
            "id": f"{event.id}:text",
            "event_type": TEXT_DELTA,
            "data": {
                "step": step,
                "chunk_index": 0,
                "content": content,
                "replay": True,
                "_metadata": data.get("_metadata"),
            },
        }
    )

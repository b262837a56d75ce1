"""``StreamResult``: follow a streaming agent run as text chunks or as events."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from polos_nb.engine import ExecutionHandle, PolosClient, StreamEvent, events

__all__ = ["StreamResult"]


def _content_of(result: Any) -> str | None:
    if isinstance(result, dict):
        value = result.get("content")
        if value is None and isinstance(result.get("v"), dict):  # a tagged model read leniently
            value = result["v"].get("content")
        return value if isinstance(value, str) else None
    value = getattr(result, "content", None)
    return value if isinstance(value, str) else None


class _TextTracker:
    """Turns text events into new text only: no token is shown twice (D22).

    Text is tracked per LLM step key. A retry of a step (``stream_start``) or a replay
    re-sends text; only what goes beyond what was already shown for that step is new.
    The final text of a step (from its journaled ``step_finish``) fills in anything a
    late subscriber missed.
    """

    def __init__(self, execution_id: str, guarded: bool) -> None:
        self.execution_id = execution_id
        self.guarded = guarded
        self.shown: dict[str, str] = {}
        self.current: dict[str, str] = {}

    def _advance(self, step: str, text: str) -> str:
        already = self.shown.get(step, "")
        if len(text) > len(already) and text.startswith(already):
            self.shown[step] = text
            return text[len(already) :]
        return ""

    def feed(self, event: StreamEvent) -> str:
        data = event.data if isinstance(event.data, dict) else {}
        if (data.get("_metadata") or {}).get("execution_id") != self.execution_id:
            return ""
        kind = event.event_type
        if kind == "stream_start":
            self.current[str(data.get("step"))] = ""
        elif kind == "text_delta":
            step = str(data.get("step"))
            text = self.current.get(step, "") + str(data.get("content") or "")
            self.current[step] = text
            return self._advance(step, text)
        elif kind == "text_final":
            return self._advance(str(data.get("step")), str(data.get("content") or ""))
        elif kind == "step_finish" and not self.guarded:
            key = str(data.get("step_key", ""))
            if key.startswith("llm:") and data.get("status") == "completed":
                content = _content_of(data.get("result"))
                if content:
                    return self._advance(key, content)
        return ""


class StreamResult:
    """A streaming agent run.

    ```python
    result = await agent.stream(client, "What's the weather in Tokyo?")
    async for chunk in result.text_chunks:
        print(chunk, end="", flush=True)
    final = await result.result()          # AgentResult
    ```

    ``text_chunks`` and ``events`` can each be iterated (more than once; each iteration
    starts from the run's beginning and ends when the run ends).
    """

    def __init__(
        self, client: PolosClient, handle: ExecutionHandle, *, guarded: bool = False
    ) -> None:
        self.client = client
        self.handle = handle
        self.agent_run_id = handle.id
        self.id = handle.id
        self.workflow_id = handle.workflow_id
        self.root_execution_id = handle.root_execution_id
        self.root_workflow_id = handle.root_workflow_id
        self.topic = f"workflow/{handle.root_workflow_id}/{handle.root_execution_id}"
        self._guarded = guarded

    def __repr__(self) -> str:
        return f"<StreamResult {self.workflow_id} run={self.agent_run_id}>"

    @property
    def events(self) -> AsyncIterator[StreamEvent]:
        """Every event of the run's tree until it ends: ``stream_start``, ``text_delta``,
        ``tool_call``, ``tool_call_start``/``tool_call_finish``, ``agent_step_start``/``_end``
        (with usage), ``step_start``/``step_finish``, ``suspend_<key>``, ``agent_finish``…

        Events re-sent by a replay (``data["replay"]``) are dropped when already seen.
        """
        return self._events()

    async def _events(self) -> AsyncIterator[StreamEvent]:
        seen: set[tuple[Any, ...]] = set()
        async for event in events.stream_workflow(self.client, self.workflow_id, self.agent_run_id):
            data = event.data if isinstance(event.data, dict) else {}
            ident: tuple[Any, ...]
            if event.event_type in (
                "tool_call_start",
                "tool_call_finish",
                "tool_call",
                "agent_step_start",
                "agent_step_end",
            ):
                ident = (
                    event.event_type,
                    (data.get("_metadata") or {}).get("execution_id"),
                    data.get("step"),
                    data.get("call_id") or (data.get("tool_call") or {}).get("id"),
                )
                if ident in seen:
                    continue
                seen.add(ident)
            elif data.get("replay"):
                ident = (event.event_type, data.get("step"))
                if ident in seen:
                    continue
                seen.add(ident)
            yield event

    @property
    def text_chunks(self) -> AsyncIterator[str]:
        """The run's text as it is generated, each token once (also across retries and replays)."""
        return self._text_chunks()

    async def _text_chunks(self) -> AsyncIterator[str]:
        tracker = _TextTracker(self.agent_run_id, self._guarded)
        async for event in events.stream_workflow(self.client, self.workflow_id, self.agent_run_id):
            piece = tracker.feed(event)
            if piece:
                yield piece

    async def text(self) -> str:
        """All text of the run, once it ends."""
        return "".join([chunk async for chunk in self.text_chunks])

    async def result(self, timeout: float | None = None) -> Any:
        """Wait for the run to end and return its ``AgentResult`` (or raise its error)."""
        return await self.client.wait_for_result(self.agent_run_id, timeout=timeout)

"""Streaming: text chunks and events, no token shown twice after a retry or a replay (D22)."""

from __future__ import annotations

import asyncio
import datetime as dt
import threading

from polos_nb import (
    Agent,
    GuardrailResult,
    PolosClient,
    StreamEvent,
    create_ask_user_tool,
    guardrail,
    tool,
)
from polos_nb.agents._stream import _TextTracker
from polos_nb.testing import FakeToolCall, FakeTurn, ScriptedModel
from tests.agents.helpers import uid, wait_status


@tool(description="Get weather")
def get_weather(city: str) -> dict:
    return {"city": city, "sky": "clear"}


async def test_text_chunks_and_events(client: PolosClient) -> None:
    model = _GatedModel(
        uid("m"),
        [
            FakeTurn(
                text="Let me check.",
                tool_calls=[FakeToolCall("get_weather", {"city": "Tokyo"}, id="t1")],
            ),
            FakeTurn(text="Tokyo is clear today.", chunks=["Tok", "yo is", " clear", " today."]),
        ],
    )
    agent = Agent(id=uid("stream"), provider="fake", model=model, tools=[get_weather])
    result = await agent.stream(client, "Weather in Tokyo?")
    events: list[StreamEvent] = []
    following = asyncio.Event()

    async def collect() -> None:
        async for event in result.events:
            events.append(event)
            following.set()

    collector = asyncio.create_task(collect())
    # The model answers once the reader follows the run: the live-only tool_call_start /
    # tool_call_finish go to readers that watch while the tool runs (a later reader gets
    # the tool calls rebuilt from the journal as `tool_call` events).
    await asyncio.wait_for(following.wait(), 30)
    model.go.set()
    chunks = [c async for c in result.text_chunks]
    await collector
    assert "".join(chunks) == "Let me check.Tokyo is clear today."
    final = await result.result()
    assert final.result == "Tokyo is clear today." and model.calls[0].stream is True
    kinds = [e.event_type for e in events]
    assert kinds[0] == "agent_start" and kinds[-1] == "agent_finish"
    start = next(e for e in events if e.event_type == "tool_call_start")
    finish = next(e for e in events if e.event_type == "tool_call_finish")
    assert start.data["name"] == "get_weather" and '"Tokyo"' in start.data["arguments"]
    assert finish.data["status"] == "completed" and finish.data["result"] == {
        "city": "Tokyo",
        "sky": "clear",
    }
    ends = [e for e in events if e.event_type == "agent_step_end"]
    assert [e.data["step"] for e in ends] == [1, 2] and all(
        e.data["usage"]["total_tokens"] > 0 for e in ends
    )
    # Text chunks arrive as separate deltas in the order they were generated.
    deltas = [
        e.data["content"]
        for e in events
        if e.event_type == "text_delta" and e.data["step"] == "llm:2"
    ]
    assert "".join(deltas) == "Tokyo is clear today."


async def test_late_subscriber_gets_the_whole_text(client: PolosClient) -> None:
    model = ScriptedModel(uid("m"), ["Complete answer here."])
    agent = Agent(id=uid("late"), provider="fake", model=model)
    result = await agent.stream(client, "hi")
    await result.result()
    assert await result.text() == "Complete answer here."


async def test_retry_mid_stream_shows_no_token_twice(client: PolosClient) -> None:
    model = ScriptedModel(
        uid("m"),
        [
            FakeTurn(text="Hello brave", error=RuntimeError("connection reset")),
            FakeTurn(text="Hello brave new world", chunks=["Hello", " brave", " new", " world"]),
        ],
    )
    agent = Agent(id=uid("retry"), provider="fake", model=model, llm_retries=1)
    result = await agent.stream(client, "hi")
    text = await result.text()
    assert text == "Hello brave new world"
    assert model.call_count == 2


def _ev(kind: str, data: dict) -> StreamEvent:
    data = {"_metadata": {"execution_id": "E"}, **data}
    return StreamEvent(
        id="x",
        sequence_id=None,
        topic="t",
        event_type=kind,
        data=data,
        created_at=dt.datetime.now(dt.UTC),
    )


def test_tracker_drops_repeated_text_after_retry_and_replay() -> None:
    tracker = _TextTracker("E", guarded=False)
    feed = [
        _ev("stream_start", {"step": "llm:1", "attempt": 1}),
        _ev("text_delta", {"step": "llm:1", "content": "Hel"}),
        _ev("text_delta", {"step": "llm:1", "content": "lo"}),
        _ev("stream_start", {"step": "llm:1", "attempt": 2}),  # the retry starts over
        _ev("text_delta", {"step": "llm:1", "content": "Hello"}),
        _ev("text_delta", {"step": "llm:1", "content": " there"}),
        _ev(
            "step_finish",
            {"step_key": "llm:1", "status": "completed", "result": {"content": "Hello there"}},
        ),
        _ev(
            "stream_start", {"step": "llm:1", "attempt": 0, "replay": True}
        ),  # a replay re-sends it
        _ev("text_delta", {"step": "llm:1", "content": "Hello there", "replay": True}),
        _ev(
            "text_delta",
            {"step": "llm:2", "content": "Bye", "_metadata": {"execution_id": "other"}},
        ),
    ]
    out = [tracker.feed(e) for e in feed]
    assert "".join(out) == "Hello there"
    assert out == ["", "Hel", "lo", "", "", " there", "", "", "", ""]


async def test_replay_after_ask_user_does_not_repeat_text(client: PolosClient) -> None:
    model = ScriptedModel(
        uid("m"),
        [
            FakeTurn(
                text="One question first.",
                tool_calls=[FakeToolCall("ask_user", {"question": "Where to?"}, id="q1")],
            ),
            "Lisbon it is.",
        ],
    )
    agent = Agent(id=uid("ask"), provider="fake", model=model, tools=[create_ask_user_tool()])
    result = await agent.stream(client, "Plan a trip")
    chunks: list[str] = []

    async def read() -> None:
        async for chunk in result.text_chunks:
            chunks.append(chunk)

    reader = asyncio.create_task(read())
    await wait_status(client, result.agent_run_id, "waiting")
    await client.resume(agent.id, result.agent_run_id, "ask_user:1:q1", {"response": "Lisbon"})
    await asyncio.wait_for(reader, 30)
    assert "".join(chunks) == "One question first.Lisbon it is."
    final = await result.result()
    assert final.tool_results[0].result == {"response": "Lisbon"}
    assert model.call_count == 2  # the replay after the resume made no new call for llm:1


async def test_guarded_streaming_shows_only_accepted_text(client: PolosClient) -> None:
    @guardrail
    def no_shouting(ctx, g) -> GuardrailResult:
        if g.content and g.content.isupper():
            return GuardrailResult.retry("Do not shout.")
        return GuardrailResult.continue_with()

    model = ScriptedModel(uid("m"), ["HELLO THERE", "Hello there"])
    agent = Agent(id=uid("guard"), provider="fake", model=model, guardrails=[no_shouting])
    result = await agent.stream(client, "hi")
    assert await result.text() == "Hello there"
    assert (await result.result()).result == "Hello there"


def test_tracker_that_joins_mid_step_shows_the_whole_step_once_it_ends() -> None:
    tracker = _TextTracker("E", guarded=False)
    feed = [
        # joined after "Once " and "upon " were streamed: no stream_start, chunk 2 first
        _ev("text_delta", {"step": "llm:1", "content": "a ", "chunk_index": 2}),
        _ev("text_delta", {"step": "llm:1", "content": "time.", "chunk_index": 3}),
        _ev(
            "step_finish",
            {
                "step_key": "llm:1",
                "status": "completed",
                "result": {"content": "Once upon a time."},
            },
        ),
        _ev("stream_start", {"step": "llm:2", "attempt": 1}),
        _ev("text_delta", {"step": "llm:2", "content": "The ", "chunk_index": 0}),
        _ev("text_delta", {"step": "llm:2", "content": "end.", "chunk_index": 1}),
    ]
    out = [tracker.feed(e) for e in feed]
    assert out == ["", "", "Once upon a time.", "", "The ", "end."]


class _GatedModel(ScriptedModel):
    """Answers once ``go`` is set."""

    def __init__(self, name: str, turns: list) -> None:
        super().__init__(name, turns)
        self.go = threading.Event()

    async def stream(self, request):  # type: ignore[no-untyped-def]
        await asyncio.to_thread(self.go.wait, 30)
        async for piece in super().stream(request):
            yield piece


class _PausingModel(ScriptedModel):
    """Streams its turn and stops after the second chunk until ``go`` is set."""

    def __init__(self, name: str, turns: list) -> None:
        super().__init__(name, turns)
        self.paused = threading.Event()
        self.go = threading.Event()

    async def stream(self, request):  # type: ignore[no-untyped-def]
        texts = 0
        async for piece in super().stream(request):
            yield piece
            texts += "text" in piece
            if texts == 2 and not self.go.is_set():
                self.paused.set()
                await asyncio.to_thread(self.go.wait, 30)


async def test_a_reader_who_starts_while_the_model_streams_gets_the_whole_text(
    client: PolosClient,
) -> None:
    model = _PausingModel(
        uid("m"), [FakeTurn(text="Once upon a time.", chunks=["Once ", "upon ", "a ", "time."])]
    )
    agent = Agent(id=uid("late"), provider="fake", model=model)
    result = await agent.stream(client, "A story")
    assert await asyncio.to_thread(model.paused.wait, 30)  # two chunks are out, unread
    late = asyncio.create_task(result.text())
    events_late = asyncio.create_task(
        _texts(result.events)  # the same promise holds for `events`
    )
    await asyncio.sleep(0.5)  # the readers subscribe while the model is paused
    model.go.set()
    assert await asyncio.wait_for(late, 30) == "Once upon a time."
    assert await asyncio.wait_for(events_late, 30) == "Once upon a time."


async def _texts(events) -> str:  # type: ignore[no-untyped-def]
    return "".join(
        [str(e.data.get("content") or "") async for e in events if e.event_type == "text_delta"]
    )


async def test_a_reader_who_joins_mid_reply_gets_the_text_so_far_then_the_rest(
    client: PolosClient,
) -> None:
    model = _PausingModel(
        uid("m"), [FakeTurn(text="Once upon a time.", chunks=["Once ", "upon ", "a ", "time."])]
    )
    agent = Agent(id=uid("late"), provider="fake", model=model)
    result = await agent.stream(client, "A story")
    assert await asyncio.to_thread(model.paused.wait, 30)  # two chunks are out, unread
    # While the model is still paused, a reader who starts now gets the text so far at once.
    chunks = aiter(result.text_chunks)
    assert await asyncio.wait_for(anext(chunks), 10) == "Once upon "
    events = aiter(result.events)
    seen: list[StreamEvent] = []
    while not any(e.event_type == "text_delta" for e in seen):
        seen.append(await asyncio.wait_for(anext(events), 10))
    assert [e.event_type for e in seen][-2:] == ["stream_start", "text_delta"]
    caught_up = seen[-1].data
    assert caught_up["content"] == "Once upon " and caught_up["step"] == "llm:1"
    assert caught_up["chunk_index"] == 0 and caught_up["replay"] is True
    model.go.set()
    rest = [c async for c in chunks]
    assert rest == ["a ", "time."]  # then the following deltas: none missed, none twice
    later = [e async for e in events if e.event_type == "text_delta"]
    assert [(e.data["chunk_index"], e.data["content"]) for e in later] == [(2, "a "), (3, "time.")]
    assert await result.text() == "Once upon a time."
    # the text so far is kept only while the call runs
    assert all(not ex.catch_up for ex in client.runtime.execs.values())


class _SlowModel(ScriptedModel):
    """Streams its turn one chunk per millisecond, so readers can join all along it."""

    async def stream(self, request):  # type: ignore[no-untyped-def]
        async for piece in super().stream(request):
            yield piece
            await asyncio.sleep(0.001)


async def test_readers_who_join_while_deltas_are_emitted_miss_none_and_get_none_twice(
    client: PolosClient,
) -> None:
    words = [f"w{i} " for i in range(300)]
    model = _SlowModel(uid("m"), [FakeTurn(text="".join(words), chunks=words)])
    agent = Agent(id=uid("race"), provider="fake", model=model)
    result = await agent.stream(client, "Count")

    async def deltas() -> list[StreamEvent]:
        return [e async for e in result.events if e.event_type == "text_delta"]

    finished = asyncio.create_task(result.result())
    readers = []
    while not finished.done() and len(readers) < 30:  # readers join all along the reply
        readers.append(asyncio.create_task(deltas()))
        await asyncio.sleep(0.02)
    await finished
    joined_mid_reply = 0
    for got in await asyncio.wait_for(asyncio.gather(*readers), 60):
        assert "".join(e.data["content"] for e in got) == "".join(words)
        first, live = got[0], got[1:]
        assert all(not e.data.get("replay") for e in live)
        # the live deltas follow each other, and the first one (a catch-up when the reader
        # joined mid-reply) holds exactly the chunks before them
        start = live[0].data["chunk_index"] if live else len(words)
        assert [e.data["chunk_index"] for e in live] == list(range(start, len(words)))
        assert first.data["content"] == "".join(words[:start])
        joined_mid_reply += bool(first.data.get("replay")) and 0 < start < len(words)
    assert joined_mid_reply > 0

"""Conversation memory per (agent, conversation), compaction that keeps tool pairs (D21),
and agents inside workflows (agent_invoke*, batches, with_input, hand-off)."""

from __future__ import annotations

import uuid

from polos_nb import Agent, CompactionConfig, PolosClient, WorkflowContext, events, tool, workflow
from polos_nb.testing import FakeToolCall, FunctionModel, ScriptedModel
from tests.agents.helpers import uid


@tool(description="Look up a city's weather")
def weather(city: str) -> str:
    return f"{city}: 20C"


async def test_conversation_memory_across_runs(client: PolosClient) -> None:
    model = ScriptedModel(
        uid("m"),
        [
            FakeToolCall("weather", {"city": "NYC"}, id="w1"),
            "NYC is 20C.",
            "Tomorrow NYC stays mild.",
        ],
    )
    agent = Agent(
        id=uid("chat"), provider="fake", model=model, system_prompt="sys", tools=[weather]
    )
    conversation_id = uuid.uuid4()
    await agent.run(client, "What's the weather in NYC?", conversation_id=conversation_id)
    second = await agent.run(client, "How about tomorrow?", conversation_id=conversation_id)
    sent = model.calls[2].messages
    assert [m["role"] for m in sent] == ["system", "user", "assistant", "tool", "assistant", "user"]
    assert sent[1]["content"] == "What's the weather in NYC?" and sent[3]["tool_call_id"] == "w1"
    assert second.result == "Tomorrow NYC stays mild."
    # Another conversation and another agent start empty.
    other = Agent(id=uid("chat"), provider="fake", model=ScriptedModel(uid("m"), ["hi"]))
    await other.run(client, "new", conversation_id=conversation_id)
    assert [m["role"] for m in other.model.calls[0].messages] == ["user"]  # type: ignore[attr-defined]


async def test_compaction_keeps_tool_pairs_and_roles(client: PolosClient) -> None:
    def brain(messages, info):
        if messages[0]["content"].startswith("Summarise"):
            return "SUMMARY: user asked about cities."
        last = messages[-1]
        if last["role"] == "user":
            return FakeToolCall("weather", {"city": last["content"]})
        return "noted " + last["content"]

    model = FunctionModel(brain, name=uid("fm"))
    config = CompactionConfig(max_conversation_tokens=150, min_recent_messages=3)
    agent = Agent(
        id=uid("compact"), provider="fake", model=model, tools=[weather], compaction=config
    )
    cid = "conv-1"
    for city in ["Paris", "Rome", "Oslo", "Lima"]:
        await agent.run(client, city, conversation_id=cid)
    last_call = [c for c in model.calls if not c.messages[0]["content"].startswith("Summarise")][-2]
    msgs = last_call.messages
    assert (
        msgs[0]["content"].startswith("[Prior conversation summary]\nSUMMARY")
        and msgs[1]["role"] == "assistant"
    )
    rest = msgs[2:]
    # Every tool result follows the assistant message that called it: no orphan, no role rewritten.
    for i, m in enumerate(rest):
        if m["role"] == "tool":
            caller = next(
                x for x in reversed(rest[:i]) if x["role"] == "assistant" and x.get("tool_calls")
            )
            assert m["tool_call_id"] in [c["id"] for c in caller["tool_calls"]]
    assert {m["role"] for m in rest} <= {"user", "assistant", "tool"}
    assert rest[0]["role"] == "user"
    # The stored turns themselves are untouched: the summary is a separate event.
    from polos_nb.agents.memory import conversation_topic

    stored = await events.read_topic(client, conversation_topic(agent.id, cid))
    assert [e.event_type for e in stored].count("turn") == 4 and "compaction" in [
        e.event_type for e in stored
    ]
    assert stored[0].data["messages"][0] == {"role": "user", "content": "Paris"}


async def test_agents_inside_workflows(client: PolosClient) -> None:
    planner = Agent(
        id=uid("planner"), provider="fake", model=ScriptedModel(uid("m"), ["plan: A then B"])
    )
    executor = Agent(
        id=uid("exec"),
        provider="fake",
        model=FunctionModel(lambda msgs, info: f"did {msgs[-1]['content']}", name=uid("fm")),
    )

    @workflow(id=uid("wf"))
    async def pipeline(ctx: WorkflowContext, payload: dict) -> dict:
        plan = await ctx.step.agent_invoke_and_wait("plan", planner.with_input(payload["task"]))
        batch = await ctx.step.batch_agent_invoke_and_wait(
            "exec", [executor.with_input("A"), executor.with_input("B")]
        )
        handle = await ctx.step.agent_invoke("bg", executor.with_input("C"))
        return {"plan": plan.result, "results": [r.result.result for r in batch], "bg": handle.id}

    out = await pipeline.run(client, {"task": "build"})
    assert out["plan"] == "plan: A then B" and out["results"] == ["did A", "did B"]
    bg = await client.wait_for_result(out["bg"], timeout=30)
    assert bg.result == "did C"
    info = await client.get_execution(out["bg"])
    assert info.workflow_type == "agent" and info.parent_execution_id is not None


async def test_hand_off_a_conversation(client: PolosClient) -> None:
    triage = Agent(
        id=uid("triage"),
        provider="fake",
        model=ScriptedModel(uid("m"), ["This is a billing question."]),
    )
    billing_model = FunctionModel(
        lambda msgs, info: f"billing saw {len(msgs)} messages", name=uid("fm")
    )
    billing = Agent(
        id=uid("billing"), provider="fake", model=billing_model, system_prompt="billing"
    )
    first = await triage.run(client, "Why was I charged twice?")
    handed = await billing.run(
        client, [*first.messages, {"role": "user", "content": "Please fix it."}]
    )
    assert handed.result == "billing saw 4 messages"
    assert [m["role"] for m in billing_model.calls[0].messages] == [
        "system",
        "user",
        "assistant",
        "user",
    ]

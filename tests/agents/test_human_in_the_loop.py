"""ask_user (a suspension with a form) and tool approvals, decided by the agent loop."""

from __future__ import annotations

import asyncio

from polos_nb import (
    Agent,
    ApprovalRequired,
    PolosClient,
    create_ask_user_tool,
    events,
    tool,
)
from polos_nb.testing import FakeToolCall, ScriptedModel
from polos_nb.tools import approval_granted
from tests.agents.helpers import step_rows, uid, wait_status


async def test_ask_user_suspends_with_a_form_and_returns_the_answers(client: PolosClient) -> None:
    model = ScriptedModel(
        uid("m"),
        [
            FakeToolCall(
                "ask_user",
                {
                    "question": "Which city?",
                    "title": "Trip",
                    "fields": [
                        {"key": "city", "type": "text", "label": "City"},
                        {"key": "nights", "type": "number", "label": "Nights"},
                    ],
                },
                id="q1",
            ),
            "Booked.",
        ],
    )
    agent = Agent(id=uid("ask"), provider="fake", model=model, tools=[create_ask_user_tool()])
    handle = await agent.invoke(client, "Book me a trip")
    await wait_status(client, handle.id, "waiting")
    info = await client.get_execution(handle.id)
    topic = f"workflow/{info.root_workflow_id}/{info.root_execution_id}"
    suspend = [
        e for e in await events.read_topic(client, topic) if e.event_type == "suspend_ask_user:1:q1"
    ]
    assert len(suspend) == 1
    form = suspend[0].data["_form"]
    assert form["title"] == "Trip" and form["description"] == "Which city?"
    assert [f["key"] for f in form["fields"]] == ["city", "nights"]
    assert suspend[0].data["_source"] == "ask_user" and suspend[0].data["_tool"] == "ask_user"
    assert model.call_count == 1
    await client.resume(agent.id, handle.id, "ask_user:1:q1", {"city": "Lisbon", "nights": 3})
    result = await client.wait_for_result(handle.id, timeout=30)
    assert result.result == "Booked." and result.tool_results[0].result == {
        "city": "Lisbon",
        "nights": 3,
    }
    tool_msg = next(m for m in model.calls[1].messages if m["role"] == "tool")
    assert tool_msg["content"] == '{"city": "Lisbon", "nights": 3}'
    assert model.call_count == 2


async def test_approval_always_asks_and_honours_the_answer(client: PolosClient) -> None:
    sent: list[str] = []

    @tool(description="Send an email", approval="always")
    def send_email(to: str) -> str:
        sent.append(to)
        return "sent"

    model = ScriptedModel(
        uid("m"),
        [
            [
                FakeToolCall("send_email", {"to": "a@x"}, id="e1"),
                FakeToolCall("send_email", {"to": "b@x"}, id="e2"),
            ],
            "Done.",
        ],
    )
    agent = Agent(id=uid("appr"), provider="fake", model=model, tools=[send_email])
    handle = await agent.invoke(client, "email both")
    await wait_status(client, handle.id, "waiting")
    await client.resume(agent.id, handle.id, "approve_send_email_1_e1", {"approved": True})
    await asyncio.sleep(0.05)
    await wait_status(client, handle.id, "waiting")
    await client.resume(
        agent.id, handle.id, "approve_send_email_1_e2", {"approved": False, "feedback": "not b"}
    )
    result = await client.wait_for_result(handle.id, timeout=30)
    assert sent == ["a@x"]
    by_id = {r.tool_call_id: r for r in result.tool_results}
    assert by_id["e1"].result == "sent"
    assert (
        by_id["e2"].status == "failed"
        and "rejected" in by_id["e2"].error
        and "not b" in by_id["e2"].error
    )


async def test_approval_required_raised_by_a_tool(client: PolosClient) -> None:
    runs: list[object] = []

    @tool(description="Delete a file")
    def delete(path: str) -> str:
        answer = approval_granted()
        runs.append(answer)
        if answer is None:
            raise ApprovalRequired({"path": path})
        return f"deleted {path}"

    model = ScriptedModel(uid("m"), [FakeToolCall("delete", {"path": "/tmp/x"}, id="d1"), "ok"])
    agent = Agent(id=uid("areq"), provider="fake", model=model, tools=[delete])
    handle = await agent.invoke(client, "clean up")
    await wait_status(client, handle.id, "waiting")
    await client.resume(agent.id, handle.id, "approve_delete_1_d1", {"approved": True})
    result = await client.wait_for_result(handle.id, timeout=30)
    assert result.tool_results[0].result == "deleted /tmp/x"
    assert runs == [
        None,
        {"approved": True},
    ]  # ran once to ask, once approved; never again on replay
    keys = [k for k, *_ in await step_rows(client, handle.id)]
    assert keys == [
        "llm:1",
        "tool:1:d1:delete",
        "approve_delete_1_d1",
        "tool:1:d1:delete#approved",
        "llm:2",
    ]

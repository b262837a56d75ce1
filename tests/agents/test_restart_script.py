"""After a kernel restart a scripted model continues where the run's journal is, and tool
call ids stay unique within a run (issue 11, item 2: notebook 03's walkthrough).

A restart is what it is in a notebook: the process that ran the agent is gone (here: its
client is closed and the agent forgotten), the cells are run again (a new ScriptedModel
with the same script from its first turn, the agent defined again) and the journal's run
resumes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from polos_nb import Agent, PolosClient, tool
from polos_nb.engine import unregister_workflow
from polos_nb.testing import FakeToolCall, ScriptedModel
from tests.agents.helpers import step_rows, uid, wait_status
from tests.engine.helpers import rows as rows_of

SENT: list[str] = []


def define(name: str, agent_id: str) -> tuple[ScriptedModel, Agent]:
    """The notebook's cells: the tool, the scripted model (from its first turn), the agent."""

    @tool(description="Send an email", approval="always")
    def send_email(to: str, subject: str) -> str:
        SENT.append(to)
        return "sent"

    model = ScriptedModel(
        name,
        [
            FakeToolCall("send_email", {"to": "ana@example.com", "subject": "Hi"}),
            FakeToolCall("send_email", {"to": "bo@example.com", "subject": "Hi"}),
            FakeToolCall("send_email", {"to": "cy@example.com", "subject": "Hi"}),
            "Sent to Ana and Cy; Bo was skipped.",
        ],
    )
    return model, Agent(id=agent_id, provider="fake", model=model, tools=[send_email])


async def pending_key(client: PolosClient, run_id: str) -> Any:
    await wait_status(client, run_id, "waiting")
    sql = "SELECT step_key FROM waits WHERE execution_id = ? AND resolved_at IS NULL"
    rows = await rows_of(client, sql, [run_id])
    return [r[0] for r in rows]


async def test_a_restarted_script_resumes_where_the_journal_is(journal_path: Path) -> None:
    SENT.clear()
    name, agent_id = uid("mailer-model"), uid("mailer")
    _model, agent = define(name, agent_id)
    client = PolosClient(journal=journal_path)
    handle = await agent.invoke(client, "Email Ana, Bo and Cy")
    assert await pending_key(client, handle.id) == ["approve_send_email_1_call_1_0"]
    await client.resume(agent_id, handle.id, "approve_send_email_1_call_1_0", {"approved": True})
    assert await pending_key(client, handle.id) == ["approve_send_email_2_call_2_0"]
    await client.resume(
        agent_id,
        handle.id,
        "approve_send_email_2_call_2_0",
        {"approved": False, "feedback": "not Bo"},
    )
    assert await pending_key(client, handle.id) == ["approve_send_email_3_call_3_0"]
    # the kernel restarts while the run waits for Cy's approval
    client.close()
    unregister_workflow(agent_id)

    model, agent = define(name, agent_id)  # the cells run again: the script from turn 1
    client = PolosClient(journal=journal_path)
    try:
        assert await pending_key(client, handle.id) == ["approve_send_email_3_call_3_0"]
        await client.resume(
            agent_id, handle.id, "approve_send_email_3_call_3_0", {"approved": True, "always": True}
        )
        result = await client.wait_for_result(handle.id, timeout=60)
        assert result.result == "Sent to Ana and Cy; Bo was skipped."
        assert SENT == ["ana@example.com", "cy@example.com"]  # Bo, rejected, got nothing
        # the new model made only the calls the journal did not have: the last one
        assert model.call_count == 1
        ids = [r.tool_call_id for r in result.tool_results]
        assert ids == ["call_1_0", "call_2_0", "call_3_0"]
        keys = [k for k, *_ in await step_rows(client, handle.id) if k.startswith("tool:")]
        assert len(keys) == len(set(keys))
    finally:
        client.close()


async def test_call_ids_are_unique_within_a_run_even_when_the_model_repeats_them(
    client: PolosClient,
) -> None:
    calls: list[str] = []

    @tool(description="Look a word up")
    def lookup(word: str) -> str:
        calls.append(word)
        return word.upper()

    model = ScriptedModel(
        uid("repeating"),
        [
            FakeToolCall("lookup", {"word": "a"}, id="same"),
            [
                FakeToolCall("lookup", {"word": "b"}, id="same"),
                FakeToolCall("lookup", {"word": "c"}, id="same"),
            ],
            "done",
        ],
    )
    agent = Agent(id=uid("looker"), provider="fake", model=model, tools=[lookup])
    result = await agent.run(client, "look up a, b and c")
    assert calls == ["a", "b", "c"]
    ids = [r.tool_call_id for r in result.tool_results]
    assert len(set(ids)) == 3 and ids[0] == "same", ids
    assert [r.result for r in result.tool_results] == ["A", "B", "C"]

"""Channels configured on one agent versus globally, through upstream's ``Polos`` object."""

from __future__ import annotations

from pathlib import Path

from polos_nb import Agent, Polos, tool
from polos_nb.channels import dispatcher_for
from polos_nb.testing import FakeToolCall, ScriptedModel
from tests.agents.helpers import uid, wait_status
from tests.channels.fakes import FakeSlack
from tests.channels.test_notify import Recorder, slack_channel, until


async def test_an_agents_tool_approval_goes_to_the_agents_own_channels(
    journal_path: Path, slack: FakeSlack
) -> None:
    @tool(description="Delete a file", approval="always")
    def delete(path: str) -> str:
        return f"deleted {path}"

    own = Recorder("own")
    careful = Agent(
        id=uid("careful"),
        provider="fake",
        model=ScriptedModel(uid("m"), [FakeToolCall("delete", {"path": "/tmp/x"}), "Done."]),
        tools=[delete],
        channels=[own],
    )
    plain = Agent(
        id=uid("plain"),
        provider="fake",
        model=ScriptedModel(uid("m"), [FakeToolCall("delete", {"path": "/tmp/y"}), "Done."]),
        tools=[delete],
    )
    async with Polos(journal=journal_path, channels=[slack_channel(slack)]) as polos:
        h1 = await careful.invoke(polos, {"input": "clean up"})
        h2 = await plain.invoke(polos, {"input": "clean up"})
        await wait_status(polos, h1.id, "waiting")
        await wait_status(polos, h2.id, "waiting")
        await until(lambda: own.notified, what="the agent's own channel")
        posted = await slack.until(lambda: slack.of("chat.postMessage"), what="Slack")
        dispatcher = dispatcher_for(polos.runtime)
        assert dispatcher is not None
        await polos._on_engine(dispatcher.idle())
        # the tool approval inside `careful` used the agent's channels, not the global ones
        assert [n.execution_id for n in own.notified] == [h1.id]
        assert own.notified[0].tool == delete.id
        assert own.notified[0].source == "tool_approval"
        assert len(slack.of("chat.postMessage")) == 1
        value = posted[0].body["blocks"][-1]["elements"][0]["value"]
        assert h2.id in value
        await polos.resume(None, h1.id, own.notified[0].step_key, {"approved": True})
        assert (await polos.wait_for_result(h1.id, timeout=60)).result == "Done."

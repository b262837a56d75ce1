"""Forking an agent run with an edited model reply given as a plain dict.

An agent's model call records an ``LLMResponse``; ``client.fork(run, "llm:N",
result={...})`` takes a dict of its fields (as a person would write it, or as the journal
shows it) and records the model, so the forked run goes on from the edited reply. A dict
that does not fit is refused before anything is written.
"""

from __future__ import annotations

import pytest

from polos_nb import Agent, PolosClient, UserError, tool
from polos_nb.testing import FakeToolCall, ScriptedModel
from tests.agents.helpers import step_rows, uid


async def test_a_dict_reply_is_recorded_as_the_model_reply(client: PolosClient) -> None:
    calls: list[str] = []

    @tool(description="Look a city up")
    async def lookup(city: str) -> str:
        calls.append(city)
        return f"{city}: sunny"

    model = ScriptedModel(uid("m"), [FakeToolCall("lookup", {"city": "Oslo"}), "Oslo is sunny."])
    agent = Agent(id=uid("fork"), provider="fake", model=model, tools=[lookup])
    original = await agent.run(client, "Weather in Oslo?")
    assert original.result == "Oslo is sunny." and calls == ["Oslo"]

    keys = [key for key, *_ in await step_rows(client, original.agent_run_id)]
    first_llm = next(k for k in keys if k.startswith("llm"))
    # The first reply edited: no tool call, a final answer at once.
    forked = await client.fork(
        original.agent_run_id, first_llm, result={"content": "Edited: it snows in Oslo."}
    )
    result = await forked
    assert result.result == "Edited: it snows in Oslo."
    assert calls == ["Oslo"]  # the tool the original reply asked for did not run again
    assert model.call_count == 2  # and the model was not called for the fork

    with pytest.raises(UserError, match="recorded a LLMResponse") as refused:
        await client.fork(original.agent_run_id, first_llm, result={"content": ["not", "text"]})
    assert "content" in str(refused.value)

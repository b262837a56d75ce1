"""The client comes first: a run started without it says so, and how to call it.

``await agent.run("hi")`` (the input where the client goes) is the mistake people make
most when coming from other agent libraries; Python's own message for it ("missing 1
required positional argument: 'input'", or "'str' object has no attribute 'invoke'")
names neither the cause nor the fix. Nothing is started or journaled.
"""

from __future__ import annotations

import pytest

from polos_nb import Agent, NotAClientError, PolosClient, WorkflowContext, workflow
from polos_nb.testing import ScriptedModel


@pytest.fixture
def helper() -> Agent:
    return Agent(id="helper_for_client_checks", provider="fake", model=ScriptedModel(["hi"]))


@workflow(id="client_checks_flow")
async def client_checks_flow(ctx: WorkflowContext, payload: dict) -> int:
    return len(payload)


async def test_an_agent_run_given_only_the_input_says_the_client_goes_first(
    client: PolosClient, helper: Agent
) -> None:
    with pytest.raises(NotAClientError) as info:
        await helper.run("what is 2+3?")  # type: ignore[call-arg]
    message = str(info.value)
    assert "takes the client first" in message
    assert "await helper_for_client_checks.run(client, 'what is 2+3?')" in message
    assert "PolosClient()" in message
    assert isinstance(info.value, TypeError)  # what Python raises for a misplaced argument
    assert await client.list_executions(workflow_id=helper.id) == []  # nothing started


async def test_stream_and_invoke_check_the_client_too(client: PolosClient, helper: Agent) -> None:
    with pytest.raises(NotAClientError, match=r"helper_for_client_checks\.stream\(\)"):
        await helper.stream("hello")  # type: ignore[call-arg]
    with pytest.raises(NotAClientError, match=r"given None \(NoneType\)"):
        await helper.invoke(None, "hello")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="needs the input after the client"):
        await helper.run(client)  # type: ignore[call-arg]


async def test_a_workflow_run_given_its_payload_first_names_the_fix(client: PolosClient) -> None:
    with pytest.raises(NotAClientError) as info:
        await client_checks_flow.run({"a": 1})  # type: ignore[arg-type]
    assert "await client_checks_flow.run(client, {'a': 1})" in str(info.value)
    with pytest.raises(NotAClientError, match=r"client_checks_flow\.run_sync\(client, "):
        client_checks_flow.run_sync("oops", {"a": 1})  # type: ignore[arg-type]
    # With the client first, the same calls run.
    assert await client_checks_flow.run(client, {"a": 1, "b": 2}) == 2
    assert (await helper_run(client)).result == "hi"


async def helper_run(client: PolosClient):  # type: ignore[no-untyped-def]
    agent = Agent(id="helper_for_client_checks_ok", provider="fake", model=ScriptedModel(["hi"]))
    return await agent.run(client, "hello")

"""Gap 5: tool approvals keyed and shaped as upstream builds them."""

from __future__ import annotations

import asyncio
import json

import pytest
from pydantic import BaseModel

from polos_nb import (
    Agent,
    MaxStepsConfig,
    Polos,
    WorkflowContext,
    create_ask_user_tool,
    events,
    max_steps,
    tool,
)
from polos_nb.testing import FakeToolCall, ScriptedModel

from .conftest import uid


class EmailInput(BaseModel):
    to: str
    subject: str


SENT: list[str] = []


@tool(description="Send an email", approval="always")
async def send_email(ctx: WorkflowContext, input: EmailInput) -> dict:
    SENT.append(input.to)
    return {"status": "sent", "to": input.to}


def assistant(model: ScriptedModel) -> Agent:
    return Agent(
        id=uid("email_assistant"),
        provider="fake",
        model=model,
        system_prompt="You send emails.",
        tools=[send_email, create_ask_user_tool()],
        stop_conditions=[max_steps(MaxStepsConfig(count=10))],
    )


async def stream_suspends(polos, handle):
    """Upstream's pattern: yield suspend events from the workflow stream."""
    async for event in events.stream_workflow(polos, handle.root_workflow_id, handle.id):
        if event.event_type and event.event_type.startswith("suspend_"):
            yield {"step_key": event.event_type[len("suspend_") :], "data": event.data}


async def test_upstream_approval_loop() -> None:
    SENT.clear()
    model = ScriptedModel(
        uid("mailer"),
        [
            FakeToolCall("ask_user", {"question": "Who should get it?"}),
            FakeToolCall("send_email", {"to": "ada@example.com", "subject": "Hi"}),
            FakeToolCall("send_email", {"to": "bob@example.com", "subject": "Hi"}),
            "Sent one email; Bob's was rejected.",
        ],
    )
    agent = assistant(model)
    seen: list[dict] = []
    async with Polos() as polos:
        handle = await polos.invoke(agent.id, {"input": "Email the team", "streaming": True})
        async for suspend in stream_suspends(polos, handle):
            json.dumps(suspend["data"])
            if suspend["step_key"].startswith("approve_"):
                form = suspend["data"].get("_form", {})
                context = form.get("context", {})
                seen.append(
                    {
                        "tool": context.get("tool"),
                        "input": context.get("input"),
                        "source": suspend["data"].get("_source"),
                        "url": suspend["data"].get("_approval_url"),
                        "fields": [f["key"] for f in form.get("fields", [])],
                    }
                )
                approved = context["input"]["to"] == "ada@example.com"
                resume_data = {"approved": approved}
                if not approved:
                    resume_data["feedback"] = "Not Bob."
                await polos.resume(
                    suspend_workflow_id=handle.root_workflow_id,
                    suspend_execution_id=handle.id,
                    suspend_step_key=suspend["step_key"],
                    data=resume_data,
                )
            elif suspend["step_key"].startswith("ask_user"):
                fields = suspend["data"]["_form"]["fields"]
                await polos.resume(
                    suspend_workflow_id=handle.root_workflow_id,
                    suspend_execution_id=handle.id,
                    suspend_step_key=suspend["step_key"],
                    data={fields[0]["key"]: "Ada and Bob"},
                )
        while (execution := await polos.get_execution(handle.id)).get("status") != "completed":
            await asyncio.sleep(0.02)
    assert SENT == ["ada@example.com"]
    assert [s["tool"] for s in seen] == ["send_email", "send_email"]
    assert seen[0]["input"] == {"to": "ada@example.com", "subject": "Hi"}
    assert seen[0]["source"] == "tool_approval"
    assert seen[0]["fields"] == ["approved", "feedback"]
    assert seen[0]["url"].startswith("http://")
    assert f"/polos/approve/{handle.root_execution_id}/approve_send_email_" in seen[0]["url"]
    result = execution.get("result")
    assert result["result"] == "Sent one email; Bob's was rejected."
    rejected = [r for r in result["tool_results"] if r["status"] == "failed"]
    assert rejected[0]["error"] == 'Tool "send_email" was rejected by the user. Feedback: Not Bob.'


async def test_approval_url_base_is_configurable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POLOS_APPROVAL_BASE_URL", "https://lab.example.com/user/ada/")
    model = ScriptedModel(
        uid("mailer"), [FakeToolCall("send_email", {"to": "x@y.z", "subject": "s"})]
    )
    agent = assistant(model)
    async with Polos() as polos:
        handle = await agent.invoke(polos, "Email x")
        async for suspend in stream_suspends(polos, handle):
            url = suspend["data"]["_approval_url"]
            break
        await polos.cancel_execution(handle.id)
    assert url == (
        f"https://lab.example.com/user/ada/polos/approve/{handle.root_execution_id}/"
        f"{suspend['step_key']}"
    )


async def test_a_run_suspended_under_the_old_key_resumes(monkeypatch: pytest.MonkeyPatch) -> None:
    """A journal written before the upstream keys holds ``approve:<n>:<call id>``."""
    import polos_nb.agents._loop as loop

    SENT.clear()
    model = ScriptedModel(
        uid("old"),
        [FakeToolCall("send_email", {"to": "old@example.com", "subject": "s"}, id="c1"), "Done."],
    )
    agent = assistant(model)
    async with Polos() as polos:
        with monkeypatch.context() as m:  # the key scheme of the earlier polos_nb
            m.setattr(loop, "approval_key", lambda tool_id, n, call_id: f"approve:{n}:{call_id}")
            handle = await agent.invoke(polos, "Email old")
            while (await polos.get_execution(handle.id))["status"] != "waiting":
                await asyncio.sleep(0.02)
        # the current code replays the run: the pending suspension keeps its old key
        await polos.resume(agent.id, handle.id, "approve:1:c1", {"approved": True})
        result = await polos.wait_for_result(handle.id, timeout=30)
    assert result.result == "Done." and SENT == ["old@example.com"]

"""Requests from Slack reach runs: signed button clicks resume them, mentions start agents
(once per Slack event) whose output and approvals go back to the thread.

The endpoint runs in a real tornado application on loopback (as in the Jupyter server,
with XSRF checking on), and Slack's side is played by signed HTTP requests; the Slack
Web API is the loopback fake.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets
from tornado.web import Application

from polos_nb import Agent, Polos, PolosClient, tool
from polos_nb.channels import (
    SlackApproval,
    SlackChannel,
    SlackChannelConfig,
    SlackEndpoint,
    SlackMention,
    apply_slack_action,
    parse_agent_mention,
    serve_slack,
    sign_slack_request,
)
from polos_nb.server import slack_handlers
from polos_nb.testing import FakeToolCall, ScriptedModel
from tests.agents.helpers import uid, wait_status
from tests.channels.fakes import BOT_TOKEN, SIGNING_SECRET, FakeSlack
from tests.channels.test_notify import approval_workflow, slack_channel


class SlackSide:
    """Plays Slack: signs and POSTs requests to our endpoints."""

    def __init__(self, base: str, fake: FakeSlack) -> None:
        self.base = base
        self.fake = fake
        self.http = httpx.AsyncClient(timeout=60)

    async def post(
        self, kind: str, body: bytes, *, secret: str = SIGNING_SECRET, **headers: str
    ) -> httpx.Response:
        signed = sign_slack_request(secret, body) if secret else {}
        content_type = (
            "application/json" if kind == "events" else "application/x-www-form-urlencoded"
        )
        return await self.http.post(
            f"{self.base}/polos/slack/{kind}",
            content=body,
            headers={**signed, "Content-Type": content_type, **headers},
        )

    async def click(self, button: dict[str, Any], user: str = "U0ADA") -> httpx.Response:
        payload = {
            "type": "block_actions",
            "user": {"id": user, "username": "ada"},
            "actions": [
                {"action_id": button["action_id"], "value": button["value"], "type": "button"}
            ],
            "response_url": self.fake.response_url,
        }
        return await self.post("interactions", urlencode({"payload": json.dumps(payload)}).encode())

    async def mention(
        self,
        text: str,
        *,
        event_id: str,
        ts: str = "1700000100.000100",
        thread_ts: str | None = None,
        channel: str = "C0TEAM",
        retry: int | None = None,
    ) -> httpx.Response:
        event: dict[str, Any] = {
            "type": "app_mention",
            "user": "U0ADA",
            "text": text,
            "ts": ts,
            "channel": channel,
        }
        if thread_ts:
            event["thread_ts"] = thread_ts
        body = json.dumps(
            {
                "type": "event_callback",
                "team_id": "T0TEAM",
                "api_app_id": "A0APP",
                "event_id": event_id,
                "event_time": int(time.time()),
                "event": event,
            }
        ).encode()
        extra = {"X-Slack-Retry-Num": str(retry)} if retry is not None else {}
        return await self.post("events", body, **extra)


@pytest.fixture
async def endpoint_app(
    journal_path: Path, slack: FakeSlack
) -> AsyncIterator[tuple[PolosClient, SlackSide]]:
    """A client with a Slack channel, and Slack's endpoints in a tornado app on loopback."""
    channel = slack_channel(slack)
    client = PolosClient(journal=journal_path, channels=[channel])

    async def deliver(action: SlackApproval | SlackMention) -> Any:
        return await apply_slack_action(client, action)

    endpoint = SlackEndpoint(deliver, signing_secret=SIGNING_SECRET, delivery_timeout=60)
    app = Application(slack_handlers(endpoint, "/"), xsrf_cookies=True)
    sockets = bind_sockets(0, "127.0.0.1")
    server = HTTPServer(app)
    server.add_sockets(sockets)
    port = sockets[0].getsockname()[1]
    side = SlackSide(f"http://127.0.0.1:{port}", slack)
    try:
        yield client, side
    finally:
        await side.http.aclose()
        server.stop()
        await server.close_all_connections()
        client.close()


def buttons(call: Any) -> dict[str, dict[str, Any]]:
    actions = call.body["blocks"][-1]["elements"]
    return {a.get("action_id"): a for a in actions}


async def test_a_signed_click_on_approve_resumes_the_run(
    endpoint_app: tuple[PolosClient, SlackSide], slack: FakeSlack
) -> None:
    client, side = endpoint_app
    wf = approval_workflow()
    handle = await wf.invoke(client, {})
    message = (await slack.until(lambda: slack.of("chat.postMessage")))[0]
    approve = buttons(message)["polos_approve"]

    # unsigned, wrongly signed, or stale: refused, and the run still waits
    body = urlencode({"payload": json.dumps({"type": "block_actions"})}).encode()
    assert (await side.post("interactions", body, secret="")).status_code == 401
    assert (await side.post("interactions", body, secret="not-the-secret")).status_code == 401
    stale = sign_slack_request(SIGNING_SECRET, body, timestamp=int(time.time()) - 600)
    answer = await side.http.post(
        f"{side.base}/polos/slack/interactions", content=body, headers=stale
    )
    assert answer.status_code == 401
    assert (await client.get_execution(handle.id)).status == "waiting"

    answer = await side.click(approve)
    assert answer.status_code == 200, answer.text
    assert await client.wait_for_result(handle.id, timeout=60) == "shipped"
    update = (await slack.until(lambda: slack.of("chat.update"), what="chat.update"))[0]
    assert update.body["text"] == "✅ Approved by <@U0ADA>"
    assert update.body["ts"] == "1700000000.000001"  # the fake's ts for its first message

    # a second click: the run is not waiting any more; the clicker is told, privately
    again = await side.click(buttons(message)["polos_reject"])
    assert again.status_code == 200
    note = (await slack.until(lambda: slack.responses, what="the response_url post"))[0]
    assert note.body["response_type"] == "ephemeral"
    assert "no longer waiting" in note.body["text"]


async def test_a_click_on_reject_resumes_the_run_with_approved_false(
    endpoint_app: tuple[PolosClient, SlackSide], slack: FakeSlack
) -> None:
    client, side = endpoint_app
    wf = approval_workflow()
    handle = await wf.invoke(client, {})
    message = (await slack.until(lambda: slack.of("chat.postMessage")))[0]
    assert (await side.click(buttons(message)["polos_reject"])).status_code == 200
    assert await client.wait_for_result(handle.id, timeout=60) == "kept"
    update = (await slack.until(lambda: slack.of("chat.update")))[0]
    assert update.body["text"] == "❌ Rejected by <@U0ADA>"


async def test_a_mention_starts_the_named_agent_once_and_answers_in_the_thread(
    endpoint_app: tuple[PolosClient, SlackSide], slack: FakeSlack
) -> None:
    client, side = endpoint_app
    model = ScriptedModel(uid("m"), ["The answer is 42."])
    agent = Agent(id=uid("oracle"), provider="fake", model=model)
    text = f"<@U0BOT> @{agent.id} what is the answer?"
    answer = await side.mention(text, event_id="Ev0001")
    assert answer.status_code == 200, answer.text
    runs = await client.list_executions(workflow_id=agent.id)
    assert len(runs) == 1
    run = runs[0]
    assert run.payload["input"] == "what is the answer?"
    assert run.session_id == "slack:C0TEAM:1700000100.000100"
    assert await client.wait_for_result(run.id, timeout=60)
    reply = await slack.until(
        lambda: [c for c in slack.of("chat.postMessage") if c.body.get("thread_ts")],
        what="the answer in the thread",
    )
    assert reply[0].body["channel"] == "C0TEAM"
    assert reply[0].body["thread_ts"] == "1700000100.000100"
    assert reply[0].body["text"] == "The answer is 42."
    assert await client.runtime.channel_context(run.id) == {
        "channel_id": "slack",
        "source": {"channel": "C0TEAM", "threadTs": "1700000100.000100", "user": "U0ADA"},
    }

    # Slack retries the same event (it did not hear back in time): no second run
    again = await side.mention(text, event_id="Ev0001", retry=1)
    assert again.status_code == 200
    assert len(await client.list_executions(workflow_id=agent.id)) == 1
    assert model.call_count == 1


async def test_a_slack_started_agents_approvals_go_to_its_thread(
    endpoint_app: tuple[PolosClient, SlackSide], slack: FakeSlack
) -> None:
    client, side = endpoint_app
    sent: list[str] = []

    @tool(description="Send an email", approval="always")
    def send_email(to: str) -> str:
        sent.append(to)
        return "sent"

    model = ScriptedModel(
        uid("m"), [FakeToolCall("send_email", {"to": "alice@example.com"}, id="c1"), "Sent it."]
    )
    agent = Agent(id=uid("mailer"), provider="fake", model=model, tools=[send_email])
    answer = await side.mention(
        f"<@U0BOT> @{agent.id} mail alice", event_id="Ev0002", ts="1700000200.000200"
    )
    assert answer.status_code == 200
    (run,) = await client.list_executions(workflow_id=agent.id)
    await wait_status(client, run.id, "waiting")
    approval = await slack.until(
        lambda: [c for c in slack.of("chat.postMessage") if c.body.get("blocks")],
        what="the approval message",
    )
    call = approval[0]
    # in the thread it came from, not in the default channel
    assert call.body["channel"] == "C0TEAM" and call.body["thread_ts"] == "1700000200.000200"
    assert call.body["blocks"][0]["text"]["text"] == f"Approve tool: {send_email.id}"
    assert (await side.click(buttons(call)["polos_approve"])).status_code == 200
    result = await client.wait_for_result(run.id, timeout=60)
    assert result.result == "Sent it." and sent == ["alice@example.com"]
    await slack.until(
        lambda: any(c.body.get("text") == "Sent it." for c in slack.of("chat.postMessage")),
        what="the final answer in the thread",
    )
    thread = [
        c.body["text"]
        for c in slack.of("chat.postMessage")
        if c.body.get("thread_ts") == "1700000200.000200" and not c.body.get("blocks")
    ]
    assert thread == [f"🔧 Calling tool: `{send_email.id}`", "Sent it."]


async def test_a_follow_up_in_the_thread_goes_to_the_same_agent_and_session(
    endpoint_app: tuple[PolosClient, SlackSide], slack: FakeSlack
) -> None:
    client, side = endpoint_app
    model = ScriptedModel(uid("m"), ["First.", "Second."])
    agent = Agent(id=uid("chat"), provider="fake", model=model)
    first = await side.mention(f"<@U0BOT> @{agent.id} hello", event_id="Ev0010", ts="1700000300.1")
    assert first.status_code == 200
    (run1,) = await client.list_executions(workflow_id=agent.id)
    await client.wait_for_result(run1.id, timeout=60)
    follow = await side.mention(
        "<@U0BOT> and then?", event_id="Ev0011", ts="1700000301.2", thread_ts="1700000300.1"
    )
    assert follow.status_code == 200
    runs = await client.list_executions(workflow_id=agent.id)
    assert len(runs) == 2
    assert {r.session_id for r in runs} == {"slack:C0TEAM:1700000300.1"}
    newest = runs[0]
    assert newest.payload["input"] == "and then?"
    await client.wait_for_result(newest.id, timeout=60)
    # the agent's memory spans the thread: the second call saw the first exchange
    assert any(m.get("content") == "First." for m in model.calls[1].messages)


async def test_url_verification_and_a_mention_of_no_known_agent(
    endpoint_app: tuple[PolosClient, SlackSide], slack: FakeSlack
) -> None:
    client, side = endpoint_app
    body = json.dumps({"type": "url_verification", "challenge": "c-123"}).encode()
    answer = await side.post("events", body)
    assert answer.status_code == 200 and answer.json() == {"challenge": "c-123"}
    assert (await side.post("events", body, secret="wrong")).status_code == 401

    known = Agent(id=uid("known"), provider="fake", model=ScriptedModel(uid("m"), []))
    answer = await side.mention("<@U0BOT> @nobody-here do things", event_id="Ev0020")
    assert answer.status_code == 200
    reply = (await slack.until(lambda: slack.of("chat.postMessage")))[0]
    assert reply.body["thread_ts"] == "1700000100.000100"
    assert "no agent `nobody-here`" in reply.body["text"] and f"@{known.id}" in reply.body["text"]
    assert await client.list_executions(workflow_id="nobody-here") == []


def test_parse_agent_mention() -> None:
    assert parse_agent_mention("<@U0BOT> @research-agent find papers on X") == (
        "research-agent",
        "find papers on X",
    )
    assert parse_agent_mention("<@U0BOT|bot> hello there") == (None, "hello there")
    assert parse_agent_mention("@a: go @b") == ("a", "go @b")


async def test_serve_slack_from_a_plain_script(journal_path: Path, slack: FakeSlack) -> None:
    model = ScriptedModel(uid("m"), ["Hi from a script."])
    agent = Agent(id=uid("scripted"), provider="fake", model=model)
    with PolosClient(journal=journal_path, channels=[slack_channel(slack)]) as client:
        with serve_slack(client, port=0, signing_secret=SIGNING_SECRET, delivery_timeout=60) as srv:
            side = SlackSide(srv.url, slack)
            try:
                answer = await side.mention(f"<@U0BOT> @{agent.id} hi", event_id="Ev0100")
                assert answer.status_code == 200, answer.text
                bad = await side.post("events", b"{}", secret="nope")
                assert bad.status_code == 401
            finally:
                await side.http.aclose()
        (run,) = await client.list_executions(workflow_id=agent.id)
        await client.wait_for_result(run.id, timeout=60)
        await slack.until(
            lambda: [
                c for c in slack.of("chat.postMessage") if c.body["text"] == "Hi from a script."
            ]
        )


async def test_an_endpoint_without_a_signing_secret_refuses_everything(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    delivered: list[Any] = []

    async def deliver(action: Any) -> None:
        delivered.append(action)

    endpoint = SlackEndpoint(deliver)
    body = b'{"type": "url_verification", "challenge": "x"}'
    answer = await endpoint.handle("events", sign_slack_request("guess", body), body)
    assert answer.status == 500 and delivered == []
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "from-env")
    answer = await endpoint.handle("events", sign_slack_request("from-env", body), body)
    assert answer.status == 200 and json.loads(answer.body) == {"challenge": "x"}


async def test_a_delivery_that_fails_is_answered_503_so_slack_retries() -> None:
    async def deliver(action: Any) -> None:
        raise ConnectionError("no kernel owns the journal")

    endpoint = SlackEndpoint(deliver, signing_secret=SIGNING_SECRET)
    body = json.dumps(
        {
            "type": "event_callback",
            "event_id": "Ev9",
            "event": {"type": "app_mention", "channel": "C1", "ts": "1.1", "text": "@a hi"},
        }
    ).encode()
    answer = await endpoint.handle("events", sign_slack_request(SIGNING_SECRET, body), body)
    assert answer.status == 503
    await asyncio.sleep(0)


async def test_a_click_that_cannot_be_delivered_tells_the_clicker_to_try_again(
    slack: FakeSlack,
) -> None:
    """Slack never retries a click: the person who clicked hears that nothing was recorded."""

    async def deliver(action: Any) -> None:
        raise ConnectionError("the kernel that owns the journal is busy")

    endpoint = SlackEndpoint(deliver, signing_secret=SIGNING_SECRET)
    payload = {
        "type": "block_actions",
        "user": {"id": "U0ADA", "username": "ada"},
        "actions": [
            {
                "action_id": "polos_approve",
                "value": json.dumps({"executionId": "exec-1", "stepKey": "approve"}),
                "type": "button",
            }
        ],
        "response_url": slack.response_url,
    }
    body = urlencode({"payload": json.dumps(payload)}).encode()
    answer = await endpoint.handle("interactions", sign_slack_request(SIGNING_SECRET, body), body)
    assert answer.status == 503
    [note] = await slack.until(lambda: slack.responses, what="the response_url post")
    assert note.body["response_type"] == "ephemeral"
    assert "approval was not recorded" in note.body["text"]
    assert "the kernel that owns the journal is busy" in note.body["text"]


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_polos_serve_serves_slacks_request_urls_on_its_port(
    journal_path: Path, slack: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Upstream's Slack example only calls ``await polos.serve()``: mentions must reach it.

    The port is upstream's worker port (``$POLOS_WORKER_PORT`` when not given); the URLs
    close when serving ends, and a channel without a signing secret serves nothing.
    """
    model = ScriptedModel(uid("m"), ["Served by Polos.serve()."])
    agent = Agent(id=uid("served"), provider="fake", model=model)
    port = _free_port()
    monkeypatch.setenv("POLOS_WORKER_PORT", str(port))
    polos = Polos(journal=journal_path, channels=[slack_channel(slack)])
    assert polos.port == port
    serving = asyncio.create_task(polos.serve())
    side = SlackSide(f"http://127.0.0.1:{port}", slack)
    try:
        for _ in range(200):
            try:
                answer = await side.mention(f"<@U0BOT> @{agent.id} hi", event_id="Ev0200")
                break
            except httpx.ConnectError:
                await asyncio.sleep(0.05)
        # 503: not started within Slack's three seconds (a loaded machine); it goes on
        assert answer.status_code in (200, 503), answer.text
        for _ in range(1200):
            runs = await polos.list_executions(workflow_id=agent.id)
            if runs:
                break
            await asyncio.sleep(0.05)
        (run,) = runs
        assert (
            await polos.wait_for_result(run.id, timeout=60)
        ).result == "Served by Polos.serve()."
        await polos.stop()
        await asyncio.wait_for(serving, 30)
        with pytest.raises(httpx.ConnectError):
            await side.mention(f"<@U0BOT> @{agent.id} again", event_id="Ev0201")
    finally:
        await side.http.aclose()
        if not serving.done():
            await polos.stop()
            await asyncio.wait_for(serving, 30)

    # without a signing secret, nothing is served (requests could not be checked)
    unsigned = SlackChannel(
        SlackChannelConfig(bot_token=BOT_TOKEN, default_channel="#general", base_url=slack.api_url)
    )
    assert unsigned.serve_requests(None, port=port) is None


async def test_polos_serve_goes_on_when_its_port_is_taken(
    journal_path: Path, slack: FakeSlack, caplog: pytest.LogCaptureFixture
) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = int(taken.getsockname()[1])
        polos = Polos(journal=journal_path, channels=[slack_channel(slack)], port=port)
        with caplog.at_level(logging.WARNING, logger="polos_nb"):
            serving = asyncio.create_task(polos.serve())
            await asyncio.sleep(0.2)
            assert not serving.done()  # still serving: schedules, triggers, resumes
            await polos.stop()
            await asyncio.wait_for(serving, 30)
    assert f"cannot serve its requests on port {port}" in caplog.text

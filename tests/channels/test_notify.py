"""When a run suspends, its channels are told — concurrently, after the suspension is
journaled, never failing the run — and told again once it is answered."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any

import duckdb
import pytest

from polos_nb import (
    Channel,
    PolosClient,
    SlackChannel,
    SlackChannelConfig,
    SuspendNotification,
    WorkflowContext,
    events,
    workflow,
)
from polos_nb.channels import dispatcher_for
from polos_nb.errors import ChannelError, UserError
from tests.agents.helpers import uid, wait_status
from tests.channels.fakes import BOT_TOKEN, SIGNING_SECRET, FakeSlack

APPROVAL_FORM = {
    "title": "Ship order 7?",
    "description": "The order is *ready*.",
    "fields": [{"key": "approved", "type": "boolean", "label": "Ship it?"}],
    "context": {"order": 7, "total": "12.50"},
}


def slack_channel(fake: FakeSlack, **config: Any) -> SlackChannel:
    return SlackChannel(
        SlackChannelConfig(
            bot_token=BOT_TOKEN,
            default_channel=config.pop("default_channel", "#approvals"),
            signing_secret=SIGNING_SECRET,
            base_url=fake.api_url,
            **config,
        )
    )


def approval_workflow(**options: Any) -> Any:
    @workflow(id=uid("ship"), **options)
    async def ship(ctx: WorkflowContext, payload: dict[str, Any]) -> str:
        answer = await ctx.step.suspend(
            "approve", {"_form": APPROVAL_FORM, "_source": "custom", **payload}
        )
        return "shipped" if answer["data"]["approved"] else "kept"

    return ship


class Recorder(Channel):
    """A channel that records what it is told (and can fail, or wait for a partner)."""

    def __init__(
        self, id: str, *, fail: bool = False, partner: asyncio.Event | None = None
    ) -> None:
        self._id = id
        self.fail = fail
        self.partner = partner
        self.entered = asyncio.Event()
        self.notified: list[SuspendNotification] = []
        self.answered: list[tuple[dict[str, Any], Any, str | None]] = []
        self.status_seen: list[str] = []
        self.client: PolosClient | None = None

    @property
    def id(self) -> str:
        return self._id

    async def notify(self, notification: SuspendNotification) -> dict[str, Any] | None:
        self.entered.set()
        if self.client is not None:
            info = await self.client.get_execution(notification.execution_id)
            self.status_seen.append(info.status)
        if self.partner is not None:  # finishes only once the other channel has started
            await asyncio.wait_for(self.partner.wait(), 30)
        self.notified.append(notification)
        if self.fail:
            raise ChannelError(self.id, "the recorder was told to fail")
        return {"recorded": len(self.notified)}

    async def notify_answered(
        self, meta: dict[str, Any], response: Any, answered_by: str | None = None
    ) -> None:
        self.answered.append((meta, response, answered_by))


async def until(predicate: Any, timeout: float = 60, what: str = "") -> Any:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


async def test_a_suspension_posts_a_slack_message_with_buttons_and_the_page_link(
    journal_path: Path, slack: FakeSlack
) -> None:
    wf = approval_workflow()
    with PolosClient(journal=journal_path, channels=[slack_channel(slack)]) as client:
        handle = await wf.invoke(client, {})
        await wait_status(client, handle.id, "waiting")
        posted = await slack.until(lambda: slack.of("chat.postMessage"), what="a Slack message")
        call = posted[0]
        assert call.headers["Authorization"] == f"Bearer {BOT_TOKEN}"
        assert call.body["channel"] == "#approvals" and call.body["text"] == "Ship order 7?"
        blocks = call.body["blocks"]
        assert blocks[0] == {
            "type": "header",
            "text": {"type": "plain_text", "text": "Ship order 7?"},
        }
        assert blocks[1]["text"]["text"] == "The order is *ready*."
        assert '"order": 7' in blocks[3]["text"]["text"]
        actions = blocks[-1]["elements"]
        assert [a.get("action_id") for a in actions] == [
            "polos_approve",
            "polos_reject",
            "polos_open",
        ]
        assert json.loads(actions[0]["value"]) == {
            "executionId": handle.id,
            "stepKey": "approve",
            "approved": True,
        }
        assert json.loads(actions[1]["value"])["approved"] is False
        assert actions[2]["url"].endswith(f"/polos/approve/{handle.id}/approve")

        # the message's place is journaled, for updating it later
        topic = f"workflow/{wf.id}/{handle.id}"

        async def metas() -> list[Any]:
            return [
                e
                for e in await events.read_topic(client, topic)
                if e.event_type == "notification_meta_approve"
            ]

        found: list[Any] = []
        for _ in range(500):
            found = await metas()
            if found:
                break
            await asyncio.sleep(0.02)
        entry = found[0].data["channels"][0]
        assert entry["channelId"] == "slack"
        assert entry["slack_channel"] == "C0APPROVAL"  # Slack's id for '#approvals'
        assert entry["slack_message_ts"].startswith("1700000000.")

        # answered elsewhere (here: the client): the buttons become the outcome
        await client.resume(None, handle.id, "approve", {"approved": True})
        assert await client.wait_for_result(handle.id, timeout=60) == "shipped"
        update = (await slack.until(lambda: slack.of("chat.update"), what="chat.update"))[0]
        assert update.body["channel"] == "C0APPROVAL"
        assert update.body["ts"] == entry["slack_message_ts"]
        assert update.body["text"] == "✅ Approved"
        assert all(b["type"] != "actions" for b in update.body["blocks"])
        assert update.body["blocks"][-1]["elements"][0]["text"] == "✅ Approved"


async def test_a_form_that_is_not_a_simple_approval_gets_a_respond_link(
    journal_path: Path, slack: FakeSlack
) -> None:
    @workflow(id=uid("ask"))
    async def ask(ctx: WorkflowContext) -> Any:
        answer = await ctx.step.suspend(
            "city",
            {
                "_form": {"title": "Which city?", "fields": [{"key": "city", "type": "text"}]},
                "_notify": {"message": "Pick one", "slack": {"channel": "C0OTHER"}},
            },
        )
        return answer["data"]

    with PolosClient(journal=journal_path, channels=[slack_channel(slack)]) as client:
        handle = await ask.invoke(client)
        call = (await slack.until(lambda: slack.of("chat.postMessage")))[0]
        assert call.body["channel"] == "C0OTHER"  # _notify.slack overrides the default
        blocks = call.body["blocks"]
        assert blocks[1]["text"]["text"] == "Pick one"  # _notify.message wins
        (button,) = blocks[-1]["elements"]
        assert button["text"]["text"] == "Respond" and button["style"] == "primary"
        assert button["url"].endswith(f"/{handle.id}/city")
        await client.resume(None, handle.id, "city", {"city": "Lisbon"})
        assert await client.wait_for_result(handle.id, timeout=60) == {"city": "Lisbon"}
        update = (await slack.until(lambda: slack.of("chat.update")))[0]
        assert update.body["text"] == "✅ Answered"


async def test_channels_are_notified_concurrently_after_the_suspension_is_journaled(
    journal_path: Path,
) -> None:
    first, second = asyncio.Event(), asyncio.Event()
    a = Recorder("a", partner=second)  # a finishes only after b started, and b after a:
    b = Recorder("b", partner=first)  # one after the other, this would time out
    a.entered, b.entered = first, second
    wf = approval_workflow()
    with PolosClient(journal=journal_path, channels=[a, b]) as client:
        a.client = client
        handle = await wf.invoke(client, {})
        await until(lambda: a.notified and b.notified, what="both channels")
        assert a.status_seen == ["waiting"]  # the run was already waiting in the journal
        n = a.notified[0]
        assert (n.workflow_id, n.execution_id, n.step_key) == (wf.id, handle.id, "approve")
        assert n.title == "Ship order 7?" and n.source == "custom" and n.is_simple_approval
        assert n.context == {"order": 7, "total": "12.50"}
        await client.resume(None, handle.id, "approve", {"approved": False, "feedback": "no"})
        assert await client.wait_for_result(handle.id, timeout=60) == "kept"
        await until(lambda: a.answered and b.answered, what="both told of the answer")
        meta, response, by = a.answered[0]
        assert meta == {"recorded": 1} and response == {"approved": False, "feedback": "no"}
        assert by is None


async def test_a_failing_channel_is_logged_and_never_fails_the_run(
    journal_path: Path, slack: FakeSlack, caplog: pytest.LogCaptureFixture
) -> None:
    broken = Recorder("broken", fail=True)
    slack.fail["chat.postMessage"] = "channel_not_found"
    good = Recorder("good")
    wf = approval_workflow()
    caplog.set_level(logging.WARNING, logger="polos_nb.channels")
    with PolosClient(journal=journal_path, channels=[broken, slack_channel(slack), good]) as client:
        handle = await wf.invoke(client, {})
        await until(lambda: good.notified and broken.notified, what="the channels")
        await slack.until(lambda: slack.of("chat.postMessage"))
        dispatcher = dispatcher_for(client.runtime)
        assert dispatcher is not None
        await client._on_engine(dispatcher.idle())
        assert (await client.get_execution(handle.id)).status == "waiting"
        messages = [r.getMessage() for r in caplog.records]
        assert any("'broken' could not notify" in m and "told to fail" in m for m in messages)
        assert any("'slack' could not notify" in m and "channel_not_found" in m for m in messages)
        assert all(BOT_TOKEN not in m for m in messages)
        # only the channel that delivered is in the journaled metadata
        topic = f"workflow/{wf.id}/{handle.id}"
        metas = [
            e.data["channels"]
            for e in await events.read_topic(client, topic)
            if e.event_type == "notification_meta_approve"
        ]
        assert metas == [[{"channelId": "good", "recorded": 1}]]
        await client.resume(None, handle.id, "approve", {"approved": True})
        assert await client.wait_for_result(handle.id, timeout=60) == "shipped"
        await until(lambda: good.answered, what="the good channel told of the answer")
        assert broken.answered == []


async def test_a_workflows_own_channels_replace_the_clients(journal_path: Path) -> None:
    own, everyone = Recorder("own"), Recorder("everyone")
    mine = approval_workflow(channels=[own])
    silent = approval_workflow(channels=[])
    other = approval_workflow()
    with PolosClient(journal=journal_path, channels=[everyone]) as client:
        h1 = await mine.invoke(client, {})
        h2 = await silent.invoke(client, {})
        h3 = await other.invoke(client, {})
        for h in (h1, h2, h3):
            await wait_status(client, h.id, "waiting")
        await until(lambda: own.notified and everyone.notified, what="notifications")
        dispatcher = dispatcher_for(client.runtime)
        assert dispatcher is not None
        await client._on_engine(dispatcher.idle())
        assert [n.execution_id for n in own.notified] == [h1.id]
        assert [n.execution_id for n in everyone.notified] == [h3.id]


def test_channels_must_be_channels(journal_path: Path) -> None:
    with pytest.raises(UserError, match="is not a channel"):
        PolosClient(journal=journal_path, channels=["slack"])
    with pytest.raises(UserError, match="is not a channel"):
        approval_workflow(channels=[object()])
    with pytest.raises(UserError, match="xoxb-"):
        SlackChannel(SlackChannelConfig(bot_token="not-a-token", default_channel="C1"))


async def test_slack_is_added_from_the_environment_as_upstream_does(
    journal_path: Path, slack: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", BOT_TOKEN)
    monkeypatch.setenv("SLACK_CHANNEL", "C0FROMENV")
    monkeypatch.setenv("SLACK_API_URL", slack.api_url)
    wf = approval_workflow()
    with PolosClient(journal=journal_path) as client:
        handle = await wf.invoke(client, {})
        call = (await slack.until(lambda: slack.of("chat.postMessage")))[0]
        assert call.body["channel"] == "C0FROMENV"
        assert call.headers["Authorization"] == f"Bearer {BOT_TOKEN}"
        await client.resume(None, handle.id, "approve", {"approved": True})
        assert await client.wait_for_result(handle.id, timeout=60) == "shipped"


async def test_no_secret_reaches_the_journal_or_a_repr(
    journal_path: Path, slack: FakeSlack
) -> None:
    channel = slack_channel(slack)
    wf = approval_workflow()
    with PolosClient(journal=journal_path, channels=[channel]) as client:
        handle = await wf.invoke(client, {"note": "hello"})
        await slack.until(lambda: slack.of("chat.postMessage"))
        await client.resume(None, handle.id, "approve", {"approved": True})
        await client.wait_for_result(handle.id, timeout=60)
        await slack.until(lambda: slack.of("chat.update"))
        dispatcher = dispatcher_for(client.runtime)
        assert dispatcher is not None
        await client._on_engine(dispatcher.idle())
    for shown in (repr(channel), repr(channel.config), str(channel.config)):
        assert BOT_TOKEN not in shown and SIGNING_SECRET not in shown
    assert_absent_from_journal(journal_path, [BOT_TOKEN, SIGNING_SECRET])


def assert_absent_from_journal(path: Path, secrets: list[str]) -> None:
    """Every cell of every table of the journal file, as text, contains none of ``secrets``."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        tables = [r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()]
        assert {"executions", "events", "steps"} <= set(tables)
        seen = 0
        for table in tables:
            for row in con.execute(f'SELECT * FROM "{table}"').fetchall():
                text = " ".join(str(v) for v in row)
                seen += 1
                for secret in secrets:
                    assert secret not in text, f"a secret is in table {table}: {row}"
        assert seen > 0
    finally:
        con.close()
    raw = path.read_bytes()
    for secret in secrets:
        assert secret.encode() not in raw

"""The e-mail channel against a real SMTP server (aiosmtpd) and the webhook channel
against a real HTTP server, both on loopback."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from polos_nb import (
    PolosClient,
    SlackChannel,
    SlackChannelConfig,
    WorkflowContext,
    workflow,
)
from polos_nb.channels import (
    ChannelContext,
    EmailChannel,
    EmailChannelConfig,
    WebhookChannel,
    WebhookChannelConfig,
    dispatcher_for,
    webhook_signature,
)
from polos_nb.engine import StreamEvent
from polos_nb.errors import ChannelError, UserError
from tests.agents.helpers import wait_status
from tests.channels.fakes import HookReceiver, SmtpSink
from tests.channels.test_notify import approval_workflow, assert_absent_from_journal, until

pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH:UserWarning")

SMTP_PASSWORD = "smtp-password-71c0e2"
WEBHOOK_SECRET = "webhook-secret-a83f55"


async def test_a_suspension_sends_an_email_with_the_form_and_the_page_link(
    journal_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POLOS_SMTP_PASSWORD", SMTP_PASSWORD)  # the password from the environment
    wf = approval_workflow()
    with SmtpSink(user="agents", password=SMTP_PASSWORD) as smtp:
        channel = EmailChannel(
            EmailChannelConfig(
                host="127.0.0.1",
                port=smtp.port,
                sender="agents@example.com",
                to=["ops@example.com"],
                username="agents",
            )
        )
        with PolosClient(journal=journal_path, channels=[channel]) as client:
            handle = await wf.invoke(client, {})
            await until(lambda: smtp.received, what="an e-mail")
            mail = smtp.received[0]
            assert mail.login == "agents"  # it logged in with the password from the environment
            assert mail.sender == "agents@example.com" and mail.recipients == ["ops@example.com"]
            assert mail.message["Subject"] == "[polos] Ship order 7?"
            plain = next(
                p.get_payload(decode=True).decode()
                for p in mail.message.walk()
                if p.get_content_type() == "text/plain"
            )
            assert "The order is *ready*." in plain and '"order": 7' in plain
            assert f"/polos/approve/{handle.id}/approve" in plain
            assert "Ship it? (boolean)" in plain
            html = next(
                p.get_payload(decode=True).decode()
                for p in mail.message.walk()
                if p.get_content_type() == "text/html"
            )
            assert 'href="http' in html and f"/polos/approve/{handle.id}/approve" in html
            await client.resume(None, handle.id, "approve", {"approved": True})
            assert await client.wait_for_result(handle.id, timeout=60) == "shipped"
            dispatcher = dispatcher_for(client.runtime)
            assert dispatcher is not None
            await client._on_engine(dispatcher.idle())
        assert "password" not in repr(channel) and SMTP_PASSWORD not in repr(channel)
    assert_absent_from_journal(journal_path, [SMTP_PASSWORD])


async def test_a_refused_login_is_a_channel_error_without_the_password() -> None:
    with SmtpSink(user="agents", password=SMTP_PASSWORD) as smtp:
        channel = EmailChannel(
            EmailChannelConfig(
                host="127.0.0.1",
                port=smtp.port,
                sender="agents@example.com",
                to=["ops@example.com"],
                username="agents",
                password="wrong-password-1234",
            )
        )
        from polos_nb.channels import SuspendNotification

        n = SuspendNotification(
            workflow_id="wf", execution_id="e1", step_key="k", approval_url="http://x/"
        )
        with pytest.raises(ChannelError, match="refused") as info:
            await channel.notify(n)
        assert "wrong-password-1234" not in str(info.value)
        assert smtp.received == []


def test_email_config_is_checked() -> None:
    with pytest.raises(UserError, match="list of addresses"):
        EmailChannel(EmailChannelConfig(host="h", sender="a@b", to="ops@example.com"))  # type: ignore[arg-type]
    with pytest.raises(UserError, match="sender"):
        EmailChannel(EmailChannelConfig(host="h", sender="nobody", to=["ops@example.com"]))


async def test_a_suspension_posts_a_signed_webhook_and_its_answer(
    journal_path: Path, hook: HookReceiver
) -> None:
    channel = WebhookChannel(
        WebhookChannelConfig(
            url=hook.url + "/polos", secret=WEBHOOK_SECRET, headers={"X-Team": "ops"}
        )
    )
    wf = approval_workflow()
    with PolosClient(journal=journal_path, channels=[channel]) as client:
        handle = await wf.invoke(client, {})
        posted = await until(lambda: hook.of("suspend"), what="the suspend POST")
        call = posted[0]
        assert call.method == "/polos" and call.headers["X-Team"] == "ops"
        assert call.headers["Content-Type"] == "application/json"
        timestamp = call.headers["X-Polos-Timestamp"]
        assert call.headers["X-Polos-Signature"] == webhook_signature(
            WEBHOOK_SECRET, timestamp, call.body["raw"]
        )
        n = call.body["json"]["notification"]
        assert (n["workflow_id"], n["execution_id"], n["step_key"]) == (
            wf.id,
            handle.id,
            "approve",
        )
        assert n["title"] == "Ship order 7?" and n["approval_url"].endswith(f"/{handle.id}/approve")
        assert n["form_fields"][0]["key"] == "approved"
        await client.resume(None, handle.id, "approve", {"approved": False})
        assert await client.wait_for_result(handle.id, timeout=60) == "kept"
        answered = (await until(lambda: hook.of("answered"), what="the answer POST"))[0]
        assert answered.body["json"] == {
            "type": "answered",
            "execution_id": handle.id,
            "step_key": "approve",
            "response": {"approved": False},
            "answered_by": None,
        }
    assert "secret" not in repr(channel) and hook.url not in repr(channel)
    assert_absent_from_journal(journal_path, [WEBHOOK_SECRET])


async def test_a_webhook_that_answers_an_error_does_not_fail_the_run(
    journal_path: Path, hook: HookReceiver
) -> None:
    hook.status = 500
    channel = WebhookChannel(WebhookChannelConfig(url=hook.url))
    with pytest.raises(ChannelError, match="HTTP 500"):
        await channel.send_output(
            ChannelContext(channel_id="webhook"),
            StreamEvent(id="1", sequence_id=1, topic="t", event_type="x", created_at=_now()),
        )
    wf = approval_workflow()
    with PolosClient(journal=journal_path, channels=[channel]) as client:
        handle = await wf.invoke(client, {})
        await until(lambda: hook.of("suspend"), what="the POST")
        await wait_status(client, handle.id, "waiting")
        await client.resume(None, handle.id, "approve", {"approved": True})
        assert await client.wait_for_result(handle.id, timeout=60) == "shipped"


def test_webhook_config_is_checked() -> None:
    with pytest.raises(UserError, match="http"):
        WebhookChannel(WebhookChannelConfig(url="ftp://example.com"))


def _now() -> object:
    import datetime as dt

    return dt.datetime.now(dt.UTC)


def test_the_signature_is_hmac_sha256_of_timestamp_and_body() -> None:
    import hashlib
    import hmac

    body = json.dumps({"a": 1}).encode()
    expected = hmac.new(b"k", b"123." + body, hashlib.sha256).hexdigest()
    assert webhook_signature("k", "123", body) == "sha256=" + expected


async def test_channel_credentials_given_in_code_are_never_journaled(journal_path: Path) -> None:
    # given in code, not from the environment: registered as credentials by the configs,
    # so a step that echoes one (a log line, an error text) is journaled redacted
    token, signing = f"xoxb-{uuid.uuid4().hex}", f"sign-{uuid.uuid4().hex}"
    password, secret, bearer = (f"{n}-{uuid.uuid4().hex}" for n in ("pw", "hook", "bearer"))
    channels = [
        SlackChannel(SlackChannelConfig(bot_token=token, signing_secret=signing)),
        EmailChannel(
            EmailChannelConfig(
                host="127.0.0.1", sender="a@example.com", to=["ops@example.com"], password=password
            )
        ),
        WebhookChannel(
            WebhookChannelConfig(
                url="http://127.0.0.1:9/hook",
                secret=secret,
                headers={"Authorization": f"Bearer {bearer}"},
            )
        ),
    ]
    leaked = [token, signing, password, secret, bearer]

    @workflow(id=f"echo_{uuid.uuid4().hex[:8]}")
    async def echo(ctx: WorkflowContext) -> str:
        return await ctx.step.run("echo", lambda: "config: " + " | ".join(leaked))

    with PolosClient(journal=journal_path, channels=channels) as client:
        handle = await echo.invoke(client)
        text = await client.wait_for_result(handle.id, timeout=60)
    assert text == "config: " + " | ".join(["[redacted]"] * len(leaked))
    assert_absent_from_journal(journal_path, leaked)

"""``SlackChannel``: a Slack message when a run needs a person, and answers from its buttons.

```python
from polos_nb import Polos, SlackChannel, SlackChannelConfig

slack = SlackChannel(SlackChannelConfig(bot_token=os.environ["SLACK_BOT_TOKEN"],
                                        default_channel="C0123456789"))
async with Polos(channels=[slack]) as polos:
    ...
```

A suspension whose form is a simple approval (a boolean ``approved`` field: every tool
approval) gets Approve / Reject buttons and a link to the approval page; any other form
gets a "Respond" link. A click reaches the run through the Slack endpoints
(``polos_nb.channels.SlackEndpoint``: served by the Jupyter server extension, or by
:func:`serve_slack` in a script), which check Slack's signature and resume the run with
``{"approved": true|false}``. When the suspension is answered — from Slack or anywhere
else — the message's buttons are replaced by the outcome.

Talks to the Slack Web API with ``slack_sdk`` (the ``slack`` extra:
``pip install 'polos_nb[slack]'``). The bot token and signing secret are never
journaled, logged or shown (``repr`` omits them).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from polos_nb import _secrets
from polos_nb.contracts import TOOL_CALL, TOOL_CALL_START
from polos_nb.errors import ChannelError, UserError

from ._channel import Channel, ChannelContext, ChannelOutputMode, SuspendNotification

if TYPE_CHECKING:
    from slack_sdk.web.async_client import AsyncWebClient

__all__ = [
    "APPROVE_ACTION",
    "REJECT_ACTION",
    "SlackChannel",
    "SlackChannelConfig",
    "slack_channel_from_env",
]

APPROVE_ACTION = "polos_approve"
REJECT_ACTION = "polos_reject"
_HEADER_MAX = 150  # Block Kit limits
_TEXT_MAX = 3000
_DEFAULT_TITLE = "Agent needs your input"


@dataclass
class SlackChannelConfig:
    """Configuration of a :class:`SlackChannel`.

    Attributes:
        bot_token: the app's Bot User OAuth Token (``xoxb-…``; scope ``chat:write``).
        default_channel: where notifications go unless the suspension's
            ``_notify["slack"]["channel"]`` or the originating thread says otherwise. A
            channel id (``C0123…``) survives renames; ``#name`` works too.
        signing_secret: the app's signing secret, to check requests from Slack (button
            clicks, mentions). Defaults to ``$SLACK_SIGNING_SECRET`` where it is needed.
        base_url: the Slack Web API's base URL (default ``$SLACK_API_URL`` or
            ``https://slack.com/api/``); tests point it at a local fake.
    """

    bot_token: str = field(repr=False)
    default_channel: str = "#general"
    signing_secret: str | None = field(default=None, repr=False)
    base_url: str | None = None

    def __post_init__(self) -> None:
        # credentials: never journaled nor displayed (a step printing them is redacted)
        _secrets.register_kwargs(
            {"bot_token": self.bot_token, "signing_secret": self.signing_secret}
        )


class SlackChannel(Channel):
    """Slack notifications, approve/reject buttons and output for Slack-started runs."""

    def __init__(self, config: SlackChannelConfig) -> None:
        token = config.bot_token
        if not isinstance(token, str) or not token.startswith("xoxb-"):
            raise UserError(
                "SlackChannelConfig.bot_token must be a bot token starting with 'xoxb-': the "
                "Bot User OAuth Token from your Slack app's OAuth & Permissions page."
            )
        if not isinstance(config.default_channel, str) or not config.default_channel:
            raise UserError(
                "SlackChannelConfig.default_channel must name a channel, e.g. 'C0123456789' or '#approvals'."
            )
        self._config = config
        self._web: AsyncWebClient | None = None

    def __repr__(self) -> str:
        return f"SlackChannel(default_channel={self._config.default_channel!r})"

    @property
    def id(self) -> str:
        return "slack"

    @property
    def config(self) -> SlackChannelConfig:
        return self._config

    @property
    def signing_secret(self) -> str | None:
        """The secret Slack signs its requests with (config, else ``$SLACK_SIGNING_SECRET``)."""
        return self._config.signing_secret or os.environ.get("SLACK_SIGNING_SECRET") or None

    @property
    def output_mode(self) -> ChannelOutputMode:
        return "per_step"

    def serve_requests(self, client: Any, *, port: int, host: str = "127.0.0.1") -> Any:
        """Serve Slack's request URLs (mentions start agents, buttons answer approvals) for
        ``client`` on ``port``; what ``Polos.serve()`` calls for each Slack channel.

        Returns the running server (``close()`` stops it), or ``None`` without a signing
        secret: requests that cannot be checked are not served. See :func:`serve_slack`.
        """
        if not self.signing_secret:
            return None
        from ._slack_http import serve_slack

        return serve_slack(client, host=host, port=port, slack=self)

    # ------------------------------------------------------------------ Web API
    def _client(self) -> AsyncWebClient:
        try:
            from slack_sdk.web.async_client import AsyncWebClient
        except ImportError:  # pragma: no cover - the slack extra is part of dev
            raise UserError(
                "SlackChannel needs slack_sdk: pip install 'polos_nb[slack]'."
            ) from None
        base = self._config.base_url or os.environ.get("SLACK_API_URL") or None
        kwargs: dict[str, Any] = {"token": self._config.bot_token, "timeout": 15}
        if base:
            kwargs["base_url"] = base if base.endswith("/") else base + "/"
        return AsyncWebClient(**kwargs)

    async def _call(self, method: str, **body: Any) -> dict[str, Any]:
        from slack_sdk.errors import SlackApiError

        client = self._client()
        try:
            response = await client.api_call(method, json=body)
        except SlackApiError as exc:
            error = exc.response.get("error") if exc.response is not None else None
            raise ChannelError("slack", f"{method} answered {error or 'an error'}") from None
        except Exception as exc:  # network: aiohttp errors, timeouts
            raise ChannelError("slack", f"{method} failed: {type(exc).__name__}: {exc}") from None
        data = response.data if isinstance(response.data, dict) else {}
        return data

    async def post_message(
        self,
        channel: str,
        text: str,
        *,
        thread_ts: str | None = None,
        blocks: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        """``chat.postMessage``; returns Slack's answer (``channel``, ``ts``, …)."""
        body: dict[str, Any] = {"channel": channel, "text": text[:_TEXT_MAX]}
        if thread_ts:
            body["thread_ts"] = thread_ts
        if blocks:
            body["blocks"] = blocks
        return await self._call("chat.postMessage", **body)

    async def update_message(
        self, channel: str, ts: str, text: str, blocks: list[dict[str, Any]] | None = None
    ) -> dict[str, Any]:
        """``chat.update`` of a message this channel posted."""
        body: dict[str, Any] = {"channel": channel, "ts": ts, "text": text[:_TEXT_MAX]}
        if blocks is not None:
            body["blocks"] = blocks
        return await self._call("chat.update", **body)

    # ------------------------------------------------------------------ Channel
    async def notify(self, notification: SuspendNotification) -> dict[str, Any] | None:
        overrides = notification.channel_overrides or {}
        channel = str(overrides.get("channel") or self._config.default_channel)
        thread_ts = overrides.get("thread_ts") or overrides.get("threadTs")
        blocks = approval_blocks(notification)
        answer = await self.post_message(
            channel,
            notification.title or _DEFAULT_TITLE,
            thread_ts=str(thread_ts) if thread_ts else None,
            blocks=blocks,
        )
        return {
            # chat.postMessage answers with the channel's id, which chat.update needs
            "slack_channel": answer.get("channel") or channel,
            "slack_message_ts": answer.get("ts"),
            "slack_thread_ts": str(thread_ts) if thread_ts else None,
            "slack_blocks": blocks,
        }

    async def notify_answered(
        self, meta: dict[str, Any], response: Any, answered_by: str | None = None
    ) -> None:
        channel, ts = meta.get("slack_channel"), meta.get("slack_message_ts")
        if not channel or not ts:
            return
        status = answer_status(response, answered_by)
        blocks = [
            b
            for b in meta.get("slack_blocks") or []
            if isinstance(b, dict) and b.get("type") != "actions"
        ]
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": status}]})
        await self.update_message(str(channel), str(ts), status, blocks)

    async def send_output(self, context: ChannelContext, event: Any) -> None:
        channel = context.source.get("channel")
        if not channel:
            return
        text = output_text(event)
        if not text:
            return
        thread_ts = context.source.get("threadTs") or context.source.get("thread_ts")
        for part in _split(text):
            await self.post_message(
                str(channel), part, thread_ts=str(thread_ts) if thread_ts else None
            )


def slack_channel_from_env() -> SlackChannel | None:
    """A :class:`SlackChannel` from ``$SLACK_BOT_TOKEN`` (and ``$SLACK_CHANNEL``,
    ``$SLACK_SIGNING_SECRET``), as upstream's worker adds one; ``None`` without a token."""
    token = os.environ.get("SLACK_BOT_TOKEN")
    if not token:
        return None
    return SlackChannel(
        SlackChannelConfig(
            bot_token=token,
            default_channel=os.environ.get("SLACK_CHANNEL") or "#general",
            signing_secret=os.environ.get("SLACK_SIGNING_SECRET") or None,
        )
    )


# ---------------------------------------------------------------------- Block Kit
def _plain(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def approval_blocks(n: SuspendNotification) -> list[dict[str, Any]]:
    """The Block Kit message for a suspension (see the module docs)."""
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {"type": "plain_text", "text": _plain(n.title or _DEFAULT_TITLE, _HEADER_MAX)},
        }
    ]
    if n.description:
        blocks.append(
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": _plain(n.description, _TEXT_MAX)},
            }
        )
    about = []
    if n.source:
        about.append(f"*Source:* {n.source}")
    if n.tool:
        about.append(f"*Tool:* `{n.tool}`")
    if about:
        blocks.append(
            {"type": "context", "elements": [{"type": "mrkdwn", "text": "  |  ".join(about)}]}
        )
    if n.context:
        shown = json.dumps(n.context, indent=2, default=str)
        blocks.append(
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": "```" + _plain(shown, _TEXT_MAX - 6) + "```"},
            }
        )
    if n.expires_at:
        blocks.append(
            {
                "type": "context",
                "elements": [{"type": "mrkdwn", "text": f"Expires: {n.expires_at}"}],
            }
        )
    link: dict[str, Any] = {
        "type": "button",
        "action_id": "polos_open",
        "text": {
            "type": "plain_text",
            "text": "View Details" if n.is_simple_approval else "Respond",
        },
        "url": n.approval_url,
    }
    if n.is_simple_approval:

        def value(approved: bool) -> str:
            return json.dumps(
                {"executionId": n.execution_id, "stepKey": n.step_key, "approved": approved}
            )

        elements: list[dict[str, Any]] = [
            {
                "type": "button",
                "action_id": APPROVE_ACTION,
                "style": "primary",
                "text": {"type": "plain_text", "text": "Approve"},
                "value": value(True),
            },
            {
                "type": "button",
                "action_id": REJECT_ACTION,
                "style": "danger",
                "text": {"type": "plain_text", "text": "Reject"},
                "value": value(False),
            },
            link,
        ]
    else:
        elements = [{**link, "style": "primary"}]
    blocks.append({"type": "actions", "elements": elements})
    return blocks


def answer_status(response: Any, answered_by: str | None) -> str:
    """One line saying how a suspension was answered (replaces a message's buttons)."""
    by = f" by {answered_by}" if answered_by else ""
    approved = response.get("approved") if isinstance(response, dict) else None
    if approved is True:
        return f"✅ Approved{by}"
    if approved is False:
        feedback = response.get("feedback") if isinstance(response, dict) else None
        return f"❌ Rejected{by}" + (f": {feedback}" if feedback else "")
    return f"✅ Answered{by}"


def output_text(event: Any) -> str | None:
    """What a run's output event says in a Slack thread (``None``: nothing to post)."""
    kind = getattr(event, "event_type", None) or ""
    data = getattr(event, "data", None)
    data = data if isinstance(data, dict) else {}
    meta = data.get("_metadata") if isinstance(data.get("_metadata"), dict) else {}
    assert isinstance(meta, dict)
    label = meta.get("workflow_id") or "Workflow"
    if kind in ("workflow_finish", "agent_finish", "tool_finish"):
        result = data.get("result")
        if isinstance(result, dict) and "result" in result:  # an AgentResult
            result = result["result"]
        if result is None:
            return f"✅ *{label} finished*"
        return result if isinstance(result, str) else json.dumps(result, indent=2, default=str)
    if kind in ("workflow_error", "agent_error", "tool_error"):
        error = data.get("error")
        message = error.get("message") if isinstance(error, dict) else error
        return f"❌ *{label} failed:* {message}"
    if kind in ("workflow_cancel", "agent_cancel", "tool_cancel"):
        return f"⏹ *{label} was cancelled*"
    if kind in (TOOL_CALL_START, TOOL_CALL):
        name = data.get("name")
        call = data.get("tool_call")
        if not name and isinstance(call, dict) and isinstance(call.get("function"), dict):
            name = call["function"].get("name")
        return f"🔧 Calling tool: `{name}`" if name else None
    if kind == "step_finish" and data.get("status") == "failed":
        error = data.get("error")
        message = error.get("message") if isinstance(error, dict) else error
        return f"⚠️ Step `{data.get('step_key')}` failed: {message}"
    return None


def _split(text: str) -> list[str]:
    """Slack caps a message's text; long output goes in several messages."""
    return [text[i : i + _TEXT_MAX] for i in range(0, len(text), _TEXT_MAX)] or [""]

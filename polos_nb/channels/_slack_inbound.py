"""Requests from Slack: checking them, reading them, and acting on them.

Slack calls two URLs of ours (see docs/channels.md for the app's setup):

- **interactivity** (a button was clicked): ``payload=<json>`` with ``block_actions``;
  our Approve / Reject buttons (``polos_approve`` / ``polos_reject``) carry
  ``{"executionId", "stepKey", "approved"}`` and become a :class:`SlackApproval`;
- **events** (the bot was mentioned): ``{"type": "event_callback", "event_id",
  "event": {"type": "app_mention", ...}}`` becomes a :class:`SlackMention`; the one-time
  ``url_verification`` is answered with its challenge.

Every request is checked against the app's signing secret first (HMAC-SHA256 of
``v0:<timestamp>:<body>``, at most five minutes old): nothing unsigned reaches a run.

:func:`apply_slack_action` does what a request asks, with a client on the journal:
resume the suspension with ``{"approved": bool}``, or start the named agent with the
message as input — once per Slack event id, journaled with the run
(``invoke(idempotency_key="slack:<event id>")``), so Slack's retries and a restart
between receiving an event and starting its run start it exactly once.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import parse_qs

import httpx

from polos_nb.engine import PolosClient, get_all_workflows, get_workflow
from polos_nb.errors import ExecutionNotFoundError, PolosError, ResumeError

from ._dispatch import dispatcher_for
from ._slack import APPROVE_ACTION, REJECT_ACTION, SlackChannel

__all__ = [
    "SlackApproval",
    "SlackMention",
    "SlackRequestError",
    "action_from_dict",
    "apply_slack_action",
    "parse_agent_mention",
    "parse_event",
    "parse_interaction",
    "sign_slack_request",
    "tell_clicker",
    "verify_slack_signature",
]

log = logging.getLogger("polos_nb.channels")

MAX_AGE_SECONDS = 300
"""Slack requests older than this are refused (replayed requests)."""

_USER_MENTION = re.compile(r"<@[A-Z0-9]+(\|[^>]*)?>")


class SlackRequestError(PolosError):
    """A request claiming to come from Slack was refused (``status`` is the HTTP answer)."""

    def __init__(self, status: int, message: str) -> None:
        self.status = status
        self.message = message
        super().__init__(message)

    def __reduce__(self) -> Any:
        return (type(self), (self.status, self.message))


@dataclass(frozen=True)
class SlackApproval:
    """An Approve / Reject click on one of our messages."""

    execution_id: str
    step_key: str
    approved: bool
    user_id: str | None = None
    user_name: str | None = None
    response_url: str | None = None
    kind: str = "approval"

    def to_dict(self) -> dict[str, Any]:
        """JSON form (e.g. to hand the action to the kernel that owns the journal)."""
        return asdict(self)


@dataclass(frozen=True)
class SlackMention:
    """The bot was mentioned: start an agent with the message."""

    event_id: str
    channel: str
    text: str
    ts: str
    user: str | None = None
    thread_ts: str | None = None
    team_id: str | None = None
    kind: str = "mention"

    @property
    def thread(self) -> str:
        """The thread the run answers in (the mention's own message starts one)."""
        return self.thread_ts or self.ts

    def to_dict(self) -> dict[str, Any]:
        """JSON form (e.g. to hand the action to the kernel that owns the journal)."""
        return asdict(self)


def action_from_dict(data: Mapping[str, Any]) -> SlackApproval | SlackMention:
    """The action :meth:`SlackApproval.to_dict` / :meth:`SlackMention.to_dict` wrote."""
    fields = dict(data)
    kind = fields.pop("kind", None)
    if kind == "approval":
        return SlackApproval(**fields)
    if kind == "mention":
        return SlackMention(**fields)
    raise SlackRequestError(400, f"Unknown Slack action kind {kind!r}.")


def _header(headers: Mapping[str, Any], name: str) -> str | None:
    getter = getattr(headers, "get", None)
    value = getter(name) if getter else None
    if value is None:
        lowered = name.lower()
        for key, candidate in headers.items():
            if str(key).lower() == lowered:
                value = candidate
                break
    return str(value) if value is not None else None


def verify_slack_signature(
    signing_secret: str,
    headers: Mapping[str, Any],
    body: bytes,
    *,
    now: float | None = None,
) -> None:
    """Check ``X-Slack-Signature`` / ``X-Slack-Request-Timestamp``; raise :class:`SlackRequestError` (401)."""
    timestamp = _header(headers, "X-Slack-Request-Timestamp")
    signature = _header(headers, "X-Slack-Signature")
    if not timestamp or not signature:
        raise SlackRequestError(401, "The request is not signed by Slack (no X-Slack-Signature).")
    try:
        age = abs((time.time() if now is None else now) - int(timestamp))
    except ValueError:
        raise SlackRequestError(401, "X-Slack-Request-Timestamp is not a number.") from None
    if age > MAX_AGE_SECONDS:
        raise SlackRequestError(401, "The Slack request is too old (more than five minutes).")
    base = b"v0:" + timestamp.encode() + b":" + body
    expected = "v0=" + hmac.new(signing_secret.encode(), base, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, signature):
        raise SlackRequestError(401, "The Slack signature does not match the signing secret.")


def sign_slack_request(
    signing_secret: str, body: bytes, timestamp: int | None = None
) -> dict[str, str]:
    """The headers Slack would send with ``body`` (for tests and local tools)."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    base = b"v0:" + ts.encode() + b":" + body
    digest = hmac.new(signing_secret.encode(), base, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": "v0=" + digest}


def parse_interaction(body: bytes) -> SlackApproval | None:
    """Our Approve / Reject click in an interactivity request; ``None`` for anything else."""
    fields = parse_qs(body.decode("utf-8", "replace"))
    raw = fields.get("payload", [None])[0]
    if raw is None:
        raise SlackRequestError(400, "An interactivity request has a 'payload' form field.")
    try:
        payload = json.loads(raw)
    except ValueError:
        raise SlackRequestError(400, "The interactivity payload is not JSON.") from None
    if not isinstance(payload, dict) or payload.get("type") != "block_actions":
        return None
    user = payload.get("user") if isinstance(payload.get("user"), dict) else {}
    assert isinstance(user, dict)
    for action in payload.get("actions") or []:
        if not isinstance(action, dict) or action.get("action_id") not in (
            APPROVE_ACTION,
            REJECT_ACTION,
        ):
            continue
        try:
            value = json.loads(action.get("value") or "")
            execution_id, step_key = str(value["executionId"]), str(value["stepKey"])
        except (ValueError, KeyError, TypeError):
            raise SlackRequestError(400, "The button's value is not one polos_nb wrote.") from None
        return SlackApproval(
            execution_id=execution_id,
            step_key=step_key,
            approved=action["action_id"] == APPROVE_ACTION,
            user_id=user.get("id"),
            user_name=user.get("username") or user.get("name"),
            response_url=payload.get("response_url"),
        )
    return None


def parse_event(body: bytes) -> SlackMention | str | None:
    """An Events API request: a :class:`SlackMention`, the ``url_verification`` challenge
    (a ``str``), or ``None`` for events polos_nb does not act on."""
    try:
        payload = json.loads(body)
    except ValueError:
        raise SlackRequestError(400, "The event request is not JSON.") from None
    if not isinstance(payload, dict):
        raise SlackRequestError(400, "The event request is not a JSON object.")
    if payload.get("type") == "url_verification":
        return str(payload.get("challenge") or "")
    event = payload.get("event")
    if payload.get("type") != "event_callback" or not isinstance(event, dict):
        return None
    if event.get("type") != "app_mention" or event.get("bot_id"):
        return None  # our own (or another bot's) messages never start runs
    event_id = payload.get("event_id")
    if not event_id or not event.get("channel") or not event.get("ts"):
        raise SlackRequestError(400, "The app_mention event lacks its event_id, channel or ts.")
    return SlackMention(
        event_id=str(event_id),
        channel=str(event["channel"]),
        text=str(event.get("text") or ""),
        ts=str(event["ts"]),
        user=event.get("user"),
        thread_ts=event.get("thread_ts"),
        team_id=payload.get("team_id"),
    )


def parse_agent_mention(text: str) -> tuple[str | None, str]:
    """The agent a message names (``@agent-id``) and the message without mentions.

    ``"<@U0BOT> @research-agent find papers on X"`` → ``("research-agent", "find papers on X")``.
    """
    agent_id = None
    words = []
    for word in _USER_MENTION.sub(" ", text).split():
        if agent_id is None and word.startswith("@") and len(word) > 1:
            agent_id = word[1:].rstrip(":,")
            continue
        words.append(word)
    return agent_id, " ".join(words)


def _agents() -> list[str]:
    return sorted(wf_id for wf_id, wf in get_all_workflows().items() if wf.workflow_type == "agent")


async def _thread_agent(client: PolosClient, mention: SlackMention) -> str | None:
    """The agent of the last run started in this Slack thread (for follow-ups without ``@agent``)."""
    if not mention.thread_ts or mention.thread_ts == mention.ts:
        return None

    runs = await client._on_engine(client.runtime.channel_runs(active_only=False))
    for run in runs:  # newest first
        context = run["channel_context"] if isinstance(run["channel_context"], dict) else {}
        source = context.get("source") if isinstance(context.get("source"), dict) else {}
        assert isinstance(source, dict)
        if (
            context.get("channel_id") == "slack"
            and source.get("channel") == mention.channel
            and source.get("threadTs") == mention.thread_ts
        ):
            return str(run["workflow_id"])
    return None


def _slack_of(client: PolosClient, slack: SlackChannel | None) -> SlackChannel | None:
    if slack is not None:
        return slack
    dispatcher = dispatcher_for(client.runtime)
    found = dispatcher.channel_by_id("slack") if dispatcher is not None else None
    return found if isinstance(found, SlackChannel) else None


async def _reply(
    client: PolosClient, slack: SlackChannel | None, mention: SlackMention, text: str
) -> None:
    channel = _slack_of(client, slack)
    if channel is None:
        log.warning("Cannot answer Slack (no Slack channel configured): %s", text)
        return
    try:
        await channel.post_message(mention.channel, text, thread_ts=mention.thread)
    except PolosError as exc:
        log.warning("Could not answer in Slack: %s", exc)


async def apply_slack_action(
    client: PolosClient,
    action: SlackApproval | SlackMention | Mapping[str, Any],
    *,
    slack: SlackChannel | None = None,
    default_agent: str | None = None,
) -> dict[str, Any]:
    """Do what a (verified) Slack request asks, on ``client``'s journal.

    - :class:`SlackApproval`: resume the suspension with ``{"approved": bool}``. If it
      was answered already, the clicker is told so (ephemerally, via ``response_url``).
    - :class:`SlackMention`: start the agent the message names (``@agent-id``; in a
      thread, the thread's agent; else ``default_agent``) with the message as input, in
      the session of the Slack thread (``slack:<channel>:<thread ts>``: the agent's
      memory spans the thread), answering in that thread. Once per Slack event id. A
      message naming no known agent gets a reply listing the agents.

    Returns ``{"ok": bool, ...}`` (the execution id, or what went wrong).
    """
    if isinstance(action, Mapping):
        action = action_from_dict(action)
    if isinstance(action, SlackApproval):
        return await _apply_approval(client, action)
    return await _apply_mention(client, action, slack=slack, default_agent=default_agent)


async def _apply_approval(client: PolosClient, action: SlackApproval) -> dict[str, Any]:
    dispatcher = dispatcher_for(client.runtime)
    if dispatcher is not None and action.user_id:
        dispatcher.note_answer(action.execution_id, action.step_key, f"<@{action.user_id}>")
    try:
        await client.resume(
            None, action.execution_id, action.step_key, {"approved": action.approved}
        )
    except (ResumeError, ExecutionNotFoundError) as exc:
        await tell_clicker(action, f"This request is no longer waiting: {exc}")
        return {"ok": False, "error": str(exc)}
    return {"ok": True, "execution_id": action.execution_id, "step_key": action.step_key}


async def tell_clicker(action: SlackApproval, text: str) -> None:
    """Tell only the person who clicked (an ephemeral message through ``response_url``)."""
    if not action.response_url:
        return
    try:
        async with httpx.AsyncClient(timeout=10) as http:
            await http.post(
                action.response_url,
                json={"response_type": "ephemeral", "replace_original": False, "text": text},
            )
    except httpx.HTTPError as exc:
        log.warning("Could not tell Slack the request was handled: %s", exc)


async def _apply_mention(
    client: PolosClient,
    mention: SlackMention,
    *,
    slack: SlackChannel | None,
    default_agent: str | None,
) -> dict[str, Any]:
    agent_id, text = parse_agent_mention(mention.text)
    if agent_id is None:
        agent_id = await _thread_agent(client, mention) or default_agent
    wf = get_workflow(agent_id) if agent_id else None
    if wf is None or wf.workflow_type != "agent":
        known = ", ".join(f"@{a}" for a in _agents()) or "none is defined"
        what = f"There is no agent `{agent_id}` here." if agent_id else "Which agent?"
        await _reply(
            client,
            slack,
            mention,
            f"{what} Mention one by id, e.g. `@my-agent …`. Agents: {known}.",
        )
        return {"ok": False, "error": f"no agent {agent_id!r}"}
    handle = await client.invoke(
        wf.id,
        {"input": text},
        session_id=f"slack:{mention.channel}:{mention.thread}",
        user_id=mention.user,
        channel_context={
            "channel_id": "slack",
            "source": {
                "channel": mention.channel,
                "threadTs": mention.thread,
                "user": mention.user,
            },
        },
        idempotency_key=f"slack:{mention.event_id}",
    )
    return {"ok": True, "execution_id": handle.id, "agent_id": wf.id}

"""Slack's two request URLs in the Jupyter server: the route provider :func:`slack_routes`.

Listed in ``polos_nb.server.ROUTE_PROVIDERS``, so the server extension mounts, under its
base URL:

- ``polos/slack/interactions``: Approve / Reject clicks on the messages that
  ``polos_nb.channels.SlackChannel`` posts when a run suspends;
- ``polos/slack/events``: Slack's events (``@mentions`` of the bot, the URL check).

These are the only routes of the extension **not behind Jupyter's login or its XSRF
check**: Slack's servers cannot log in to Jupyter nor carry its XSRF cookie. They are
authenticated by the Slack app's signing secret instead (``$SLACK_SIGNING_SECRET`` in the
server's environment): ``polos_nb.channels.SlackEndpoint`` refuses (401) a request that is
unsigned, wrongly signed or older than five minutes before reading it, and refuses every
request when no secret is set. Each verb says so to Jupyter
(``jupyter_server.auth.decorator.allow_unauthenticated``), so the server's check of
extension routes passes even when ``ServerApp.allow_unauthenticated_access`` is off.

A click is answered through the extension's hub, wherever its run lives (the kernel that
owns the journal, or the journal at rest): ``approve`` or ``reject``, with no data. When
nothing waits any more, the person who clicked is told so, privately; when the answer
could not be delivered (the owning kernel busy, say), they are told to click again. The
server defines no agents, so a mention is acknowledged (Slack would retry it otherwise)
and logged with the advice to serve Slack's events URL with
``polos_nb.channels.serve_slack`` from the process that defines the agents.

:func:`slack_handlers` mounts any :class:`~polos_nb.channels.SlackEndpoint` in a tornado
application of your own.
"""

from __future__ import annotations

import logging
from typing import Any

import tornado.web
from jupyter_server.auth.decorator import allow_unauthenticated

from polos_nb.channels import SlackApproval, SlackEndpoint, SlackMention, tell_clicker

__all__ = ["EVENTS", "INTERACTIONS", "SlackRequestHandler", "slack_handlers", "slack_routes"]

log = logging.getLogger("polos_nb.channels")

INTERACTIONS = "slack/interactions"
"""Slack's interactivity request URL, relative to ``<base_url>/polos/``."""
EVENTS = "slack/events"
"""Slack's events request URL, relative to ``<base_url>/polos/``."""


class SlackRequestHandler(tornado.web.RequestHandler):
    """POST only; authenticated by Slack's request signature, not by Jupyter's login."""

    def initialize(self, endpoint: SlackEndpoint, kind: str) -> None:
        self._endpoint = endpoint
        self._kind = kind

    def check_xsrf_cookie(self) -> None:
        return None  # Slack cannot send Jupyter's XSRF cookie; its signature is checked

    @allow_unauthenticated
    async def post(self) -> None:
        answer = await self._endpoint.handle(self._kind, self.request.headers, self.request.body)
        self.set_status(answer.status)
        self.set_header("Content-Type", answer.content_type)
        self.finish(answer.body)


def _entries(endpoint: SlackEndpoint, prefix: str) -> list[tuple[str, Any, dict[str, Any]]]:
    return [
        (
            prefix + INTERACTIONS,
            SlackRequestHandler,
            {"endpoint": endpoint, "kind": "interactions"},
        ),
        (prefix + EVENTS, SlackRequestHandler, {"endpoint": endpoint, "kind": "events"}),
    ]


def slack_handlers(endpoint: SlackEndpoint, base_url: str = "/") -> list[tuple[str, Any, Any]]:
    """Tornado routes serving ``endpoint`` at ``<base_url>polos/slack/interactions`` and
    ``<base_url>polos/slack/events`` (add them to any ``tornado.web.Application``)."""
    base = base_url if base_url.endswith("/") else base_url + "/"
    return _entries(endpoint, base + "polos/")


def slack_routes(context: Any) -> list[tuple[str, Any, dict[str, Any]]]:
    """The route provider (see ``polos_nb.server``): Slack's two URLs, answered through
    ``context.hub``. Paths are relative to ``<base_url>/polos/``."""
    hub = context.hub

    async def deliver(action: SlackApproval | SlackMention) -> Any:
        if isinstance(action, SlackMention):
            log.warning(
                "A Slack mention arrived at the Jupyter server, which runs no agents: serve "
                "Slack's events URL from the process that defines them (serve_slack(...)) "
                "to start agents from Slack. The mention was ignored."
            )
            return {"ok": False, "error": "mentions are served by serve_slack"}
        decision = "approve" if action.approved else "reject"
        try:
            return await hub.answer(action.execution_id, action.step_key, decision, {})
        except Exception as exc:
            if getattr(exc, "status", None) == 404:  # answered already, or the run ended
                await tell_clicker(action, f"This request is no longer waiting: {exc}")
                return {"ok": False, "error": str(exc)}
            raise

    return _entries(SlackEndpoint(deliver), "")

"""Slack's request URLs inside the Jupyter server: the route provider ``server_routes``.

polos_nb's Jupyter server extension (``polos_nb.server``) asks ``polos_nb.channels``
for extra routes when it starts, by calling :func:`server_routes` with a context whose
``hub`` answers a suspension wherever its run lives (a kernel that owns the journal, or
the journal file at rest): ``await hub.answer(execution_id, step_key, decision, data)``.
This module is that whole seam; it knows the context only by those two attributes
(``hub`` and nothing else is used), so nothing here imports Jupyter.

The routes are ``<base_url>/polos/slack/interactions`` and ``<base_url>/polos/slack/events``
(the same paths :func:`serve_slack` serves). They are not behind Jupyter's login: Slack
cannot log in. Every request is checked against the Slack app's signing secret
(``$SLACK_SIGNING_SECRET`` in the server's environment) before anything is read.

- An Approve / Reject click is answered through the hub (``approve`` / ``reject``); if
  nothing waits any more, the person who clicked is told so, privately.
- A mention starts an agent only where agents are defined: a worker or script with
  :func:`serve_slack`. Under Jupyter the server has no agents of its own, so mentions are
  acknowledged (Slack would otherwise retry them) and logged with that advice.
"""

from __future__ import annotations

import logging
from typing import Any

from ._slack_http import EVENTS_PATH, INTERACTIONS_PATH, SlackEndpoint, _tornado_handler_class
from ._slack_inbound import SlackApproval, SlackMention, tell_clicker

__all__ = ["server_routes"]

log = logging.getLogger("polos_nb.channels")

_PREFIX = "polos/"


def server_routes(context: Any) -> list[tuple[str, Any, dict[str, Any]]]:
    """Routes for polos_nb's Jupyter server extension: Slack's two request URLs.

    ``context.hub.answer(execution_id, step_key, decision, data)`` delivers a click to the
    run (see the module docstring). Returns ``(path, handler class, kwargs)`` tuples, the
    paths relative to ``<base_url>/polos/``.
    """
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

    endpoint = SlackEndpoint(deliver)
    handler = _tornado_handler_class()
    return [
        (
            INTERACTIONS_PATH.removeprefix(_PREFIX),
            handler,
            {"endpoint": endpoint, "kind": "interactions"},
        ),
        (EVENTS_PATH.removeprefix(_PREFIX), handler, {"endpoint": endpoint, "kind": "events"}),
    ]

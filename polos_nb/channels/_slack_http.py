"""Slack's two request URLs, for any web server: the Jupyter server extension or a script.

:class:`SlackEndpoint` turns a request (headers and body) into an answer, knowing no web
framework: it checks Slack's signature, reads the request, hands the action to
``deliver`` and answers Slack. ``deliver`` does the work where the journal is:

- in a script or a worker, :func:`serve_slack` (below) delivers to a client in-process
  (:func:`apply_slack_action`);
- under Jupyter, the server extension (``polos_nb.server``, which alone imports tornado
  and jupyter_server) mounts an endpoint whose ``deliver`` answers clicks through its hub,
  wherever the run lives.

Both serve ``<base>/polos/slack/interactions`` and ``<base>/polos/slack/events``.
These two routes are not behind Jupyter's login and XSRF check: Slack cannot log in; its
signature is checked instead, and an unsigned request is refused before anything is read.

Answers: 200 once the action is delivered (a mention's run is journaled then);
401 for a bad signature; 400 for a malformed request; 503 when the delivery failed or
did not finish in time — Slack retries events then, and the journaled event id keeps a
retry from starting a second run.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import threading
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from polos_nb.errors import UserError

from ._slack_inbound import (
    SlackApproval,
    SlackMention,
    SlackRequestError,
    apply_slack_action,
    parse_event,
    parse_interaction,
    tell_clicker,
    verify_slack_signature,
)

if TYPE_CHECKING:
    from polos_nb.engine import PolosClient

    from ._slack import SlackChannel

__all__ = [
    "EVENTS_PATH",
    "INTERACTIONS_PATH",
    "HttpAnswer",
    "SlackEndpoint",
    "SlackServer",
    "serve_slack",
]

log = logging.getLogger("polos_nb.channels")

INTERACTIONS_PATH = "polos/slack/interactions"
EVENTS_PATH = "polos/slack/events"

Deliver = Callable[[SlackApproval | SlackMention], Awaitable[Any]]


@dataclass
class HttpAnswer:
    """What to answer Slack."""

    status: int
    body: bytes = b""
    content_type: str = "application/json"


def _json(status: int, value: Any) -> HttpAnswer:
    return HttpAnswer(status, json.dumps(value).encode())


class SlackEndpoint:
    """Slack's interactivity and events URLs, independent of the web framework.

    Args:
        deliver: ``async deliver(action)`` acting on a :class:`SlackApproval` or
            :class:`SlackMention` where the journal is; raising means "not delivered".
        signing_secret: the Slack app's signing secret (default ``$SLACK_SIGNING_SECRET``,
            read at each request).
        delivery_timeout: seconds to wait for ``deliver`` before answering Slack (which
            wants an answer within three). A slower delivery goes on in the background.
    """

    def __init__(
        self,
        deliver: Deliver,
        *,
        signing_secret: str | None = None,
        delivery_timeout: float = 2.5,
    ) -> None:
        self._deliver = deliver
        self._secret = signing_secret
        self.delivery_timeout = delivery_timeout
        self._background: set[asyncio.Future[Any]] = set()

    def __repr__(self) -> str:
        return "SlackEndpoint()"

    async def handle(self, kind: str, headers: Mapping[str, Any], body: bytes) -> HttpAnswer:
        """Answer one request to ``"interactions"`` or ``"events"``."""
        secret = self._secret or os.environ.get("SLACK_SIGNING_SECRET")
        if not secret:
            log.error(
                "A Slack request arrived but no signing secret is set: set SLACK_SIGNING_SECRET "
                "(the app's Basic Information page) where the Jupyter server or script runs."
            )
            return _json(500, {"ok": False, "error": "no signing secret configured"})
        try:
            verify_slack_signature(secret, headers, body)
            if kind == "interactions":
                action: Any = parse_interaction(body)
            elif kind == "events":
                action = parse_event(body)
                if isinstance(action, str):
                    return _json(200, {"challenge": action})
            else:
                return _json(404, {"ok": False, "error": f"unknown Slack endpoint {kind!r}"})
        except SlackRequestError as exc:
            if exc.status == 401:
                log.warning("Refused a Slack request: %s", exc.message)
            return _json(exc.status, {"ok": False, "error": exc.message})
        if action is None:
            return _json(200, {"ok": True})
        return await self._hand_over(kind, action)

    async def _hand_over(self, kind: str, action: SlackApproval | SlackMention) -> HttpAnswer:
        future = asyncio.ensure_future(self._deliver(action))
        self._background.add(future)
        future.add_done_callback(self._finished)
        done, _ = await asyncio.wait({future}, timeout=self.delivery_timeout)
        if not done:
            # Still going (it is not cancelled). A click is not retried by Slack: say OK;
            # an event is, and its id is journaled with the run, so a retry is harmless.
            return _json(503 if kind == "events" else 200, {"ok": kind != "events"})
        exc = future.exception()
        if exc is not None:
            log.error("Could not deliver a Slack %s: %s", action.kind, exc)
            if isinstance(action, SlackApproval):
                # Slack does not retry a click, and its only sign of a failed request is a
                # small warning icon: tell the person who clicked, privately, to try again.
                await tell_clicker(
                    action,
                    f"Your {'approval' if action.approved else 'rejection'} was not recorded "
                    f"({exc}). Nothing was changed: click the button again in a moment.",
                )
            return _json(503, {"ok": False, "error": str(exc)})
        return _json(200, {"ok": True})

    def _finished(self, future: asyncio.Future[Any]) -> None:
        self._background.discard(future)
        if not future.cancelled() and future.exception() is not None:
            log.debug("Slack delivery failed", exc_info=future.exception())


# ---------------------------------------------------------------------- serve_slack
class SlackServer:
    """A running :func:`serve_slack` server. ``close()`` (or ``with``) stops it."""

    def __init__(self, endpoint: SlackEndpoint, host: str, port: int) -> None:
        self.endpoint = endpoint
        self._loop = asyncio.new_event_loop()
        self._loop_thread = threading.Thread(
            target=self._loop.run_forever, name="polos-slack-loop", daemon=True
        )
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                path = self.path.split("?", 1)[0].strip("/")
                kind = {INTERACTIONS_PATH: "interactions", EVENTS_PATH: "events"}.get(path)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                if kind is None:
                    answer = _json(404, {"ok": False, "error": "not a Slack endpoint"})
                else:
                    future = asyncio.run_coroutine_threadsafe(
                        server.endpoint.handle(kind, dict(self.headers.items()), body),
                        server._loop,
                    )
                    answer = future.result()
                self.send_response(answer.status)
                self.send_header("Content-Type", answer.content_type)
                self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                self.wfile.write(answer.body)

            def log_message(self, format: str, *args: Any) -> None:
                log.debug("slack server: %s", format % args)

        try:
            self._http = ThreadingHTTPServer((host, port), Handler)
        except OSError:
            self._loop.close()  # the port is taken: nothing started
            raise
        self._loop_thread.start()
        self._http.daemon_threads = True
        self._thread = threading.Thread(
            target=self._http.serve_forever, name="polos-slack-http", daemon=True
        )
        self._thread.start()

    @property
    def port(self) -> int:
        return int(self._http.server_address[1])

    @property
    def url(self) -> str:
        """The server's base URL; Slack's request URLs are this plus ``/polos/slack/…``."""
        host = self._http.server_address[0]
        shown = host.decode() if isinstance(host, bytes) else str(host)
        return f"http://{shown}:{self.port}"

    def close(self) -> None:
        """Stop serving (waits for requests under way)."""
        self._http.shutdown()
        self._http.server_close()
        self._thread.join(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._loop_thread.join(timeout=10)
        if not self._loop_thread.is_alive():
            self._loop.close()

    def __enter__(self) -> SlackServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def serve_slack(
    client: PolosClient,
    *,
    host: str = "127.0.0.1",
    port: int = 3000,
    signing_secret: str | None = None,
    slack: SlackChannel | None = None,
    default_agent: str | None = None,
    delivery_timeout: float = 2.5,
) -> SlackServer:
    """Serve Slack's request URLs from a plain script or worker (no Jupyter), in the background.

    ```python
    async with Polos(channels=[slack]) as polos:
        with serve_slack(polos, port=3000):      # Slack → http(s)://<public host>/polos/slack/…
            await polos.serve()
    ```

    Button clicks resume runs and mentions start agents on ``client``'s journal (see
    :func:`apply_slack_action`). ``signing_secret`` defaults to ``slack``'s, then to
    ``$SLACK_SIGNING_SECRET``. Slack needs an https URL that reaches this port (a
    reverse proxy or a tunnel). Returns the running :class:`SlackServer`.
    """
    secret = signing_secret or (slack.signing_secret if slack is not None else None)
    secret = secret or os.environ.get("SLACK_SIGNING_SECRET")
    if not secret:
        raise UserError(
            "serve_slack needs the Slack app's signing secret: pass signing_secret=, give "
            "SlackChannelConfig(signing_secret=...), or set SLACK_SIGNING_SECRET."
        )

    async def deliver(action: SlackApproval | SlackMention) -> Any:
        return await apply_slack_action(client, action, slack=slack, default_agent=default_agent)

    endpoint = SlackEndpoint(deliver, signing_secret=secret, delivery_timeout=delivery_timeout)
    return SlackServer(endpoint, host, port)

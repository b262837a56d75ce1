"""``polos_nb.channels.server_routes``: Slack's URLs mounted by a Jupyter-style server.

The server extension calls ``server_routes(context)`` and mounts the routes under
``<base_url>/polos/``, in a tornado application with XSRF checking on. Here the same
mounting is done in a real tornado application on loopback; the context's ``hub`` keeps
the server extension's contract (``await hub.answer(execution_id, key, decision, data)``,
an error with ``status`` 404 when nothing waits) over a real client on a real journal.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets
from tornado.web import Application

from polos_nb import PolosClient
from polos_nb.channels import server_routes
from polos_nb.errors import ExecutionNotFoundError, ResumeError
from tests.channels.fakes import SIGNING_SECRET, FakeSlack
from tests.channels.test_notify import approval_workflow, slack_channel
from tests.channels.test_slack_requests import SlackSide, buttons


class Gone(Exception):
    """What the server extension's hub raises when nothing waits (its ``AnswerError``)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.status = 404


class JournalHub:
    """The hub's answering contract, delivering to a client on the journal."""

    def __init__(self, client: PolosClient) -> None:
        self.client = client
        self.answers: list[tuple[str, str, str, dict[str, Any]]] = []

    async def answer(
        self, execution_id: str, key: str, decision: str = "submit", data: Any = None
    ) -> dict[str, Any]:
        self.answers.append((execution_id, key, decision, data))
        payload = {"approved": decision in ("approve", "always"), **(data or {})}
        try:
            await self.client.resume(None, execution_id, key, payload)
        except (ResumeError, ExecutionNotFoundError) as exc:
            raise Gone(str(exc)) from None
        return {"delivered": payload}


class Context:
    def __init__(self, hub: JournalHub) -> None:
        self.hub = hub


@pytest.fixture
async def jupyter_like(
    journal_path: Path, slack: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[PolosClient, JournalHub, SlackSide]]:
    monkeypatch.setenv("SLACK_SIGNING_SECRET", SIGNING_SECRET)
    client = PolosClient(journal=journal_path, channels=[slack_channel(slack)])
    hub = JournalHub(client)
    routes = server_routes(Context(hub))
    base_url = "/user/ada/"  # as under JupyterHub: the extension joins base_url + polos/ + path
    app = Application(
        [(f"{base_url}polos/{path}", handler, kwargs) for path, handler, kwargs in routes],
        xsrf_cookies=True,
    )
    sockets = bind_sockets(0, "127.0.0.1")
    server = HTTPServer(app)
    server.add_sockets(sockets)
    side = SlackSide(f"http://127.0.0.1:{sockets[0].getsockname()[1]}/user/ada", slack)
    try:
        yield client, hub, side
    finally:
        await side.http.aclose()
        server.stop()
        await server.close_all_connections()
        client.close()


def test_the_routes_are_slacks_two_urls_under_polos() -> None:
    routes = server_routes(Context(JournalHub(None)))  # type: ignore[arg-type]
    assert [path for path, _handler, _kwargs in routes] == ["slack/interactions", "slack/events"]
    # the Jupyter server's own check of extension routes: none lacks an authentication
    # decision (these say "no Jupyter login: Slack's signature is checked instead")
    from jupyter_server.serverapp import ServerWebApplication

    for path, handler, _kwargs in routes:
        assert ServerWebApplication._check_handler_auth(None, path, handler) == []  # type: ignore[arg-type]


async def test_a_click_reaches_the_run_through_the_hub(
    jupyter_like: tuple[PolosClient, JournalHub, SlackSide], slack: FakeSlack
) -> None:
    client, hub, side = jupyter_like
    handle = await approval_workflow().invoke(client, {})
    message = (await slack.until(lambda: slack.of("chat.postMessage")))[0]

    # not signed: refused before the hub hears of it (no Jupyter login guards this route)
    unsigned = await side.post("interactions", b"payload=%7B%7D", secret="")
    assert unsigned.status_code == 401
    assert hub.answers == []

    answer = await side.click(buttons(message)["polos_reject"])
    assert answer.status_code == 200, answer.text
    assert hub.answers == [(handle.id, "approve", "reject", {})]
    assert await client.wait_for_result(handle.id, timeout=60) == "kept"

    # answered already: the hub says 404, the clicker is told privately, Slack gets 200
    again = await side.click(buttons(message)["polos_approve"])
    assert again.status_code == 200, again.text
    note = (await slack.until(lambda: slack.responses, what="the response_url post"))[0]
    assert note.body["response_type"] == "ephemeral"
    assert "no longer waiting" in note.body["text"]


async def test_a_mention_at_the_jupyter_server_is_acknowledged_and_starts_nothing(
    jupyter_like: tuple[PolosClient, JournalHub, SlackSide],
    caplog: pytest.LogCaptureFixture,
) -> None:
    client, hub, side = jupyter_like
    challenge = await side.post(
        "events", json.dumps({"type": "url_verification", "challenge": "c-42"}).encode()
    )
    assert challenge.json() == {"challenge": "c-42"}
    with caplog.at_level("WARNING", logger="polos_nb.channels"):
        answer = await side.mention("<@U0BOT> @helper hello", event_id="Ev-jupyter-1")
    assert answer.status_code == 200  # acknowledged: Slack does not retry it
    assert "serve_slack" in caplog.text
    assert hub.answers == []
    assert await client.list_executions() == []

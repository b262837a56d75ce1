"""Slack's request URLs in the real Jupyter server (pytest-jupyter), answered through its hub.

The server extension loads ``polos_nb.server._slack:slack_routes`` (a route provider listed
in ``polos_nb.server.ROUTE_PROVIDERS``) and mounts Slack's two URLs under
``<base_url>/polos/slack/``. The server here refuses anonymous calls outright
(``allow_unauthenticated_access`` is off, as in ``conftest.py``), yet these two routes are
reached without a Jupyter login: Slack cannot log in, so Slack's signature is checked
instead, and a request without it is refused even when it carries Jupyter's token.

- A click on a run in a journal at rest is answered into the journal through the hub; the
  run goes on with it when its workflow is defined again. A second click is told,
  privately, that nothing waits any more.
- A click on a run in a live kernel reaches the run through the kernel, which resumes it
  and updates its Slack message.
- A mention reaching the Jupyter server (which defines no agents) is acknowledged and
  starts nothing.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from polos_nb import PolosClient, WorkflowContext, workflow
from polos_nb.channels._dispatch import dispatcher_for
from polos_nb.engine import unregister_workflow
from tests.channels.fakes import BOT_TOKEN, SIGNING_SECRET, FakeSlack
from tests.channels.test_notify import APPROVAL_FORM, slack_channel
from tests.channels.test_slack_requests import SlackSide, buttons

from .helpers import poll, run
from .test_server_extension import _execute

pytestmark = pytest.mark.timeout(240)

SLACK_ENV = ("SLACK_BOT_TOKEN", "SLACK_CHANNEL", "SLACK_SIGNING_SECRET", "SLACK_API_URL")


@pytest.fixture
def slack(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSlack]:
    """The Slack Web API on loopback; the server knows the app's signing secret only."""
    for name in SLACK_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SLACK_SIGNING_SECRET", SIGNING_SECRET)
    with FakeSlack() as fake:
        yield fake


def _side(port: int, base_url: str, slack: FakeSlack) -> SlackSide:
    return SlackSide(f"http://127.0.0.1:{port}{base_url.rstrip('/')}", slack)


async def ship_flow(ctx: WorkflowContext, payload: dict[str, Any]) -> str:
    answer = await ctx.step.suspend("approve", {"_form": APPROVAL_FORM, "_source": "custom"})
    return "shipped" if answer["data"]["approved"] else "kept"


@pytest.fixture
def waiting_at_rest(jp_root_dir: Path, slack: FakeSlack) -> dict[str, Any]:
    """desk/desk.ipynb's journal: one run waiting at 'approve', its Slack message posted,
    and no process owning the journal (its notebook's kernel is not running)."""
    folder = jp_root_dir / "desk"
    folder.mkdir()
    (folder / "desk.ipynb").write_text(
        json.dumps({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5})
    )
    path = folder / ".polos" / "desk.duckdb"
    wf_id = f"ship_{uuid.uuid4().hex[:8]}"
    ship = workflow(id=wf_id)(ship_flow)
    client = PolosClient(journal=path, channels=[slack_channel(slack)])
    try:
        handle = client.runtime.call(ship.invoke(client, {}))
        [message] = slack.wait_for(lambda: slack.of("chat.postMessage"), what="the message")
        # the notification's metadata is journaled before the run counts as notified
        dispatcher = dispatcher_for(client.runtime)
        assert dispatcher is not None
        client.runtime.call(dispatcher.idle())
    finally:
        client.close()
        unregister_workflow(wf_id)  # the server must not run it: only a notebook does
    return {"path": path, "run": handle.id, "wf_id": wf_id, "message": message}


def test_a_slack_click_answers_a_journal_at_rest_through_the_hub(
    waiting_at_rest: dict[str, Any],
    slack: FakeSlack,
    jp_serverapp: Any,
    jp_fetch: Any,  # starts the HTTP server
    jp_http_port: int,
    jp_base_url: str,
    jp_asyncio_loop: Any,
    hub: Any,
) -> None:
    run_id = waiting_at_rest["run"]
    side = _side(jp_http_port, jp_base_url, slack)
    token = jp_serverapp.identity_provider.token

    async def scenario() -> None:
        async def waiting() -> Any:
            await hub.refresh()
            return hub.find_approval(run_id, "approve")

        await poll(waiting, what="the hub to see the waiting run")
        try:
            # Jupyter's token is no Slack signature: refused, nothing answered
            unsigned = await side.post(
                "interactions", b"payload=%7B%7D", secret="", Authorization=f"token {token}"
            )
            assert unsigned.status_code == 401, unsigned.text
            assert hub.find_approval(run_id, "approve") is not None

            # Slack's signed click, without any Jupyter login: answered through the hub
            reject = buttons(waiting_at_rest["message"])["polos_reject"]
            answer = await side.click(reject)
            assert answer.status_code == 200, answer.text

            async def answered() -> bool:
                await hub.refresh()
                return hub.find_approval(run_id, "approve") is None

            await poll(answered, what="the approval to be answered")

            # answered already: the hub says nothing waits, the clicker is told privately
            again = await side.click(buttons(waiting_at_rest["message"])["polos_approve"])
            assert again.status_code == 200, again.text
            [note] = await slack.until(lambda: slack.responses, what="the response_url post")
            assert note.body["response_type"] == "ephemeral"
            assert "no longer waiting" in note.body["text"]
        finally:
            await side.http.aclose()

    run(jp_asyncio_loop, scenario())
    # the rejection is in the journal; the run goes on when its workflow is defined again
    workflow(id=waiting_at_rest["wf_id"])(ship_flow)
    client = PolosClient(journal=waiting_at_rest["path"])
    try:
        result = client.runtime.call(client.wait_for_result(run_id, timeout=60))
    finally:
        client.close()
        unregister_workflow(waiting_at_rest["wf_id"])
    assert result == "kept"


KERNEL_CODE = """
import os
os.environ.update({env})
%load_ext polos_nb
from polos_nb import WorkflowContext, workflow
from polos_nb.notebook import start

@workflow(id="slack_ship")
async def slack_ship(ctx: WorkflowContext, payload: dict) -> str:
    answer = await ctx.step.suspend("approve", {{"_form": {form}, "_source": "custom"}})
    return "shipped" if answer["data"]["approved"] else "kept"

run = start(slack_ship, {{}})
"""


def test_a_slack_click_reaches_a_run_in_a_live_kernel(
    slack: FakeSlack,
    jp_serverapp: Any,
    jp_fetch: Any,
    jp_http_port: int,
    jp_base_url: str,
    jp_root_dir: Path,
    jp_asyncio_loop: Any,
    hub: Any,
) -> None:
    (jp_root_dir / "live").mkdir()
    (jp_root_dir / "live" / "ops.ipynb").write_text(
        json.dumps({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5})
    )
    # the notebook's Slack settings (the kernel's environment: a Slack channel from it)
    env = {
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_CHANNEL": "#approvals",
        "SLACK_API_URL": slack.api_url,
    }
    code = KERNEL_CODE.format(env=repr(env), form=repr(APPROVAL_FORM))
    side = _side(jp_http_port, jp_base_url, slack)

    async def scenario() -> None:
        session = json.loads(
            (
                await jp_fetch(
                    "api",
                    "sessions",
                    method="POST",
                    body=json.dumps(
                        {
                            "path": "live/ops.ipynb",
                            "name": "ops.ipynb",
                            "type": "notebook",
                            "kernel": {"name": "python3"},
                        }
                    ),
                )
            ).body
        )
        kernel_id = session["kernel"]["id"]
        await _execute(jp_serverapp, kernel_id, code)
        [message] = await slack.until(lambda: slack.of("chat.postMessage"), what="the message")

        async def waiting() -> Any:
            state = await hub_state()
            return [a for a in state if a["source"] == f"kernel:{kernel_id}"]

        async def hub_state() -> list[dict[str, Any]]:
            await hub.refresh()
            return list(hub.approvals())

        [approval] = await poll(waiting, what="the kernel's approval in the hub")
        run_id = approval["root_execution_id"]
        try:
            answer = await side.click(buttons(message)["polos_approve"], user="U0KAY")
            assert answer.status_code == 200, answer.text
            # the kernel resumed the run and its dispatcher updated the Slack message
            [update] = await slack.until(lambda: slack.of("chat.update"), what="the update")
            assert update.body["ts"] == "1700000000.000001"  # the fake's ts for the message
            assert update.body["text"].startswith("✅ Approved"), update.body
        finally:
            await side.http.aclose()

        async def completed() -> Any:
            detail = await hub.run(f"kernel:{kernel_id}", run_id)
            return detail if detail["status"] == "completed" else None

        detail = await poll(completed, what="the run to complete")
        assert "shipped" in (detail["output"] or "")

    run(jp_asyncio_loop, scenario())


def test_a_mention_at_the_jupyter_server_is_acknowledged_and_starts_nothing(
    slack: FakeSlack,
    jp_fetch: Any,
    jp_http_port: int,
    jp_base_url: str,
    jp_asyncio_loop: Any,
    hub: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    side = _side(jp_http_port, jp_base_url, slack)

    async def scenario() -> None:
        try:
            challenge = await side.post(
                "events", json.dumps({"type": "url_verification", "challenge": "c-42"}).encode()
            )
            assert challenge.status_code == 200 and challenge.json() == {"challenge": "c-42"}
            with caplog.at_level(logging.WARNING, logger="polos_nb.channels"):
                answer = await side.mention("<@U0BOT> @helper hello", event_id="Ev-jupyter-1")
            assert answer.status_code == 200  # acknowledged: Slack does not retry it
            assert "serve_slack" in caplog.text
            assert slack.calls == []  # nothing posted: no run started
            # an unsigned event is refused before it is read
            refused = await side.post("events", b"{}", secret="")
            assert refused.status_code == 401
        finally:
            await side.http.aclose()

    run(jp_asyncio_loop, scenario())


def _routes(router: Any) -> Iterator[tuple[str, Any]]:
    for rule in getattr(router, "rules", []):
        target = rule.target
        if hasattr(target, "rules"):
            yield from _routes(target)
        else:
            yield getattr(rule.matcher, "regex", rule.matcher).pattern, target


def test_slacks_two_urls_are_mounted_as_outside_jupyters_login(
    jp_serverapp: Any, jp_base_url: str
) -> None:
    from jupyter_server.serverapp import ServerWebApplication

    app = jp_serverapp.web_app
    slack = {
        pattern: handler
        for pattern, handler in _routes(app.default_router)
        if "/polos/slack/" in pattern
    }
    assert sorted(slack) == [
        f"{jp_base_url}polos/slack/events$",
        f"{jp_base_url}polos/slack/interactions$",
    ]
    for pattern, handler in slack.items():
        # the server's own check of extension routes: each verb has an explicit decision
        # (here: no Jupyter login, Slack's signature instead), so none is flagged
        assert ServerWebApplication._check_handler_auth(app, pattern, handler) == []

"""The Jupyter server extension (polos_nb.server), in a real Jupyter server (pytest-jupyter).

- No endpoint answers without Jupyter's login, and a cookie-authenticated post without
  the XSRF token is refused.
- A journal at rest (no kernel owns it) is listed, read, and answered into: the answer
  is journaled, and the run continues with it when its workflow is defined again.
- A live run in a kernel is reached through the kernel's comm: listed, its approval page
  served, a wrong answer refused with the field's error, a right one resuming the run.
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.parse
import uuid
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel
from tornado.httpclient import AsyncHTTPClient

from polos_nb import PolosClient, WorkflowContext, approval_form, workflow
from polos_nb.engine import unregister_workflow
from polos_nb.server._page import answer_from_form, render_page

from .helpers import fetch_error, get_json, poll, run

pytestmark = pytest.mark.timeout(240)


def _url(port: int, base: str, *path: str) -> str:
    return f"http://127.0.0.1:{port}{base}" + "/".join(path)


async def _raw(url: str, method: str = "GET", **kwargs: Any) -> Any:
    client = AsyncHTTPClient()
    return await client.fetch(
        url, method=method, raise_error=False, follow_redirects=False, **kwargs
    )


def test_no_endpoint_answers_without_login_or_xsrf(
    jp_serverapp: Any,
    jp_fetch: Any,  # starts the HTTP server
    jp_http_port: int,
    jp_base_url: str,
    jp_asyncio_loop: Any,
    hub: Any,
) -> None:
    token = jp_serverapp.identity_provider.token
    routes = [
        ("GET", "polos/api/state"),
        ("GET", "polos/api/state?since=0&timeout=0"),
        ("GET", "polos/api/runs?source=x"),
        ("GET", "polos/api/run?source=x&id=y"),
        ("POST", "polos/api/answer"),
        ("GET", "polos/approve/run1/review"),
        ("POST", "polos/approve/run1/review"),
    ]

    async def check() -> None:
        for method, path in routes:
            body = b"{}" if method == "POST" else None
            response = await _raw(_url(jp_http_port, jp_base_url, path), method, body=body)
            # anonymous: refused (API: 403; the page: a redirect to Jupyter's login)
            assert response.code in (302, 403), (method, path, response.code)
            if response.code == 302:
                assert "/login" in response.headers["Location"], path
            assert b"polos" not in (response.body or b"").lower() or response.code == 403

        # a browser session (cookie login) without the XSRF token: refused
        login = _url(jp_http_port, jp_base_url, "login")
        first = await _raw(login)
        xsrf = first.headers.get_list("Set-Cookie")
        xsrf_value = next(c.split(";")[0].split("=", 1)[1] for c in xsrf if c.startswith("_xsrf="))
        logged = await _raw(
            login,
            "POST",
            body=urllib.parse.urlencode({"_xsrf": xsrf_value, "password": token}),
            headers={"Cookie": f"_xsrf={xsrf_value}"},
        )
        assert logged.code == 302, logged.code
        cookies = [c.split(";")[0] for c in logged.headers.get_list("Set-Cookie")]
        cookie = "; ".join([f"_xsrf={xsrf_value}", *cookies])
        answer = _url(jp_http_port, jp_base_url, "polos/api/answer")
        payload = json.dumps({"execution_id": "nope", "key": "review", "data": {}})
        no_xsrf = await _raw(answer, "POST", body=payload, headers={"Cookie": cookie})
        assert no_xsrf.code == 403
        page = _url(jp_http_port, jp_base_url, "polos/approve/nope/review")
        no_xsrf_page = await _raw(page, "POST", body="decision=approve", headers={"Cookie": cookie})
        assert no_xsrf_page.code == 403
        # the same session with the token: through to the endpoint (nothing waits there)
        with_xsrf = await _raw(
            answer, "POST", body=payload, headers={"Cookie": cookie, "X-XSRFToken": xsrf_value}
        )
        assert with_xsrf.code == 404, with_xsrf.body
        assert "Nothing waits" in json.loads(with_xsrf.body)["message"]
        state = await _raw(
            _url(jp_http_port, jp_base_url, "polos/api/state"), headers={"Cookie": cookie}
        )
        assert state.code == 200 and "sources" in json.loads(state.body)

    run(jp_asyncio_loop, check())


# ---------------------------------------------------------------------- a journal at rest


class Refund(BaseModel):
    approved: bool
    amount: float


async def refund_flow(ctx: WorkflowContext, payload: dict) -> dict:
    answer = await ctx.step.suspend(
        "review",
        data=approval_form(Refund, title="Refund?", context={"order": payload["order"]}),
    )
    return {"refunded": answer.data["amount"], "approved": answer.data["approved"]}


@pytest.fixture
def journal_at_rest(jp_root_dir: Path) -> dict[str, Any]:
    """proj/refunds.ipynb's journal with one run waiting at 'review', owned by no process."""
    folder = jp_root_dir / "proj"
    folder.mkdir()
    (folder / "refunds.ipynb").write_text(
        json.dumps({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5})
    )
    path = folder / ".polos" / "refunds.duckdb"
    wf_id = f"refund_{uuid.uuid4().hex[:8]}"

    refund = workflow(id=wf_id)(refund_flow)
    client = PolosClient(journal=path)
    try:
        handle = client.runtime.call(refund.invoke(client, {"order": "A-17"}))
        done = client.runtime.call(client.list_executions(None, "waiting", 5))
        for _ in range(400):
            if done:
                break
            time.sleep(0.05)
            done = client.runtime.call(client.list_executions(None, "waiting", 5))
        assert [i.id for i in done] == [handle.id]
    finally:
        client.close()
        unregister_workflow(wf_id)  # the server must not run it: only a notebook does
    return {"path": path, "run": handle.id, "wf_id": wf_id}


def test_a_journal_at_rest_is_listed_read_and_answered(
    journal_at_rest: dict[str, Any], jp_fetch: Any, jp_asyncio_loop: Any, hub: Any
) -> None:
    run_id = journal_at_rest["run"]

    async def scenario() -> dict[str, Any]:
        async def waiting() -> Any:
            state = await get_json(jp_fetch, "polos", "api", "state")
            return state if state["approvals"] else None

        state = await poll(waiting, what="the journal's approval")
        [source] = state["sources"]
        assert source["kind"] == "journal"
        assert source["notebook"] == "proj/refunds.ipynb"
        assert source["journal"] == "proj/.polos/refunds.duckdb"
        assert source["counts"] == {"waiting": 1}
        [approval] = state["approvals"]
        assert approval["root_execution_id"] == run_id and approval["key"] == "review"
        assert approval["form"]["title"] == "Refund?" and approval["form"]["approval"] is True
        assert approval["url"].endswith(f"/polos/approve/{run_id}/review")

        page = await get_json(jp_fetch, "polos", "api", "runs", source=source["id"], limit="10")
        [summary] = page["runs"]
        assert (
            summary["id"] == run_id and summary["status"] == "waiting" and summary["pending"] == 1
        )
        detail = await get_json(jp_fetch, "polos", "api", "run", source=source["id"], id=run_id)
        assert detail["status"] == "waiting"
        assert detail["approvals"][0]["status"] == "pending"

        # the approval page: the form, behind the login
        html = (await jp_fetch("polos", "approve", run_id, "review")).body.decode()
        assert "Refund?" in html and 'name="amount"' in html and "A-17" in html
        assert 'name="approved"' not in html  # an approval: buttons, not a checkbox

        # a wrong answer: 400 with the field's error, nothing delivered
        status, body = await fetch_error(
            jp_fetch,
            "polos",
            "api",
            "answer",
            method="POST",
            body=json.dumps(
                {
                    "execution_id": run_id,
                    "key": "review",
                    "decision": "approve",
                    "data": {"amount": "lots"},
                }
            ),
        )
        assert status == 400 and "amount" in body["errors"]
        # a right one, through the page's form post
        form = urllib.parse.urlencode({"amount": "12.5", "decision": "approve"})
        response = await jp_fetch("polos", "approve", run_id, "review", method="POST", body=form)
        assert "Answered" in response.body.decode()

        async def answered() -> Any:
            state = await get_json(jp_fetch, "polos", "api", "state")
            return state if not state["approvals"] else None

        return await poll(answered, what="the approval to leave the inbox")

    run(jp_asyncio_loop, scenario())
    # the answer is in the journal; the run goes on when its workflow is defined again
    workflow(id=journal_at_rest["wf_id"])(refund_flow)
    client = PolosClient(journal=journal_at_rest["path"])
    try:
        result = client.runtime.call(client.wait_for_result(run_id, timeout=30))
    finally:
        client.close()
        unregister_workflow(journal_at_rest["wf_id"])
    assert result == {"refunded": 12.5, "approved": True}


def test_the_approval_page_round_trips_every_field_kind() -> None:
    spec = {
        "approval": False,
        "schema": {
            "type": "object",
            "properties": {
                "n": {"type": "integer"},
                "x": {"type": "number"},
                "ok": {"type": "boolean"},
                "level": {"enum": ["low", "high"]},
                "tags": {"type": "array", "items": {"type": "string"}},
                "colors": {"type": "array", "items": {"enum": ["red", "blue"]}},
                "note": {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None},
                "address": {"type": "object", "properties": {"city": {"type": "string"}}},
            },
            "required": ["n"],
        },
    }
    posted = {
        "n": ["3"],
        "x": ["2.5"],
        "ok": ["on"],
        "level": ['"high"'],
        "tags": ["a, b"],
        "colors": ['"red"', '"blue"'],
        "note": [""],
        "address.city": ["Paris"],
    }
    assert answer_from_form(spec, posted) == {
        "n": 3,
        "x": 2.5,
        "ok": True,
        "level": "high",
        "tags": ["a", "b"],
        "colors": ["red", "blue"],
        "address": {"city": "Paris"},
    }
    html = render_page(
        {
            "form": {"title": "<Go?>", **spec},
            "workflow_id": "w",
            "root_execution_id": "r",
            "key": "k",
        },
        xsrf_html="<input type=hidden name=_xsrf value=t>",
        errors={"n": "this field is required"},
    )
    assert "&lt;Go?&gt;" in html and "<Go?>" not in html
    assert 'class="polos-field polos-invalid" data-field="n"' in html
    assert 'name="address.city"' in html and 'value="&quot;high&quot;"' in html


# ---------------------------------------------------------------------- a live kernel

KERNEL_CODE = """
%load_ext polos_nb
from pydantic import BaseModel
from polos_nb import WorkflowContext, approval_form, workflow
from polos_nb.notebook import start

class Amount(BaseModel):
    amount: float

@workflow(id="live_refund")
async def live_refund(ctx: WorkflowContext, payload: dict) -> dict:
    answer = await ctx.step.suspend("amount", data=approval_form(Amount, title="How much?"))
    return {"refunded": answer.data["amount"]}

run = start(live_refund, {"order": "B-2"})
run.id
"""


async def _execute(serverapp: Any, kernel_id: str, code: str) -> None:
    from jupyter_client.asynchronous import AsyncKernelClient

    kernel = serverapp.kernel_manager.get_kernel(kernel_id)
    client = AsyncKernelClient()
    client.load_connection_info(kernel.get_connection_info(session=False))
    client.start_channels(shell=True, iopub=False, stdin=False, hb=False, control=False)
    try:
        msg_id = client.execute(code, store_history=False)
        while True:
            reply = await client.get_shell_msg(timeout=120)
            if reply["parent_header"].get("msg_id") == msg_id:
                break
        content = reply["content"]
        assert content["status"] == "ok", "\n".join(content.get("traceback") or [])
    finally:
        client.stop_channels()


def test_a_live_run_is_reached_through_its_kernel(
    jp_serverapp: Any, jp_fetch: Any, jp_root_dir: Path, jp_asyncio_loop: Any, hub: Any
) -> None:
    (jp_root_dir / "live").mkdir()
    (jp_root_dir / "live" / "desk.ipynb").write_text(
        json.dumps({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5})
    )

    async def scenario() -> None:
        session = json.loads(
            (
                await jp_fetch(
                    "api",
                    "sessions",
                    method="POST",
                    body=json.dumps(
                        {
                            "path": "live/desk.ipynb",
                            "name": "desk.ipynb",
                            "type": "notebook",
                            "kernel": {"name": "python3"},
                        }
                    ),
                )
            ).body
        )
        kernel_id = session["kernel"]["id"]
        await _execute(jp_serverapp, kernel_id, KERNEL_CODE)

        async def waiting() -> Any:
            state = await get_json(jp_fetch, "polos", "api", "state")
            return [a for a in state["approvals"] if a["source"] == f"kernel:{kernel_id}"]

        [approval] = await poll(waiting, what="the kernel's approval in the inbox")
        run_id = approval["root_execution_id"]
        state = await get_json(jp_fetch, "polos", "api", "state")
        [source] = [s for s in state["sources"] if s["id"] == f"kernel:{kernel_id}"]
        assert source["kind"] == "kernel" and source["notebook"] == "live/desk.ipynb"
        assert source["journal"] == "live/.polos/desk.duckdb"
        # the kernel owns that journal: it is not listed a second time as a journal at rest
        assert [s["kind"] for s in state["sources"]] == ["kernel"]
        assert approval["url"].startswith(("http://127.0.0.1", "http://localhost"))

        page = await get_json(jp_fetch, "polos", "api", "runs", source=source["id"])
        assert [(r["id"], r["status"], r["pending"]) for r in page["runs"]] == [
            (run_id, "waiting", 1)
        ]
        html = (await jp_fetch("polos", "approve", run_id, "amount")).body.decode()
        assert "How much?" in html and 'name="amount"' in html

        status, body = await fetch_error(
            jp_fetch,
            "polos",
            "api",
            "answer",
            method="POST",
            body=json.dumps(
                {
                    "execution_id": run_id,
                    "key": "amount",
                    "decision": "submit",
                    "data": {"amount": "many"},
                }
            ),
        )
        assert status == 400 and body["errors"] == {"amount": "not a number"}
        ok = await jp_fetch(
            "polos",
            "api",
            "answer",
            method="POST",
            body=json.dumps(
                {
                    "execution_id": run_id,
                    "key": "amount",
                    "decision": "submit",
                    "data": {"amount": 7},
                }
            ),
        )
        assert json.loads(ok.body)["delivered"] == {"amount": 7}

        async def completed() -> Any:
            page = await get_json(jp_fetch, "polos", "api", "runs", source=source["id"])
            return page if page["runs"][0]["status"] == "completed" else None

        await poll(completed, what="the run to complete")
        detail = await get_json(jp_fetch, "polos", "api", "run", source=source["id"], id=run_id)
        assert detail["status"] == "completed" and "7" in (detail["output"] or "")
        assert detail["approvals"][0]["status"] == "answered"

        # a kernel busy with a long cell: the list gives its last page again, not an error
        # (a browser would log an HTTP error for every refresh while a cell runs)
        from jupyter_client.asynchronous import AsyncKernelClient

        kernel = jp_serverapp.kernel_manager.get_kernel(kernel_id)
        busy = AsyncKernelClient()
        busy.load_connection_info(kernel.get_connection_info(session=False))
        busy.start_channels(shell=True, iopub=False, stdin=False, hb=False, control=False)
        try:
            busy.execute("import time; time.sleep(60)", store_history=False)
            await asyncio.sleep(1)
            page = await get_json(jp_fetch, "polos", "api", "runs", source=source["id"])
        finally:
            busy.stop_channels()
            await jp_serverapp.kernel_manager.interrupt_kernel(kernel_id)
        assert "busy" in page["unavailable"]
        assert [(r["id"], r["status"]) for r in page["runs"]] == [(run_id, "completed")]

    run(jp_asyncio_loop, scenario())

"""HTTP endpoints of the server extension. Every verb requires Jupyter's login; posts check XSRF.

Under the server's base URL:

==========================================  =============================================
``GET  polos/api/state?since=V&timeout=S``  sources and waiting approvals; with ``since``
                                            it waits (long polling) until the state's
                                            version passes ``V`` or ``S`` seconds pass
``GET  polos/api/runs?source=&status=&offset=&limit=``   a page of a source's runs
``GET  polos/api/run?source=&id=``          one run's detail (the inspector)
``POST polos/api/answer``                   ``{execution_id, key, decision, data, source?}``
``GET  polos/approve/<run>/<key>``          the approval page (HTML; see ``_page``)
``POST polos/approve/<run>/<key>``          its form post
==========================================  =============================================

Errors are JSON ``{"message", "errors"}`` with 400 (the answer does not fit the form;
``errors`` maps each field to what is wrong), 404 (nothing waits / no such run), 409 (the
suspension was answered already or its run ended, the process that holds the journal did
not answer, the kernel went away) or 503 (the kernel is busy).
"""

from __future__ import annotations

import json
from typing import Any

import tornado.web
from jupyter_server.base.handlers import APIHandler, JupyterHandler

from ._hub import AnswerError, PolosHub
from ._page import answer_from_form, render_page

__all__ = ["AnswerHandler", "ApprovalPageHandler", "RunHandler", "RunsHandler", "StateHandler"]

MAX_WAIT = 30.0


class _Base(APIHandler):
    hub: PolosHub

    def initialize(self, hub: PolosHub) -> None:
        self.hub = hub

    def fail(self, exc: AnswerError) -> None:
        self.set_status(exc.status)
        self.finish(json.dumps({"message": str(exc), "errors": exc.errors}))

    def int_arg(self, name: str, default: int) -> int:
        text = self.get_query_argument(name, "")
        if text == "":
            return default
        try:
            return int(text)
        except ValueError:
            raise tornado.web.HTTPError(400, f"{name} must be an integer, got {text!r}") from None


class StateHandler(_Base):
    @tornado.web.authenticated
    async def get(self) -> None:
        since = self.int_arg("since", -1)
        if since >= 0:
            timeout = min(float(self.get_query_argument("timeout", "25") or 25), MAX_WAIT)
            await self.hub.wait(since, max(0.0, timeout))
        self.finish(json.dumps(self.hub.state(), default=str))


class RunsHandler(_Base):
    @tornado.web.authenticated
    async def get(self) -> None:
        source = self.get_query_argument("source")
        status = self.get_query_argument("status", "") or None
        try:
            page = await self.hub.runs(
                source, status, self.int_arg("offset", 0), self.int_arg("limit", 100)
            )
        except AnswerError as exc:
            self.fail(exc)
            return
        self.finish(json.dumps(page, default=str))


class RunHandler(_Base):
    @tornado.web.authenticated
    async def get(self) -> None:
        try:
            detail = await self.hub.run(
                self.get_query_argument("source"), self.get_query_argument("id")
            )
        except AnswerError as exc:
            self.fail(exc)
            return
        self.finish(json.dumps(detail, default=str))


class AnswerHandler(_Base):
    @tornado.web.authenticated
    async def post(self) -> None:
        try:
            body = json.loads(self.request.body or b"{}")
        except ValueError:
            self.fail(AnswerError(400, "The body must be JSON."))
            return
        if not isinstance(body, dict) or not body.get("execution_id") or not body.get("key"):
            self.fail(AnswerError(400, "Give execution_id and key (and decision, data)."))
            return
        data = body.get("data")
        if data is not None and not isinstance(data, dict):
            self.fail(AnswerError(400, "data must be an object of the form's fields."))
            return
        try:
            result = await self.hub.answer(
                str(body["execution_id"]),
                str(body["key"]),
                str(body.get("decision") or "submit"),
                data,
                source_id=body.get("source") or None,
            )
        except AnswerError as exc:
            self.fail(exc)
            return
        self.finish(json.dumps(result, default=str))


class ApprovalPageHandler(JupyterHandler):
    """``polos/approve/<run>/<key>``: the form on a page of its own (behind Jupyter's login)."""

    hub: PolosHub

    def initialize(self, hub: PolosHub) -> None:
        self.hub = hub

    def _page(self, status: int, **kwargs: Any) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.set_header("Cache-Control", "no-store")
        self.finish(render_page(xsrf_html=self.xsrf_form_html(), **kwargs))

    async def _approval(self, run_id: str, key: str) -> dict[str, Any] | None:
        approval = self.hub.find_approval(run_id, key)
        if approval is None:  # e.g. a link opened the moment the run suspended
            await self.hub.refresh()
            approval = self.hub.find_approval(run_id, key)
        return approval

    def _missing(self, text: str) -> str:
        """``text``, and why some runs cannot be looked at now, if that is so."""
        reasons = [f"{s.label}: {s.error}" for s in self.hub.unreadable() if s.error]
        if reasons:
            text += " Runs that cannot be read now: " + "; ".join(reasons) + "."
        return text

    @tornado.web.authenticated
    async def get(self, run_id: str, key: str) -> None:
        approval = await self._approval(run_id, key)
        if approval is None:
            self._page(
                404,
                approval=None,
                run_id=run_id,
                key=key,
                message=self._missing(
                    "Nothing waits here: it was answered already, or the run ended."
                ),
            )
            return
        self._page(200, approval=approval, run_id=run_id, key=key)

    @tornado.web.authenticated
    async def post(self, run_id: str, key: str) -> None:
        approval = await self._approval(run_id, key)
        if approval is None:
            self._page(
                404,
                approval=None,
                run_id=run_id,
                key=key,
                message=self._missing(
                    "Nothing waits here any more: it was answered already, or the run ended."
                ),
            )
            return
        fields = {
            name: [v.decode("utf-8", "replace") for v in values]
            for name, values in self.request.body_arguments.items()
            if name not in ("_xsrf", "decision")
        }
        decision = self.get_body_argument("decision", "submit")
        spec = approval.get("form") or {}
        data = answer_from_form(spec, fields)
        try:
            result = await self.hub.answer(
                str(approval["execution_id"]),
                key,
                decision,
                data,
                source_id=str(approval["source"]),
            )
        except AnswerError as exc:
            values = {name: vals[0] if len(vals) == 1 else vals for name, vals in fields.items()}
            self._page(
                exc.status,
                approval=approval,
                values=values,
                errors=exc.errors,
                message=None if exc.errors else str(exc),
                run_id=run_id,
                key=key,
            )
            return
        self._page(200, approval=approval, done=result, run_id=run_id, key=key)

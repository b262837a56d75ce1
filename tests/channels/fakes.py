"""Loopback stand-ins for what channels talk to, each a real server on 127.0.0.1.

- :class:`FakeSlack`: the Slack Web API methods polos_nb calls (``chat.postMessage``,
  ``chat.update``) and ``response_url`` posts, answering as Slack does and recording
  every call with its headers;
- :class:`HookReceiver`: an HTTP endpoint recording POSTs (the webhook channel's target);
- :class:`SmtpSink`: an aiosmtpd SMTP server recording messages, optionally with AUTH.
"""

from __future__ import annotations

import email
import itertools
import json
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar
from urllib.parse import parse_qs

BOT_TOKEN = "xoxb-test-9f2c1d7e5a-secret"
SIGNING_SECRET = "slack-signing-secret-4be1a0c3"


@dataclass
class Call:
    method: str
    body: dict[str, Any]
    headers: dict[str, str]


class _Server:
    """A threading HTTP server on a free loopback port, answering through ``answer``."""

    def __init__(self) -> None:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                status, reply = owner.answer(self.path, dict(self.headers.items()), raw)
                data = json.dumps(reply).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._http.daemon_threads = True
        self._thread = threading.Thread(target=self._http.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._http.server_address[1]}"

    def answer(self, path: str, headers: dict[str, str], raw: bytes) -> tuple[int, Any]:
        raise NotImplementedError

    def __enter__(self) -> Any:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._http.shutdown()
        self._http.server_close()
        self._thread.join(timeout=10)


def _body(headers: dict[str, str], raw: bytes) -> dict[str, Any]:
    kind = next((v for k, v in headers.items() if k.lower() == "content-type"), "")
    if "json" in kind:
        return json.loads(raw or b"{}")
    form = {k: v[0] for k, v in parse_qs(raw.decode()).items()}
    for key in ("blocks", "attachments"):
        if isinstance(form.get(key), str):
            form[key] = json.loads(form[key])
    return form


class FakeSlack(_Server):
    """The Slack Web API on loopback. ``api_url`` goes in ``SlackChannelConfig(base_url=...)``."""

    CHANNEL_IDS: ClassVar[dict[str, str]] = {"#approvals": "C0APPROVAL", "#general": "C0GENERAL"}

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[Call] = []
        self.responses: list[Call] = []  # posts to response_url
        self.fail: dict[str, str] = {}  # method -> Slack error code to answer with
        self._ts = itertools.count(1)
        self._lock = threading.Lock()

    @property
    def api_url(self) -> str:
        return self.url + "/api/"

    @property
    def response_url(self) -> str:
        return self.url + "/response/1"

    def answer(self, path: str, headers: dict[str, str], raw: bytes) -> tuple[int, Any]:
        body = _body(headers, raw)
        if path.startswith("/response/"):
            with self._lock:
                self.responses.append(Call("response_url", body, headers))
            return 200, {"ok": True}
        method = path.rsplit("/", 1)[-1]
        with self._lock:
            self.calls.append(Call(method, body, headers))
            if method in self.fail:
                return 200, {"ok": False, "error": self.fail[method]}
            ts = f"1700000000.{next(self._ts):06d}"
        if method == "chat.postMessage":
            channel = self.CHANNEL_IDS.get(body.get("channel"), body.get("channel"))
            return 200, {
                "ok": True,
                "channel": channel,
                "ts": ts,
                "message": {"text": body.get("text")},
            }
        if method == "chat.update":
            return 200, {"ok": True, "channel": body.get("channel"), "ts": body.get("ts")}
        return 200, {"ok": False, "error": "unknown_method"}

    def of(self, method: str) -> list[Call]:
        with self._lock:
            return [c for c in self.calls if c.method == method]

    def wait_for(self, predicate: Callable[[], Any], timeout: float = 60, what: str = "") -> Any:
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"timed out waiting for {what or predicate}; calls: {self.calls}"
                )
            time.sleep(0.02)

    async def until(self, predicate: Callable[[], Any], timeout: float = 60, what: str = "") -> Any:
        import asyncio

        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"timed out waiting for {what or predicate}; calls: {self.calls}"
                )
            await asyncio.sleep(0.02)


class HookReceiver(_Server):
    """Records JSON POSTs; ``status`` is what it answers."""

    def __init__(self) -> None:
        super().__init__()
        self.posts: list[Call] = []
        self.status = 200
        self._lock = threading.Lock()

    def answer(self, path: str, headers: dict[str, str], raw: bytes) -> tuple[int, Any]:
        with self._lock:
            self.posts.append(Call(path, {"raw": raw, "json": json.loads(raw or b"null")}, headers))
        return self.status, {"ok": self.status < 300}

    def of(self, kind: str) -> list[Call]:
        with self._lock:
            return [p for p in self.posts if p.body["json"].get("type") == kind]


@dataclass
class Received:
    sender: str
    recipients: list[str]
    message: Message
    login: str | None = None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class SmtpSink:
    """An aiosmtpd server on loopback. With ``password``, it offers AUTH (over plain TCP)."""

    user: str | None = None
    password: str | None = None
    received: list[Received] = field(default_factory=list)

    def __enter__(self) -> SmtpSink:
        from aiosmtpd.controller import Controller
        from aiosmtpd.smtp import AuthResult, LoginPassword

        sink = self

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
                login = session.auth_data.login.decode() if session.auth_data else None
                sink.received.append(
                    Received(
                        envelope.mail_from,
                        list(envelope.rcpt_tos),
                        email.message_from_bytes(envelope.content),
                        login,
                    )
                )
                return "250 Message accepted for delivery"

        def authenticator(
            server: Any, session: Any, envelope: Any, mechanism: str, data: Any
        ) -> Any:
            ok = (
                isinstance(data, LoginPassword)
                and data.login.decode() == sink.user
                and data.password.decode() == sink.password
            )
            return AuthResult(success=ok, handled=False, auth_data=data if ok else None)

        self.port = _free_port()
        kwargs: dict[str, Any] = {}
        if self.password is not None:
            kwargs = {
                "authenticator": authenticator,
                "auth_require_tls": False,
                "auth_required": True,
            }
        self._controller = Controller(Handler(), hostname="127.0.0.1", port=self.port, **kwargs)
        self._controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._controller.stop()

"""``EmailChannel``: an e-mail (SMTP) when a run needs a person.

```python
from polos_nb.channels import EmailChannel, EmailChannelConfig

email = EmailChannel(EmailChannelConfig(host="smtp.example.com", port=587, starttls=True,
                                        sender="agents@example.com", to=["ops@example.com"],
                                        username="agents@example.com"))   # password: $POLOS_SMTP_PASSWORD
```

The message has the form's title as its subject and, in plain text and HTML, the
description, the context, the fields asked for and the approval page's link (the answer
is given there, in the notebook, or in Slack). The password comes from the config or
``$POLOS_SMTP_PASSWORD`` and is never journaled, logged or shown.
"""

from __future__ import annotations

import asyncio
import html
import json
import os
import smtplib
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any

from polos_nb import _secrets
from polos_nb.errors import ChannelError, UserError

from ._channel import Channel, ChannelContext, ChannelOutputMode, SuspendNotification
from ._slack import output_text

__all__ = ["EmailChannel", "EmailChannelConfig"]


@dataclass
class EmailChannelConfig:
    """Configuration of an :class:`EmailChannel`.

    Attributes:
        host, port: the SMTP server (default port 25; 587 with ``starttls``, 465 with ``ssl``).
        sender: the From address.
        to: the recipients (a suspension's ``_notify["email"]["to"]`` replaces them).
        username, password: SMTP login, if the server wants one (``password`` defaults to
            ``$POLOS_SMTP_PASSWORD``).
        starttls: upgrade the connection with STARTTLS; ssl: connect over TLS (SMTPS).
        timeout: seconds for the whole exchange.
        subject_prefix: put before every subject.
    """

    host: str
    sender: str
    to: list[str]
    port: int | None = None
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    starttls: bool = False
    ssl: bool = False
    timeout: float = 30.0
    subject_prefix: str = "[polos] "

    def __post_init__(self) -> None:
        # the SMTP password: never journaled nor displayed
        _secrets.register_kwargs({"password": self.password})


class EmailChannel(Channel):
    """E-mail notifications over SMTP (the standard library's ``smtplib``, off the event loop)."""

    def __init__(self, config: EmailChannelConfig) -> None:
        if not config.host:
            raise UserError("EmailChannelConfig.host must name the SMTP server.")
        if not config.sender or "@" not in config.sender:
            raise UserError(
                f"EmailChannelConfig.sender must be an address (got {config.sender!r})."
            )
        if isinstance(config.to, str) or not config.to or not all("@" in t for t in config.to):
            raise UserError(
                f"EmailChannelConfig.to must be a list of addresses, e.g. ['ops@example.com'] (got {config.to!r})."
            )
        if config.starttls and config.ssl:
            raise UserError("EmailChannelConfig: choose starttls=True or ssl=True, not both.")
        self._config = config

    def __repr__(self) -> str:
        return f"EmailChannel(host={self._config.host!r}, to={self._config.to!r})"

    @property
    def id(self) -> str:
        return "email"

    @property
    def output_mode(self) -> ChannelOutputMode:
        return "final"

    async def notify(self, notification: SuspendNotification) -> dict[str, Any] | None:
        overrides = notification.channel_overrides or {}
        to = overrides.get("to") or self._config.to
        recipients = [to] if isinstance(to, str) else list(to)
        message = self._message(notification, recipients)
        await asyncio.to_thread(self._send, message, recipients)
        return {"email_message_id": message["Message-ID"], "email_to": recipients}

    async def send_output(self, context: ChannelContext, event: Any) -> None:
        text = output_text(event)
        to = context.source.get("to") or context.source.get("email")
        if not text or not to:
            return
        recipients = [to] if isinstance(to, str) else list(to)
        message = EmailMessage()
        message["Subject"] = f"{self._config.subject_prefix}Run output"
        message["From"] = self._config.sender
        message["To"] = ", ".join(recipients)
        message["Message-ID"] = make_msgid(domain=self._config.sender.split("@")[-1])
        message.set_content(text)
        await asyncio.to_thread(self._send, message, recipients)

    # ------------------------------------------------------------------ internals
    def _message(self, n: SuspendNotification, recipients: list[str]) -> EmailMessage:
        title = n.title or "A run needs your input"
        message = EmailMessage()
        message["Subject"] = f"{self._config.subject_prefix}{title}"
        message["From"] = self._config.sender
        message["To"] = ", ".join(recipients)
        message["Message-ID"] = make_msgid(domain=self._config.sender.split("@")[-1])
        lines = [title, ""]
        if n.description:
            lines += [n.description, ""]
        if n.tool:
            lines.append(f"Tool: {n.tool}")
        if n.context:
            lines += ["Context:", json.dumps(n.context, indent=2, default=str), ""]
        if n.form_fields:
            lines.append("Asked for:")
            lines += [
                f"  - {f.get('label') or f.get('key')} ({f.get('type')})" for f in n.form_fields
            ]
            lines.append("")
        if n.expires_at:
            lines.append(f"Expires: {n.expires_at}")
        lines += [f"Answer here: {n.approval_url}", "", f"Run {n.execution_id}, step {n.step_key}"]
        message.set_content("\n".join(lines))
        parts = [f"<h2>{html.escape(title)}</h2>"]
        if n.description:
            parts.append(f"<p>{html.escape(n.description)}</p>")
        if n.context:
            parts.append(f"<pre>{html.escape(json.dumps(n.context, indent=2, default=str))}</pre>")
        parts.append(f'<p><a href="{html.escape(n.approval_url, quote=True)}">Answer</a></p>')
        message.add_alternative("\n".join(parts), subtype="html")
        return message

    def _send(self, message: EmailMessage, recipients: list[str]) -> None:
        c = self._config
        password = c.password or os.environ.get("POLOS_SMTP_PASSWORD") or None
        try:
            smtp: smtplib.SMTP
            if c.ssl:
                smtp = smtplib.SMTP_SSL(
                    c.host, c.port or 465, timeout=c.timeout, context=ssl.create_default_context()
                )
            else:
                smtp = smtplib.SMTP(
                    c.host, c.port or (587 if c.starttls else 25), timeout=c.timeout
                )
            with smtp:
                if c.starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if c.username:
                    smtp.login(c.username, password or "")
                smtp.send_message(message, from_addr=c.sender, to_addrs=recipients)
        except smtplib.SMTPException as exc:
            raise ChannelError("email", f"the SMTP server {c.host} refused: {exc}") from None
        except OSError as exc:
            raise ChannelError("email", f"cannot reach the SMTP server {c.host}: {exc}") from None

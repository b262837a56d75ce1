"""``WebhookChannel``: a JSON POST to your URL when a run needs a person.

```python
from polos_nb.channels import WebhookChannel, WebhookChannelConfig

hook = WebhookChannel(WebhookChannelConfig(url="https://ops.example.com/polos",
                                           secret=os.environ["POLOS_WEBHOOK_SECRET"]))
```

Bodies (``Content-Type: application/json``):

- ``{"type": "suspend", "notification": {...}}`` when a run suspends (the fields of
  :class:`SuspendNotification`; answer with the approval page or ``client.resume``);
- ``{"type": "answered", "execution_id", "step_key", "response", "answered_by"}`` once
  it is answered;
- ``{"type": "output", "context": {...}, "event": {...}}`` for runs started from this
  channel.

With a ``secret``, every request carries ``X-Polos-Timestamp`` (Unix seconds) and
``X-Polos-Signature: sha256=<hex>``, the HMAC-SHA256 of ``"<timestamp>.<body>"`` under
the secret: check it to know the request is ours. The URL and the secret may be
credentials: neither is journaled, logged or shown.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from polos_nb import _secrets
from polos_nb.errors import ChannelError, UserError

from ._channel import Channel, ChannelContext, ChannelOutputMode, SuspendNotification

__all__ = ["WebhookChannel", "WebhookChannelConfig", "webhook_signature"]


@dataclass
class WebhookChannelConfig:
    """Configuration of a :class:`WebhookChannel`.

    Attributes:
        url: where to POST (http or https).
        secret: signs every request (see the module docs); optional.
        headers: extra headers (e.g. an ``Authorization``).
        timeout: seconds per request.
        id: the channel's id (default ``"webhook"``; give two webhooks different ids).
    """

    url: str = field(repr=False)
    secret: str | None = field(default=None, repr=False)
    headers: dict[str, str] = field(default_factory=dict, repr=False)
    timeout: float = 10.0
    id: str = "webhook"

    def __post_init__(self) -> None:
        # the signing secret and credential headers (Authorization...): never journaled
        headers = dict(self.headers or {})
        _secrets.register_kwargs({"secret": self.secret, **headers})
        for name, value in headers.items():  # "Bearer <token>": the token alone too
            scheme, _, credential = str(value).partition(" ")
            if _secrets.is_credential_name(name) and credential and scheme.isalpha():
                _secrets.register(credential.strip())


def webhook_signature(secret: str, timestamp: str, body: bytes) -> str:
    """The ``X-Polos-Signature`` value of ``body`` sent at ``timestamp``."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + digest.hexdigest()


class WebhookChannel(Channel):
    """Notifications, answers and output as signed JSON POSTs."""

    def __init__(self, config: WebhookChannelConfig) -> None:
        if not isinstance(config.url, str) or not config.url.startswith(("http://", "https://")):
            raise UserError("WebhookChannelConfig.url must be an http:// or https:// URL.")
        if not config.id:
            raise UserError("WebhookChannelConfig.id must be a non-empty string.")
        self._config = config

    def __repr__(self) -> str:
        return f"WebhookChannel(id={self._config.id!r})"

    @property
    def id(self) -> str:
        return self._config.id

    @property
    def output_mode(self) -> ChannelOutputMode:
        return "per_step"

    async def notify(self, notification: SuspendNotification) -> dict[str, Any] | None:
        status = await self._post(
            {"type": "suspend", "notification": notification.model_dump(mode="json")}
        )
        return {
            "webhook_status": status,
            "execution_id": notification.execution_id,
            "step_key": notification.step_key,
        }

    async def notify_answered(
        self, meta: dict[str, Any], response: Any, answered_by: str | None = None
    ) -> None:
        await self._post(
            {
                "type": "answered",
                "execution_id": meta.get("execution_id"),
                "step_key": meta.get("step_key"),
                "response": response,
                "answered_by": answered_by,
            }
        )

    async def send_output(self, context: ChannelContext, event: Any) -> None:
        dump = getattr(event, "model_dump", None)
        shown = dump(mode="json") if callable(dump) else event
        await self._post(
            {"type": "output", "context": context.model_dump(mode="json"), "event": shown}
        )

    async def _post(self, payload: dict[str, Any]) -> int:
        c = self._config
        body = json.dumps(payload, default=str).encode()
        headers = {**c.headers, "Content-Type": "application/json"}
        if c.secret:
            timestamp = str(int(time.time()))
            headers["X-Polos-Timestamp"] = timestamp
            headers["X-Polos-Signature"] = webhook_signature(c.secret, timestamp, body)
        try:
            async with httpx.AsyncClient(timeout=c.timeout) as client:
                response = await client.post(c.url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise ChannelError(c.id, f"the POST failed: {type(exc).__name__}") from None
        if response.status_code >= 300:
            raise ChannelError(c.id, f"the POST was answered with HTTP {response.status_code}")
        return response.status_code

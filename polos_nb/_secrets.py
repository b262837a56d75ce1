"""Credentials polos_nb has seen, so that they are never journaled nor displayed.

The journal is read by anyone who opens the file or a saved notebook, so credentials
must not reach it. They are kept out at the one place values enter it, the typed-JSON
encoder (``polos_nb._serde.dumps``), and again wherever notebooks render text:

- a value that *is* a known credential is journaled as ``{"$t": "secret", "id": ...}``
  (a short fingerprint, not the value): in the process that knows the credential it
  reads back as the credential itself, elsewhere as :class:`Redacted` (``"[redacted]"``);
- a credential inside longer text (a provider error that echoes the key, a URL with a
  token) is replaced by ``[redacted]``.

A value is *known* once polos_nb has seen it as a credential: ``api_key=`` (and other
credential-named keyword arguments such as ``azure_ad_token`` or
``aws_secret_access_key``) given to an ``Agent``, to ``agent.run`` / ``invoke`` /
``stream`` / ``with_input``, to ``PolosClient`` or to ``WebSearchToolConfig``;
environment variables whose names mark a credential (``*_API_KEY``, ``*_TOKEN``,
``*_SECRET``, ``*_PASSWORD``, ...), read when a client opens and before every model call
and web search; and anything passed to :func:`register`. Values shorter than
:data:`MIN_LENGTH` characters (:data:`ENV_MIN_LENGTH` for environment variables) are not
treated as credentials.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import threading
from collections.abc import Mapping
from typing import Any

__all__ = [
    "ENV_MIN_LENGTH",
    "MIN_LENGTH",
    "REDACTED",
    "Redacted",
    "fingerprint",
    "is_credential_name",
    "known",
    "redact",
    "redact_value",
    "register",
    "register_env",
    "register_kwargs",
    "reveal",
    "secret_for",
]

REDACTED = "[redacted]"
MIN_LENGTH = 8
ENV_MIN_LENGTH = 16
"""Environment values are taken as credentials from this length (``POSTGRES_PASSWORD=postgres``
would otherwise redact every "postgres" in the journal); API keys are longer."""

_NAME = re.compile(
    r"(^|[_\-.])(api[_\-]?key|apikey|secret([_\-]?(access)?[_\-]?key)?|access[_\-]?key|"
    r"password|passwd|token|auth[_\-]?token|access[_\-]?token|refresh[_\-]?token|"
    r"bearer|authorization|credentials?|private[_\-]?key)$",
    re.IGNORECASE,
)
_ENV_SKIP = frozenset({"POLOS_JOURNAL", "JPY_SESSION_NAME"})

_lock = threading.Lock()
_by_value: dict[str, str] = {}  # credential -> fingerprint
_by_id: dict[str, str] = {}  # fingerprint -> credential
_forms: list[tuple[str, str]] = []  # (text as it may appear, replacement), longest first


class Redacted(str):
    """A journaled credential this process does not know: reads as ``"[redacted]"``."""

    secret_id: str

    def __new__(cls, secret_id: str) -> Redacted:
        value = super().__new__(cls, REDACTED)
        value.secret_id = secret_id
        return value


def fingerprint(value: str) -> str:
    """A short, stable id for a credential (not reversible into it)."""
    return hashlib.blake2b(value.encode("utf-8", "surrogatepass"), digest_size=6).hexdigest()


@functools.lru_cache(maxsize=4096)
def is_credential_name(name: str) -> bool:
    """Whether a keyword or variable name marks a credential (``api_key``, ``X_TOKEN``, ...).

    Remembered per name: every model call looks at every environment variable's name.
    """
    return bool(_NAME.search(name))


def register(value: Any, *, min_length: int = MIN_LENGTH) -> None:
    """Treat ``value`` (a string of at least :data:`MIN_LENGTH` characters) as a credential."""
    if not isinstance(value, str) or isinstance(value, Redacted) or len(value) < min_length:
        return
    with _lock:
        if value in _by_value:
            return
        fid = fingerprint(value)
        _by_value[value] = fid
        _by_id[fid] = value
        forms = {value, json.dumps(value)[1:-1], json.dumps(value, ensure_ascii=False)[1:-1]}
        _forms.extend((form, REDACTED) for form in forms if len(form) >= MIN_LENGTH)
        _forms.sort(key=lambda pair: -len(pair[0]))


def register_kwargs(kwargs: Mapping[str, Any]) -> None:
    """Register the credential-named entries of keyword arguments (``api_key=...``)."""
    for name, value in kwargs.items():
        if isinstance(name, str) and is_credential_name(name):
            if isinstance(value, str):
                register(value)
            elif isinstance(value, Mapping):
                register_kwargs(value)


_env_seen: dict[Any, Any] | None = None  # os.environ's raw entries when last registered


def register_env(environ: Mapping[str, str] | None = None) -> None:
    """Register the values of environment variables whose names mark a credential.

    Runs before every model call: for ``os.environ`` it does the work only when the
    environment changed since the last time (one dictionary comparison otherwise, where
    reading every variable decodes each name and value).
    """
    global _env_seen
    raw = getattr(os.environ, "_data", None) if environ is None else None
    if isinstance(raw, dict):
        if raw == _env_seen:
            return
        snapshot = dict(raw)
    env = os.environ if environ is None else environ
    for name, value in list(env.items()):
        if name not in _ENV_SKIP and is_credential_name(name):
            register(value, min_length=ENV_MIN_LENGTH)
    if isinstance(raw, dict):
        _env_seen = snapshot


def known() -> bool:
    """Whether any credential is registered (a fast check for the hot paths)."""
    return bool(_by_value)


def secret_for(value: str) -> str | None:
    """The fingerprint of ``value`` if it is a registered credential."""
    return _by_value.get(value)


def reveal(secret_id: str) -> str:
    """The credential with this fingerprint, or :class:`Redacted` if this process lacks it."""
    value = _by_id.get(secret_id)
    return value if value is not None else Redacted(secret_id)


def redact(text: str) -> str:
    """``text`` with every registered credential in it replaced by ``[redacted]``."""
    if not _forms or not text:
        return text
    for form, replacement in _forms:
        if form in text:
            text = text.replace(form, replacement)
    return text


def redact_value(value: Any) -> Any:
    """A copy of a JSON-like value with credentials redacted in every string (for display)."""
    if not _forms:
        return value
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, list):
        return [redact_value(v) for v in value]
    if isinstance(value, tuple):
        return tuple(redact_value(v) for v in value)
    if isinstance(value, dict):
        return {redact_value(k): redact_value(v) for k, v in value.items()}
    return value


register_env()

"""Where a human answers a suspension in a browser: the approval URL, in one place.

Every ``suspend_<key>`` event carries ``_approval_url`` (as upstream Polos's do):
``{base}/polos/approve/{root execution id}/{step key}``. The page behind it is served
by polos_nb's JupyterLab server extension (a later addition; until it ships the URL is
not served, and approvals are answered inline in the notebook or with
``polos_nb.approve``). ``base`` is, in this order:

1. ``$POLOS_APPROVAL_BASE_URL``;
2. what :func:`set_approval_base_url` recorded (the notebook layer records the Jupyter
   server's URL, base path included, when it knows it);
3. ``http://127.0.0.1:$POLOS_PORT`` (default port 8888: ``scripts/start.sh``'s server).
"""

from __future__ import annotations

import os
from urllib.parse import quote

__all__ = ["approval_base_url", "approval_url", "set_approval_base_url"]

_BASE: str | None = None


def set_approval_base_url(base: str | None) -> None:
    """Record the base URL approval links start with (``None`` forgets it)."""
    global _BASE
    _BASE = base.rstrip("/") if base else None


def approval_base_url() -> str:
    """The base URL approval links start with (see the module docs)."""
    env = os.environ.get("POLOS_APPROVAL_BASE_URL")
    if env:
        return env.rstrip("/")
    if _BASE:
        return _BASE
    return f"http://127.0.0.1:{os.environ.get('POLOS_PORT') or 8888}"


def approval_url(root_execution_id: str, step_key: str) -> str:
    """The page where a human answers suspension ``step_key`` of the run ``root_execution_id``."""
    return (
        f"{approval_base_url()}/polos/approve/"
        f"{quote(root_execution_id, safe='')}/{quote(step_key, safe='')}"
    )

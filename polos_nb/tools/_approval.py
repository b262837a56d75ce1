"""The approval answer a tool sees when it runs again after ``ApprovalRequired``."""

from __future__ import annotations

import contextvars
from typing import Any

__all__ = ["APPROVAL", "approval_granted"]

APPROVAL: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "polos_nb_approval", default=None
)


def approval_granted() -> dict[str, Any] | None:
    """Inside a tool: the approver's answer if this call was approved, else ``None``.

    A tool that raised :class:`ApprovalRequired` runs again once approved; check this
    first so it does not ask twice.
    """
    return APPROVAL.get()

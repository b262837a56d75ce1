"""The approval answer a tool sees when it runs again after ``ApprovalRequired``."""

from __future__ import annotations

import contextvars
from typing import Any

__all__ = ["APPROVAL", "approval_answer", "approval_granted"]

APPROVAL: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "polos_nb_approval", default=None
)


def approval_granted() -> dict[str, Any] | None:
    """Inside a tool: the approver's answer if this call was approved, else ``None``.

    A tool that raised :class:`ApprovalRequired` runs again once approved; check this
    first so it does not ask twice.
    """
    answer = APPROVAL.get()
    return answer if answer is not None and answer.get("approved") is True else None


def approval_answer() -> dict[str, Any] | None:
    """Inside a tool: the approver's answer, whatever it was, else ``None``.

    Only a tool that raised ``ApprovalRequired(..., tool_handles_answer=True)`` runs
    again after a rejection (to shape the result the model sees); it reads the answer,
    ``{"approved": bool, "always"/"allow_always": bool, "feedback": str, ...}``, here.
    """
    return APPROVAL.get()

"""Every message between the run widget's JavaScript and Python, as typed dicts.

Synced traits carry the state (see ``RunWidget``); custom messages carry the rest:

- kernel → frontend: :class:`DeltaMsg` (new streamed text, throttled).
- frontend → kernel: :class:`SubmitMsg` (an approval / form answer), :class:`CancelMsg`.

Validation happens in Python; its outcome comes back through the ``approvals`` trait
(``status`` and per-field ``errors``). ``static/run.js`` mirrors these shapes.
"""

from __future__ import annotations

from typing import Any, Literal, TypedDict

from polos_nb.contracts import ApprovalAnswer, FormSpec

__all__ = ["ApprovalEntry", "CancelMsg", "Decision", "DeltaMsg", "SubmitMsg"]

Decision = Literal["approve", "always", "reject", "submit"]


class DeltaMsg(TypedDict):
    kind: Literal["delta"]
    text: str


class SubmitMsg(TypedDict, total=False):
    """An answer from the form: ``data`` is the form's fields (for a yes/no approval an
    :class:`polos_nb.contracts.ApprovalAnswer` is built from ``decision``)."""

    kind: Literal["submit"]
    key: str
    decision: Decision
    data: dict[str, Any] | ApprovalAnswer


class CancelMsg(TypedDict):
    kind: Literal["cancel"]


class ApprovalEntry(FormSpec, total=False):
    """One suspension in the ``approvals`` trait: its form (``polos_nb.contracts.FormSpec``,
    one definition for Python and the widget) and where the answer stands."""

    execution_id: str
    workflow_id: str
    status: Literal[
        "pending",
        "sending",
        "invalid",
        "error",
        "approved",
        "approved_always",
        "rejected",
        "answered",
        "closed",
    ]
    errors: dict[str, str]
    answer: str | None  # the answer, as short text
    answer_data: dict[str, Any] | None  # the answer's fields: an answered form shows them

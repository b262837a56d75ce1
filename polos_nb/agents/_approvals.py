"""Approval requests for tool calls: the suspension key and the form, in one place.

Every approval an agent asks a human for goes through here: a tool with
``approval="always"``, and a tool (or a sandbox tool) that raises
``ApprovalRequired(data)``. The shape is upstream Polos's, so upstream approval loops
work unchanged:

- the suspension key is ``approve_<tool id>_<agent step>_<tool call id>`` (upstream:
  ``approve_<tool id>_<uuid>``), so its event type starts with ``suspend_approve_``;
- the data is ``{"_form": {"title", "description", "fields", "context": {"tool",
  "input", ...}}, "_source": "tool_approval", "_tool": <tool id>}``; the engine adds
  ``_approval_url``;
- the answer is ``{"approved": bool, "feedback"?: str}`` (``"always": true`` approves
  that tool for the rest of the run).

``ApprovalRequired(data)`` customises the request: ``data["_form"]`` (title,
description, fields, context) overrides the defaults field by field, ``data["_source"]``
names the source (e.g. ``"exec_security"``), other ``_``-keys are kept as they are, and
every other key joins the form's ``context``.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "APPROVAL_FIELDS",
    "approval_key",
    "approval_request",
    "legacy_approval_key",
    "rejection_message",
]

APPROVAL_FIELDS: list[dict[str, Any]] = [
    {
        "key": "approved",
        "type": "boolean",
        "label": "Approve this tool call?",
        "required": True,
        "default": False,
    },
    {
        "key": "feedback",
        "type": "textarea",
        "label": "Feedback for the agent (optional)",
        "description": "If rejecting, tell the agent what to do instead.",
        "required": False,
    },
]


def approval_key(tool_id: str, step: int, call_id: str) -> str:
    """The suspension key of the approval of one tool call."""
    return f"approve_{tool_id}_{step}_{call_id}"


def legacy_approval_key(step: int, call_id: str) -> str:
    """The key polos_nb used before it took upstream's (``approve:<step>:<call id>``).

    A journal written then may hold a run suspended under it; such a run resumes under
    its old key.
    """
    return f"approve:{step}:{call_id}"


def approval_request(
    tool_id: str, tool_input: Any, extra: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The suspension data asking a human to approve calling ``tool_id`` with ``tool_input``."""
    extra = dict(extra or {})
    custom_form = extra.pop("_form", None)
    source = extra.pop("_source", "tool_approval")
    specials = {k: v for k, v in extra.items() if k.startswith("_")}
    context_extra = {k: v for k, v in extra.items() if not k.startswith("_")}
    form: dict[str, Any] = {
        "title": f"Approve tool: {tool_id}",
        "description": f'The agent wants to use the "{tool_id}" tool.',
        "fields": [dict(f) for f in APPROVAL_FIELDS],
        "context": {"tool": tool_id, "input": tool_input, **context_extra},
    }
    if isinstance(custom_form, dict):
        for name, value in custom_form.items():
            if name == "context" and isinstance(value, dict):
                form["context"] = {**form["context"], **value}
            else:
                form[name] = value
    return {**specials, "_form": form, "_source": source, "_tool": tool_id}


def rejection_message(tool_id: str, answer: dict[str, Any]) -> str:
    """What the model is told when the human said no (upstream's wording)."""
    feedback = answer.get("feedback")
    message = f'Tool "{tool_id}" was rejected by the user.'
    return message + (f" Feedback: {feedback}" if feedback else "")

"""The channel interface: what a channel is told, and how.

A channel delivers "a run needs a person" somewhere a person will see it: a Slack
message, an e-mail, a webhook. Upstream Polos's names and shapes
(``Channel``, ``SuspendNotification``, ``ChannelContext``, ``ChannelOutputMode``), plus
one optional method of our own, :meth:`Channel.notify_answered`, so a message can say
the request was answered (from anywhere: Slack, the notebook, the approval page).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Literal

from pydantic import BaseModel, Field

__all__ = [
    "Channel",
    "ChannelContext",
    "ChannelOutputMode",
    "SuspendNotification",
    "notification_from_suspend",
]


class ChannelContext(BaseModel):
    """Where a run was started from, so its output and approvals go back there.

    Attributes:
        channel_id: the channel's id (``"slack"``).
        source: channel-specific place, e.g. ``{"channel": "C0123", "threadTs": "1700…",
            "user": "U0456"}`` for a Slack thread.
    """

    channel_id: str
    source: dict[str, Any] = Field(default_factory=dict)


ChannelOutputMode = Literal["per_step", "final", "none"]
"""How a run's output goes back to the channel it was started from.

- ``per_step``: tool calls, failed steps and the final result, as they happen;
- ``final``: only the final result;
- ``none``: nothing.
"""


class SuspendNotification(BaseModel):
    """What a channel is told when a run suspends for a person.

    Attributes:
        workflow_id, execution_id: the run tree's root workflow and execution.
        step_key: the suspension's key (answer with ``client.resume(None, execution_id,
            step_key, data)``).
        approval_url: the page where the form can be answered.
        title, description: from the suspension's ``_form`` (``_notify.message`` wins
            over the form's description).
        source: ``"tool_approval"``, ``"ask_user"``, … (``_source``).
        tool: the tool asking for approval (``_tool``).
        context: the form's read-only context (the tool's arguments, …).
        form_fields: the form's fields (``[{"key", "type", "label", …}]``).
        expires_at: when the suspension times out (ISO 8601), if it does.
        channel_overrides: ``_notify.<channel id>`` from the suspension data, merged with
            the originating thread for the channel a run was started from.
        channel_context: where the run was started from, if it was.
    """

    workflow_id: str
    execution_id: str
    step_key: str
    approval_url: str
    title: str | None = None
    description: str | None = None
    source: str | None = None
    tool: str | None = None
    context: dict[str, Any] | None = None
    form_fields: list[dict[str, Any]] | None = None
    expires_at: str | None = None
    channel_overrides: dict[str, Any] | None = None
    channel_context: ChannelContext | None = None

    @property
    def is_simple_approval(self) -> bool:
        """True when the form has a boolean ``approved`` field: buttons can answer it."""
        return any(
            isinstance(f, dict) and f.get("key") == "approved" and f.get("type") == "boolean"
            for f in self.form_fields or ()
        )


class Channel(ABC):
    """A notification channel. Subclass it for your own (Discord, SMS, a ticket system).

    ```python
    class Teams(Channel):
        id = "teams"

        async def notify(self, notification):
            await post_card(notification.title, notification.approval_url)
            return None
    ```

    Give channels to ``Polos(channels=[...])``, ``PolosClient(channels=[...])``,
    ``Worker(..., channels=[...])``, or to one workflow or agent (``channels=[...]``).
    When a run suspends, every channel that applies is notified concurrently; a channel
    that raises is logged and never fails the run.
    """

    @property
    @abstractmethod
    def id(self) -> str:
        """The channel's id (``"slack"``, ``"email"``, ``"webhook"``)."""

    @abstractmethod
    async def notify(self, notification: SuspendNotification) -> dict[str, Any] | None:
        """Tell a person that a run waits for them. Raise on failure.

        What it returns (e.g. a Slack message's channel and ``ts``) is journaled as the
        ``notification_meta_<key>`` event of the run and handed to
        :meth:`notify_answered` later. Never return secrets.
        """

    @property
    def output_mode(self) -> ChannelOutputMode | None:
        """How the output of runs started from this channel comes back (None: ``per_step``)."""
        return None

    async def send_output(self, context: ChannelContext, event: Any) -> None:  # noqa: B027
        """Send one output event of a run started from this channel back to ``context``."""

    async def notify_answered(  # noqa: B027
        self, meta: dict[str, Any], response: Any, answered_by: str | None = None
    ) -> None:
        """The suspension :meth:`notify` told about was answered (``response``).

        ``meta`` is what :meth:`notify` returned. Slack replaces its buttons with who
        answered what; the default does nothing.
        """


def notification_from_suspend(
    data: Any,
    *,
    root_workflow_id: str,
    root_execution_id: str,
    step_key: str,
    channel_context: dict[str, Any] | None = None,
) -> SuspendNotification:
    """Build the notification for a ``suspend_<key>`` event's data (upstream's conventions)."""
    record = data if isinstance(data, dict) else {}
    form = record.get("_form") if isinstance(record.get("_form"), dict) else {}
    notify = record.get("_notify") if isinstance(record.get("_notify"), dict) else {}
    assert isinstance(form, dict) and isinstance(notify, dict)
    fields = form.get("fields")
    context = form.get("context")
    expires = form.get("expiresAt") or form.get("expires_at")
    return SuspendNotification(
        workflow_id=root_workflow_id,
        execution_id=root_execution_id,
        step_key=step_key,
        approval_url=str(record.get("_approval_url") or ""),
        title=_str_or_none(form.get("title")),
        description=_str_or_none(notify.get("message") or form.get("description")),
        source=_str_or_none(record.get("_source")),
        tool=_str_or_none(record.get("_tool")),
        context=context if isinstance(context, dict) else None,
        form_fields=[f for f in fields if isinstance(f, dict)]
        if isinstance(fields, list)
        else None,
        expires_at=_str_or_none(expires),
        channel_context=ChannelContext.model_validate(channel_context) if channel_context else None,
    )


def _str_or_none(value: Any) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else str(value)

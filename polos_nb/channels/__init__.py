"""Channels: runs that need a person reach them — Slack, e-mail, a webhook.

```python
from polos_nb import Polos, SlackChannel, SlackChannelConfig
from polos_nb.channels import EmailChannel, EmailChannelConfig, WebhookChannel, WebhookChannelConfig

slack = SlackChannel(SlackChannelConfig(bot_token=os.environ["SLACK_BOT_TOKEN"],
                                        default_channel="C0123456789"))
async with Polos(channels=[slack]) as polos:       # or PolosClient(channels=...), Worker(...)
    ...                                            # or Agent(..., channels=[...]) / @workflow(channels=[...])
```

When a run suspends (a tool approval, ``ask_user``, ``ctx.step.suspend``), once the
suspension is journaled, every channel that applies is told, concurrently; a channel that
fails is logged and never fails the run. Slack messages carry Approve / Reject buttons
(for simple approvals) and the approval page's link; a click resumes the run through
Slack's signed request (:class:`SlackEndpoint`, served by polos_nb's Jupyter server
extension, or by :func:`serve_slack`). A Slack ``@mention`` starts
the named agent, once per Slack event, and its output and approvals go back to the
thread. As upstream, a ``SlackChannel`` is added from ``$SLACK_BOT_TOKEN`` when none is
configured. See docs/channels.md.
"""

from ._channel import (
    Channel,
    ChannelContext,
    ChannelOutputMode,
    SuspendNotification,
    notification_from_suspend,
)
from ._dispatch import ChannelDispatcher, dispatcher_for
from ._email import EmailChannel, EmailChannelConfig
from ._slack import SlackChannel, SlackChannelConfig, approval_blocks
from ._slack_http import HttpAnswer, SlackEndpoint, SlackServer, serve_slack
from ._slack_inbound import (
    SlackApproval,
    SlackMention,
    SlackRequestError,
    action_from_dict,
    apply_slack_action,
    parse_agent_mention,
    sign_slack_request,
    tell_clicker,
    verify_slack_signature,
)
from ._webhook import WebhookChannel, WebhookChannelConfig, webhook_signature

__all__ = [
    "Channel",
    "ChannelContext",
    "ChannelDispatcher",
    "ChannelOutputMode",
    "EmailChannel",
    "EmailChannelConfig",
    "HttpAnswer",
    "SlackApproval",
    "SlackChannel",
    "SlackChannelConfig",
    "SlackEndpoint",
    "SlackMention",
    "SlackRequestError",
    "SlackServer",
    "SuspendNotification",
    "WebhookChannel",
    "WebhookChannelConfig",
    "action_from_dict",
    "apply_slack_action",
    "approval_blocks",
    "dispatcher_for",
    "notification_from_suspend",
    "parse_agent_mention",
    "serve_slack",
    "sign_slack_request",
    "tell_clicker",
    "verify_slack_signature",
    "webhook_signature",
]

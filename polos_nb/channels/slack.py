"""Upstream's module path for the Slack channel.

The implementation lives in :mod:`polos_nb.channels`: ``SlackChannel`` and
``SlackChannelConfig`` are the same classes. ``SlackBlock`` names one Block Kit block
(a JSON object), for annotations. polos_nb talks to Slack through ``slack_sdk``; the
API's address is ``SlackChannelConfig(base_url=...)`` (or ``$SLACK_API_URL``), so
upstream's ``SLACK_POST_MESSAGE_URL`` is not offered.
"""

from typing import Any

from ._slack import SlackChannel, SlackChannelConfig

SlackBlock = dict[str, Any]

__all__ = ["SlackBlock", "SlackChannel", "SlackChannelConfig"]

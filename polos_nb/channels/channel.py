"""Upstream's module path for the channel base class and what a channel is told.

The implementation lives in :mod:`polos_nb.channels`; these are the same classes.
"""

from ._channel import Channel, ChannelContext, ChannelOutputMode, SuspendNotification

__all__ = ["Channel", "ChannelContext", "ChannelOutputMode", "SuspendNotification"]

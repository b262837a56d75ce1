"""Event topic names."""

from __future__ import annotations

from typing import Any

from polos_nb.errors import InvalidTopicError

__all__ = ["validate_topic"]

_TOPIC_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./:@#=")


def validate_topic(topic: Any) -> str:
    """Check an event topic: 1-255 characters from letters, digits and ``_-./:@#=``."""
    if not isinstance(topic, str) or not topic or len(topic) > 255:
        raise InvalidTopicError(
            f"An event topic must be a non-empty string of at most 255 characters (got {topic!r})."
        )
    bad = sorted(set(topic) - _TOPIC_CHARS)
    if bad:
        raise InvalidTopicError(
            f"Topic {topic!r} contains {''.join(bad)!r}; use letters, digits and _ - . / : @ # = "
            "(for example 'order/new' or 'warehouse.pickup/42')."
        )
    return topic

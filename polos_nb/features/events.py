"""``polos.features.events`` under its upstream path: the same as ``polos_nb.events``."""

from polos_nb.engine import BatchEventPayload, EventPayload
from polos_nb.engine.events import (
    EventData,
    StreamEvent,
    batch_publish,
    publish,
    read_topic,
    stream_topic,
    stream_workflow,
)

__all__ = [
    "BatchEventPayload",
    "EventData",
    "EventPayload",
    "StreamEvent",
    "batch_publish",
    "publish",
    "read_topic",
    "stream_topic",
    "stream_workflow",
]

"""``polos.agents.agent`` under its upstream path."""

from ._agent import Agent, AgentRunConfig
from ._stream import AgentStreamHandle, FullEventIterator, StreamResult, TextChunkIterator

__all__ = [
    "Agent",
    "AgentRunConfig",
    "AgentStreamHandle",
    "FullEventIterator",
    "StreamResult",
    "TextChunkIterator",
]

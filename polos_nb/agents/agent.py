"""``polos.agents.agent`` under its upstream path."""

from ._agent import Agent, AgentRunConfig
from ._stream import StreamResult

__all__ = ["Agent", "AgentRunConfig", "StreamResult"]

"""Conversation memory: the messages of earlier runs with the same ``conversation_id``.

Memory is kept per ``(agent id, conversation id)`` on the journal topic
``conversation/<agent id>/<conversation id>``. Each finished run appends one ``turn``
event holding its new messages (user prompt, assistant replies, tool calls *and* their
results), in the same transaction as the step that stores it; a run reads the topic
once, as a journaled step, so a replay sees the same history.

Compaction (``CompactionConfig``) folds the oldest whole turns into a summary when the
history grows past ``max_conversation_tokens`` (estimated as characters / 4). Folding
whole turns means a tool call is never separated from its result, and stored messages
are never rewritten: the summary is a separate ``compaction`` event.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from polos_nb.config import StrictConfig

__all__ = [
    "CompactionConfig",
    "conversation_topic",
    "estimate_tokens",
    "history_from_events",
    "summary_messages",
]

SUMMARY_PREFIX = "[Prior conversation summary]\n"
SUMMARY_ACK = "Understood, I have context from our earlier conversation."
COMPACTION_PROMPT = (
    "Summarise the conversation below for your own future reference. Keep facts, names, numbers, "
    "decisions, open questions and tool results that matter; drop pleasantries. Write plain prose."
)


class CompactionConfig(StrictConfig):
    """When and how to compact a long conversation history.

    Attributes:
        max_conversation_tokens: compact when the stored history is estimated above this.
        max_summary_tokens: the summary's size budget (passed to the model as max_tokens).
        min_recent_messages: at least this many most recent messages stay verbatim
            (rounded up to whole turns).
        enabled: ``False`` keeps the full history.

    A field given as ``None`` takes its default (as upstream, where ``None`` means "not
    set").
    """

    max_conversation_tokens: int = 80_000
    max_summary_tokens: int = 20_000
    min_recent_messages: int = 2
    enabled: bool = True

    def __init__(self, /, **data: Any) -> None:
        super().__init__(**{k: v for k, v in data.items() if v is not None})


_SAFE = re.compile(r"[^A-Za-z0-9_\-.:@=]")


def conversation_topic(agent_id: str, conversation_id: str) -> str:
    """The journal topic holding one agent's memory of one conversation.

    Ids made only of topic-safe characters appear as they are; any other id is shortened
    and followed by ``#`` and a hash of the whole id, so two agents (or conversations)
    whose ids differ only in characters a topic cannot hold never share a memory.
    """
    return f"conversation/{_part(agent_id, 80)}/{_part(conversation_id, 120)}"


def _part(value: str, limit: int) -> str:
    safe = _SAFE.sub("_", value)
    if safe == value and len(value) <= limit:
        return value
    digest = hashlib.blake2b(value.encode("utf-8", "surrogatepass"), digest_size=8).hexdigest()
    return safe[:60] + "#" + digest


def estimate_tokens(messages: list[dict[str, Any]]) -> int:
    """A cheap size estimate: JSON characters / 4."""
    return (len(json.dumps(messages, default=str)) + 3) // 4


def summary_messages(summary: str) -> list[dict[str, Any]]:
    """The user/assistant pair that carries a summary into the next model call."""
    return [
        {"role": "user", "content": SUMMARY_PREFIX + summary},
        {"role": "assistant", "content": SUMMARY_ACK},
    ]


def history_from_events(
    events: list[Any],
) -> tuple[str | None, list[tuple[int, list[dict[str, Any]]]]]:
    """From a conversation topic's events: the latest summary and the turns after it.

    Returns ``(summary, [(topic_seq, messages), ...])``.
    """
    summary: str | None = None
    through = 0
    turns: list[tuple[int, list[dict[str, Any]]]] = []
    for event in events:
        data = event.data if isinstance(event.data, dict) else {}
        if event.event_type == "compaction":
            summary = data.get("summary")
            through = int(data.get("through", 0))
        elif event.event_type == "turn":
            turns.append((int(event.sequence_id or 0), list(data.get("messages", []))))
    return summary, [(seq, msgs) for seq, msgs in turns if seq > through]


def split_for_compaction(
    turns: list[tuple[int, list[dict[str, Any]]]], config: CompactionConfig
) -> tuple[list[tuple[int, list[dict[str, Any]]]], list[tuple[int, list[dict[str, Any]]]]]:
    """Split whole turns into (to fold, to keep); keeps at least ``min_recent_messages``."""
    kept: list[tuple[int, list[dict[str, Any]]]] = []
    count = 0
    for turn in reversed(turns):
        if count >= max(config.min_recent_messages, 1):
            break
        kept.insert(0, turn)
        count += len(turn[1])
    fold = turns[: len(turns) - len(kept)]
    return fold, kept

"""The contracts between layers: step keys, event names and payloads, forms and answers.

What one layer writes and another reads is defined here once, typed, so the agent loop,
the notebook views, the widget (its JavaScript mirrors :class:`FormSpec` and
:class:`ApprovalAnswer` in ``polos_nb/widgets/_protocol.py``) and user code agree:

**Step keys** of an agent run (D19), built and parsed only with these functions:

- ``llm:<n>`` — the agent's n-th model call (``llm:<n>#retry<k>`` when a guardrail or the
  output schema asked again), ``llm:compact`` for a memory compaction;
- ``tool:<n>:<call id>:<tool name>`` — a tool call of step n (``#answer`` / ``#approved``
  when it runs again after an approval).

**Event names**: the engine's lifecycle events are ``<workflow type>_<start|finish|error|
cancel|...>`` on the tree topic, ``suspend_<key>`` / ``resume_<key>`` for suspensions, and
``step_start`` / ``step_finish`` for steps. Agents add the live events of
:data:`AGENT_EVENTS` (payloads: the ``*Data`` typed dicts).

**Forms and answers**: a suspension's data describes its form (see
``polos_nb.notebook._forms`` for the three ways); :class:`FormSpec` is the normalised form
the widget shows, :class:`ApprovalAnswer` the answer to a yes/no approval.

This module imports nothing from polos_nb: every layer may use it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Final, Literal, TypedDict

__all__ = [
    "AGENT_EVENTS",
    "AGENT_STEP_END",
    "AGENT_STEP_START",
    "COMPACT_STEP_KEY",
    "LLM_KEY_PREFIX",
    "RESUME_PREFIX",
    "STEP_FINISH",
    "STEP_START",
    "STREAM_START",
    "SUSPEND_PREFIX",
    "TEXT_DELTA",
    "TEXT_FINAL",
    "TOOL_CALL",
    "TOOL_CALL_FINISH",
    "TOOL_CALL_START",
    "AgentStepEndData",
    "ApprovalAnswer",
    "FormSpec",
    "StepKey",
    "StreamStartData",
    "TextDeltaData",
    "ToolCallFinishData",
    "ToolCallStartData",
    "llm_step_key",
    "parse_step_key",
    "resume_event",
    "resumed_key",
    "suspend_event",
    "suspended_key",
    "tool_step_key",
]

# ---------------------------------------------------------------------- step keys
LLM_KEY_PREFIX: Final = "llm:"
"""What every model-call step key starts with (compactions' included)."""

COMPACT_STEP_KEY: Final = "llm:compact"
"""The step key of a memory compaction's model call."""

ToolSuffix = Literal["", "answer", "approved"]

_LLM_KEY = re.compile(r"^llm:(\d+)(?:#retry(\d+))?$")
_TOOL_KEY = re.compile(r"^tool:(\d+):([^:#]*):([^#]*)(?:#(answer|approved))?$")


def llm_step_key(n: int, retry: int = 0) -> str:
    """The key of the agent's n-th model call (its ``retry``-th retry when > 0)."""
    return f"llm:{n}" + (f"#retry{retry}" if retry else "")


def tool_step_key(n: int, call_id: str, tool_name: str, suffix: ToolSuffix = "") -> str:
    """The key of one tool call of agent step ``n``.

    ``suffix`` is ``"answer"`` when a tool that handles its own approval answer runs again
    with it, ``"approved"`` when an approved call runs again.
    """
    return f"tool:{n}:{call_id}:{tool_name}" + (f"#{suffix}" if suffix else "")


@dataclass(frozen=True, slots=True)
class StepKey:
    """A step key taken apart. ``kind`` is ``"llm"``, ``"tool"`` or ``"other"``."""

    key: str
    kind: Literal["llm", "tool", "other"]
    step: int | None = None
    """The agent step (``n``) of an ``llm`` or ``tool`` key."""
    retry: int = 0
    """For ``llm`` keys: which retry of the call (0: the first attempt)."""
    call_id: str | None = None
    tool_name: str | None = None
    suffix: str = ""
    """For ``tool`` keys: ``""``, ``"answer"`` or ``"approved"``."""


def parse_step_key(key: str) -> StepKey:
    """Take a step key apart (any key: those that are not an agent's are ``other``)."""
    llm = _LLM_KEY.match(key)
    if llm:
        return StepKey(key, "llm", int(llm.group(1)), int(llm.group(2) or 0))
    tool = _TOOL_KEY.match(key)
    if tool:
        return StepKey(
            key,
            "tool",
            int(tool.group(1)),
            call_id=tool.group(2),
            tool_name=tool.group(3),
            suffix=tool.group(4) or "",
        )
    if key == COMPACT_STEP_KEY:
        return StepKey(key, "llm")
    return StepKey(key, "other")


# ---------------------------------------------------------------------- event names
STEP_START: Final = "step_start"
STEP_FINISH: Final = "step_finish"
SUSPEND_PREFIX: Final = "suspend_"
RESUME_PREFIX: Final = "resume_"

STREAM_START: Final = "stream_start"
TEXT_DELTA: Final = "text_delta"
TEXT_FINAL: Final = "text_final"
TOOL_CALL: Final = "tool_call"
TOOL_CALL_START: Final = "tool_call_start"
TOOL_CALL_FINISH: Final = "tool_call_finish"
AGENT_STEP_START: Final = "agent_step_start"
AGENT_STEP_END: Final = "agent_step_end"
AGENT_EVENTS: Final = frozenset(
    {
        STREAM_START,
        TEXT_DELTA,
        TEXT_FINAL,
        TOOL_CALL,
        TOOL_CALL_START,
        TOOL_CALL_FINISH,
        AGENT_STEP_START,
        AGENT_STEP_END,
    }
)
"""The events an agent run adds to its tree's stream."""


def suspend_event(key: str) -> str:
    """The event type announcing a suspension under ``key``."""
    return SUSPEND_PREFIX + key


def resume_event(key: str) -> str:
    """The event type of the answer to the suspension ``key``."""
    return RESUME_PREFIX + key


def suspended_key(event_type: str | None) -> str | None:
    """The suspension key of a ``suspend_<key>`` event, else None."""
    if event_type and event_type.startswith(SUSPEND_PREFIX):
        return event_type[len(SUSPEND_PREFIX) :]
    return None


def resumed_key(event_type: str | None) -> str | None:
    """The suspension key of a ``resume_<key>`` event, else None."""
    if event_type and event_type.startswith(RESUME_PREFIX):
        return event_type[len(RESUME_PREFIX) :]
    return None


class StreamStartData(TypedDict):
    """``stream_start``: a model call (``step``: its step key) starts streaming. A reader
    who starts watching while the call streams gets it first, marked ``replay``."""

    step: str
    attempt: int


class TextDeltaData(TypedDict, total=False):
    """``text_delta``: new text of the model call ``step``; ``replay`` when it catches a
    late reader up: rebuilt from the journal (``content`` is the call's whole text), or
    given to a reader who starts watching while the call streams (``content`` is the text
    streamed so far, ``chunk_index`` 0; the live deltas that follow continue it)."""

    step: str
    content: str
    chunk_index: int
    replay: bool


class ToolCallStartData(TypedDict):
    """``tool_call_start``: agent step ``step`` calls a tool."""

    step: int
    call_id: str
    name: str
    arguments: Any


class ToolCallFinishData(TypedDict):
    """``tool_call_finish``: the outcome of a tool call (``status``: completed | failed)."""

    step: int
    call_id: str
    name: str
    status: str
    result: Any
    error: str | None


class AgentStepEndData(TypedDict):
    """``agent_step_end``: agent step ``step`` ended; its model usage and tool call count."""

    step: int
    usage: dict[str, Any]
    tool_calls: int


# ---------------------------------------------------------------------- forms and answers
class FormSpec(TypedDict, total=False):
    """A suspension's form, normalised: what the widget renders and answers are checked by.

    ``schema`` is a JSON schema of the answer; ``approval`` marks a yes/no approval (its
    answer is an :class:`ApprovalAnswer`); ``tool`` / ``source`` say which tool asked and
    why (e.g. ``"tool_approval"``, ``"exec_security"``); ``key`` is the suspension key.
    """

    key: str
    title: str
    description: str
    context: Any
    schema: dict[str, Any]
    approval: bool
    tool: str | None
    source: str | None


class ApprovalAnswer(TypedDict, total=False):
    """The answer to a yes/no approval, as delivered to the waiting run.

    ``always`` approves the same tool for the rest of the run (upstream's
    ``allow_always`` is read too); ``feedback`` tells the agent what to do instead.
    """

    approved: bool
    feedback: str
    always: bool
    allow_always: bool

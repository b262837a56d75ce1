"""Agents: the LLM loop as a durable workflow, with tools, stop conditions, guardrails,
hooks, memory and streaming. Uses the engine only through ``polos_nb.engine``."""

from ._agent import Agent, AgentRunConfig
from ._results import AgentResult, AgentStep, StopConditionContext, ToolResult
from ._stream import AgentStreamHandle, StreamResult
from .guardrails import Guardrail, GuardrailContext, GuardrailResult, guardrail
from .hooks import AgentConfig, Hook, HookAction, HookContext, HookResult, hook
from .memory import CompactionConfig
from .stop_conditions import (
    ExecutedToolConfig,
    HasTextConfig,
    MaxStepsConfig,
    MaxTokensConfig,
    StopCondition,
    executed_tool,
    has_text,
    max_steps,
    max_tokens,
    stop_condition,
)

__all__ = [
    "Agent",
    "AgentConfig",
    "AgentResult",
    "AgentRunConfig",
    "AgentStep",
    "AgentStreamHandle",
    "CompactionConfig",
    "ExecutedToolConfig",
    "Guardrail",
    "GuardrailContext",
    "GuardrailResult",
    "HasTextConfig",
    "Hook",
    "HookAction",
    "HookContext",
    "HookResult",
    "MaxStepsConfig",
    "MaxTokensConfig",
    "StopCondition",
    "StopConditionContext",
    "StreamResult",
    "ToolResult",
    "executed_tool",
    "guardrail",
    "has_text",
    "hook",
    "max_steps",
    "max_tokens",
    "stop_condition",
]

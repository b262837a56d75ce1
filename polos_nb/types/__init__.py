"""Upstream Polos's ``polos.types`` path: the value types of agent runs.

``Step`` is upstream's name for :class:`polos_nb.AgentStep`.
"""

from .types import (
    AgentConfig,
    AgentResult,
    BatchStepResult,
    BatchWorkflowInput,
    Step,
    ToolCall,
    ToolCallFunction,
    ToolResult,
    Usage,
)

__all__ = [
    "AgentConfig",
    "AgentResult",
    "BatchStepResult",
    "BatchWorkflowInput",
    "Step",
    "ToolCall",
    "ToolCallFunction",
    "ToolResult",
    "Usage",
]

"""Upstream Polos's ``polos.types`` path: the value types of agent runs.

``Step`` is upstream's name for :class:`polos_nb.AgentStep`.
"""

from .types import (
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
    "AgentResult",
    "BatchStepResult",
    "BatchWorkflowInput",
    "Step",
    "ToolCall",
    "ToolCallFunction",
    "ToolResult",
    "Usage",
]

"""``polos.types.types`` under its upstream path (see ``polos_nb.types``)."""

from polos_nb.agents import AgentConfig, AgentResult, ToolResult
from polos_nb.agents import AgentStep as Step
from polos_nb.engine import BatchStepResult, BatchWorkflowInput
from polos_nb.llm import ToolCall, ToolCallFunction, Usage

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

"""``polos.tools.tool`` under its upstream path."""

from ._tool import Tool, ToolApproval, tool

__all__ = ["Tool", "ToolApproval", "tool"]

"""``polos.tools.tool`` under its upstream path."""

from polos_nb._aliases import callable_module

from ._tool import Tool, ToolApproval, tool

__all__ = ["Tool", "ToolApproval", "tool"]

callable_module(__name__, tool)  # `polos_nb.tools.tool` is the decorator too

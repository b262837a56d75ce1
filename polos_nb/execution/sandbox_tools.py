"""Upstream's module path for ``sandbox_tools``, the exec/read/write/edit/glob/grep tool set.

The implementation lives in :mod:`polos_nb.sandbox`; this is the same function.
"""

from polos_nb._aliases import callable_module
from polos_nb.sandbox import sandbox_tools

__all__ = ["sandbox_tools"]

callable_module(__name__, sandbox_tools)  # `polos_nb.execution.sandbox_tools` is the function too

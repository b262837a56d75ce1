"""Upstream's module paths that share their name with the function they hold.

Upstream has ``polos.tools.tool`` (a module) next to ``polos.tools``'s ``tool`` (the
decorator), and ``polos.execution.sandbox_tools`` next to the function of that name.
Importing such a module makes Python set the package's attribute to the module, so the
package's ``tool`` (and, for a package that takes its names from there, a later ``from
polos_nb.tools import tool``) would turn into a module that cannot be called, depending
only on what was imported first. :func:`callable_module` makes the module itself call the
function, so either object works wherever the function is expected.
"""

from __future__ import annotations

import sys
import types
from collections.abc import Callable
from typing import Any

__all__ = ["callable_module"]


def callable_module(module_name: str, function: Callable[..., Any]) -> None:
    """Make the module ``module_name`` (being imported) callable as ``function``."""

    class _CallableModule(types.ModuleType):
        def __call__(self, *args: Any, **kwargs: Any) -> Any:
            return function(*args, **kwargs)

    _CallableModule.__name__ = f"{function.__name__}_module"
    _CallableModule.__doc__ = function.__doc__
    sys.modules[module_name].__class__ = _CallableModule

"""Upstream Polos's ``polos.core`` paths (``core.step``, ``core.workflow``, ``core.context``,
``core.state``), for code that imports from them."""

from . import context, state, step, workflow

__all__ = ["context", "state", "step", "workflow"]

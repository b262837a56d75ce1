"""Control signals. They derive from BaseException so ``except Exception`` in workflow
code cannot swallow them (a swallowed suspension would silently break durability)."""

from __future__ import annotations

__all__ = ["Park"]


class Park(BaseException):
    """Unwinds a workflow that now waits (suspend, event, sleep, child). It is not an error:
    the execution's wait is journaled, and the function re-runs from the top when the
    wait is over, returning journaled step results until it reaches new work.

    If you catch ``BaseException`` in a workflow, re-raise this one.
    """

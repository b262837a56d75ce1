"""Upstream's module path for the base class of execution environments.

The implementation lives in :mod:`polos_nb.sandbox`; ``ExecutionEnvironment`` is the same
class that ``LocalEnvironment`` and ``DockerEnvironment`` derive from.
"""

from polos_nb.sandbox import ExecutionEnvironment

__all__ = ["ExecutionEnvironment"]

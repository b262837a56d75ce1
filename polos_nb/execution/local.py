"""Upstream's module path for the host (no container) execution environment.

The implementation lives in :mod:`polos_nb.sandbox`; ``LocalEnvironment`` is the same class.
"""

from polos_nb.sandbox import LocalEnvironment
from polos_nb.sandbox._environment import DEFAULT_TIMEOUT_SECONDS
from polos_nb.sandbox._output import DEFAULT_MAX_CHARS as DEFAULT_MAX_OUTPUT_CHARS

__all__ = ["DEFAULT_MAX_OUTPUT_CHARS", "DEFAULT_TIMEOUT_SECONDS", "LocalEnvironment"]

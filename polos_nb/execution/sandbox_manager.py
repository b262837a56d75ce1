"""Upstream's module path for the registry of live sandboxes.

The implementation lives in :mod:`polos_nb.sandbox`: ``SandboxManager`` and
``parse_duration`` are the same objects (``parse_duration`` also reads seconds, ``"90s"``
or a bare number, and raises ``UserError``, a ``ValueError``). The process-wide manager
is :func:`polos_nb.sandbox.get_sandbox_manager`.
"""

from polos_nb.sandbox import SandboxManager, parse_duration
from polos_nb.sandbox._sandbox import DEFAULT_IDLE_TIMEOUT

__all__ = ["DEFAULT_IDLE_TIMEOUT", "SandboxManager", "parse_duration"]

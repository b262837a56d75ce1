"""Upstream's module path for the command allowlist and path checks.

The implementation lives in :mod:`polos_nb.sandbox`: ``evaluate_allowlist`` and
``is_within_restriction`` are the same functions. polos_nb's ``evaluate_allowlist``
matches a command word by word and never lets a chained, piped, redirected or
substituted command fit a pattern (docs/sandbox.md).

Two adapters keep upstream's contract:

* ``assert_safe_path`` runs polos_nb's check and raises :class:`PathOutsideRestriction`,
  which is both polos_nb's ``SandboxPathError`` and the ``ValueError`` upstream code
  catches.
* ``match_glob`` matches a whole string against a pattern whose ``*`` stands for any
  characters; the allowlist does not use it.
"""

import re

from polos_nb.errors import SandboxPathError
from polos_nb.sandbox import assert_safe_path as _assert_safe_path
from polos_nb.sandbox import evaluate_allowlist, is_within_restriction


class PathOutsideRestriction(SandboxPathError, ValueError):
    """A path leads outside its restriction: a ``SandboxPathError`` and a ``ValueError``."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(path, f"path traversal: {reason}")
        self.reason = reason


def assert_safe_path(file_path: str, restriction: str) -> None:
    """Raise :class:`PathOutsideRestriction` if ``file_path`` leads outside ``restriction``.

    ``file_path`` is taken relative to ``restriction``; links are resolved, so a link
    pointing out of the directory is refused too. Catch it as ``ValueError`` (upstream's
    type) or as ``polos_nb.SandboxPathError``.
    """
    try:
        _assert_safe_path(file_path, restriction)
    except SandboxPathError as exc:
        raise PathOutsideRestriction(exc.path, exc.reason) from None


def match_glob(text: str, pattern: str) -> bool:
    """Whether all of ``text`` fits ``pattern``, where ``*`` is any run of characters.

    Every other character is literal: ``match_glob("npm test", "npm *")`` is true,
    ``match_glob("a.py", "*.js")`` false.
    """
    regex = ".*".join(re.escape(part) for part in pattern.split("*"))
    return re.fullmatch(regex, text, re.DOTALL) is not None


__all__ = [
    "PathOutsideRestriction",
    "assert_safe_path",
    "evaluate_allowlist",
    "is_within_restriction",
    "match_glob",
]

"""Upstream's module path for the helpers that tidy command output.

The implementation lives in :mod:`polos_nb.sandbox`; these are the same functions.
"""

from polos_nb.sandbox._output import (
    DEFAULT_MAX_CHARS,
    HEAD_RATIO,
    is_binary,
    parse_grep_output,
    strip_ansi,
    truncate_output,
)

__all__ = [
    "DEFAULT_MAX_CHARS",
    "HEAD_RATIO",
    "is_binary",
    "parse_grep_output",
    "strip_ansi",
    "truncate_output",
]

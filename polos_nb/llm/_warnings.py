"""Library warnings never fail a model call.

litellm, pydantic and the provider SDKs emit warnings of their own at odd moments (a
lazily imported module whose ``TypedDict`` pydantic dislikes, a deprecated parameter).
Under warnings-as-errors (``-W error``, pytest's ``filterwarnings = error``) such a
warning raised inside a call would fail the call, and a failed import inside litellm
would fail every later call too. While a model call runs, warnings are therefore shown
(Python's ``"default"`` action: once per location) and never raised.

The filter list is process-global, so the filter is installed by the first call in
flight and removed by the last, under a lock: parallel calls (``asyncio.gather`` on the
engine's loop, several engines on their threads) cannot leave it behind or remove it
early.
"""

from __future__ import annotations

import re
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, cast

__all__ = ["library_warnings_shown"]

_LOCK = threading.Lock()
_DEPTH = 0
_ENTRY: tuple[object, ...] | None = None
_QUIET: tuple[object, ...] | None = None
# pydantic notes, on litellm's first call, that some of litellm's own TypedDicts use
# ReadOnly: nothing a user can act on, and shown it would land in whatever cell runs.
NOISE = (
    "ignore",
    re.compile(r".*TypedDict class .* using the `ReadOnly` qualifier", re.I),
    UserWarning,
    re.compile(r"pydantic\."),
    0,
)


def _filters() -> list[Any]:
    # typeshed declares ``warnings.filters`` a read-only Sequence; at run time it is the
    # module's list, edited in place here on purpose. Read it each time: catch_warnings
    # swaps the list object on exit.
    return cast("list[Any]", warnings.filters)


@contextmanager
def library_warnings_shown() -> Iterator[None]:
    """Inside this block, every warning is shown (once per location) and none is raised."""
    global _DEPTH, _ENTRY, _QUIET
    with _LOCK:
        if _DEPTH == 0:
            # Inserted directly: filterwarnings() would move an equal entry the user
            # configured to the front, and removing "ours" would then drop theirs.
            _ENTRY = ("default", None, Warning, None, 0)
            _QUIET = tuple(NOISE)  # a fresh tuple: removed by identity, as _ENTRY
            _filters().insert(0, _ENTRY)
            _filters().insert(0, _QUIET)
            warnings._filters_mutated()  # type: ignore[attr-defined]
        _DEPTH += 1
    try:
        yield
    finally:
        with _LOCK:
            _DEPTH -= 1
            if _DEPTH == 0 and _ENTRY is not None:
                # Remove only our entry (by identity: an equal one may be the user's);
                # filters added meanwhile by others stay. If a catch_warnings block that
                # began earlier has restored the list already, ours is gone with it.
                filters = _filters()
                for ours in (_ENTRY, _QUIET):
                    for i, entry in enumerate(filters):
                        if entry is ours:
                            del filters[i]
                            warnings._filters_mutated()  # type: ignore[attr-defined]
                            break
                _ENTRY = _QUIET = None

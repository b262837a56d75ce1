"""Errors in the journal: the names they are written under and how replay rebuilds them.

A journaled error (a failed step's ``error`` column, a failed execution's ``error``) is a
JSON object. ``type`` is the dotted ``module.Qualname`` of the exception, shown to people;
``class`` is its stable journal name (the scheme of ``polos_nb._journal_names``): a class of
polos_nb by its public path (``polos_nb.errors:WaitTimeoutError``), any other class by its
``module:Qualname``. Replay rebuilds an error from the exact ``class`` through
:data:`STEP_ERRORS`, so a user's class that happens to share a name with one of ours
(``myapp.errors:WaitTimeoutError``) stays the user's error.

Journals written before the ``class`` key existed hold only ``type``; those rows are
rebuilt by the name matching those journals were written for (:func:`_legacy_class`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from polos_nb import _serde
from polos_nb.errors import (
    ChildWorkflowError,
    ExecutionCancelledError,
    ExecutionFailedError,
    StepExecutionError,
    StepTimeoutError,
    WaitTimeoutError,
)

__all__ = [
    "ATTEMPT_TIMEOUT",
    "STEP_ERRORS",
    "error_class_name",
    "error_names",
    "execution_error",
    "fix_error_name",
    "step_error",
]


ATTEMPT_TIMEOUT = "polos_nb.engine:StepAttemptTimeout"
"""The stable journal name of an attempt that ran past its ``timeout=``: the engine's
private ``_AttemptTimeout`` (``_context``) has no public path, so it is named here."""

_FIXED_NAMES: dict[type, str] = {}


def fix_error_name(cls: type, name: str) -> None:
    """Journal the private exception class ``cls`` under the fixed stable ``name``."""
    _FIXED_NAMES[cls] = name


def error_class_name(cls: type) -> str:
    """The stable journal name of an exception class (the ``class`` key of a journaled error)."""
    return _FIXED_NAMES.get(cls) or _serde.qualified_name(cls)


def error_names(cls: type) -> dict[str, str]:
    """The ``type`` (shown) and ``class`` (rebuilt from) keys of a journaled error of ``cls``."""
    return {"type": f"{cls.__module__}.{cls.__qualname__}", "class": error_class_name(cls)}


# A failed step's journaled error -> the exception its replay raises. Keyed by exact stable
# names; a class not listed here is rebuilt as StepExecutionError / ChildWorkflowError naming it.
_StepRebuild = Callable[[dict[str, Any], str, str, str], BaseException]

STEP_ERRORS: dict[str, _StepRebuild] = {
    error_class_name(WaitTimeoutError): lambda info, key, _kind, _exec_id: WaitTimeoutError(
        info.get("what", key), info.get("deadline", "?")
    ),
    error_class_name(ExecutionCancelledError): lambda info, _key, _kind, exec_id: (
        ExecutionCancelledError(info.get("execution_id", exec_id))
    ),
}
"""Stable error names replay rebuilds as that very class (checked before the step's kind)."""


def _legacy_class(etype: str) -> str | None:
    # Rows written before errors carried ``class``: the suffix matching they were written for.
    if etype.endswith("WaitTimeoutError"):
        return error_class_name(WaitTimeoutError)
    if etype.endswith("ExecutionCancelledError"):
        return error_class_name(ExecutionCancelledError)
    if etype.endswith("_AttemptTimeout"):
        return ATTEMPT_TIMEOUT
    return None


def _class_of(info: dict[str, Any], etype: str) -> str | None:
    name = info.get("class")
    return name if isinstance(name, str) else _legacy_class(etype)


def step_error(error: str | None, key: str, kind: str, execution_id: str) -> BaseException:
    """The exception a replayed failed step raises, from its journaled ``error`` text."""
    loaded = _serde.loads(error) if error else {}
    info: dict[str, Any] = loaded if isinstance(loaded, dict) else {}
    etype = str(info.get("type", "Exception"))
    message = str(info.get("message", ""))
    name = _class_of(info, etype)
    rebuild = STEP_ERRORS.get(name) if name is not None else None
    if rebuild is not None:
        return rebuild(info, key, kind, execution_id)
    if kind == "invoke_wait":
        return ChildWorkflowError(key, etype, message)
    if name == ATTEMPT_TIMEOUT:
        return StepTimeoutError(key, etype, message)
    return StepExecutionError(key, etype, message)


def execution_error(execution_id: str, error: Any) -> BaseException:
    """The exception a failed execution's outcome raises, from its journaled error."""
    if not isinstance(error, dict):
        return ExecutionFailedError(execution_id, "Error", str(error or ""))
    etype = str(error.get("type", "Error"))
    if _class_of(error, etype) == error_class_name(WaitTimeoutError):
        return WaitTimeoutError(
            error.get("what", f"Execution {execution_id}"), error.get("deadline", "?")
        )
    return ExecutionFailedError(execution_id, etype, str(error.get("message", "")))

"""Where the journal lives, and the base of every configuration model.

Resolution order for the journal path:

1. ``PolosClient(journal=PATH)``;
2. the ``POLOS_JOURNAL`` environment variable;
3. inside a Jupyter kernel whose notebook is known (``JPY_SESSION_NAME``, set by
   jupyter-server): ``<notebook dir>/.polos/<notebook name>.duckdb`` — one journal per
   notebook, so two open notebooks never fight over one file;
4. otherwise ``./.polos/journal.duckdb`` in the current directory.

``":memory:"`` gives a journal that lives only as long as the process (no durability).
A ``postgresql://user[:password]@host:port/database`` URL (or ``postgres://``) selects a
PostgreSQL journal instead of a DuckDB file (docs/postgres.md); its password is never
shown (:func:`redact_url`).
"""

from __future__ import annotations

import difflib
import os
import re
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from polos_nb.errors import UserError

__all__ = ["MEMORY", "StrictConfig", "is_postgres_url", "redact_url", "resolve_journal_path"]

MEMORY = ":memory:"
POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def is_postgres_url(journal: object) -> bool:
    """Whether ``journal`` is a PostgreSQL connection URL (``postgresql://`` or ``postgres://``)."""
    return isinstance(journal, str) and journal.strip().lower().startswith(POSTGRES_SCHEMES)


def redact_url(url: str) -> str:
    """``url`` with its password (and any ``password=`` parameter) replaced by ``***``."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    authority, slash, tail = rest.partition("/")
    if "@" in authority:
        userinfo, _, host = authority.rpartition("@")
        if ":" in userinfo:
            userinfo = userinfo.split(":", 1)[0] + ":***"
        authority = f"{userinfo}@{host}"
    tail = re.sub(r"(?i)(password=)[^&]*", r"\1***", tail)
    return f"{scheme}{sep}{authority}{slash}{tail}"


def resolve_journal_path(journal: str | os.PathLike[str] | None = None) -> str:
    """Return the absolute journal path (``":memory:"``, or a PostgreSQL URL) by the rules above."""
    if journal is None:
        journal = os.environ.get("POLOS_JOURNAL") or None
    if journal is None:
        notebook = os.environ.get("JPY_SESSION_NAME", "")
        if notebook.endswith(".ipynb"):
            nb = Path(notebook)
            journal = nb.parent / ".polos" / f"{nb.stem}.duckdb"
        else:
            journal = Path.cwd() / ".polos" / "journal.duckdb"
    text = os.fspath(journal)
    if text == MEMORY:
        return MEMORY
    if not text.strip():
        raise UserError("The journal path is empty; give a file path such as 'notes.duckdb'.")
    if is_postgres_url(text):
        return text.strip()
    if "://" in text:
        raise UserError(
            f"The journal {redact_url(text)!r} is a URL polos_nb cannot use: a journal is a "
            "DuckDB file path, ':memory:', or a PostgreSQL URL "
            "('postgresql://user@host:5432/database')."
        )
    return str(Path(text).expanduser().resolve())


class StrictConfig(BaseModel):
    """Base of polos_nb's configuration models (``MaxStepsConfig``, ``CompactionConfig`` …).

    An unknown field raises at construction (``UserError`` naming it and the known ones)
    instead of being ignored, so a misspelt option never silently becomes a default.
    ``_aliases`` maps other accepted names (e.g. upstream's) to a field.
    """

    model_config = ConfigDict(extra="forbid")
    _aliases: ClassVar[dict[str, str]] = {}

    def __init__(self, /, **data: Any) -> None:
        data = self._apply_aliases(data)
        known = set(type(self).model_fields)
        unknown = sorted(set(data) - known)
        if unknown:
            hints = []
            for name in unknown:
                close = difflib.get_close_matches(name, sorted(known | set(self._aliases)), 1)
                hints.append(f"{name!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
            accepted = sorted(known | set(self._aliases))
            raise UserError(
                f"{type(self).__name__} has no field {', '.join(hints)}; "
                f"its fields are: {', '.join(accepted)}."
            )
        super().__init__(**data)

    @classmethod
    def _apply_aliases(cls, data: dict[str, Any]) -> dict[str, Any]:
        if not cls._aliases or not any(k in data for k in cls._aliases):
            return data
        out = dict(data)
        for alias, field in cls._aliases.items():
            if alias in out:
                if field in out:
                    raise UserError(
                        f"{cls.__name__}: give {field!r} or {alias!r} (the same setting), not both."
                    )
                out[field] = out.pop(alias)
        return out

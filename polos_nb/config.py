"""Where the journal lives.

Resolution order for the journal path:

1. ``PolosClient(journal=PATH)``;
2. the ``POLOS_JOURNAL`` environment variable;
3. inside a Jupyter kernel whose notebook is known (``JPY_SESSION_NAME``, set by
   jupyter-server): ``<notebook dir>/.polos/<notebook name>.duckdb`` — one journal per
   notebook, so two open notebooks never fight over one file;
4. otherwise ``./.polos/journal.duckdb`` in the current directory.

``":memory:"`` gives a journal that lives only as long as the process (no durability).
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["MEMORY", "resolve_journal_path"]

MEMORY = ":memory:"


def resolve_journal_path(journal: str | os.PathLike[str] | None = None) -> str:
    """Return the absolute journal path (or ``":memory:"``) by the rules above."""
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
    return str(Path(text).expanduser().resolve())

"""The journal: where executions, steps, events and waits are recorded.

``DuckDBJournal`` is the storage; the table layout is documented in
``polos_nb.engine.journal._migrations``.
"""

from ._duckdb import DuckDBJournal, Insert, Sql, Update
from ._migrations import SCHEMA_VERSION

__all__ = ["SCHEMA_VERSION", "DuckDBJournal", "Insert", "Sql", "Update"]

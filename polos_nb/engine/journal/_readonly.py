"""Which SQL a user may run over the journal: statements that only read, decided by DuckDB.

The journal is written by the engine alone: a row deleted by hand makes a completed step
run again (a card charged twice). So ``%polos sql`` / ``polos_nb.notebook.sql`` accept a
text only if DuckDB's own parser says that every statement in it is a query (``SELECT``,
``WITH``, ``FROM``-first, ``VALUES``, ``TABLE``, ``DESCRIBE``, ``SHOW``, ``SUMMARIZE``, a
``PIVOT``/``UNPIVOT``) or an ``EXPLAIN`` of one. Everything else is refused before it runs,
with the statement and the reason named. The accepted text then runs in a read-only
transaction, on its own connection and thread (see ``DuckDBJournal.query``), so DuckDB
itself refuses any write that a query might still attempt.
"""

from __future__ import annotations

from typing import Any

from polos_nb.errors import UserError

__all__ = ["check_read_only"]

_WHY = {
    "INSERT": "adds rows to the journal",
    "UPDATE": "changes journal rows",
    "DELETE": "deletes journal rows (a deleted step would run again)",
    "CREATE": "creates tables, views or other objects",
    "CREATE_FUNC": "creates a function",
    "DROP": "drops tables or other objects",
    "ALTER": "changes the journal's tables",
    "COPY": "reads or writes files outside the journal",
    "COPY_DATABASE": "copies a database",
    "EXPORT": "writes files outside the journal",
    "ATTACH": "opens another database file",
    "DETACH": "closes a database",
    "LOAD": "installs or loads a DuckDB extension (nothing is downloaded here)",
    "EXTENSION": "manages DuckDB extensions",
    "PRAGMA": "may change settings (read them with SELECT * FROM duckdb_settings(), "
    "or use SHOW TABLES / DESCRIBE t)",
    "SET": "changes settings",
    "VARIABLE_SET": "sets a variable",
    "TRANSACTION": "controls transactions",
    "CALL": "runs a procedure (for table functions use SELECT * FROM f(...))",
    "VACUUM": "rewrites storage",
    "ANALYZE": "rewrites statistics",
    "PREPARE": "prepares a statement",
    "EXECUTE": "runs a prepared statement",
    "MULTI": "runs several statements (write the query out as SELECT ... instead)",
    "MERGE_INTO": "changes journal rows",
}

_HELP = (
    "%polos sql is read-only: it runs statements that only read (SELECT, WITH, FROM, VALUES, "
    "TABLE, DESCRIBE, SHOW, SUMMARIZE, EXPLAIN). The journal is written only by the engine."
)


def _type_name(statement: Any) -> str:
    return str(statement.type).rsplit(".", 1)[-1]


def _excerpt(text: str, limit: int = 80) -> str:
    one = " ".join(text.split())
    return one if len(one) <= limit else one[: limit - 1] + "…"


def check_read_only(sql: str) -> int:
    """Raise :class:`UserError` unless every statement in ``sql`` only reads; return their count."""
    import duckdb

    if not sql or not sql.strip():
        raise UserError(
            "%polos sql needs a query, e.g. "
            "%polos sql SELECT status, count(*) FROM executions GROUP BY 1"
        )
    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error as exc:
        raise UserError(f"SQL error: {str(exc).strip()}") from None
    if not statements:
        raise UserError("%polos sql found no statement in the text (only comments?).")
    for number, statement in enumerate(statements, 1):
        kind = _type_name(statement)
        where = f"statement {number} (`{_excerpt(statement.query)}`)"
        if kind == "SELECT":
            continue
        if kind == "EXPLAIN":
            inner = _explained(statement.query)
            if inner == "SELECT":
                continue
            raise UserError(
                f"{_HELP} Refused {where}: it explains a {inner} statement, and EXPLAIN ANALYZE "
                "would run it; explain a query instead."
            )
        why = _WHY.get(kind, "is not a query")
        raise UserError(f"{_HELP} Refused {where}: a {kind} statement {why}.")
    return len(statements)


def _explained(text: str) -> str:
    """The statement type an ``EXPLAIN [ANALYZE] [(options)] ...`` statement explains."""
    import duckdb

    tokens = duckdb.tokenize(text)
    i = 0
    keyword = duckdb.token_type.keyword
    if i < len(tokens) and tokens[i][1] == keyword and _word(text, tokens, i) == "explain":
        i += 1
    if (
        i < len(tokens)
        and tokens[i][1] == keyword
        and _word(text, tokens, i)
        in (
            "analyze",
            "analyse",
        )
    ):
        i += 1
    if i < len(tokens) and _word(text, tokens, i) == "(":  # EXPLAIN (FORMAT json, ...) stmt
        depth = 0
        while i < len(tokens):
            word = _word(text, tokens, i)
            depth += word.count("(") - word.count(")")
            i += 1
            if depth <= 0:
                break
    if i >= len(tokens):
        return "missing"
    rest = text[tokens[i][0] :]
    try:
        inner = duckdb.extract_statements(rest)
    except duckdb.Error:
        return "unparsable"
    if len(inner) != 1:
        return "multi-statement"
    return _type_name(inner[0])


def _word(text: str, tokens: list[Any], i: int) -> str:
    start = tokens[i][0]
    end = tokens[i + 1][0] if i + 1 < len(tokens) else len(text)
    return text[start:end].strip().lower()

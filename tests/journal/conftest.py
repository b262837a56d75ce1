"""The conformance suite's backends: each test runs once per journal backend."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from polos_nb.engine import get_all_workflows, unregister_workflow

from .test_postgres_restart import private_server  # noqa: F401  (a private server, restartable)


@pytest.fixture(params=["duckdb", "postgres"])
def journal_location(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh journal: a DuckDB file, or a PostgreSQL database on the test server."""
    if request.param == "duckdb":
        return str(tmp_path / "journal.duckdb")
    return str(request.getfixturevalue("postgres_db"))


@pytest.fixture(autouse=True)
def _forget_new_workflows() -> Iterator[None]:
    before = set(get_all_workflows())
    yield
    for workflow_id in set(get_all_workflows()) - before:
        if workflow_id != "conformance_killed":
            unregister_workflow(workflow_id)

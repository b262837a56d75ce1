"""Journal URLs: a PostgreSQL URL is recognised (never a DuckDB file named `postgresql:`),
other URLs are refused with a clear error, and passwords are never shown."""

from __future__ import annotations

from pathlib import Path

import pytest

from polos_nb import Polos, PolosClient
from polos_nb.config import is_postgres_url, redact_url, resolve_journal_path
from polos_nb.errors import JournalError, UserError

URL = "postgresql://alice:s3cret-pw@127.0.0.1:1/polos"


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("POLOS_JOURNAL", raising=False)
    return tmp_path


def _nothing_written(tmp_path: Path) -> None:
    assert list(tmp_path.iterdir()) == [], "a URL must never become a journal file"


def test_postgres_urls_are_recognised() -> None:
    assert is_postgres_url(URL)
    assert is_postgres_url("postgres://db.example/polos")
    assert is_postgres_url(" POSTGRESQL://h/db")
    assert not is_postgres_url("journal.duckdb")
    assert not is_postgres_url(Path("postgresql:"))
    assert resolve_journal_path(URL) == URL


def test_redact_url_hides_passwords() -> None:
    assert redact_url(URL) == "postgresql://alice:***@127.0.0.1:1/polos"
    assert (
        redact_url("postgresql://h/db?sslmode=require&password=hunter2")
        == "postgresql://h/db?sslmode=require&password=***"
    )
    assert redact_url("postgresql://bob@h:5432/db") == "postgresql://bob@h:5432/db"


@pytest.mark.parametrize("how", ["argument", "environment", "polos"])
def test_a_postgres_journal_is_a_clear_error_until_supported(
    how: str, _in_tmp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(JournalError) as err:
        if how == "argument":
            PolosClient(journal=URL)
        elif how == "environment":
            monkeypatch.setenv("POLOS_JOURNAL", URL)
            PolosClient()
        else:
            Polos(journal=URL)
    message = str(err.value)
    assert "PostgreSQL" in message and "docs/postgres.md" in message
    assert "s3cret-pw" not in message and "alice:***@127.0.0.1:1/polos" in message
    _nothing_written(_in_tmp)


def test_other_urls_are_refused(_in_tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POLOS_JOURNAL", "sqlite://user:pw@x/journal.db")
    with pytest.raises(UserError, match="cannot use") as err:
        PolosClient()
    assert "pw@" not in str(err.value)
    _nothing_written(_in_tmp)


def test_an_http_url_is_still_upstreams_api_url(_in_tmp: Path) -> None:
    c = PolosClient("http://localhost:8080")
    try:
        assert c.api_url == "http://localhost:8080"
        assert c.journal_path == str(_in_tmp / ".polos" / "journal.duckdb")
    finally:
        c.close()

"""Shared fixtures: every test gets its own journal file and, where it asks, a fake clock."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from polos_nb import PolosClient
from polos_nb.testing import FakeClock


@pytest.fixture
def journal_path(tmp_path: Path) -> Path:
    return tmp_path / "journal.duckdb"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def client(journal_path: Path) -> Iterator[PolosClient]:
    c = PolosClient(journal=journal_path)
    yield c
    c.close()


@pytest.fixture
def fake_client(journal_path: Path, clock: FakeClock) -> Iterator[PolosClient]:
    c = PolosClient(journal=journal_path, clock=clock)
    yield c
    c.close()


@pytest.fixture(autouse=True)
def _no_network_models(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test may call a real model provider: network model requests raise
    ``ModelRequestBlockedError`` (the fakes and the local model are not affected)."""
    monkeypatch.setenv("POLOS_NB_ALLOW_MODEL_REQUESTS", "0")


def _postgres_server_url() -> str | None:
    """The test server's URL: $POLOS_TEST_POSTGRES_URL, else what scripts/setup_postgres.sh wrote."""
    url = os.environ.get("POLOS_TEST_POSTGRES_URL")
    if url:
        return url
    env = Path(__file__).resolve().parents[1] / ".cache" / "postgres.env"
    if env.exists():
        for line in env.read_text().splitlines():
            key, _, value = line.partition("=")
            if key == "POLOS_TEST_POSTGRES_URL" and value:
                return value
    return None


def _no_postgres(reason: str) -> None:
    message = f"{reason} Start one with `bash scripts/setup_postgres.sh` (scripts/test.sh does)."
    if os.environ.get("CI"):
        pytest.fail(f"CI must run the PostgreSQL tests: {message}")
    pytest.skip(message)


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """The URL of the PostgreSQL server the tests use (fails in CI, skips elsewhere, without one)."""
    url = _postgres_server_url()
    if url is None:
        _no_postgres("No PostgreSQL server for the tests (POLOS_TEST_POSTGRES_URL is unset).")
    assert url is not None
    import psycopg

    try:
        with psycopg.connect(url, connect_timeout=10) as conn:
            conn.execute("SELECT 1")
    except psycopg.OperationalError as exc:
        _no_postgres(f"The PostgreSQL server at {url} does not answer ({exc}).")
    return url


@pytest.fixture
def postgres_db(postgres_url: str) -> Iterator[str]:
    """A fresh, empty database on the test server for one test; its URL. Dropped afterwards."""
    import psycopg

    name = f"polos_test_{os.getpid()}_{os.urandom(4).hex()}"
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base, _, _ = postgres_url.rpartition("/")
    yield f"{base}/{name}"
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

"""Journal URLs: a PostgreSQL URL opens a PostgreSQL journal (never a DuckDB file named
`postgresql:`), from PolosClient(journal=...), POLOS_JOURNAL and Polos(journal=...); other
URLs are refused with a clear error, and passwords are never shown."""

from __future__ import annotations

import socket
import uuid
from pathlib import Path

import pytest

from polos_nb import Polos, PolosClient, WorkflowContext, workflow
from polos_nb.config import is_postgres_url, redact_url, resolve_journal_path
from polos_nb.engine import unregister_workflow
from polos_nb.errors import JournalUnavailableError, UserError

URL = "postgresql://alice:s3cret-pw@127.0.0.1:1/polos"


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("POLOS_JOURNAL", raising=False)
    return tmp_path


def _nothing_written(tmp_path: Path) -> None:
    assert list(tmp_path.iterdir()) == [], "a URL must never become a journal file"


def _with_password(url: str, password: str) -> str:
    scheme, rest = url.split("://", 1)
    user, host = rest.split("@", 1)
    return f"{scheme}://{user}:{password}@{host}"


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
async def test_a_postgres_url_opens_a_postgres_journal(
    how: str, postgres_db: str, _in_tmp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wf_id = f"url_{how}_{uuid.uuid4().hex[:8]}"

    @workflow(id=wf_id)
    async def flow(ctx: WorkflowContext) -> str:
        return await ctx.step.run("hello", lambda: "hi")

    url = _with_password(postgres_db, "s3cret-pw")  # trust auth: any password is accepted
    if how == "argument":
        client = PolosClient(journal=url)
    elif how == "environment":
        monkeypatch.setenv("POLOS_JOURNAL", url)
        client = PolosClient()
    else:
        client = Polos(journal=url)
    try:
        assert "s3cret-pw" not in repr(client) and ":***@" in repr(client)
        assert await flow.run(client, timeout=30) == "hi"
        (info,) = client.runtime.journal.list_infos(workflow_id=wf_id).result()
        assert info.status == "completed"
    finally:
        client.close()
        unregister_workflow(wf_id)
    _nothing_written(_in_tmp)


def test_an_unreachable_server_is_a_clear_error_without_the_password(_in_tmp: Path) -> None:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(JournalUnavailableError) as err:
        PolosClient(journal=f"postgresql://alice:s3cret-pw@127.0.0.1:{port}/polos")
    message = str(err.value)
    assert "s3cret-pw" not in message and "alice:***@" in message
    assert "server" in message
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

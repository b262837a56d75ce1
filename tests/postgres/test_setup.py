"""scripts/setup_postgres.sh: a private server on loopback, idempotent, and the fixtures on it."""

from __future__ import annotations

import os
import socket
import subprocess
import tempfile
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parents[2]


def test_the_server_listens_on_loopback_only_with_fsync_on(postgres_url: str) -> None:
    with psycopg.connect(postgres_url) as conn:
        listen = conn.execute("SHOW listen_addresses").fetchone()
        fsync = conn.execute("SHOW fsync").fetchone()
        version = conn.execute("SHOW server_version_num").fetchone()
    assert listen == ("127.0.0.1",) or postgres_url.split("@")[1].startswith("127.0.0.1")
    assert fsync == ("on",)
    assert version is not None and int(version[0]) >= 130000


def test_setup_script_is_idempotent_and_prints_the_url(postgres_url: str) -> None:
    # Running it again with the server up changes nothing and prints the same URL last.
    out = subprocess.run(
        ["bash", "scripts/setup_postgres.sh"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )
    assert out.returncode == 0, out.stderr
    url = out.stdout.strip().splitlines()[-1]
    assert url.startswith("postgresql://postgres@127.0.0.1:")
    assert (
        ROOT / ".cache" / "postgres.env"
    ).read_text().strip() == f"POLOS_TEST_POSTGRES_URL={url}"
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_each_test_gets_its_own_empty_database(postgres_db: str, postgres_url: str) -> None:
    with psycopg.connect(postgres_db) as conn:
        tables = conn.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
        ).fetchone()
        assert tables == (0,)
        conn.execute("CREATE TABLE mine (x int)")
    with psycopg.connect(postgres_url) as conn:
        name = postgres_db.rsplit("/", 1)[1]
        assert conn.execute(
            "SELECT count(*) FROM pg_database WHERE datname = %s", [name]
        ).fetchone() == (1,)


def test_a_cold_start_prints_only_the_url(tmp_path: Path) -> None:
    # A first run creates the cluster and starts it; its progress lines go to stderr, so
    # `url=$(bash scripts/setup_postgres.sh)` (scripts/test.sh) gets the URL alone.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # Not under tmp_path: when run as root the server runs as `postgres`, which must reach
    # the directory, and pytest's temporary directories are private to their owner.
    root = Path(tempfile.mkdtemp(prefix="polos_nb-pgcold-", dir="/tmp"))
    env = {
        **os.environ,
        "POLOS_PG_ROOT": str(root),
        "POLOS_PG_PORT": str(port),
    }
    script = ["bash", "scripts/setup_postgres.sh"]
    saved = ROOT / ".cache" / "postgres.env"
    before = saved.read_text() if saved.exists() else None
    try:
        out = subprocess.run(
            script,
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            stdin=subprocess.DEVNULL,
        )
        assert out.returncode == 0, out.stderr
        assert "creating a PostgreSQL cluster" in out.stderr
        assert out.stdout == f"postgresql://postgres@127.0.0.1:{port}/postgres\n"
        with psycopg.connect(out.stdout.strip()) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
    finally:
        subprocess.run([*script, "--stop"], cwd=ROOT, env=env, timeout=120)
        subprocess.run(["rm", "-rf", str(root), f"{root}.lock"], timeout=60)
        # The script also records its URL for the tests; put back the shared server's.
        if before is not None:
            saved.write_text(before)

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

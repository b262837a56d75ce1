"""Upstream-compatibility tests: code written the way upstream Polos code is written.

Every test uses upstream's names and call shapes (``Polos``, ``agent.run(polos, ...)``,
``resume_data.get("data", {})`` …) with ``polos`` replaced by ``polos_nb`` in the imports,
and a scripted model (``polos_nb.testing.ScriptedModel``) where upstream names a provider.
Upstream code opens ``Polos()`` without a journal path: ``POLOS_JOURNAL`` points it at a
per-test file.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

_COUNTER = itertools.count(1)


def uid(prefix: str) -> str:
    """A unique id: workflows, agents and fake models are registered globally by id."""
    return f"{prefix}_{next(_COUNTER)}"


@pytest.fixture(scope="session", autouse=True)
def _litellm_loaded() -> None:
    from polos_nb.llm._litellm import _lit

    _lit()


@pytest.fixture(autouse=True)
def polos_journal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    path = tmp_path / "journal.duckdb"
    monkeypatch.setenv("POLOS_JOURNAL", str(path))
    monkeypatch.chdir(tmp_path)
    yield path

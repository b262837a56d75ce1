"""Notebook-layer fixtures: an IPython shell with the extension loaded on a fresh journal."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

_COUNTER = itertools.count(1)


def uid(prefix: str) -> str:
    return f"{prefix}-nb{next(_COUNTER)}"


@pytest.fixture(scope="session", autouse=True)
def _litellm_loaded() -> None:
    from polos_nb.llm._litellm import _lit

    _lit()


@pytest.fixture
def shell(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    from IPython.core.interactiveshell import InteractiveShell

    from polos_nb.notebook import _run, _session

    monkeypatch.setenv("POLOS_JOURNAL", str(tmp_path / "nb.duckdb"))
    monkeypatch.chdir(tmp_path)
    _session.reset()
    _run.forget_runs()
    InteractiveShell.clear_instance()
    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "polos_nb")
    yield ip
    ip.run_line_magic("unload_ext", "polos_nb")
    _run.forget_runs()
    time.sleep(0.05)  # let the cancelled followers unwind before the engine stops
    _session.reset()
    InteractiveShell.clear_instance()


def wait_until(predicate: Any, timeout: float = 20.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")

"""Agent tests: litellm is imported once per session, up front (it takes seconds), so
that timing-sensitive tests do not pay for it inside their deadlines."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session", autouse=True)
def _litellm_loaded() -> None:
    from polos_nb.llm._litellm import _lit

    _lit()

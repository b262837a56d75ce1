"""Agent tests: litellm is imported once per session, up front (it takes seconds), so
that timing-sensitive tests do not pay for it inside their deadlines."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session", autouse=True)
def _litellm_loaded() -> None:
    from polos_nb.llm._litellm import _lit

    _lit()


@pytest.fixture
def litellm_callback_lists(monkeypatch: pytest.MonkeyPatch) -> None:
    """Give litellm's callback lists back as they were after the test.

    litellm files a callback registered in ``litellm.callbacks`` into its other lists
    (``success_callback``, ...) at the next call; restoring ``callbacks`` alone would leave
    it registered for the tests that follow.
    """
    from polos_nb.llm._litellm import _lit

    lit = _lit()
    for name in dir(lit):
        if name.endswith(("callback", "callbacks")):
            value = getattr(lit, name)
            if isinstance(value, list):
                monkeypatch.setattr(lit, name, list(value))

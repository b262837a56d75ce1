"""Hardening tests (issue 9): each test's workflows leave the process registry when it ends."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from polos_nb.engine import get_all_workflows, unregister_workflow


@pytest.fixture(autouse=True)
def _forget_new_workflows() -> Iterator[None]:
    before = set(get_all_workflows())
    yield
    for workflow_id in set(get_all_workflows()) - before:
        unregister_workflow(workflow_id)


@pytest.fixture(scope="session")
def litellm_loaded() -> None:
    """Import litellm once before the agent tests (its first import takes seconds under
    load, which must not count against a test's own waits)."""
    from polos_nb.llm._litellm import _lit

    _lit()

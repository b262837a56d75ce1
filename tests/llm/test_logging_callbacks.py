"""litellm's per-call logging runs only when someone registered a logging callback.

Without one, its async success handler has no one to tell and costs more the longer the
conversation (it copies the whole transcript); with one, the callback still hears of
every call, plain and streamed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from polos_nb.llm import complete
from polos_nb.llm._litellm import _lit
from polos_nb.testing import FakeTurn, ScriptedModel
from tests.agents.helpers import uid


@pytest.fixture
def handler_runs(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The models litellm's success-logging body ran for (wrapped, still called)."""
    from litellm.litellm_core_utils.litellm_logging import Logging

    _lit()
    runs: list[str] = []
    original = Logging._async_success_handler_body

    async def counted(self: Any, *args: Any, **kwargs: Any) -> Any:
        runs.append(str(self.model))
        return await original(self, *args, **kwargs)

    monkeypatch.setattr(Logging, "_async_success_handler_body", counted)
    yield runs


async def _settle() -> None:
    # litellm schedules its logging as tasks on the caller's loop: let them run.
    for _ in range(20):
        await asyncio.sleep(0.01)


async def test_no_logging_handler_runs_without_a_callback(handler_runs: list[str]) -> None:
    lit = _lit()
    assert not lit.callbacks and not lit.success_callback
    model = ScriptedModel(uid("m"), ["one", FakeTurn(text="two", chunks=["t", "wo"])])
    assert (
        await complete(model.litellm_model, [{"role": "user", "content": "hi"}])
    ).content == "one"
    streamed = await complete(model.litellm_model, [{"role": "user", "content": "hi"}], stream=True)
    assert streamed.content == "two"
    await _settle()
    assert handler_runs == []


@pytest.mark.usefixtures("litellm_callback_lists")
async def test_a_registered_callback_still_hears_of_every_call(
    handler_runs: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from litellm.integrations.custom_logger import CustomLogger

    lit = _lit()
    heard: list[str] = []

    class Recorder(CustomLogger):  # type: ignore[misc]
        async def async_log_success_event(
            self, kwargs: Any, response_obj: Any, start_time: Any, end_time: Any
        ) -> None:
            heard.append(str(kwargs.get("model")))

    monkeypatch.setattr(lit, "callbacks", [Recorder()])
    model = ScriptedModel(uid("m"), ["one"])
    assert (
        await complete(model.litellm_model, [{"role": "user", "content": "hi"}])
    ).content == "one"
    for _ in range(200):  # generous: the callback runs in a task after the call returns
        if heard:
            break
        await asyncio.sleep(0.02)
    assert handler_runs and heard, (handler_runs, heard)
    assert model.name in heard[0]

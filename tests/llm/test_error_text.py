"""A model's error reads as the model's: litellm's "bug in LiteLLM, file it" notice and
its issue link are not appended to it, in the run's error or in the journal."""

from __future__ import annotations

import asyncio

import pytest

from polos_nb import Agent, PolosClient
from polos_nb.errors import ExecutionFailedError
from polos_nb.testing import FunctionModel


def _explode(messages: list[dict], info: dict) -> str:
    raise RuntimeError("the model exploded")


async def test_an_in_process_models_error_is_not_called_a_litellm_bug(
    client: PolosClient,
) -> None:
    agent = Agent(id="exploding_model_agent", provider="fake", model=FunctionModel(_explode))
    with pytest.raises(ExecutionFailedError) as info:
        await agent.run(client, "hello")
    message = str(info.value)
    assert "the model exploded" in message
    assert "bug in LiteLLM" not in message
    assert "github.com/BerriAI" not in message
    found = await asyncio.wrap_future(
        client.query("SELECT coalesce(error, '') FROM steps WHERE status = 'failed'")
    )
    text = " ".join(row[0] for row in found.rows)
    assert "the model exploded" in text and "bug in LiteLLM" not in text

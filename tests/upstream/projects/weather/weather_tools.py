"""A weather tool with canned data."""

from pydantic import BaseModel

from polos_nb import WorkflowContext, tool

WEATHER = {
    "new york": {"city": "New York", "temperature": 72, "condition": "Partly Cloudy"},
    "paris": {"city": "Paris", "temperature": 18, "condition": "Cloudy"},
}


class WeatherInput(BaseModel):
    city: str


class WeatherOutput(BaseModel):
    city: str
    temperature: int
    condition: str


@tool(description="Get the current weather information for a given city")
async def get_weather(ctx: WorkflowContext, input: WeatherInput) -> WeatherOutput:
    data = WEATHER.get(
        input.city.strip().lower(), {"city": input.city, "temperature": 0, "condition": "Unknown"}
    )
    return WeatherOutput(**data)

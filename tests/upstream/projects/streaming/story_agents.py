"""The storyteller. Upstream names provider="anthropic", model="claude-sonnet-4-5"."""

from pydantic import BaseModel

from polos_nb import Agent, MaxStepsConfig, WorkflowContext, max_steps, tool
from polos_nb.testing import FakeToolCall, ScriptedModel


class TopicInput(BaseModel):
    topic: str


@tool(description="Look up a fact about a topic")
async def look_up(ctx: WorkflowContext, input: TopicInput) -> dict:
    return {"topic": input.topic, "fact": "robots like blue"}


model = ScriptedModel(
    "story-model",
    [
        "Once upon a time, a small robot found a brush.",
        FakeToolCall("look_up", {"topic": "mountains"}),
        "Snow on the high peaks, quiet stone under the moon, wind writes the last line.",
        "Reading builds vocabulary, sharpens focus, and lowers stress.",
    ],
)

storyteller = Agent(
    id="storyteller",
    provider="fake",
    model=model,
    system_prompt="You are a creative storyteller.",
    tools=[look_up],
    stop_conditions=[max_steps(MaxStepsConfig(count=5))],
)

"""A chat assistant with tools and memory, and a planner answering in a schema. Upstream
names provider="openai"; here function models answer from what they are sent."""

import json

from chat_tools import to_usd, word_count
from pydantic import BaseModel, Field

from polos_nb import Agent, MaxStepsConfig, max_steps
from polos_nb.testing import FakeToolCall, FunctionModel


def assistant_brain(messages, info):
    last = messages[-1]
    if last["role"] == "tool":
        return f"Done: {last['content']}"
    said = last["content"]
    if said.startswith("convert"):
        _, amount, currency = said.split()
        return FakeToolCall("to_usd", {"amount": float(amount), "currency": currency})
    if said.startswith("count"):
        return FakeToolCall("word_count", {"text": said[len("count ") :]})
    earlier = [m["content"] for m in messages[:-1] if m["role"] == "user"]
    return f"You said before: {json.dumps(earlier)}"


chat_assistant = Agent(
    id="chat_assistant",
    provider="fake",
    model=FunctionModel(assistant_brain, "chat-brain"),
    system_prompt="You are a friendly assistant with a currency converter and a word counter.",
    tools=[to_usd, word_count],
    stop_conditions=[max_steps(MaxStepsConfig(count=5))],
)


class Plan(BaseModel):
    goal: str = Field(description="What the user wants")
    steps: list[str] = Field(description="Steps, in order")
    confidence: str = Field(description="high, medium or low")


planner = Agent(
    id="planner",
    provider="fake",
    model=FunctionModel(
        lambda messages, info: Plan(
            goal="tea", steps=["boil water", "steep 3 minutes"], confidence="high"
        ),
        "planner-brain",
    ),
    system_prompt="Plan step by step.",
    output_schema=Plan,
)

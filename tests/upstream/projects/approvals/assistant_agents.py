"""An assistant whose email tool needs approval, and which may ask the user.

Upstream names provider="openai", model="gpt-4o-mini".
"""

from pydantic import BaseModel

from polos_nb import Agent, MaxStepsConfig, WorkflowContext, create_ask_user_tool, max_steps, tool
from polos_nb.testing import FakeToolCall, ScriptedModel


class EmailInput(BaseModel):
    to: str
    subject: str


@tool(description="Send an email", approval="always")
async def send_email(ctx: WorkflowContext, input: EmailInput) -> dict:
    return {"status": "sent", "to": input.to}


ask_user = create_ask_user_tool()

model = ScriptedModel(
    "assistant-model",
    [
        FakeToolCall("ask_user", {"question": "Who should get the report?"}),
        FakeToolCall("send_email", {"to": "ada@example.com", "subject": "Report"}),
        FakeToolCall("send_email", {"to": "bob@example.com", "subject": "Report"}),
        "Sent the report to Ada. Bob's email was not approved.",
    ],
)

email_assistant = Agent(
    id="email_assistant",
    provider="fake",
    model=model,
    system_prompt="You send reports by email. Ask the user when unsure.",
    tools=[send_email, ask_user],
    stop_conditions=[max_steps(MaxStepsConfig(count=10))],
)

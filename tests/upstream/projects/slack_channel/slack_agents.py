"""The assistant that Slack mentions start, with a tool that needs approval.

Upstream names provider="anthropic", model="claude-sonnet-4-5".
"""

from pydantic import BaseModel, Field

from polos_nb import Agent, WorkflowContext, tool
from polos_nb.testing import FakeToolCall, ScriptedModel


class SendEmailInput(BaseModel):
    to: str = Field(description="Recipient email address")
    subject: str = Field(description="Email subject line")
    body: str = Field(description="Email body text")


# approval="always": Slack shows Approve / Reject buttons before it runs
@tool(id="send_email", description="Send an email (after approval).", approval="always")
async def send_email(ctx: WorkflowContext, input: SendEmailInput) -> dict:
    return {"sent": True, "to": input.to, "subject": input.subject}


model = ScriptedModel(
    "slack-assistant-model",
    [
        FakeToolCall(
            "send_email",
            {
                "to": "alice@example.com",
                "subject": "Q1 report",
                "body": "Hi Alice, the Q1 report is attached.",
            },
        ),
        "Sent the Q1 report to alice@example.com.",
    ],
)

assistant_agent = Agent(
    id="slack-assistant",
    provider="fake",
    model=model,
    system_prompt="You are a helpful assistant that sends emails with send_email. Be brief.",
    tools=[send_email],
)

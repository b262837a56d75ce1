"""The refund agent. Upstream names provider="openai", model="gpt-4o-mini"; here a
function model plays the part, reading the request and the tool results it was given."""

import re

from refund_schemas import RefundDecision
from refund_tools import issue_refund, notify_customer

from polos_nb import Agent, MaxStepsConfig, max_steps
from polos_nb.testing import FakeToolCall, FunctionModel


def desk_clerk(messages, info):
    request = next(m["content"] for m in messages if m["role"] == "user")
    ticket = re.search(r"ticket (\S+?)[.:]", request).group(1)
    amount = float(re.search(r"amount (\d+\.\d\d)", request).group(1))
    done = [m for m in messages if m["role"] == "tool"]
    if "REVIEWED" in request:
        if not done:
            return FakeToolCall("notify_customer", {"email": "pat@example.com", "ticket": ticket})
        return {
            "step": "notify",
            "details": {"notified": "pat@example.com"},
            "summary": "Customer told after the review.",
        }
    if not done:
        return FakeToolCall("issue_refund", {"ticket": ticket, "amount": amount})
    if amount > 200:
        return {
            "step": "refund",
            "details": {"refund_id": f"rf_{ticket}", "amount": amount},
            "needs_review": True,
            "summary": "Large refund: a person should check it before the customer hears.",
        }
    if len(done) == 1:
        return FakeToolCall("notify_customer", {"email": "pat@example.com", "ticket": ticket})
    return {
        "step": "notify",
        "details": {"refund_id": f"rf_{ticket}", "amount": amount, "notified": "pat@example.com"},
        "summary": "Refunded and told.",
    }


refund_agent = Agent(
    id="refund_agent",
    provider="fake",
    model=FunctionModel(desk_clerk, "refund-clerk"),
    system_prompt="Refund the customer, and notify them unless the amount needs a review.",
    tools=[issue_refund, notify_customer],
    output_schema=RefundDecision,
    stop_conditions=[max_steps(MaxStepsConfig(count=8))],
)

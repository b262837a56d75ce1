"""The run widget's JavaScript in Chromium, without JupyterLab: what a click sends and what
a form shows (issue 11, items 4, 5, 6 and 11; the JupyterLab tests show the same end to end).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from .widget_page import render, run_state, sent, update

SCHEMA = {
    "type": "object",
    "required": ["approved", "amount", "name"],
    "properties": {
        "approved": {"type": "boolean"},
        "amount": {"type": "number", "title": "Amount", "minimum": 0},
        "name": {"type": "string", "title": "Name", "description": "As on the **invoice**"},
        "feedback": {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None},
    },
}


def approval(**overrides: Any) -> dict[str, Any]:
    entry = {
        "key": "review",
        "title": "Refund?",
        "description": 'Refund **42 EUR** to `C-17`? <img src=x onerror="window.pwned=1">',
        "context": None,
        "schema": SCHEMA,
        "approval": True,
        "tool": None,
        "status": "pending",
        "errors": {},
        "answer": None,
        "answer_data": None,
    }
    entry.update(overrides)
    return entry


def test_reject_sends_only_the_feedback(page: Any) -> None:
    """Item 4: rejecting does not need the form's required fields."""
    render(page, run_state(status="waiting", approvals=[approval()]))
    page.fill('[name="feedback"]', "wrong customer")
    page.click(".polos-reject")
    assert sent(page) == [
        {
            "kind": "submit",
            "key": "review",
            "decision": "reject",
            "data": {"feedback": "wrong customer"},
        }
    ]


def test_a_blank_required_text_field_is_no_answer(page: Any) -> None:
    """Item 5: blanks are left out, so Python reports the field as required."""
    render(page, run_state(status="waiting", approvals=[approval()]))
    page.fill('[name="amount"]', "12")
    page.fill('[name="name"]', "   ")
    page.click(".polos-approve")
    assert sent(page)[0]["data"] == {"amount": 12}
    assert page.get_attribute('[name="name"]', "aria-required") == "true"


def test_descriptions_are_markdown_and_stay_safe(page: Any) -> None:
    """Item 11: form descriptions render their Markdown; HTML in them stays text."""
    render(page, run_state(status="waiting", approvals=[approval()]))
    description = page.locator(".polos-approval-description")
    assert description.locator("strong").inner_text() == "42 EUR"
    assert description.locator("code").inner_text() == "C-17"
    assert "<img" in description.inner_text()  # shown as text, not an element
    assert page.locator(".polos-approval-description img").count() == 0
    assert page.evaluate("() => window.pwned") is None
    assert page.locator(
        '.polos-field[data-field="name"] .polos-field-help strong'
    ).inner_text() == ("invoice")


def test_an_answered_form_shows_its_answer_when_drawn_again(page: Any) -> None:
    """Item 11: a view built after the answer (reload, second view) shows what was sent."""
    answered = approval(
        status="approved",
        answer='{"approved": true, "amount": 40, "name": "Ana"}',
        answer_data={"approved": True, "amount": 40, "name": "Ana", "feedback": None},
    )
    render(page, run_state(status="completed", done=True, approvals=[answered]))
    assert page.input_value('[name="amount"]') == "40"
    assert page.input_value('[name="name"]') == "Ana"
    assert page.is_disabled('[name="name"]') and page.is_disabled(".polos-approve")
    assert "Approved" in page.inner_text(".polos-approval-status")
    # and a form answered while shown is redrawn with the answer
    render(page, run_state(status="waiting", approvals=[approval()]))
    update(page, approvals=[answered])
    assert page.input_value('[name="name"]') == "Ana"


def test_usage_says_no_price_for_a_model_without_one(page: Any) -> None:
    """Item 11."""
    render(page, run_state(usage={"input_tokens": 10, "output_tokens": 5}))
    assert page.inner_text(".polos-usage") == "tokens in 10 · out 5 · no price"
    update(page, usage={"input_tokens": 10, "output_tokens": 5, "cost_usd": 0.00012})
    assert page.inner_text(".polos-usage") == "tokens in 10 · out 5 · $0.000120"


def test_running_and_waiting_steps_show_the_time_so_far(page: Any) -> None:
    """Item 11: a slow model call and a suspension are listed while they last."""
    started = (dt.datetime.now(dt.UTC) - dt.timedelta(seconds=3)).isoformat()
    steps = [
        {"key": "llm:1", "kind": "run", "status": "running", "started": started},
        {"key": "review", "kind": "suspend", "status": "waiting", "started": started},
    ]
    render(page, run_state(steps=steps))
    for key in ("llm:1", "review"):
        row = page.locator(f'.polos-step[data-key="{key}"]')
        assert row.get_attribute("data-status") in ("running", "waiting")
        first = row.locator(".polos-step-duration").inner_text()
        assert first.endswith(" s") and float(first[:-2]) >= 2.5, first
    page.wait_for_function(
        "(t) => parseFloat(document.querySelector('.polos-step[data-key=\"llm:1\"] .polos-step-duration').textContent) > t",
        arg=float(first[:-2]) + 0.5,
    )


def test_a_view_whose_kernel_is_gone_says_so_and_sends_nothing(page: Any) -> None:
    """Item 6: a stale view looks stale, says how to get a live one, and its buttons are off."""
    render(page, run_state(status="waiting", approvals=[approval()]))
    assert page.is_enabled(".polos-approve")
    page.evaluate("() => { window.kernel = null; }")  # the kernel was shut down
    page.wait_for_selector(".polos-run.polos-disconnected")
    banner = page.inner_text(".polos-banner")
    assert (
        "Disconnected" in banner and "%load_ext polos_nb" in banner and "%polos show R1" in banner
    )
    assert page.inner_text(".polos-run-status") == "disconnected · last seen waiting"
    assert page.is_disabled(".polos-approve") and page.is_disabled(".polos-reject")
    page.click(".polos-approve", force=True)
    assert sent(page) == []


def test_a_restarted_kernel_disconnects_the_views_of_the_old_one(page: Any) -> None:
    """Item 6: a restart keeps the kernel's id; its status goes through "restarting"."""
    render(page, run_state(status="waiting", approvals=[approval()]))
    page.evaluate("() => window.setKernelStatus('busy')")
    page.wait_for_timeout(1200)
    assert page.locator(".polos-run.polos-disconnected").count() == 0
    page.evaluate("() => { window.setKernelStatus('restarting'); window.setKernelStatus('idle'); }")
    page.wait_for_selector(".polos-run.polos-disconnected")
    assert page.is_disabled(".polos-approve")

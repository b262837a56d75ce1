"""Notebook 03's forms, clicked in JupyterLab (issue 11, items 4 and 5).

Item 4: Reject needs none of the approval form's required fields. Item 5: a required
text field filled with blanks is refused, with the error under the field, and nothing is
delivered until it is filled in.
"""

from __future__ import annotations

from pathlib import Path

from .lab import Lab


def test_reject_needs_no_fields_and_blanks_are_no_answer(lab: Lab, workdir: Path) -> None:
    path = lab.server.copy_notebook("03_suspend_resume_and_approvals.ipynb", workdir)
    lab.open(path)
    refund = lab.find_cell("run = %polos run refund")
    define_ship = lab.find_cell('@workflow(id="ship")')
    ship = lab.find_cell("run = %polos run ship")
    lab.run_cells([*range(refund + 1), define_ship, ship])

    # item 4: the refund form asks for an amount and a reason; rejecting needs neither
    form = lab.output(refund).locator('.polos-live .polos-approval[data-key="review"]')
    form.locator(".polos-reject").wait_for()
    assert form.locator('[name="amount"]').input_value() == ""
    form.locator(".polos-reject").click()
    view = lab.output(refund).locator(".polos-live")
    lab.wait_until(lambda: view.get_attribute("data-status") == "completed", what="the rejection")
    assert form.get_attribute("data-status") == "rejected"
    assert '"status": "rejected"' in view.locator(".polos-output-value").inner_text()
    assert form.locator(".polos-field-error").all_inner_texts() == ["", "", ""]

    # item 5: blanks in a required text field are refused, under the field
    form = lab.output(ship).locator('.polos-live .polos-approval[data-key="dispatch"]')
    street = form.locator('[name="address.street"]')
    street.wait_for()
    street.fill("   ")
    form.locator('[name="address.city"]').fill("Paris")
    form.locator(".polos-approve").click()
    error = form.locator('.polos-field[data-field="address.street"] > .polos-field-error')
    lab.wait_until(lambda: error.inner_text() == "this field is required", what="the field error")
    assert form.get_attribute("data-status") == "invalid"
    assert lab.output(ship).locator(".polos-live").get_attribute("data-status") == "waiting"
    lab.snap("blank-refused", form, themes=("light", "dark"))
    street.fill("1 Rue de Rivoli")
    form.locator(".polos-approve").click()
    view = lab.output(ship).locator(".polos-live")
    lab.wait_until(lambda: view.get_attribute("data-status") == "completed", what="the dispatch")
    assert "Paris" in view.locator(".polos-output-value").inner_text()

"""A kernel restart in the middle of notebook 03's approval walkthrough, in JupyterLab.

Item 6: the widgets from before the restart say they are disconnected (no usable-looking
buttons); item 10: the run listed after the restart says which cell to run to resume it;
item 2: once the cells run again, the scripted model resumes where the journal is, so Bo
(rejected before the restart) gets no email and every tool call keeps its own id.
"""

from __future__ import annotations

from pathlib import Path

from .lab import Lab


def test_a_restart_during_approvals_resumes_the_story_truthfully(lab: Lab, workdir: Path) -> None:
    path = lab.server.copy_notebook("03_suspend_resume_and_approvals.ipynb", workdir)
    lab.open(path)
    load = lab.find_cell("%load_ext polos_nb")
    define_tool = lab.find_cell("mailer_model = ScriptedModel(")
    define_agent = lab.find_cell("%%polos_agent mailer")
    start = lab.find_cell("run = %polos run mailer")
    lab.run_cells([load, define_tool, define_agent, start])
    agent_cell_count = lab.execution_count(define_agent)  # the [n] JupyterLab keeps showing
    widget = lab.output(start).locator(".polos-live")

    def form(key: str):
        box = widget.locator(f'.polos-approval[data-key="{key}"]')
        box.locator(".polos-approve").wait_for()
        return box

    # Ana: approve once; Bo: reject with feedback (only feedback is asked)
    form("approve_send_email_1_call_1_0").locator(".polos-approve").click()
    bo = form("approve_send_email_2_call_2_0")
    bo.locator(".polos-feedback").fill("not Bo, he is on holiday")
    bo.locator(".polos-reject").click()
    cy = form("approve_send_email_3_call_3_0")
    assert cy.locator(".polos-approve").is_enabled()
    lab.snap("before-restart", lab.output(start))

    # the kernel restarts while the run waits for Cy's approval
    lab.restart_kernel()
    lab.wait_js(
        f"() => window.jupyterapp.shell.currentWidget.content.widgets[{start}].node"
        ".querySelector('.polos-live.polos-disconnected') !== null",
        what="the old widget to say it is disconnected",
    )
    assert "disconnected · last seen waiting" in widget.locator(".polos-run-status").inner_text()
    banner = widget.locator(".polos-banner").inner_text()
    assert "%load_ext polos_nb" in banner
    assert cy.locator(".polos-approve").is_disabled()
    lab.snap("stale-widget", lab.output(start), themes=("light", "dark"))

    # %load_ext lists the run, waiting for its agent, and says which cell defines it
    lab.run_cell(load)
    listing = lab.output(load)
    again = listing.locator(".polos-live")
    again.wait_for()
    note = again.locator(".polos-note").inner_text()
    assert "'mailer'" in note and "%%polos_agent mailer" in note, note
    assert f"[{agent_cell_count}]" in note, note
    lab.snap("after-restart-listing", listing)

    # run the cells again: the run resumes at Cy's approval, with its form
    lab.run_cells([define_tool, define_agent])
    cy_again = again.locator('.polos-approval[data-key="approve_send_email_3_call_3_0"]')
    cy_again.locator(".polos-approve-always").wait_for()
    lab.wait_js(
        f"() => !window.jupyterapp.shell.currentWidget.content.widgets[{load}].node"
        ".querySelector('.polos-live .polos-note')?.textContent",
        what="the note to go once the agent is defined",
    )
    cy_again.locator(".polos-approve-always").click()
    lab.wait_js(
        f"() => window.jupyterapp.shell.currentWidget.content.widgets[{load}].node"
        ".querySelector('.polos-live')?.dataset.status === 'completed'",
        what="the resumed run to complete",
    )
    assert (
        "Sent to Ana and Cy; Bo was skipped." in again.locator(".polos-output-value").inner_text()
    )
    calls = again.locator(".polos-tool-call")
    ids = [calls.nth(i).get_attribute("data-call-id") for i in range(calls.count())]
    assert ids == ["call_1_0", "call_2_0", "call_3_0"], ids
    recipients = [calls.nth(i).locator(".polos-tool-args").inner_text() for i in range(3)]
    assert [("ana" in r, "bo" in r, "cy" in r) for r in recipients] == [
        (True, False, False),
        (False, True, False),
        (False, False, True),
    ]
    assert calls.nth(1).get_attribute("data-status") == "failed"  # Bo: rejected, not sent
    # in this kernel, only Cy's email was sent (Ana's was sent before the restart)
    probe = lab.insert_cell(lab.cell_count(), "print(sent)")
    lab.run_cell(probe)
    assert lab.output(probe).inner_text().strip() == "['cy@example.com']"
    lab.snap("resumed", listing, themes=("light", "dark"))

"""The JupyterLab extension in Chromium: the Polos sidebar, its inbox, the approval page.

Each test writes a small notebook whose run suspends for a person, runs it in the session's
JupyterLab (``lab``), and answers where a user would: in the sidebar's inbox, or on the
approval page opened in a second browser context that starts logged out. Screenshots go to
``.cache/e2e-artifacts/<test>/``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from .lab import Lab

SETUP = """\
%load_ext polos_nb
from pydantic import BaseModel
from polos_nb import WorkflowContext, approval_form, workflow
from polos_nb.notebook import start


class Review(BaseModel):
    approved: bool
    amount: float


@workflow(id="e2e_refund")
async def e2e_refund(ctx: WorkflowContext, payload: dict) -> dict:
    answer = await ctx.step.suspend(
        "review", data=approval_form(Review, title="Refund order " + payload["order"] + "?")
    )
    return {"refunded": answer.data["amount"], "approved": answer.data["approved"]}
"""
START = 'run = start(e2e_refund, {"order": "A-17"})\nrun'
MIME = "application/vnd.polos.run+json"
RESULT = "result = await run\nprint('RESULT', result)"


def write_notebook(folder: Path, name: str, cells: list[str]) -> Path:
    nb = {
        "cells": [
            {
                "cell_type": "code",
                "execution_count": None,
                "metadata": {},
                "outputs": [],
                "source": source,
            }
            for source in cells
        ],
        "metadata": {
            "kernelspec": {
                "display_name": "Python 3",
                "language": "python",
                "name": "python3",
            }
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    path = folder / name
    path.write_text(json.dumps(nb, indent=1))
    return path


def open_refund_notebook(lab: Lab, workdir: Path, name: str = "refund.ipynb") -> str:
    path = write_notebook(workdir, name, [SETUP, START, RESULT])
    rel = path.relative_to(lab.server.root).as_posix()
    lab.open(rel)
    lab.run_cell(0)
    lab.run_cell(1)
    return rel


def open_sidebar(lab: Lab) -> Any:
    lab.page.evaluate("() => window.jupyterapp.commands.execute('polos:open-sidebar')")
    sidebar = lab.page.locator("#polos-nb-sidebar")
    sidebar.wait_for(state="visible")
    return sidebar


def source_of(lab: Lab, sidebar: Any, journal: str, kind: str) -> Any:
    """The sidebar's section for ``journal`` (relative to the server root), of ``kind``
    (``kernel`` live, ``journal`` at rest): the session's server shows other tests' too."""
    return sidebar.locator(
        f".polos-source:has(.polos-source-{kind}):has(.polos-source-label[title='{journal}'])"
    )


def badge(lab: Lab) -> Any:
    """The sidebar tab's badge count (None when no run waits)."""
    return lab.page.evaluate(
        "() => { const t = document.querySelector('.lm-TabBar-tab.polos-tab-waiting');"
        " return t ? t.dataset.poloswaiting : null; }"
    )


def approvals(lab: Lab) -> list[dict[str, Any]]:
    return list(lab.server.api("GET", "polos/api/state")["approvals"])


def cell_text(lab: Lab, index: int) -> str:
    parts = []
    for out in lab.cell_outputs(index):
        if out.get("output_type") == "stream":
            parts.append(out.get("text", ""))
    return "".join(parts)


def test_the_inbox_badge_appears_and_an_answer_in_the_sidebar_resumes_the_run(
    lab: Lab, workdir: Path
) -> None:
    rel = open_refund_notebook(lab, workdir)
    sidebar = open_sidebar(lab)
    lab.wait_until(lambda: badge(lab) == "1", what="the inbox badge to show 1")
    # the count is drawn on the tab (not hidden under JupyterLab's own tab decorations)
    tab = lab.page.locator(".lm-TabBar-tab.polos-tab-waiting")
    assert tab.evaluate("t => getComputedStyle(t, '::before').content") == '"1"'
    lab.snap("badge", tab)
    item = sidebar.locator(".polos-inbox-item[data-key='review']")
    item.wait_for(state="visible")
    assert "Refund order A-17?" in item.inner_text()
    assert rel in item.inner_text()  # the notebook that started the run
    # JupyterLab's notification says which run waits
    toast = lab.page.locator(".Toastify__toast", has_text="e2e_refund waits for you")
    toast.first.wait_for(state="visible")
    # the run is listed under its live kernel, waiting
    source = source_of(lab, sidebar, rel.rsplit("/", 1)[0] + "/.polos/refund.duckdb", "kernel")
    source.locator(".polos-run-row .polos-status-waiting").first.wait_for(state="visible")
    lab.snap("inbox-waiting", sidebar)
    lab.snap("lab-with-badge")

    item.locator(".polos-field[data-field='amount'] input").fill("12.5")
    item.locator("button.polos-approve").click()
    lab.wait_until(lambda: badge(lab) is None, what="the badge to go once answered")
    toast.first.wait_for(state="hidden", timeout=4000)  # its toast goes with it
    sidebar.locator(".polos-inbox .polos-empty").wait_for(state="visible")
    source.locator(".polos-run-row .polos-status-completed").first.wait_for(state="visible")
    lab.snap("inbox-answered", sidebar)

    # the kernel's run got exactly that answer
    lab.run_cell(2)
    assert "RESULT {'refunded': 12.5, 'approved': True}" in cell_text(lab, 2)

    # a click on the run opens its inspector; "Jump to cell" selects the cell showing it
    source.locator(".polos-run-row").first.click()
    trace = lab.page.locator(".polos-inspector .polos-trace[data-status='completed']")
    trace.wait_for(state="visible")
    assert "e2e_refund" in trace.inner_text() and '{"order":"A-17"}' in trace.inner_text()
    lab.snap("inspector")
    lab.page.locator(".polos-inspector-jump").click()
    lab.wait_js(
        "() => { const w = window.jupyterapp.shell.currentWidget;"
        " return w && w.content && w.content.activeCellIndex === 1; }",
        what="the run's cell to be selected",
    )


def test_the_approval_page_works_in_a_second_browser_after_logging_in(
    lab: Lab, workdir: Path, browser: Any
) -> None:
    open_refund_notebook(lab, workdir)
    [approval] = lab.wait_until(lambda: approvals(lab), what="the run to wait for a person")
    url = approval["url"]
    assert re.search(r"/polos/approve/[^/]+/review$", url), url
    assert url.startswith(lab.server.url.rstrip("/"))

    # a phone-sized browser of its own, not logged in
    phone = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    try:
        page = phone.new_page()
        page.goto(url)
        assert "/login" in page.url  # Jupyter's login first: the page is not public
        assert "Refund order" not in page.content()
        page.locator("#password_input").fill(lab.server.token)
        page.locator("#login_submit").click()
        page.wait_for_url(re.compile(r"/polos/approve/"))
        assert "Refund order A-17?" in page.content()
        page.screenshot(path=str(lab.artifacts / "approval-page-phone.png"), full_page=True)

        # a wrong answer comes back with the field's error, nothing is delivered
        page.locator("input[name=amount]").fill("")
        page.locator("button[value=approve]").click()
        page.locator(".polos-field[data-field=amount].polos-invalid").wait_for(state="visible")
        assert approvals(lab), "a refused answer must leave the run waiting"
        page.screenshot(path=str(lab.artifacts / "approval-page-error.png"), full_page=True)

        page.locator("input[name=amount]").fill("30")
        page.locator("button[value=approve]").click()
        page.get_by_text("Answered").first.wait_for(state="visible")
        page.screenshot(path=str(lab.artifacts / "approval-page-done.png"), full_page=True)
    finally:
        phone.close()

    lab.wait_until(lambda: not approvals(lab), what="the inbox to empty")
    lab.run_cell(2)
    assert "RESULT {'refunded': 30.0, 'approved': True}" in cell_text(lab, 2)


def no_kernel(lab: Lab) -> None:
    """Answer JupyterLab's "Select Kernel" dialog with "No Kernel"."""
    dialog = lab.page.locator(".jp-Dialog")
    dialog.get_by_role("button", name="No Kernel").click(timeout=30_000)
    dialog.wait_for(state="hidden")


def test_a_saved_run_renders_without_a_kernel_and_its_journal_is_listed_at_rest(
    lab: Lab, workdir: Path
) -> None:
    rel = open_refund_notebook(lab, workdir, "saved.ipynb")
    [approval] = lab.wait_until(lambda: approvals(lab), what="the run to wait for a person")
    lab.server.api(
        "POST",
        "polos/api/answer",
        {
            "execution_id": approval["execution_id"],
            "key": "review",
            "decision": "approve",
            "data": {"amount": 8.5},
        },
    )
    lab.run_cell(2)
    assert "RESULT {'refunded': 8.5, 'approved': True}" in cell_text(lab, 2)
    lab.save()
    lab.shutdown_kernel()
    lab.close_all()

    # the file holds the run's final snapshot as JSON beside its HTML
    saved = lab.server.read_notebook(rel)
    [snap] = [o["data"][MIME] for o in saved["cells"][1]["outputs"] if MIME in o.get("data", {})]
    assert snap["status"] == "completed" and snap["workflow_id"] == "e2e_refund"

    # as a notebook from someone else opens (untrusted: its HTML would be sanitized, and
    # its kernel is not installed here): the trace, built from the JSON
    absent = "polos-absent"  # no kernel of that name or language: JupyterLab starts none
    saved["metadata"]["kernelspec"] = {
        "name": absent,
        "display_name": absent,
        "language": absent,
    }
    saved["metadata"]["language_info"] = {"name": absent}
    (lab.server.root / rel).write_text(json.dumps(saved))
    lab.open(rel, kernel=False)
    no_kernel(lab)
    assert not lab.trusted()
    trace = lab.output(1).locator(".polos-saved-run[data-view='trace'] .polos-trace")
    trace.wait_for(state="visible")
    assert trace.get_attribute("data-status") == "completed"
    text = trace.inner_text()
    assert "e2e_refund" in text and "saved run" in text
    assert "refunded" in text  # the output
    assert trace.locator(".polos-trace-approval[data-key='review']").is_visible()
    lab.snap("saved-untrusted", lab.output(1))

    # trusted: the HTML snapshot, as JupyterLab renders it without the extension
    lab.close_all()
    lab.server.trust(lab.server.root / rel)
    lab.open(rel, kernel=False)
    no_kernel(lab)
    assert lab.trusted()
    html = lab.output(1).locator(".polos-saved-run[data-view='html'] .polos-snapshot")
    html.wait_for(state="visible")
    assert html.get_attribute("data-status") == "completed"

    # the sidebar lists the notebook's journal at rest, with the run
    sidebar = open_sidebar(lab)
    journal = rel.rsplit("/", 1)[0] + "/.polos/saved.duckdb"
    source = source_of(lab, sidebar, journal, "journal")
    source.locator(".polos-run-row .polos-status-completed").first.wait_for(state="visible")
    lab.snap("saved-trusted-with-sidebar")

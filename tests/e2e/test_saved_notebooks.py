"""Item 1: a saved notebook shows each run's last state, readable, with no kernel.

Runs in JupyterLab, saves, shuts the kernel down, then reopens the file: in JupyterLab
with a new kernel (the widget models are gone: "model not found"), in JupyterLab with no
kernel at all ("Loading widget..." for ever), in Notebook 7, and as nbconvert renders it
for nbviewer. Each must show the snapshot of every run, in its last state, and no widget
error.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from nbconvert import HTMLExporter

from .lab import Lab

VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_ERRORS = ("Error displaying widget", "Loading widget")


def visible_text(lab: Lab) -> str:
    return str(lab.page.locator(".jp-Notebook").inner_text())


def check_snapshots(lab: Lab, refund_cell: int, ship_cell: int, name: str) -> None:
    """The refund run shows completed, the ship run waiting, and no widget error shows."""
    refund = lab.output(refund_cell).locator(".polos-snapshot")
    ship = lab.output(ship_cell).locator(".polos-snapshot")
    refund.wait_for(state="visible")
    ship.wait_for(state="visible")
    assert refund.get_attribute("data-status") == "completed"
    assert "✓ completed" in refund.locator(".polos-run-status").inner_text()
    assert refund.locator('.polos-step[data-key="pay"]').is_visible()
    assert "refunded" in refund.locator(".polos-output-value").inner_text()
    assert refund.locator('.polos-approval[data-key="review"]').get_attribute("data-status") == (
        "approved"
    )
    assert ship.get_attribute("data-status") == "waiting"
    assert "polos_nb.approve(" in ship.locator(".polos-approval-hint").inner_text()
    lab.page.wait_for_timeout(1500)  # give a widget renderer time to show an error, if any
    text = visible_text(lab)
    for error in WIDGET_ERRORS:
        assert error not in text, f"{name}: {error!r} is shown"
    lab.snap(name, lab.output(refund_cell))


def test_a_saved_notebook_shows_the_last_state_of_each_run_without_its_kernel(
    lab: Lab, workdir: Path
) -> None:
    path = lab.server.copy_notebook("03_suspend_resume_and_approvals.ipynb", workdir)
    lab.open(path)
    refund = lab.find_cell("run = %polos run refund")
    ship = lab.find_cell("run = %polos run ship")
    # the refund run, answered from code; the ship run left waiting for its form
    lab.run_cells(range(refund + 1))
    live = lab.output(refund).locator(".polos-live")
    live.wait_for(state="visible")
    assert not lab.output(refund).locator(".polos-snapshot").is_visible()  # the widget replaces it
    lab.run_cells(range(refund + 1, refund + 5))
    lab.run_cells(range(refund + 5, ship + 1))
    lab.output(ship).locator('.polos-live .polos-approval[data-status="pending"]').wait_for()
    lab.wait_js(
        f"() => window.jupyterapp.shell.currentWidget.content.widgets[{refund}].node"
        ".querySelector('.polos-live')?.dataset.status === 'completed'",
        what="the refund run to complete",
    )
    lab.snap("live", lab.output(refund))
    lab.save()
    lab.shutdown_kernel()

    # the file: each run's snapshot in its last state, then an empty widget output
    saved = lab.server.read_notebook(path)
    outputs = saved["cells"][refund]["outputs"]
    html = "".join(outputs[0]["data"]["text/html"])
    assert 'class="polos-run polos-snapshot" data-status="completed"' in html
    assert outputs[0]["metadata"]["polos_nb"]["view"] == "snapshot"
    assert VIEW in outputs[1]["data"] and outputs[1]["data"]["text/plain"] in ("", [])
    ship_html = "".join(saved["cells"][ship]["outputs"][0]["data"]["text/html"])
    assert 'data-status="waiting"' in ship_html

    # nbviewer (nbconvert): no widget state, so the snapshot is rendered, not a widget
    body, _ = HTMLExporter(template_name="lab").from_notebook_node(
        __import__("nbformat").reads(json.dumps(saved), as_version=4)
    )
    tags = re.findall(r"<div [^>]*polos-snapshot[^>]*>", body)
    assert any('data-status="completed"' in t for t in tags), tags
    assert f'<script type="{VIEW}"' not in body  # no widget is rendered (no widget state)

    # JupyterLab, a new kernel: the widget models are gone ("model not found")
    lab.close_all()
    lab.open(path)
    check_snapshots(lab, refund, ship, "reopened-new-kernel")

    # With no kernel at all (its kernel is not installed here): first untrusted, as a
    # notebook from someone else opens (sanitized HTML: no style), in Notebook 7...
    lab.shutdown_kernel()
    lab.close_all()
    absent = "polos-absent"
    saved["metadata"]["kernelspec"] = {"name": absent, "display_name": absent, "language": absent}
    saved["metadata"]["language_info"] = {"name": absent}
    (lab.server.root / path).write_text(json.dumps(saved))
    lab.open(path, kernel=False, app="notebook")
    no_kernel(lab)
    assert not lab.trusted()
    for cell, words in ((refund, ("completed", "refunded", "Approved")), (ship, ("waiting",))):
        text = lab.output(cell).inner_text()
        assert all(w in text for w in words), text
    lab.page.wait_for_timeout(1500)
    assert not any(error in visible_text(lab) for error in WIDGET_ERRORS)
    lab.snap("notebook7-untrusted", lab.output(refund))

    # ...then trusted, in JupyterLab: the widget view is preferred there, and gives way
    lab.server.trust(lab.server.root / path)
    lab.open(path, kernel=False)
    no_kernel(lab)
    assert lab.trusted()
    check_snapshots(lab, refund, ship, "reopened-no-kernel")
    assert lab.kernel_status() is None


def no_kernel(lab: Lab) -> None:
    """Answer JupyterLab's "Select Kernel" dialog with "No Kernel"."""
    dialog = lab.page.locator(".jp-Dialog")
    dialog.get_by_role("button", name="No Kernel").click(timeout=30_000)
    dialog.wait_for(state="hidden")

"""Every teaching notebook, as a new user meets it in JupyterLab (issue 11).

Each notebook is copied and trusted as ``scripts/start.sh`` does. Before it runs, it is
trusted and shows each run's final snapshot (item 9). Then every cell runs as a user runs
it; no cell fails, no console error appears, and every run ends (no widget is left
"running" or "waiting"). Notebook 08 also shows its SQL example's tokens (item 7) and its
fork's widget ends "completed" (item 3).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from .lab import Lab
from .server import NOTEBOOKS

ENDED = ("completed", "failed", "cancelled")
NAMES = sorted(p.name for p in NOTEBOOKS.glob("*.ipynb"))
# What a page may log as an error without it being ours: none so far.
IGNORED_CONSOLE = ()


def run_states(lab: Lab) -> list[str]:
    """The status of every run view visible in the notebook (live widgets and snapshots)."""
    return list(
        lab.page.evaluate(
            "() => [...document.querySelectorAll('.jp-Notebook .polos-live, .jp-Notebook .polos-snapshot')]"
            ".filter((e) => e.offsetParent !== null).map((e) => e.dataset.status)"
        )
    )


@pytest.mark.parametrize("name", NAMES, ids=[n.split("_")[0] for n in NAMES])
def test_a_teaching_notebook_runs_in_jupyterlab(lab: Lab, workdir: Path, name: str) -> None:
    if name.startswith("09_"):
        from tests.sandbox.conftest import DOCKER_PROBLEM

        if DOCKER_PROBLEM and not os.environ.get("CI"):
            pytest.skip(f"notebook 09 needs Docker: {DOCKER_PROBLEM}")
    path = lab.server.copy_notebook(name, workdir)
    lab.open(path)
    # item 9: trusted on load, and the shipped snapshots are final
    assert lab.trusted()
    shipped = run_states(lab)
    assert shipped and all(s in ENDED for s in shipped), shipped

    lab.run_all()
    lab.wait_until(
        lambda: (states := run_states(lab)) and all(s in ENDED for s in states),
        what=f"every run of {name} to end (states: {run_states(lab)})",
    )
    errors = [e for e in lab.console_errors if not any(i in e for i in IGNORED_CONSOLE)]
    assert errors == [], errors
    # and no cell shows a warning a new user could do nothing about
    for i in range(lab.cell_count()):
        if lab.cell_type(i) == "code":
            for out in lab.cell_outputs(i):
                if out.get("name") == "stderr":
                    assert "Warning" not in str(out.get("text")), (i, out["text"])
    if name.startswith("08"):
        check_notebook_08(lab)
    lab.snap(name.removesuffix(".ipynb"))


def check_notebook_08(lab: Lab) -> None:
    # item 7: the SQL example finds the run's steps and their tokens
    sql = lab.output(lab.find_cell("%polos sql SELECT step_key"))
    rows = sql.locator("table.dataframe tbody tr")
    assert rows.count() == 3, sql.inner_text()
    assert rows.nth(0).locator("td").nth(3).inner_text().strip().isdigit()
    # item 3: the fork's widget shows the fork's end
    cell = lab.find_cell("fork = %polos fork")
    assert lab.run_view(cell).get_attribute("data-status") == "completed"
    assert "999.0" in lab.run_view(cell).inner_text()

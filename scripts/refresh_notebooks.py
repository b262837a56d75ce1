"""Re-execute notebooks/*.ipynb and store their outputs (the references nbval compares).

    .venv/bin/python scripts/refresh_notebooks.py [NOTEBOOK ...]

Each notebook runs in a temporary directory with a fresh journal. After its last cell, a
temporary cell waits until every run it showed has ended (or waits for a human) so the
stored snapshots are final: a run's snapshot is updated as the run goes on, and the
kernel publishes those updates again at each cell boundary, where nbclient sees them.
The live widget outputs are dropped (they need the kernel), and so is the widget state:
a saved notebook shows each run's static snapshot. Cells marked ``# NBVAL_CHECK_OUTPUT``
must print the same thing on every run (``tests/test_notebooks.py``).
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
VIEW = "application/vnd.jupyter.widget-view+json"
SETTLE = "import polos_nb.notebook._display as _polos_display\n_polos_display.settle()"


def is_live_view(output: Any) -> bool:
    """A run's live widget output (or any widget view): only meaningful with its kernel."""
    meta = (output.get("metadata") or {}).get("polos_nb") or {}
    return meta.get("view") == "live" or VIEW in (output.get("data") or {})


def refresh(path: Path) -> None:
    work = Path(tempfile.mkdtemp(prefix="polos-nb-"))
    try:
        nb = nbformat.read(path, as_version=4)
        settle = nbformat.v4.new_code_cell(SETTLE)
        nb.cells.append(settle)
        os.environ["JPY_SESSION_NAME"] = str(
            work / path.name
        )  # its journal: <work>/.polos/<name>.duckdb
        os.environ["POLOS_WORKSPACES_DIR"] = str(work / "workspaces")  # notebook 09's sandboxes
        NotebookClient(
            nb,
            timeout=300,
            kernel_name="python3",
            store_widget_state=False,
            resources={"metadata": {"path": str(work)}},
        ).execute()
        nb.cells.remove(settle)
        for cell in nb.cells:
            if cell.cell_type != "code":
                continue
            cell.metadata.pop("execution", None)
            cell.outputs = [out for out in cell.get("outputs", []) if not is_live_view(out)]
        nb.metadata.pop("widgets", None)
        nbformat.write(nb, path)
        print("refreshed", path.relative_to(ROOT))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    os.environ.setdefault("POLOS_NB_ALLOW_MODEL_REQUESTS", "0")
    os.environ.setdefault("POLOS_SANDBOX_PULL", "0")  # the image comes from setup_docker.sh
    targets = [Path(a).resolve() for a in sys.argv[1:]] or sorted(
        (ROOT / "notebooks").glob("*.ipynb")
    )
    for target in targets:
        refresh(target)

"""Re-execute notebooks/*.ipynb and store their outputs (the references nbval compares).

    .venv/bin/python scripts/refresh_notebooks.py [NOTEBOOK ...]

Each notebook runs in a temporary directory with a fresh journal. Widget views are dropped
from the stored outputs, so a saved notebook shows each run's static HTML snapshot (the
final one: the run's display is updated when it ends). Cells marked ``# NBVAL_CHECK_OUTPUT``
must print the same thing on every run (``tests/test_notebooks.py``).
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]


def refresh(path: Path) -> None:
    work = Path(tempfile.mkdtemp(prefix="polos-nb-"))
    try:
        nb = nbformat.read(path, as_version=4)
        os.environ["JPY_SESSION_NAME"] = str(
            work / path.name
        )  # its journal: <work>/.polos/<name>.duckdb
        NotebookClient(
            nb,
            timeout=300,
            kernel_name="python3",
            store_widget_state=False,
            resources={"metadata": {"path": str(work)}},
        ).execute()
        for cell in nb.cells:
            if cell.cell_type != "code":
                continue
            cell.metadata.pop("execution", None)
            for out in cell.get("outputs", []):
                out.get("data", {}).pop("application/vnd.jupyter.widget-view+json", None)
        nb.metadata.pop("widgets", None)
        nbformat.write(nb, path)
        print("refreshed", path.relative_to(ROOT))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    os.environ.setdefault("POLOS_NB_ALLOW_MODEL_REQUESTS", "0")
    targets = [Path(a).resolve() for a in sys.argv[1:]] or sorted(
        (ROOT / "notebooks").glob("*.ipynb")
    )
    for target in targets:
        refresh(target)

"""The wheel carries the prebuilt JupyterLab extension and the server extension's switch.

So ``pip install polos_nb`` gives JupyterLab the sidebar without Node. The wheel is built
with the project's own backend (``build_backend/polos_build.py``) from this checkout,
after ``scripts/build_extension.sh`` (which ``scripts/test.sh`` runs first).
"""

from __future__ import annotations

import json
import os
import subprocess
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = "polos_nb-0.1.0.data/data/"


@pytest.mark.timeout(600)
def test_the_wheel_ships_the_labextension_and_the_server_switch(tmp_path: Path) -> None:
    if not (ROOT / "polos_nb" / "labextension" / "package.json").exists():
        message = "the JupyterLab extension is not built: bash scripts/build_extension.sh"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    uv = subprocess.run(
        ["bash", "scripts/uv.sh"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    subprocess.run(
        [uv, "build", "--wheel", "--out-dir", str(tmp_path)],
        cwd=ROOT,
        check=True,
        capture_output=True,
        env={**os.environ, "UV_PYTHON_DOWNLOADS": "never"},
    )
    [wheel] = tmp_path.glob("polos_nb-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    lab = DATA + "share/jupyter/labextensions/polos-nb/"
    assert lab + "package.json" in names
    assert lab + "install.json" in names
    assert lab + "static/style.js" in names
    meta = json.loads(zipfile.ZipFile(wheel).read(lab + "package.json"))
    assert meta["name"] == "polos-nb"
    entry = meta["jupyterlab"]["_build"]["load"]  # the module federation entry JupyterLab loads
    assert lab + entry in names
    assert meta["jupyterlab"]["_build"].get("mimeExtension")  # the saved-run renderer
    switch = json.loads(
        zipfile.ZipFile(wheel).read(DATA + "etc/jupyter/jupyter_server_config.d/polos_nb.json")
    )
    assert switch == {"ServerApp": {"jpserver_extensions": {"polos_nb": True}}}
    assert "polos_nb/server/__init__.py" in names

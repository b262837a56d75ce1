"""polos_nb's build backend: setuptools, plus the prebuilt JupyterLab extension in wheels.

A wheel carries ``polos_nb/labextension`` (built from ``extension/`` by
``scripts/build_extension.sh``) as ``share/jupyter/labextensions/polos-nb`` and the server
extension's switch as ``etc/jupyter/jupyter_server_config.d/polos_nb.json``, so
``pip install polos_nb`` needs no Node. Building a wheel without the built extension
builds it first (Node and npm needed then); editable installs (``uv sync``) never do:
``scripts/build_extension.sh`` links the extension into the environment instead.
``POLOS_WHEEL_WITHOUT_LABEXTENSION=1`` builds a wheel without it (kernel-only use).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

from setuptools import build_meta as _setuptools
from setuptools.build_meta import *  # noqa: F403

ROOT = Path(__file__).resolve().parents[1]
BUILT = ROOT / "polos_nb" / "labextension" / "package.json"


def _ensure_labextension() -> None:
    if BUILT.exists() or os.environ.get("POLOS_WHEEL_WITHOUT_LABEXTENSION") == "1":
        return
    script = ROOT / "scripts" / "build_extension.sh"
    if not script.exists():
        raise RuntimeError(
            "polos_nb: polos_nb/labextension is missing and extension/ cannot be built here; "
            "build the wheel from a source checkout (bash scripts/build_extension.sh), or set "
            "POLOS_WHEEL_WITHOUT_LABEXTENSION=1 for a wheel without the JupyterLab extension."
        )
    subprocess.run(["bash", str(script), "--no-install"], cwd=ROOT, check=True)


def build_wheel(
    wheel_directory: str,
    config_settings: dict[str, Any] | None = None,
    metadata_directory: str | None = None,
) -> str:
    _ensure_labextension()
    return str(_setuptools.build_wheel(wheel_directory, config_settings, metadata_directory))

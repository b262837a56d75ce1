"""The widget's JavaScript in a DOM (jsdom under node), when node and jsdom are available.

jsdom is looked up in ``$POLOS_JSDOM_DIR/node_modules`` or ``extension/node_modules``
(``npm install jsdom`` there); the real-browser tests (Playwright) cover the rest.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = Path(__file__).parent / "js" / "run_widget.test.mjs"


def _jsdom_dir() -> Path | None:
    for base in (os.environ.get("POLOS_JSDOM_DIR"), str(ROOT / "extension")):
        if base and (Path(base) / "node_modules" / "jsdom").is_dir():
            return Path(base)
    return None


def test_run_widget_js_in_jsdom(tmp_path: Path) -> None:
    node, base = shutil.which("node"), _jsdom_dir()
    if node is None or base is None:
        pytest.skip(
            "node and jsdom are needed (set POLOS_JSDOM_DIR to a dir with node_modules/jsdom)"
        )
    runner = base / "polos_run_widget.test.mjs"  # next to node_modules so `import "jsdom"` resolves
    shutil.copy(SCRIPT, runner)
    try:
        widget = (ROOT / "polos_nb" / "widgets" / "static" / "run.js").as_uri()
        proc = subprocess.run(
            [node, str(runner), widget], capture_output=True, text=True, timeout=60
        )
    finally:
        runner.unlink(missing_ok=True)
    assert proc.returncode == 0 and proc.stdout.strip().endswith("ok"), proc.stdout + proc.stderr

"""``%load_ext polos_nb`` warms up the first model call in a background thread (issue 11,
item 11: the first model call of a kernel waited seconds for litellm's import).

The load does not wait for it (bench/bench_notebook.py measures both); here: the thread
is started by the load and does the imports, and the switch turns it off.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

CODE = """
import sys
from IPython.core.interactiveshell import InteractiveShell
ip = InteractiveShell.instance()
ip.run_line_magic("config", "PolosMagics.warm_up = {warm}")
ip.run_line_magic("load_ext", "polos_nb")
import polos_nb.notebook as nb
print("thread", nb._WARMUP is not None and nb._WARMUP.name == "polos_nb-warm-up")
if {warm}:
    nb.warm_up(wait=True)
    import polos_nb.llm._litellm as lit
    print("loaded", lit._LITELLM is not None, "warmup" in str(lit._BACKENDS))
else:
    print("loaded", "litellm" in sys.modules)
"""


def run(warm: bool, tmp: Path) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("POLOS_JOURNAL", "PYTEST_"))}
    env.update(LITELLM_LOCAL_MODEL_COST_MAP="True", PYTHONPATH=str(ROOT))
    proc = subprocess.run(
        [sys.executable, "-c", CODE.replace("{warm}", str(warm))],
        cwd=tmp,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def test_load_starts_the_warm_up_thread_which_loads_litellm(tmp_path: Path) -> None:
    out = run(True, tmp_path)
    assert "thread True" in out and "loaded True True" in out, out


def test_the_warm_up_can_be_turned_off(tmp_path: Path) -> None:
    out = run(False, tmp_path)
    assert "thread False" in out and "loaded False" in out, out

"""Loading litellm pauses the garbage collector and gives it back as it found it.

Importing litellm makes hundreds of thousands of objects; ``polos_nb.llm._litellm`` pauses
the collector meanwhile (a new process reaches its first agent result about a second
sooner, measured in bench/bench_peers.py's "new process" figure). What must hold: the
collector is off during the import, on again afterwards if it was on, and left off if the
program had turned it off. Each case runs in a fresh interpreter (litellm loads once).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import gc, json, sys
if sys.argv[1] == "off":
    gc.disable()
seen = []
import builtins
real_import = builtins.__import__
def spy(name, *args, **kwargs):
    if name == "litellm" and not seen:
        seen.append(gc.isenabled())
    return real_import(name, *args, **kwargs)
builtins.__import__ = spy
from polos_nb.llm import _litellm
_litellm._lit()
builtins.__import__ = real_import
print(json.dumps({"during": seen[0], "after": gc.isenabled()}))
"""


@pytest.mark.parametrize(("before", "after"), [("on", True), ("off", False)])
def test_the_collector_is_paused_while_litellm_loads(before: str, after: bool) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, before],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), "LITELLM_LOCAL_MODEL_COST_MAP": "True"},
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out == {"during": False, "after": after}

"""``%load_ext polos_nb`` starts a background warm-up of what the first agent run needs.

The first model call of a kernel used to wait seconds for ``import litellm`` (and its first
call's own imports). Here: the load starts the thread and returns; litellm, the agent layer
and the widget libraries are imported on that thread, not on the kernel's; a model call
made while the thread still imports waits for it and works; the switch turns it off.
bench/bench_coldstart.py measures what it saves.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

CODE = """
import sys, threading
importers = {}

class Spy:
    # Records which thread first imports each watched package (imports are not altered).
    def find_spec(self, name, path=None, target=None):
        if name in ("litellm", "anywidget", "polos_nb.agents") and name not in importers:
            importers[name] = threading.current_thread().name
        return None

sys.meta_path.insert(0, Spy())
from IPython.core.interactiveshell import InteractiveShell
ip = InteractiveShell.instance()
ip.run_line_magic("config", "PolosMagics.warm_up = {warm}")
ip.run_line_magic("load_ext", "polos_nb")
import polos_nb.notebook as nb
print("thread", nb._WARMUP is not None and nb._WARMUP.name == "polos_nb-warm-up")
if {warm} and not {call_at_once}:
    nb.warm_up(wait=True)  # nothing else imports meanwhile: the importers are the warm-up's
if {warm}:
    # With call_at_once, a model call while the warm-up may still be importing: it waits, works.
    from polos_nb import Agent, PolosClient
    from polos_nb.testing import ScriptedModel
    client = PolosClient(journal="warm.duckdb")
    agent = Agent(id="first", provider="fake", model=ScriptedModel("first", ["Hello."]))
    print("result", agent.run_sync(client, "hi").result)
    client.close()
    nb.warm_up(wait=True)
    import polos_nb.llm._litellm as lit
    print("loaded", lit._LITELLM is not None)
    print("importers", sorted(importers.items()))
else:
    print("loaded", "litellm" in sys.modules)
"""


def run(warm: bool, tmp: Path, call_at_once: bool = False) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("POLOS_JOURNAL", "PYTEST_"))}
    env.update(
        LITELLM_LOCAL_MODEL_COST_MAP="True",
        POLOS_NB_ALLOW_MODEL_REQUESTS="0",
        PYTHONPATH=str(ROOT),
    )
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            CODE.replace("{warm}", str(warm)).replace("{call_at_once}", str(call_at_once)),
        ],
        cwd=tmp,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def test_load_starts_the_warm_up_which_imports_off_the_kernel_thread(tmp_path: Path) -> None:
    out = run(True, tmp_path)
    assert "thread True" in out and "result Hello." in out and "loaded True" in out, out
    line = next(x for x in out.splitlines() if x.startswith("importers "))
    assert "('litellm', 'polos_nb-warm-up')" in line, line
    assert "('anywidget', 'polos_nb-warm-up')" in line, line


def test_a_model_call_during_the_warm_up_waits_for_it_and_works(tmp_path: Path) -> None:
    out = run(True, tmp_path, call_at_once=True)
    assert "thread True" in out and "result Hello." in out and "loaded True" in out, out


def test_the_warm_up_can_be_turned_off(tmp_path: Path) -> None:
    out = run(False, tmp_path)
    assert "thread False" in out and "loaded False" in out, out

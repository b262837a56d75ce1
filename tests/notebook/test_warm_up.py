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
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]

CODE = """
import gc, sys, threading
if {gc_off}:
    gc.disable()  # the user's choice: the warm-up must leave it so
importers = {}
collecting_then = []

class Spy:
    # Records which thread first imports each watched package (imports are not altered).
    def find_spec(self, name, path=None, target=None):
        if name in ("litellm", "anywidget", "polos_nb.agents") and name not in importers:
            importers[name] = threading.current_thread().name
            if name == "litellm":
                collecting_then.append(gc.isenabled())
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
    from polos_nb.notebook import _warm_up
    print("done", sorted(_warm_up.DONE))
    print("gc", gc.isenabled(), "while importing litellm", collecting_then)
    print("timed", sorted(_warm_up.SECONDS))
else:
    print("loaded", "litellm" in sys.modules)
"""


def run(warm: bool, tmp: Path, call_at_once: bool = False, gc_off: bool = False) -> str:
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
            CODE.replace("{warm}", str(warm))
            .replace("{call_at_once}", str(call_at_once))
            .replace("{gc_off}", str(gc_off)),
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
    # Outside a kernel only imports and litellm's calls: the session is left alone.
    assert "done ['imports', 'litellm']" in out, out
    # The collector was paused while the warm-up imported litellm, and is on again.
    assert "gc True while importing litellm [False]" in out, out
    assert "timed ['imports', 'litellm', 'total']" in out, out


def test_the_warm_up_leaves_a_collector_the_user_turned_off_off(tmp_path: Path) -> None:
    out = run(True, tmp_path, gc_off=True)
    assert "done ['imports', 'litellm']" in out, out
    assert "gc False while importing litellm [False]" in out, out


def test_a_model_call_during_the_warm_up_waits_for_it_and_works(tmp_path: Path) -> None:
    out = run(True, tmp_path, call_at_once=True)
    assert "thread True" in out and "result Hello." in out and "loaded True" in out, out


def test_the_warm_up_can_be_turned_off(tmp_path: Path) -> None:
    out = run(False, tmp_path)
    assert "thread False" in out and "loaded False" in out, out


# ---------------------------------------------------------------------- in a real kernel
# There the warm-up also opens the session's journal, and it runs one agent turn on an
# in-memory journal first (polos_nb/notebook/_warm_up.py).

WAIT = """
import polos_nb.notebook as nb
from polos_nb.notebook import _session, _warm_up
from polos_nb.engine import get_workflow
nb.warm_up(wait=True)
"""


def _kernel(tmp: Path, journal: Path) -> Any:
    from tests.notebook.kernel_harness import Kernel

    return Kernel(tmp, {"POLOS_JOURNAL": str(journal)})


@pytest.mark.kernel
@pytest.mark.timeout(300)
def test_in_a_kernel_the_warm_up_opens_the_journal_and_runs_an_agent_turn_elsewhere(
    tmp_path: Path,
) -> None:
    journal = tmp_path / ".polos" / "first.duckdb"
    kernel = _kernel(tmp_path, journal)
    try:
        kernel.run("%load_ext polos_nb")
        kernel.run(WAIT, timeout=240)
        done = kernel.value("sorted(_warm_up.DONE)")
        assert done == ["agent_turn", "imports", "journal", "litellm"], done
        # The journal is open (the kernel holds it), and it is the session's.
        assert journal.exists()
        assert kernel.value("_session.has_client()") is True
        assert kernel.value("str(_session.get_client().journal_path)") == str(journal)
        # The warm-up's own run went to an in-memory journal: none in this one, and its
        # agent is not left registered.
        assert kernel.value("len(nb.runs())") == 0
        assert kernel.value("get_workflow('polos_nb-warm-up') is None") is True
        # The first real agent cell uses that client.
        kernel.run(
            "from polos_nb import Agent\n"
            "from polos_nb.testing import ScriptedModel\n"
            "a = Agent(id='after-warm-up', provider='fake', model=ScriptedModel('aw', ['Hi.']))\n"
            "run = %polos run a 'hello'\n"
            "result = await run\n"
        )
        assert kernel.value("result.result") == "Hi."
        assert kernel.value("len(nb.runs())") == 1
    finally:
        kernel.close()


@pytest.mark.kernel
@pytest.mark.timeout(300)
def test_the_journal_step_can_be_turned_off_and_a_held_journal_is_left_alone(
    tmp_path: Path,
) -> None:
    journal = tmp_path / ".polos" / "shared.duckdb"
    off = _kernel(tmp_path, tmp_path / "off.duckdb")
    first = _kernel(tmp_path, journal)
    second = None
    try:
        # warm_up_journal = False: everything but the journal is warmed; no file is made.
        off.run("%config PolosMagics.warm_up_journal = False\n%load_ext polos_nb")
        off.run(WAIT, timeout=240)
        assert off.value("sorted(_warm_up.DONE)") == ["agent_turn", "imports", "litellm"]
        assert off.value("_session.has_client()") is False
        assert not (tmp_path / "off.duckdb").exists()

        # A second kernel on a journal the first one holds from its load: its warm-up
        # leaves the journal alone, and its first run names the owner.
        first.run("%load_ext polos_nb")
        first.run(WAIT, timeout=240)
        assert first.value("_session.has_client()") is True
        second = _kernel(tmp_path, journal)
        second.run("%load_ext polos_nb")
        second.run(WAIT, timeout=240)
        assert "journal" not in second.value("sorted(_warm_up.DONE)")
        assert second.value("_session.has_client()") is False
        outputs = second.run(
            "from polos_nb import Agent\n"
            "from polos_nb.testing import ScriptedModel\n"
            "a = Agent(id='second', provider='fake', model=ScriptedModel('s2', ['Hi.']))\n"
            "run = %polos run a 'hello'\n",
            allow_error=True,
        )
        assert "JournalLockedError" in second.text(outputs), second.text(outputs)
    finally:
        for k in (off, first, second):
            if k is not None:
                k.close()

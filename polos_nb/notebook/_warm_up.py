"""The work ``%load_ext polos_nb`` does ahead, on a background thread, for the first agent cell.

The first agent cell of a fresh kernel used to pay for everything done for the first time:
``import litellm`` (seconds) and its first call, DuckDB's import, a new journal file with its
migrations and the engine's threads (~150 ms on a quiet machine), the first pass through the
engine, the agent loop and the tool step, and the display's imports. A person takes a few
seconds to write that cell; :func:`run` does this work meanwhile (bench/bench_coldstart.py
measures the result, docs/benchmarks.md reports it). Each step is independent (one failing
does not skip the others) and silent: a broken setup shows on the first real call, with its
usual error. No network request is made.

1. The session's journal is opened (``get_client()``), when ``journal=True``, which
   ``%load_ext`` passes in a Jupyter kernel (``PolosMagics.warm_up_journal``, on by default),
   unless the session has one already, or the journal is a PostgreSQL URL (that would be a
   network connection).
2. ``litellm``: imported, then one plain and one streamed call with a tool through it, to an
   in-process model (``polos_nb.llm._litellm.warm_up``).
3. The agent layer, the widget libraries and the notebook's display are imported.
4. One agent turn with a tool, run on an **in-memory** journal that is closed afterwards
   (``agent_turn=True``, which ``%load_ext`` passes in a Jupyter kernel; skipped when any
   workflow is registered already, since a new engine sets up the schedules and triggers
   of every registered workflow and the throwaway one must run none of the user's; one
   defined during the turn's tenth of a second would be set up there too, until it closes),
   through litellm to the same in-process model: the engine's start, step and finish paths,
   the agent loop, the tool step and the pydantic models they build on first use (measured
   outside a kernel: the first run on the opened journal then took a median 27 ms instead
   of 41, as long as the runs after it). Nothing of it persists; the warm-up agent is
   unregistered at the end.

Why step 1 opens, and creates, the notebook's journal before any run asks for it: loading
polos_nb in a notebook says that its runs go to that notebook's journal
(``.polos/<notebook>.duckdb``, or the one ``POLOS_JOURNAL`` names), which the first run
creates anyway, a few seconds later; and a kernel restarted on an existing journal already
opens it during ``%load_ext`` (to list unfinished runs), so this only extends to new journals
what restarts have always done. What changes, and how to undo it:

- A DuckDB journal belongs to one process, so the kernel holds it from the load rather than
  from its first run. A second kernel on the same notebook finds it held: its warm-up leaves
  it alone (after DuckDB's short wait for a held lock), and its first run raises
  ``JournalLockedError`` naming the owner, as it did before once the first kernel had run
  anything. Shut the other kernel down, or give this one another journal
  (``%polos journal PATH``).
- ``%polos journal PATH`` (or ``set_journal``) after the load closes the early journal and
  leaves its file behind, empty of runs.
- ``%config PolosMagics.warm_up_journal = False`` before ``%load_ext`` skips step 1 (the
  journal opens on first use, as before); ``PolosMagics.warm_up = False`` turns everything
  off.

The garbage collector is paused while the steps run (when it was on) and run once at their
end: importing litellm and building its models makes hundreds of thousands of objects, and
each automatic full collection on the way walks all of them (measured here: 8 of them, and a
warm-up of 3.5-4.1 s that took 2.7-2.8 s with the collector paused). The one collection at the
end (0.2-0.3 s) then happens during the pause instead of in the first cell. Meanwhile other
cyclic garbage waits for that collection (objects without cycles are freed as always), and a
``gc.disable()`` made by other code during those seconds is undone at the end.

Outside a kernel (a terminal IPython, a test shell, a script calling
``polos_nb.notebook.warm_up()``) steps 1 and 4 do not run unless asked for: only imports and
litellm's calls, which touch nothing of the session.
"""

from __future__ import annotations

import gc
import threading
import time
from typing import Any

__all__ = ["DONE", "SECONDS", "run"]

DONE: set[str] = set()
"""The steps that completed in this process: ``litellm``, ``imports``, ``agent_turn``,
``journal`` (tests and the benchmark read it)."""

SECONDS: dict[str, float] = {}
"""How long each step took, and ``total`` the whole warm-up (seconds, wall clock)."""

_AGENT_ID = "polos_nb-warm-up"
_DONE_LOCK = threading.Lock()


def run(*, journal: bool = False, agent_turn: bool = False) -> None:
    """Do the warm-up now, on the calling thread (not from a running event loop); steps 1
    and 4 only when asked for."""
    started = time.perf_counter()
    collecting = gc.isenabled()
    if collecting:
        gc.disable()  # see the module's docstring
    try:
        if journal:  # first: the quickest to be ready, and useful without any model call
            _step("journal", _journal)
        _step("litellm", _litellm)
        _step("imports", _imports)
        if agent_turn:
            _step("agent_turn", _agent_turn)
    finally:
        if collecting:
            gc.enable()
            gc.collect()
        SECONDS["total"] = time.perf_counter() - started


def _step(name: str, work: Any) -> None:
    started = time.perf_counter()
    try:
        done = work()
    except Exception:  # a broken provider setup or journal shows on the first real call
        return
    finally:
        SECONDS[name] = time.perf_counter() - started
    if done is not False:
        with _DONE_LOCK:
            DONE.add(name)


def _litellm() -> None:
    from polos_nb.llm._litellm import warm_up

    warm_up()


def _imports() -> None:
    import polos_nb.agents
    import polos_nb.widgets  # noqa: F401

    from . import _display, _run  # noqa: F401


def _journal() -> bool:
    from polos_nb.config import is_postgres_url

    from . import _session

    if _session.has_client() or is_postgres_url(_session.journal_path()):
        return False
    _session.get_client()
    return True


def _agent_turn() -> bool:
    from polos_nb.agents import Agent
    from polos_nb.engine import PolosClient, get_all_workflows, get_workflow, unregister_workflow
    from polos_nb.llm._litellm import WARMUP_PREFIX
    from polos_nb.tools._tool import tool

    if get_all_workflows():
        # A new runtime sets up the schedules and triggers of every registered workflow:
        # with the user's workflows defined already, the throwaway journal could run one.
        return False

    @tool(id="polos_nb_warm_up_tool", description="Answers 'ok' (the notebook warm-up's tool).")
    def noop() -> str:
        return "ok"

    agent = Agent(
        id=_AGENT_ID,
        provider="litellm",
        model=f"{WARMUP_PREFIX}/tools",
        tools=[noop],
        system_prompt="Warm-up.",
    )
    client = PolosClient(journal=":memory:")
    try:
        result = agent.run_sync(client, "hi", timeout=120.0)
    finally:
        client.close()
        if get_workflow(_AGENT_ID) is agent:
            unregister_workflow(_AGENT_ID)
    if result.result != "ok":
        raise RuntimeError(f"the warm-up agent answered {result.result!r}")
    return True

"""One durable agent framework, in its own process, for ``bench/bench_peers.py``.

Usage: ``python bench/_peer_worker.py FRAMEWORK MODE DIR [ARGS...]``; prints one line
``PEER_JSON {...}`` on stdout (the frameworks' own output goes to stderr).

Frameworks (the same workload in each: an agent whose instant fake model asks for one
trivial tool call per turn, N turns, then answers; the tool returns its argument):

* ``polos``: polos_nb, a DuckDB journal file (``polos-mem``: the same with ``:memory:``,
  to separate durability from the rest); the fake model is ``polos_nb.testing.FunctionModel``
  reached through litellm's custom-provider path, as every polos_nb model call is.
* ``langgraph``: LangGraph's prebuilt ReAct agent with its SQLite checkpointer
  (``SqliteSaver``), ``durability="sync"``; a ``BaseChatModel`` fake.
* ``pydantic-dbos``: Pydantic AI's ``DBOSAgent`` (model requests are DBOS steps) with the
  tool decorated ``@DBOS.step`` (tools as steps), DBOS's SQLite system database; the fake
  is Pydantic AI's ``FunctionModel``.

Modes:

* ``timed DIR ROUNDS N...``: warm up, then ROUNDS rounds of one run per N (order rotated
  each round); reports each run's wall time and the CPU time the process used meanwhile
  (all its threads), and that CPU time split by thread (Linux: from ``/proc/self/task``;
  threads grouped by name, see :func:`thread_cpu`). The model is instant, so the wall
  time is the framework's overhead.
* ``once DIR N``: one run of N turns, then exit (``bench_peers.py`` runs it under strace
  to count fsyncs and bytes written).
* ``crash DIR N K``: start a run of N turns; the tool of turn K kills the process
  (SIGKILL) the first time it runs. Every tool execution appends its turn to DIR/tools.log.
* ``resume DIR N``: a new process: open the same store, let the framework finish the
  crashed run; reports the time from process start to imports done, to the first model
  call it had to make anew, and to the result (tools re-run are counted from tools.log).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
import warnings
from pathlib import Path
from typing import Any

T_START = time.perf_counter()
WALL_START = time.time()

warnings.filterwarnings("ignore")
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

RUN_ID = "bench-crash-run"
STATE: dict[str, Any] = {"log": None, "kill_at": None, "first_model_call": None}


def tool_effect(i: int) -> int:
    """The trivial tool's body: log the execution when asked, die at the crash turn."""
    log = STATE["log"]
    if log is not None:
        with open(log, "a") as f:
            f.write(f"{os.getpid()} {i}\n")
        if STATE["kill_at"] == i and not os.path.exists(log + ".killed"):
            Path(log + ".killed").write_text("1")
            os.kill(os.getpid(), signal.SIGKILL)
    return i


def decide(tool_results: int, turns: int) -> int | None:
    """The fake model's decision: the next tool argument, or None to answer."""
    if STATE["first_model_call"] is None:
        STATE["first_model_call"] = time.perf_counter()
    return tool_results if tool_results < turns else None


# ============================================================================ polos_nb
class Polos:
    def __init__(self, work: str, memory: bool = False, steplog: bool = False) -> None:
        from polos_nb import Agent, PolosClient, tool
        from polos_nb.llm import Usage
        from polos_nb.testing import FakeToolCall, FakeTurn, FunctionModel

        self.Agent, self.FakeToolCall, self.FakeTurn, self.Usage = (
            Agent,
            FakeToolCall,
            FakeTurn,
            Usage,
        )
        self.FunctionModel = FunctionModel
        self.journal = ":memory:" if memory else os.path.join(work, "polos.duckdb")
        if steplog:  # the opt-in step log (docs/journal.md, "Durability")
            os.environ["POLOS_JOURNAL_STEPLOG"] = "1"
        self.client = PolosClient(journal=self.journal)

        @tool(description="Return the number given.")
        def noop(i: int) -> int:
            return tool_effect(i)

        self.tool = noop
        self.agents: dict[int, Any] = {}
        self.usage = Usage(input_tokens=10, output_tokens=5, total_tokens=15)

    def agent(self, turns: int) -> Any:
        if turns not in self.agents:
            FakeTurn, FakeToolCall, usage = self.FakeTurn, self.FakeToolCall, self.usage

            def brain(messages: list[dict[str, Any]], info: dict[str, Any]) -> Any:
                done = sum(1 for m in messages if m["role"] == "tool")
                k = decide(done, turns)
                if k is None:
                    return FakeTurn(text=f"done after {done} tools", usage=usage)
                return FakeTurn(
                    tool_calls=[FakeToolCall("noop", {"i": k}, id=f"c{k}")], usage=usage
                )

            model = self.FunctionModel(brain, name=f"peer-{turns}")
            self.agents[turns] = self.Agent(
                id=f"peer-agent-{turns}",
                provider="fake",
                model=model,
                tools=[self.tool],
                llm_retries=0,
            )
        return self.agents[turns]

    async def run(self, turns: int) -> Any:
        os.environ["POLOS_AGENT_MAX_STEPS"] = str(turns + 5)
        result = await self.agent(turns).run(self.client, "go")
        assert result.total_steps == turns + 1, result.stop_reason
        return result

    async def start_crashing(self, turns: int) -> None:
        os.environ["POLOS_AGENT_MAX_STEPS"] = str(turns + 5)
        handle = await self.agent(turns).invoke(self.client, "go")
        Path(STATE["log"] + ".id").write_text(handle.id)
        await self.client.wait_for_result(handle.id, timeout=600)

    async def resume(self, turns: int) -> Any:
        os.environ["POLOS_AGENT_MAX_STEPS"] = str(turns + 5)
        self.agent(turns)  # defining it resumes the run the dead process left
        run_id = Path(STATE["log"] + ".id").read_text()
        result = await self.client.wait_for_result(run_id, timeout=600)
        assert result.total_steps == turns + 1, result.stop_reason
        return result

    def close(self) -> None:
        self.client.close()


# ============================================================================ LangGraph
class LangGraph:
    def __init__(self, work: str) -> None:
        import sqlite3

        from langchain_core.language_models.chat_models import BaseChatModel
        from langchain_core.messages import AIMessage, ToolMessage
        from langchain_core.outputs import ChatGeneration, ChatResult
        from langchain_core.tools import tool
        from langgraph.checkpoint.sqlite import SqliteSaver
        from langgraph.prebuilt import create_react_agent

        class FakeChat(BaseChatModel):
            turns: int = 10

            @property
            def _llm_type(self) -> str:
                return "peer-fake"

            def bind_tools(self, tools: Any, **kwargs: Any) -> Any:
                return self

            def _generate(self, messages: Any, stop: Any = None, **kwargs: Any) -> ChatResult:
                done = sum(1 for m in messages if isinstance(m, ToolMessage))
                k = decide(done, self.turns)
                if k is None:
                    msg = AIMessage(content=f"done after {done} tools")
                else:
                    msg = AIMessage(
                        content="", tool_calls=[{"name": "noop", "args": {"i": k}, "id": f"c{k}"}]
                    )
                return ChatResult(generations=[ChatGeneration(message=msg)])

        @tool
        def noop(i: int) -> int:
            """Return the number given."""
            return tool_effect(i)

        self.FakeChat, self.tool, self.create = FakeChat, noop, create_react_agent
        self.conn = sqlite3.connect(os.path.join(work, "langgraph.sqlite"), check_same_thread=False)
        self.saver = SqliteSaver(self.conn)
        self.saver.setup()
        self.graphs: dict[int, Any] = {}
        self.count = 0

    def graph(self, turns: int) -> Any:
        if turns not in self.graphs:
            self.graphs[turns] = self.create(
                self.FakeChat(turns=turns), [self.tool], checkpointer=self.saver
            )
        return self.graphs[turns]

    def _config(self, thread: str) -> dict[str, Any]:
        return {"configurable": {"thread_id": thread}, "recursion_limit": 100_000}

    async def run(self, turns: int) -> Any:
        self.count += 1
        out = self.graph(turns).invoke(
            {"messages": [("user", "go")]},
            self._config(f"t{os.getpid()}-{self.count}"),
            durability="sync",
        )
        assert len(out["messages"]) == 2 * turns + 2, len(out["messages"])
        return out

    async def start_crashing(self, turns: int) -> None:
        self.graph(turns).invoke(
            {"messages": [("user", "go")]}, self._config(RUN_ID), durability="sync"
        )

    async def resume(self, turns: int) -> Any:
        out = self.graph(turns).invoke(None, self._config(RUN_ID), durability="sync")
        assert len(out["messages"]) == 2 * turns + 2, len(out["messages"])
        return out

    def close(self) -> None:
        self.conn.close()


# ============================================================================ Pydantic AI + DBOS
class PydanticDBOS:
    def __init__(self, work: str, turns_list: list[int]) -> None:
        import logging

        from dbos import DBOS, DBOSConfig, SetWorkflowID
        from pydantic_ai import Agent
        from pydantic_ai.durable_exec.dbos import DBOSAgent
        from pydantic_ai.messages import ModelResponse, TextPart, ToolCallPart, ToolReturnPart
        from pydantic_ai.models.function import FunctionModel
        from pydantic_ai.usage import UsageLimits

        logging.getLogger("dbos").setLevel(logging.WARNING)
        config: DBOSConfig = {
            "name": "peer_bench",
            "system_database_url": f"sqlite:///{os.path.join(work, 'dbos.sqlite')}",
            "log_level": "WARNING",
        }
        DBOS(config=config)
        self.DBOS, self.SetWorkflowID = DBOS, SetWorkflowID
        self.limits = UsageLimits(request_limit=None, tool_calls_limit=None)

        @DBOS.step()
        def noop(i: int) -> int:
            """Return the number given."""
            return tool_effect(i)

        self.agents: dict[int, Any] = {}
        for turns in turns_list:

            def fn(messages: list[Any], info: Any, turns: int = turns) -> Any:
                done = sum(1 for m in messages for p in m.parts if isinstance(p, ToolReturnPart))
                k = decide(done, turns)
                if k is None:
                    return ModelResponse(parts=[TextPart(f"done after {done} tools")])
                return ModelResponse(
                    parts=[ToolCallPart(tool_name="noop", args={"i": k}, tool_call_id=f"c{k}")]
                )

            agent = Agent(FunctionModel(fn), tools=[noop], name=f"peer_{turns}")
            self.agents[turns] = DBOSAgent(agent, name=f"peer_{turns}")
        DBOS.launch()
        self.count = 0

    async def run(self, turns: int) -> Any:
        self.count += 1
        with self.SetWorkflowID(f"w{os.getpid()}-{self.count}-{turns}"):
            out = await self.agents[turns].run("go", usage_limits=self.limits)
        assert out.output == f"done after {turns} tools", out.output
        return out

    async def start_crashing(self, turns: int) -> None:
        with self.SetWorkflowID(RUN_ID):
            await self.agents[turns].run("go", usage_limits=self.limits)

    async def resume(self, turns: int) -> Any:
        # DBOS.launch() (in __init__) already started recovering the run; wait for it.
        handle = await self.DBOS.retrieve_workflow_async(RUN_ID)
        out = await handle.get_result()
        assert out.output == f"done after {turns} tools", out
        return out

    def close(self) -> None:
        self.DBOS.destroy()


# ============================================================================ driver
def _thread_group(name: str) -> str:
    """Threads grouped by what runs on them (names as the frameworks set them)."""
    if name == "MainThread":
        return "main"
    if name.startswith("polos-engine"):
        return "engine loop"
    if name.startswith("polos-journal"):
        return "journal writer"
    if name.startswith(("asyncio_", "ThreadPoolExecutor")):
        return "worker threads"
    return "other Python threads"


def thread_cpu() -> dict[str, float]:
    """CPU seconds used so far by this process's threads, summed per :func:`_thread_group`.

    Python's threads are read from their own CPU clocks (``pthread_getcpuclockid``); what
    the process used besides them (threads Python did not start, such as DuckDB's own
    workers, and threads that ended meanwhile) is "other threads". Empty where the clocks are missing.
    """
    import threading

    if not hasattr(time, "pthread_getcpuclockid"):
        return {}
    out: dict[str, float] = {}
    total = time.process_time()
    seen = 0.0
    for t in threading.enumerate():
        try:
            used = time.clock_gettime(time.pthread_getcpuclockid(t.ident))  # type: ignore[arg-type]
        except (OSError, TypeError, OverflowError):  # the thread ended meanwhile
            continue
        group = _thread_group(t.name)
        out[group] = out.get(group, 0.0) + used
        seen += used
    out["other threads"] = max(0.0, total - seen)
    return out


def preload(framework: str) -> None:
    """Import what the framework's program imports at its top (timed as "imports")."""
    if framework.startswith("polos"):
        import polos_nb
        import polos_nb.testing  # noqa: F401
    elif framework == "langgraph":
        import langchain_core.language_models.chat_models  # noqa: F401
        import langgraph.checkpoint.sqlite
        import langgraph.prebuilt  # noqa: F401
    elif framework == "pydantic-dbos":
        import dbos  # noqa: F401
        import pydantic_ai
        import pydantic_ai.durable_exec.dbos
        import pydantic_ai.models.function  # noqa: F401


def _time_litellm_import() -> None:
    """polos_nb imports litellm at its first model call: time that import (a cause, reported)."""
    import polos_nb.llm._litellm as lit

    original = lit._lit

    def timed() -> Any:
        if lit._LITELLM is not None:
            return original()
        t = time.perf_counter()
        try:
            return original()
        finally:
            STATE["litellm_import_s"] = time.perf_counter() - t

    lit._lit = timed


def make(framework: str, work: str, turns_list: list[int]) -> Any:
    if framework == "polos":
        return Polos(work)
    if framework == "polos-mem":
        return Polos(work, memory=True)
    if framework == "polos-steplog":
        return Polos(work, steplog=True)
    if framework == "langgraph":
        return LangGraph(work)
    if framework == "pydantic-dbos":
        return PydanticDBOS(work, turns_list)
    raise SystemExit(f"unknown framework {framework!r}")


async def main() -> dict[str, Any]:
    framework, mode, work, *rest = sys.argv[1:]
    args = [int(x) for x in rest]
    out: dict[str, Any] = {"framework": framework, "mode": mode, "pid": os.getpid()}
    preload(framework)
    if mode == "timed":
        rounds, turns_list = args[0], args[1:]
        fw = make(framework, work, [*turns_list, 2])
        out["imports_s"] = time.perf_counter() - T_START
        await fw.run(2)  # warm-up: first-call costs (lazy imports, caches) are not per turn
        walls: dict[int, list[float]] = {n: [] for n in turns_list}
        cpus: dict[int, list[float]] = {n: [] for n in turns_list}
        by_thread: dict[int, dict[str, float]] = {n: {} for n in turns_list}
        for r in range(rounds):
            order = turns_list[r % len(turns_list) :] + turns_list[: r % len(turns_list)]
            for n in order:
                before = thread_cpu()
                c, t = time.process_time(), time.perf_counter()
                await fw.run(n)
                walls[n].append(time.perf_counter() - t)
                cpus[n].append(time.process_time() - c)
                after = thread_cpu()
                for group, used in after.items():
                    by_thread[n][group] = (
                        by_thread[n].get(group, 0.0) + used - before.get(group, 0.0)
                    )
        out["walls"] = {str(n): w for n, w in walls.items()}
        out["cpus"] = {str(n): w for n, w in cpus.items()}
        out["thread_cpu"] = {str(n): g for n, g in by_thread.items()}
        fw.close()
    elif mode == "once":
        (turns,) = args
        fw = make(framework, work, [turns])
        t = time.perf_counter()
        await fw.run(turns)
        out["wall_s"] = time.perf_counter() - t
        fw.close()
    elif mode == "crash":
        turns, kill_at = args
        STATE["log"], STATE["kill_at"] = os.path.join(work, "tools.log"), kill_at
        fw = make(framework, work, [turns])
        await fw.start_crashing(turns)
        out["error"] = "the run finished: the crash did not happen"
    elif mode == "resume":
        (turns,) = args
        STATE["log"] = os.path.join(work, "tools.log")
        if framework.startswith("polos"):
            _time_litellm_import()
        t_import = time.perf_counter()
        fw = make(framework, work, [turns])
        t_open = time.perf_counter()
        await fw.resume(turns)
        t_done = time.perf_counter()
        first = STATE["first_model_call"]
        out.update(
            process_start_wall=WALL_START,
            imports_s=t_import - T_START,
            open_s=t_open - t_import,
            resume_s=t_done - t_import,
            to_first_new_model_call_s=(first - t_import) if first is not None else None,
            litellm_import_s=STATE.get("litellm_import_s"),
            done_wall=time.time(),
        )
        fw.close()
    else:
        raise SystemExit(f"unknown mode {mode!r}")
    return out


if __name__ == "__main__":
    real_stdout = sys.stdout
    sys.stdout = sys.stderr  # the frameworks' own prints stay off the JSON channel
    result = asyncio.run(main())
    real_stdout.write("PEER_JSON " + json.dumps(result) + "\n")
    real_stdout.flush()
    os._exit(0)  # no interpreter teardown in the timings of the parent

"""The smaller defects of issue 9 (item 9): each row a case that used to go wrong."""

from __future__ import annotations

import asyncio
import math
import uuid
from pathlib import Path
from typing import Any

import pytest
from IPython.core.error import UsageError
from pydantic import BaseModel

from polos_nb import (
    Agent,
    JournalUnavailableError,
    PolosClient,
    ResumeError,
    UserError,
    WorkflowContext,
    events,
    schedules,
    tool,
    workflow,
)
from polos_nb.agents.memory import conversation_topic
from polos_nb.testing import FakeToolCall, FunctionModel, ScriptedModel, refuse_writes
from tests.engine.helpers import rows, wait_status
from tests.notebook.conftest import shell  # noqa: F401 - the IPython shell fixture

pytestmark = pytest.mark.usefixtures("litellm_loaded")


def uid(name: str) -> str:
    return f"{name}_{uuid.uuid4().hex[:8]}"


@pytest.fixture
def client(tmp_path: Path) -> Any:
    c = PolosClient(journal=tmp_path / "j.duckdb")
    yield c
    c.close()


# ---------------------------------------------------------------------- conversation memory
LONG = "a" * 90
MEMORY_PAIRS = [
    ("team/bot", "team_bot"),
    ("team bot", "team_bot"),
    ("bot!", "bot?"),
    (LONG + "-one", LONG + "-two"),  # the same first 80 characters
]


@pytest.mark.parametrize(
    ("first", "second"), MEMORY_PAIRS, ids=[f"{a}|{b}"[:40] for a, b in MEMORY_PAIRS]
)
async def test_agents_with_similar_ids_keep_separate_memories(
    client: PolosClient, first: str, second: str
) -> None:
    assert conversation_topic(first, "c1") != conversation_topic(second, "c1")
    seen: list[list[dict[str, Any]]] = []

    def listen(messages: list[dict[str, Any]], info: Any) -> str:
        seen.append(messages)
        return "ok"

    suffix = uuid.uuid4().hex[:6]
    a = Agent(
        id=first + suffix,
        provider="fake",
        model=ScriptedModel(uid("m"), ["I am the first."]),
    )
    b = Agent(id=second + suffix, provider="fake", model=FunctionModel(listen, uid("f")))
    await a.run(client, "remember: the code is 1234", conversation_id="c1", timeout=30)
    await b.run(client, "what is the code?", conversation_id="c1", timeout=30)
    told = " ".join(str(m.get("content")) for m in seen[0])
    assert "1234" not in told and "I am the first." not in told


# ---------------------------------------------------------------------- deep tool arguments
def _deep_list(depth: int) -> str:
    return '{"x": ' + "[" * depth + "]" * depth + "}"


def _deep_object(depth: int) -> str:
    return '{"x": ' + '{"y": ' * depth + "1" + "}" * depth + "}"


DEEP = [
    ("list nested 50000 deep", _deep_list(50_000)),
    ("object nested 20000 deep", _deep_object(20_000)),
]


@pytest.mark.parametrize(("case", "arguments"), DEEP, ids=[d[0] for d in DEEP])
async def test_deeply_nested_tool_arguments_become_a_tool_error(
    client: PolosClient, case: str, arguments: str
) -> None:
    calls: list[Any] = []

    @tool(description="Echo")
    def echo(x: Any) -> str:
        calls.append(x)
        return "echoed"

    model = ScriptedModel(uid("m"), [FakeToolCall("echo", arguments, id="deep"), "Recovered."])
    agent = Agent(id=uid("deep"), provider="fake", model=model, tools=[echo])
    result = await agent.run(client, "go", timeout=60)
    assert result.result == "Recovered."
    assert calls == []
    [outcome] = result.tool_results
    assert outcome.status == "failed" and "nested too deeply" in str(outcome.error)


class Reading(BaseModel):
    x: Any


@pytest.mark.parametrize(("case", "reply"), DEEP, ids=[d[0] for d in DEEP])
async def test_a_deeply_nested_structured_reply_is_sent_back_to_the_model(
    client: PolosClient, case: str, reply: str
) -> None:
    seen: list[str] = []

    def answer(messages: list[dict[str, Any]], info: Any) -> str:
        seen.append(str(messages[-1].get("content")))
        return reply if len(seen) == 1 else '{"x": 1}'

    agent = Agent(
        id=uid("deep_out"),
        provider="fake",
        model=FunctionModel(answer, uid("f")),
        output_schema=Reading,
    )
    result = await agent.run(client, "go", timeout=60)
    assert result.result == Reading(x=1)
    assert len(seen) == 2 and "nested too deeply" in seen[1]


# ---------------------------------------------------------------------- publish sequence numbers
async def test_a_publish_that_fails_to_commit_gives_its_sequence_number_back(
    client: PolosClient,
) -> None:
    topic = f"orders/{uuid.uuid4().hex[:6]}"
    first = await events.publish(client, topic, {"data": {"n": 1}})
    with refuse_writes(client), pytest.raises(JournalUnavailableError):
        await events.publish(client, topic, {"data": {"n": 2}})
    again = await events.publish(client, topic, {"data": {"n": 3}})
    assert (first, again) == (1, 2)  # events.publish returns the topic sequence number
    stored = await rows(client, "SELECT topic_seq FROM events WHERE topic = ? ORDER BY 1", [topic])
    assert stored == [(1,), (2,)]


# ---------------------------------------------------------------------- resume keys
async def test_a_resume_with_a_mistyped_key_names_the_waiting_keys(client: PolosClient) -> None:
    @workflow(id=uid("typo"))
    async def flow(ctx: WorkflowContext) -> Any:
        return (await ctx.step.suspend("approve_payment")).data

    handle = await flow.invoke(client)
    await wait_status(client, handle.id, "waiting")
    for typo in ("aprove_payment", "approve-payment", "Approve_payment"):
        with pytest.raises(ResumeError) as info:
            await client.resume(None, handle.id, typo, {"ok": True})
        assert "'approve_payment'" in str(info.value) and repr(typo) in str(info.value)
    assert await rows(client, "SELECT count(*) FROM mailbox") == [(0,)]
    await client.resume(None, handle.id, "approve_payment", {"ok": True})
    assert await client.wait_for_result(handle.id, timeout=30) == {"ok": True}


# ---------------------------------------------------------------------- cron
NEVER = ["0 0 30 2 *", "0 0 31 4 *", "0 0 31 6 *", "30 12 31 11 *"]
BAD = ["61 0 * * *", "0 0 * * 8", "* * *", "every day"]


@pytest.mark.parametrize("cron", NEVER + BAD)
async def test_a_cron_that_is_invalid_or_never_fires_is_refused(
    client: PolosClient, cron: str
) -> None:
    @workflow(id=uid("cron"))
    async def job(ctx: WorkflowContext) -> None:
        return None

    with pytest.raises(UserError) as info:
        await schedules.create(client, job, cron)
    assert type(info.value).__module__ == "polos_nb.errors"
    if cron in NEVER:
        assert "never" in str(info.value)
    with pytest.raises(UserError):
        workflow(id=uid("cron_deco"), schedule=cron)(job.func)
    assert await schedules.list(client) == []


async def test_a_rare_but_real_cron_is_accepted(client: PolosClient) -> None:
    @workflow(id=uid("leap"))
    async def leap(ctx: WorkflowContext) -> None:
        return None

    assert await schedules.create(client, leap, "0 0 29 2 *")  # every leap day


# ---------------------------------------------------------------------- magics
def test_polos_journal_with_an_empty_path_keeps_the_session(shell: Any) -> None:  # noqa: F811
    before = shell.run_line_magic("polos", "journal")
    for empty in ("''", '""', "'  '"):
        with pytest.raises(UsageError, match="path"):
            shell.run_line_magic("polos", f"journal {empty}")
    assert shell.run_line_magic("polos", "journal") == before
    assert len(shell.run_line_magic("polos", "runs")) == 0  # the session still works


@pytest.mark.parametrize("limit", ["-5", "0", "many", "1.5"])
def test_polos_runs_with_a_bad_limit_is_a_usage_error(shell: Any, limit: str) -> None:  # noqa: F811
    with pytest.raises(UsageError, match="--limit"):
        shell.run_line_magic("polos", f"runs --limit {limit}")


async def test_list_executions_with_a_bad_limit_is_a_user_error(client: PolosClient) -> None:
    for limit in (-5, 0):
        with pytest.raises(UserError, match="limit"):
            await client.list_executions(limit=limit)


@pytest.mark.parametrize(
    "options",
    [
        "--max-steps 0",
        "--max-steps -2",
        "--max-tokens -3",
        "--max-tokens 0",
        "--temperature nan",
        "--temperature inf",
        "--temperature -1",
    ],
)
def test_polos_agent_refuses_impossible_limits(shell: Any, options: str) -> None:  # noqa: F811
    model = ScriptedModel(uid("m"), ["hi"])
    shell.user_ns["bad_model"] = model
    name = f"agent_{uuid.uuid4().hex[:6]}"
    with pytest.raises(UsageError):
        shell.run_cell_magic("polos_agent", f"{name} --model bad_model {options}", "Be brief.")
    assert name not in shell.user_ns


def test_agent_refuses_a_temperature_that_is_not_a_number() -> None:
    for value in (math.nan, math.inf):
        with pytest.raises(UserError, match="temperature"):
            Agent(
                id=uid("t"),
                provider="fake",
                model=ScriptedModel(uid("m"), ["x"]),
                temperature=value,
            )


async def test_resume_before_the_suspension_is_still_kept(client: PolosClient) -> None:
    """An early resume (D8) still works while the run waits for something else."""
    gate = asyncio.Event()

    @workflow(id=uid("early"))
    async def flow(ctx: WorkflowContext) -> Any:
        await ctx.step.run("wait-gate", gate.wait)
        return (await ctx.step.suspend("approve")).data

    handle = await flow.invoke(client)
    await client.resume(None, handle.id, "approve", {"early": True})
    gate.set()
    assert await client.wait_for_result(handle.id, timeout=30) == {"early": True}

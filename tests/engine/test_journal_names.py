"""Stable class names in the journal: polos_nb's classes are journaled under their public
names, and a journal recorded before that (schema 4, private module paths; the fixture
``tests/fixtures/journal_v4.duckdb.gz`` was recorded by ``record_journal_v4.py``) opens,
is migrated, and decodes."""

from __future__ import annotations

import gzip
import re
import shutil
import uuid
from pathlib import Path

import duckdb
import pytest

from polos_nb import (
    AgentResult,
    BatchStepResult,
    BatchWorkflowInput,
    EventPayload,
    PolosClient,
    WorkflowContext,
    _serde,
    workflow,
)
from polos_nb._journal_names import RENAMED
from polos_nb.engine.journal import SCHEMA_VERSION
from tests.engine.helpers import rows, wait_status

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "journal_v4.duckdb.gz"
_CLS = re.compile(r'"cls":"([^"]+)"')
_JSON = {
    "executions": ("payload", "result", "error", "state", "initial_state"),
    "steps": ("output", "error", "state"),
    "events": ("data",),
    "waits": ("detail",),
    "mailbox": ("data",),
}


def _class_names(con: duckdb.DuckDBPyConnection) -> set[str]:
    names: set[str] = set()
    for table, columns in _JSON.items():
        for column in columns:
            for (text,) in con.execute(
                f"SELECT {column}::VARCHAR FROM {table} WHERE {column} IS NOT NULL"
            ).fetchall():
                names.update(_CLS.findall(text))
    return names


async def test_new_journals_hold_public_class_names(client: PolosClient) -> None:
    wf_id = f"names_{uuid.uuid4().hex[:8]}"

    @workflow(id=wf_id)
    async def flow(ctx: WorkflowContext) -> dict:
        answer = await ctx.step.suspend("ok", {"q": 1})
        return {"answer": answer}

    handle = await flow.invoke(client)
    await wait_status(client, handle.id, "waiting")
    await client.resume(wf_id, handle.id, "ok", {"yes": True})
    result = await client.wait_for_result(handle.id, timeout=10)
    assert isinstance(result["answer"], EventPayload)
    outputs = await rows(
        client, "SELECT output::VARCHAR FROM steps WHERE execution_id = ?", [handle.id]
    )
    names = {n for (text,) in outputs if text for n in _CLS.findall(text)}
    assert names == {"polos_nb:EventPayload"}


def test_every_renamed_class_has_a_public_name_that_is_written_now() -> None:
    for old, new in RENAMED.items():
        cls = _serde._resolve(new)
        assert cls is not None, new
        assert _serde.qualified_name(cls) == new  # what a journal gets today
        assert f"{cls.__module__}:{cls.__qualname__}" == old  # where it lives today


def test_an_old_private_name_decodes_even_after_its_module_moved(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    gone = "polos_nb.engine._moved_away:EventPayload"
    text = (
        '{"$t":"model","cls":"' + gone + '","v":{"id":"1","sequence_id":1,"topic":"t",'
        '"event_type":"resume_k","data":{"a":1},"created_at":"2026-01-01T00:00:00+00:00"}}'
    )
    with pytest.raises(Exception, match="_moved_away"):
        _serde.loads(text)
    monkeypatch.setitem(RENAMED, gone, "polos_nb:EventPayload")
    value = _serde.loads(text)
    assert isinstance(value, EventPayload) and value.data == {"a": 1}


@workflow(id="fx_child")
async def fx_child(ctx: WorkflowContext, n: int) -> int:
    return n * 2


@workflow(id="fx_main")
async def fx_main(ctx: WorkflowContext, payload: dict) -> dict:
    answer = await ctx.step.suspend("review", {"amount": payload["amount"]})
    kids = await ctx.step.batch_invoke_and_wait(
        "kids", [BatchWorkflowInput(id="fx_child", payload=i) for i in (1, 2)]
    )
    return {"answer": answer, "kids": kids}


async def test_a_journal_recorded_at_schema_4_is_migrated_and_decodes(tmp_path: Path) -> None:
    path = tmp_path / "journal_v4.duckdb"
    with gzip.open(FIXTURE) as src, path.open("wb") as dst:
        shutil.copyfileobj(src, dst)
    con = duckdb.connect(str(path), read_only=True)
    try:
        assert con.execute("SELECT max(version) FROM polos_schema_migrations").fetchone() == (4,)
        before = _class_names(con)
    finally:
        con.close()
    assert before and all("._" in name for name in before)  # private module paths
    assert before <= set(RENAMED)

    client = PolosClient(journal=path)
    try:
        ids = dict(await rows(client, "SELECT workflow_id, id FROM executions"))
        main_id, agent_id = ids["fx_main"], ids["fx_agent"]
        migrated = await rows(client, "SELECT max(version) FROM polos_schema_migrations")
        assert migrated == [(SCHEMA_VERSION,)] and SCHEMA_VERSION >= 7
        result = (await client.get_execution(main_id)).result
        assert isinstance(result["answer"], EventPayload)
        assert result["answer"].data == {"approved": True}
        assert [k.result for k in result["kids"]] == [2, 4]
        assert all(isinstance(k, BatchStepResult) for k in result["kids"])
        agent = (await client.get_execution(agent_id)).result
        assert isinstance(agent, AgentResult) and agent.result == "It is five."
        assert agent.tool_results[0].result == 5
        # The recorded run still replays against today's code, step for step.
        report = await client.replay(main_id)
        assert report.matches, report
        record = await client.run_record(main_id)
        assert [s.key for s in record.steps if s.execution_id == main_id][:1] == ["review"]
    finally:
        client.close()
    con = duckdb.connect(str(path), read_only=True)
    try:
        after = _class_names(con)
    finally:
        con.close()
    assert after == {RENAMED[name] for name in before}

"""Credentials are never journaled nor displayed (issue 9, item 5).

Each row hands polos_nb a credential the way a user or a provider does; after the run,
every column of every table of the journal file is scanned for it, and so is what the
notebook tools display (the inspector, the events table, the run card).
"""

from __future__ import annotations

import asyncio
import http.server
import threading
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

from polos_nb import (
    Agent,
    PolosClient,
    WebSearchToolConfig,
    WorkflowContext,
    _secrets,
    _serde,
    create_web_search_tool,
    register_secret,
    workflow,
)
from polos_nb.notebook import events as events_table
from polos_nb.notebook import inspect as inspect_run
from polos_nb.notebook._run import Run
from polos_nb.testing import FakeToolCall, FunctionModel, ScriptedModel

pytestmark = pytest.mark.usefixtures("litellm_loaded")


def new_key(prefix: str = "sk-test") -> str:
    return f"{prefix}-{uuid.uuid4().hex}{uuid.uuid4().hex[:8]}"


def scan_journal(path: Path, secret: str) -> list[str]:
    """Every (table, column) of the journal file whose text holds ``secret``."""
    con = duckdb.connect(str(path), read_only=True)
    found = []
    try:
        tables = [r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()]
        for table in tables:
            columns = [r[0] for r in con.execute(f"DESCRIBE {table}").fetchall()]
            for column in columns:
                hits = con.execute(
                    f'SELECT count(*) FROM {table} WHERE CAST("{column}" AS VARCHAR) LIKE ?',
                    [f"%{secret}%"],
                ).fetchone()
                if hits and hits[0]:
                    found.append(f"{table}.{column}")
    finally:
        con.close()
    raw = path.read_bytes()
    if secret.encode() in raw:
        found.append("raw file bytes")
    return found


class _EchoHandler(http.server.BaseHTTPRequestHandler):
    """A search API that refuses the key and echoes it back, as some APIs do."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = f'{{"error": "invalid key {self.headers.get("Authorization")}"}}'.encode()
        self.send_response(401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def echo_server() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _EchoHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


Case = Callable[[PolosClient, str, str], Awaitable[str]]


async def _agent_run_api_key(client: PolosClient, key: str, base: str) -> str:
    model = ScriptedModel(f"m-{uuid.uuid4().hex[:6]}", ["Hello."])
    agent = Agent(id=f"a-{uuid.uuid4().hex[:6]}", provider="fake", model=model)
    result = await agent.run(client, "hi", api_key=key, timeout=30)
    assert result.result == "Hello."
    return result.agent_run_id


async def _with_input_api_key(client: PolosClient, key: str, base: str) -> str:
    model = ScriptedModel(f"m-{uuid.uuid4().hex[:6]}", ["Child answer."])
    child = Agent(id=f"c-{uuid.uuid4().hex[:6]}", provider="fake", model=model)

    @workflow(id=f"parent-{uuid.uuid4().hex[:6]}")
    async def parent(ctx: WorkflowContext) -> str:
        out = await ctx.step.agent_invoke_and_wait("ask", child.with_input("hi", api_key=key))
        return out.result

    handle = await parent.invoke(client)
    assert await client.wait_for_result(handle.id, timeout=30) == "Child answer."
    return handle.id


async def _provider_error_echo(client: PolosClient, key: str, base: str) -> str:
    def refuse(messages: Any, info: Any) -> Any:
        raise RuntimeError(f"401 Incorrect API key provided: {key}. Find your key at ...")

    model = FunctionModel(refuse, f"m-{uuid.uuid4().hex[:6]}")
    agent = Agent(
        id=f"a-{uuid.uuid4().hex[:6]}", provider="fake", model=model, api_key=key, llm_retries=0
    )
    handle = await agent.invoke(client, "hi")
    with pytest.raises(Exception) as info:
        await client.wait_for_result(handle.id, timeout=30)
    assert key not in str(info.value)
    assert "[redacted]" in str(info.value)
    return handle.id


async def _web_search_key(client: PolosClient, key: str, base: str) -> str:
    search = create_web_search_tool(WebSearchToolConfig(api_key=key, base_url=base))
    model = ScriptedModel(
        f"m-{uuid.uuid4().hex[:6]}", [FakeToolCall("web_search", {"query": "news"}), "Done."]
    )
    agent = Agent(id=f"a-{uuid.uuid4().hex[:6]}", provider="fake", model=model, tools=[search])
    result = await agent.run(client, "search", timeout=30)
    assert result.tool_results[0].status == "failed"  # the API refused the key
    return result.agent_run_id


async def _web_search_env_key(client: PolosClient, key: str, base: str) -> str:
    import os

    os.environ["TAVILY_API_KEY"] = key
    try:
        return await _web_search_key_from_env(client, base)
    finally:
        del os.environ["TAVILY_API_KEY"]


async def _web_search_key_from_env(client: PolosClient, base: str) -> str:
    search = create_web_search_tool(WebSearchToolConfig(base_url=base))
    model = ScriptedModel(
        f"m-{uuid.uuid4().hex[:6]}", [FakeToolCall("web_search", {"query": "news"}), "Done."]
    )
    agent = Agent(id=f"a-{uuid.uuid4().hex[:6]}", provider="fake", model=model, tools=[search])
    result = await agent.run(client, "search", timeout=30)
    return result.agent_run_id


async def _registered_secret_in_results(client: PolosClient, key: str, base: str) -> str:
    register_secret(key)

    @workflow(id=f"w-{uuid.uuid4().hex[:6]}")
    async def flow(ctx: WorkflowContext) -> dict:
        token = await ctx.step.run("fetch-token", lambda: key)
        await ctx.step.run("use", lambda: f"Authorization: Bearer {token}")
        return {"token": token}

    handle = await flow.invoke(client)
    # In this process the step's value is the credential itself (D2)...
    assert await client.wait_for_result(handle.id, timeout=30) == {"token": key}
    return handle.id


CASES: list[tuple[str, Case]] = [
    ("agent.run(api_key=...)", _agent_run_api_key),
    ("with_input(api_key=...)", _with_input_api_key),
    ("provider error echoing the key", _provider_error_echo),
    ("web search key echoed by the API", _web_search_key),
    ("web search key from $TAVILY_API_KEY", _web_search_env_key),
    ("register_secret() value returned by steps", _registered_secret_in_results),
]


@pytest.mark.parametrize(("case", "run_case"), CASES, ids=[c[0] for c in CASES])
async def test_credentials_are_in_no_table_and_no_display(
    tmp_path: Path, echo_server: str, case: str, run_case: Case
) -> None:
    key = new_key()
    path = tmp_path / "j.duckdb"
    client = PolosClient(journal=path)
    try:
        run_id = await run_case(client, key, echo_server)
        inspection = await asyncio.to_thread(inspect_run, run_id, client=client)
        frame = await asyncio.to_thread(events_table, run_id, client=client)
        run = await asyncio.to_thread(lambda: Run(client, run_id).preload())
        shown = {
            "inspector": inspection._repr_html_() + repr(inspection),
            "steps table": inspection.steps.to_string(),
            "events table": frame.to_string(),
            "run card": run._repr_html_() + repr(run),
        }
        for where, text in shown.items():
            assert key not in text, f"{case}: the key is displayed in the {where}"
    finally:
        client.close()
    assert scan_journal(path, key) == [], f"{case}: the key is journaled"


def test_the_encoder_keeps_credentials_out_and_reads_them_back() -> None:
    key = new_key("tok")
    register_secret(key)
    text = _serde.dumps({"api_key": key, "note": f"header Bearer {key}!", "n": 1})
    assert key not in text
    back = _serde.loads(text)
    assert back["api_key"] == key  # this process knows it: the value comes back (D2)
    assert back["note"] == "header Bearer [redacted]!"
    assert back["n"] == 1


def test_a_credential_unknown_to_this_process_reads_as_redacted() -> None:
    key = new_key("gone")
    register_secret(key)
    text = _serde.dumps([key])
    fid = _secrets.fingerprint(key)
    # As in a new process that was never given the key:
    _secrets._by_value.pop(key)
    _secrets._by_id.pop(fid)
    _secrets._forms[:] = [f for f in _secrets._forms if key not in f[0]]
    value = _serde.loads(text)[0]
    assert isinstance(value, _secrets.Redacted) and value == "[redacted]"


def test_short_values_and_plain_names_are_not_treated_as_credentials() -> None:
    register_secret("abc")  # too short to be a credential: redacting it would garble text
    assert _serde.dumps("abc and more") == '"abc and more"'
    assert _secrets.is_credential_name("api_key") and _secrets.is_credential_name("OPENAI_API_KEY")
    assert _secrets.is_credential_name("aws_secret_access_key")
    assert not _secrets.is_credential_name("max_tokens")
    assert not _secrets.is_credential_name("input_tokens")


def test_the_environment_is_read_again_only_when_it_changed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every model call registers the environment's credentials; an unchanged environment
    costs one comparison, a changed one (a key set or replaced since) is read again."""
    calls: list[str] = []
    register = _secrets.register

    def counted(value: Any, *, min_length: int = _secrets.MIN_LENGTH) -> None:
        calls.append(value)
        register(value, min_length=min_length)

    monkeypatch.setattr(_secrets, "register", counted)
    first, second = new_key("env-one") + "x" * 16, new_key("env-two") + "x" * 16
    monkeypatch.setenv("POLOS_TEST_ONE_API_KEY", first)
    _secrets.register_env()
    assert first in calls and _secrets.secret_for(first) is not None
    calls.clear()
    _secrets.register_env()
    _secrets.register_env()
    assert calls == []  # nothing changed: no variable was read
    monkeypatch.setenv("POLOS_TEST_ONE_API_KEY", second)  # the same name, a new value
    _secrets.register_env()
    assert second in calls and _secrets.secret_for(second) is not None
    calls.clear()
    monkeypatch.setenv("POLOS_TEST_TWO_TOKEN", first[::-1])
    _secrets.register_env()
    assert first[::-1] in calls and _secrets.secret_for(first[::-1]) is not None
    # An explicit mapping is always read (it is not the process environment).
    calls.clear()
    _secrets.register_env({"OTHER_API_KEY": second})
    assert calls == [second]

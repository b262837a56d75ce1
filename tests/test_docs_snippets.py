"""The Python code blocks of README.md and docs/*.md run, as a reader would run them.

Users copy these blocks; a block that no longer runs is a wrong doc. Every block fenced
as ```python in README.md and docs/*.md (benchmarks*.md aside), indented ones in lists
included, is collected here.

How a document's blocks run:

- In a real IPython ``InteractiveShell`` (top-level ``await`` and the magics work as in a
  notebook cell), one shell per document, its blocks in order in one namespace, as a
  reader goes down the page: a later block may use what an earlier one defined.
- In a fresh temporary directory (the working directory) with its own journal
  (``POLOS_JOURNAL``), no network: model requests to providers are refused
  (``POLOS_NB_ALLOW_MODEL_REQUESTS=0``).
- Models: ``provider="openai"`` (and the other network providers and ``"local"``) is read
  as ``provider="fake"``, and the model names the docs use are test models
  (:class:`polos_nb.testing.FunctionModel`) that answer with text, or with JSON filling
  the requested output schema (a model given tools first calls one). ``%%polos_agent``
  gets ``--provider fake`` for the same reason. That is the one change made to a block's
  text.
- Before the first block, the document's ``SETUP`` below runs: the obvious surrounding
  code a fragment assumes (a client, the stub functions a workflow calls), never
  something that would hide a wrong name or signature in the block itself.

Conventions in the documents (an HTML comment on the line just before the fence):

- ``<!-- not run: REASON -->``: the block is not run (it needs Docker, a PostgreSQL
  server, a browser or a collector, it serves forever, or it is a signature or a list
  of options rather than a program). The reason is required.
- ``<!-- in a workflow -->``: the block is the body of a workflow: it runs as the body
  of a workflow started on the document's ``client``, so its ``ctx`` is a real
  ``WorkflowContext``; the block passes when the run ends or waits (a suspension waits
  for a person) and fails if the run fails.
"""

from __future__ import annotations

import os
import re
import socket
import sys
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [
    ROOT / "README.md",
    *sorted(p for p in (ROOT / "docs").glob("*.md") if not p.name.startswith("benchmarks")),
]

MARKER = re.compile(r"^<!--\s*(not run|in a workflow)\s*(?::\s*(.*?))?\s*-->\s*$")
PROVIDERS = re.compile(r'provider="(openai|anthropic|gemini|groq|fireworks|together|azure|local)"')


@dataclass
class Block:
    doc: str
    line: int  # the line of the opening fence
    code: str
    mode: str  # "run", "not run" or "in a workflow"
    reason: str

    @property
    def where(self) -> str:
        return f"{self.doc}:{self.line}"


def blocks(path: Path) -> list[Block]:
    """The ```python blocks of a Markdown file, with the marker on the line before each."""
    lines = path.read_text().splitlines()
    found: list[Block] = []
    i = 0
    while i < len(lines):
        if lines[i].strip() == "```python":
            start = i
            j = i + 1
            while lines[j].strip() != "```":
                j += 1
            marker = MARKER.match(lines[start - 1].strip()) if start else None
            mode, reason = ("run", "") if marker is None else (marker[1], marker[2] or "")
            found.append(
                Block(
                    path.relative_to(ROOT).as_posix(),
                    start + 1,
                    "\n".join(lines[start + 1 : j]) + "\n",
                    mode,
                    reason,
                )
            )
            i = j
        i += 1
    return found


# The models the docs name, as test models. A turn is text, or JSON for an output schema.
MODELS = """
from polos_nb.testing import FakeToolCall as _FakeToolCall, FunctionModel as _FunctionModel


def _docs_value(schema, defs):
    if "$ref" in schema:
        return _docs_value(defs[schema["$ref"].rsplit("/", 1)[-1]], defs)
    if "anyOf" in schema:
        return _docs_value(schema["anyOf"][0], defs)
    kind = schema.get("type")
    if kind == "object":
        return {k: _docs_value(v, defs) for k, v in schema.get("properties", {}).items()}
    if kind == "array":
        return []
    if "enum" in schema:
        return schema["enum"][0]
    return {"string": "Alice", "integer": 28, "number": 21.5, "boolean": True}.get(kind)


def _docs_brain(messages, info):
    # A model with tools calls the first one once per prompt, then answers.
    if info["tools"] and messages[-1]["role"] == "user":
        spec = info["tools"][0].get("function", info["tools"][0])
        params = spec.get("parameters") or {}
        return _FakeToolCall(spec["name"], _docs_value(params, params.get("$defs", {})))
    fmt = info["response_format"]
    if fmt:
        schema = fmt.get("json_schema", {}).get("schema", fmt) if isinstance(fmt, dict) else (
            fmt.model_json_schema()
        )
        return _docs_value(schema, schema.get("$defs", {}))
    return "It is sunny in NYC and rainy in London."


for _name in ("gpt-4o", "gpt-4o-mini", "gemma3-270m", "claude-sonnet-4-5"):
    _FunctionModel(_docs_brain, name=_name)
"""

CLIENT = """
from polos_nb import PolosClient as _PolosClient
client = _PolosClient()
"""

# What each document's blocks assume without showing it.
SETUP: dict[str, str] = {
    "README.md": """
async def charge_card(order):
    return {"charged": order.amount}

async def send_email(order):
    return None
""",
    "docs/agents.md": CLIENT
    + """
class _WeatherApi:
    async def get(self, city):
        return {"city": city, "temp": 21}

weather_api = _WeatherApi()
""",
    "docs/flow-control.md": CLIENT
    + """
async def fetch(url):
    return "<html><body>Example Domain</body></html>"

def parse(page):
    return len(page.split())
""",
    "docs/channels.md": CLIENT
    + """
import os
os.environ["SLACK_BOT_TOKEN"] = "xoxb-docs-test"
os.environ["POLOS_WEBHOOK_SECRET"] = "docs-test-secret"
""",
    "docs/journal.md": CLIENT
    + """
from polos_nb import workflow as _workflow

@_workflow(id="docs_journal")
async def _docs_journal(ctx, payload: dict):
    await ctx.step.run("greet", lambda: "hello")
    await ctx.step.suspend("review", data={"_form": {"title": "Check the greeting"}})

run = await _docs_journal.invoke(client, {})
while (await client.get_execution(run.id)).status != "waiting":
    await __import__("asyncio").sleep(0.02)

import pathlib as _pathlib
_pathlib.Path("notes/.polos").mkdir(parents=True)
_PolosClient(journal="notes/.polos/journal.duckdb").close()
""",
    "docs/notebook.md": """
from pydantic import BaseModel
from polos_nb import tool

class Report(BaseModel):
    city: str
    summary: str

@tool(description="Get weather for a city", approval="always")
def get_weather(city: str) -> dict:
    return {"city": city, "temp_c": 21}

@tool
def add(a: int, b: int = 0) -> int:
    \"\"\"Add two integers.\"\"\"
    return a + b
""",
    "docs/coming-from-polos.md": """
import pathlib as _pathlib, sys as _sys
_pathlib.Path("agents.py").write_text(
    "from polos_nb import Agent\\n"
    "weather_agent = Agent(id='weather_agent', provider='fake', model='gpt-4o')\\n"
)
_sys.path.insert(0, str(_pathlib.Path.cwd()))
""",
}


@pytest.fixture(scope="module", autouse=True)
def _litellm_loaded() -> None:
    from polos_nb.llm._litellm import _lit

    _lit()


@pytest.fixture
def shell(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A fresh IPython shell in a fresh directory with its own journal."""
    from IPython.core.interactiveshell import InteractiveShell

    from polos_nb.engine import _workflow
    from polos_nb.notebook import _run, _session
    from polos_nb.testing import _models

    monkeypatch.setenv("POLOS_JOURNAL", str(tmp_path / "journal.duckdb"))
    monkeypatch.setenv("SLACK_API_URL", "http://127.0.0.1:9/api/")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(socket, "getaddrinfo", _local_only(socket.getaddrinfo))
    monkeypatch.setattr(sys, "path", list(sys.path))
    modules = set(sys.modules)
    environ = dict(os.environ)
    workflows = dict(_workflow._REGISTRY)
    models = dict(_models._MODELS)
    _session.reset()
    _run.forget_runs()
    InteractiveShell.clear_instance()
    ip = InteractiveShell.instance()
    yield ip
    client = ip.user_ns.get("client")
    if client is not None and hasattr(client, "close"):
        client.close()
    if "polos_nb" in ip.extension_manager.loaded:
        ip.run_line_magic("unload_ext", "polos_nb")
    _run.forget_runs()
    time.sleep(0.05)
    _session.reset()
    InteractiveShell.clear_instance()
    _close_ipython_loop()
    # The documents' workflows (schedules, event triggers) and test models leave with them.
    for workflow_id in set(_workflow._REGISTRY) - set(workflows):
        _workflow.unregister(workflow_id)
    _workflow._REGISTRY.update(workflows)
    _models._MODELS.clear()
    _models._MODELS.update(models)
    for key in set(os.environ) - set(environ):  # what a document's setup exported
        del os.environ[key]
    os.environ.update(environ)
    for name in set(sys.modules) - modules:  # modules a document wrote in its directory
        if str(tmp_path) in str(getattr(sys.modules[name], "__file__", None) or ""):
            del sys.modules[name]


def _close_ipython_loop() -> None:
    """Close the event loop IPython ran the cells' ``await`` on (it keeps one for the
    process; the next shell makes a new one), so no caller loop outlives the test."""
    from IPython.core import async_helpers

    loop = async_helpers._asyncio_event_loop
    if loop is not None and not loop.is_closed():
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
    async_helpers._asyncio_event_loop = None


def _local_only(getaddrinfo: Any) -> Any:
    """``socket.getaddrinfo`` that refuses every host but this machine: no block reaches
    the network (the channels' Slack, SMTP and webhook deliveries fail and are logged)."""

    def lookup(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host not in (None, "", "localhost", "127.0.0.1", "::1", b"localhost", b"127.0.0.1"):
            raise socket.gaierror(socket.EAI_NONAME, f"no network in the docs test ({host!r})")
        return getaddrinfo(host, *args, **kwargs)

    return lookup


def _run_cell(ip: Any, code: str, where: str) -> None:
    result = ip.run_cell(code, silent=True)
    error = result.error_before_exec or result.error_in_exec
    if error is not None:
        import traceback

        trace = "".join(traceback.format_exception(error))
        pytest.fail(f"{where}: the block fails:\n{code}\n{trace}", pytrace=False)


def _offline(code: str) -> str:
    """The block with its models read as test models (see the module docstring)."""
    code = PROVIDERS.sub('provider="fake"', code)
    return re.sub(
        r"^(%%polos_agent\b(?!.*(?:--provider|-p )).*)$", r"\1 --provider fake", code, flags=re.M
    )


def _as_workflow(block: Block) -> str:
    """The block as a workflow's body, started; the cell ends when the run ends or waits
    (a suspension waits for a person), and fails if the run failed."""
    body = textwrap.indent(block.code, "    ")
    return (
        "import asyncio as _asyncio\n"
        "from polos_nb import workflow as _workflow\n\n"
        f"@_workflow(id='docs_block_{block.line}')\n"
        "async def _docs_block(ctx, payload: dict | None = None):\n"
        f"{body}\n"
        "    return None\n\n"
        "_handle = await _docs_block.invoke(client, {})\n"
        "for _ in range(1500):\n"
        "    _info = await client.get_execution(_handle.id)\n"
        "    if _info.status in ('waiting', 'completed', 'failed', 'cancelled'):\n"
        "        break\n"
        "    await _asyncio.sleep(0.02)\n"
        "else:\n"
        "    raise TimeoutError(f'the run is still {_info.status} after 30 s')\n"
        "if _info.status == 'failed':\n"
        "    await _handle\n"
    )


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_doc_blocks_run(doc: Path, shell: Any) -> None:
    found = blocks(doc)
    name = doc.relative_to(ROOT).as_posix()
    _run_cell(shell, MODELS + SETUP.get(name, ""), f"{name} (setup)")
    for block in found:
        if block.mode == "not run":
            assert block.reason, f"{block.where}: `<!-- not run: REASON -->` needs its reason"
            continue
        code = _offline(block.code)
        if block.mode == "in a workflow":
            code = _as_workflow(Block(block.doc, block.line, code, block.mode, ""))
        _run_cell(shell, code, block.where)


def test_setup_names_documents() -> None:
    """A renamed document would silently lose its setup."""
    names = {doc.relative_to(ROOT).as_posix() for doc in DOCS}
    assert set(SETUP) <= names


def test_markers_are_known() -> None:
    """A misspelt marker would silently run (or not skip) a block: every HTML comment just
    before a ```python fence is one of the conventions."""
    for doc in DOCS:
        lines = doc.read_text().splitlines()
        for i, line in enumerate(lines):
            if line.strip() == "```python" and i and lines[i - 1].strip().startswith("<!--"):
                assert MARKER.match(lines[i - 1].strip()), f"{doc.name}:{i}: {lines[i - 1]}"

"""A handle on the last line of a cell shows its run: ``handle = await flow.invoke(client,
...)``, ``stream = await agent.stream(client, "...")``, then ``handle`` / ``stream``.

Through a real IPython ``InteractiveShell`` with the extension loaded (the outputs are
captured as a frontend would get them) and a real kernel through jupyter_client: the
run's snapshot (kept current through its display id) and its live widget, a final
snapshot for a run that has ended, one view per cell, a readable text when no view can be
shown, and the handles' plain-text reprs.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from IPython.core.displaypub import CapturingDisplayPublisher

from polos_nb import PolosClient
from polos_nb.agents import AgentStreamHandle, StreamResult
from polos_nb.engine import ExecutionHandle
from tests.notebook.conftest import uid, wait_until
from tests.notebook.kernel_harness import Kernel

RUN_MIME = "application/vnd.polos.run+json"
VIEW = "application/vnd.jupyter.widget-view+json"

SETUP = """
from polos_nb import Agent, PolosClient, WorkflowContext, tool, workflow
from polos_nb.testing import FakeToolCall, ScriptedModel

@workflow(id=WAITS)
async def waits(ctx: WorkflowContext, payload: dict) -> dict:
    n = await ctx.step.run("double", lambda: payload["n"] * 2)
    d = await ctx.step.suspend("check", data={"n": n})
    return {"n": n, "ok": d.data.get("ok")}

@workflow(id=QUICK)
async def quick(ctx: WorkflowContext, payload: dict) -> dict:
    return {"n": await ctx.step.run("double", lambda: payload["n"] * 2)}

@tool(description="Get the weather", approval="always")
def get_weather(city: str) -> dict:
    return {"city": city, "temp": 21}

weather = Agent(
    id=AGENT,
    provider="fake",
    model=ScriptedModel(MODEL, [FakeToolCall("get_weather", {"city": "Oslo"}, id="c1"), "Mild."]),
    tools=[get_weather],
)
client = PolosClient()   # upstream style: the notebook's own client (the same journal)
"""


@pytest.fixture
def nb(shell: Any) -> Iterator[Any]:
    """The shell, its displays captured, with a workflow that waits, one that does not,
    an agent whose tool waits for an approval, and a ``client`` made in a cell."""
    shell.display_pub = CapturingDisplayPublisher()
    shell.user_ns.update(WAITS=uid("waits"), QUICK=uid("quick"), AGENT=uid("agent"))
    shell.user_ns["MODEL"] = uid("model")
    cell(shell, SETUP)
    shell.display_pub.outputs.clear()
    yield shell


def cell(shell: Any, code: str) -> list[dict[str, Any]]:
    """Run ``code`` as a new cell; returns what it displayed (updates left out)."""
    shell.execution_count += 1  # what identifies the cell outside a kernel
    outputs = shell.display_pub.outputs
    start = len(outputs)
    result = shell.run_cell(code)
    result.raise_error()
    return [o for o in outputs[start:] if not o["update"]]


def latest_snapshot(shell: Any, display_id: str) -> str:
    """The snapshot a frontend shows under ``display_id`` now (the last of its updates)."""
    html = [
        o["data"]["text/html"]
        for o in shell.display_pub.outputs
        if (o["transient"] or {}).get("display_id") == display_id
    ]
    return str(html[-1])


def assert_run_view(shown: list[dict[str, Any]], run_id: str, *, live: bool) -> str:
    """``shown`` is one run's view: its snapshot, then (while it runs) its live widget.
    Returns the snapshot's display id."""
    assert len(shown) == (2 if live else 1), [sorted(o["data"]) for o in shown]
    snapshot = shown[0]
    assert set(snapshot["data"]) == {"text/plain", "text/html", RUN_MIME}
    assert f'data-run-id="{run_id}"' in snapshot["data"]["text/html"]
    assert 'class="polos-run polos-snapshot"' in snapshot["data"]["text/html"]
    assert snapshot["data"][RUN_MIME]["run_id"] == run_id
    assert snapshot["data"]["text/plain"].startswith("<Run ")
    assert snapshot["metadata"] == {"polos_nb": {"run_id": run_id, "view": "snapshot"}}
    display_id = snapshot["transient"]["display_id"]
    assert display_id
    if live:
        widget = shown[1]
        assert VIEW in widget["data"] and widget["data"]["text/plain"] == ""
        assert widget["metadata"] == {"polos_nb": {"run_id": run_id, "view": "live"}}
    return str(display_id)


def test_a_handle_on_the_last_line_shows_its_run_and_follows_it(nb: Any) -> None:
    shown = cell(nb, 'handle = await waits.invoke(client, {"n": 2})\nhandle')
    handle = nb.user_ns["handle"]
    assert isinstance(handle, ExecutionHandle) and handle._client is nb.user_ns["client"]
    display_id = assert_run_view(shown, handle.id, live=True)
    # the view is the run's Run, the one `polos_nb.notebook.show` gives
    from polos_nb.notebook import _run, show

    run = show(handle)
    assert [r for r in _run.known_runs() if r.id == handle.id] == [run]
    assert display_id in run._display_ids
    # it follows the run: waiting for its answer, then completed
    wait_until(lambda: run.state.pending, what="the suspension")
    wait_until(
        lambda: 'data-status="waiting"' in latest_snapshot(nb, display_id),
        what="a waiting snapshot",
    )
    run.approve("check", {"ok": True})
    assert run.result(timeout=30) == {"n": 4, "ok": True}
    wait_until(
        lambda: 'data-status="completed"' in latest_snapshot(nb, display_id),
        what="the completed snapshot",
    )


def test_a_stream_result_shows_the_agent_run_live(nb: Any) -> None:
    shown = cell(nb, 'stream = await weather.stream(client, "Weather in Oslo?")\nstream')
    stream = nb.user_ns["stream"]
    assert isinstance(stream, StreamResult)
    assert_run_view(shown, stream.id, live=True)
    from polos_nb.notebook import show

    run = show(stream)
    assert run.state.workflow_type == "agent"
    wait_until(lambda: run.state.pending, what="the tool's approval")
    # an AgentStreamHandle made from the ids (a later cell) shows the same run
    nb.user_ns["AgentStreamHandle"] = AgentStreamHandle
    shown = cell(nb, "AgentStreamHandle(client, stream.id, weather.id)")
    assert_run_view(shown, stream.id, live=True)
    run.approve(data={"approved": True})
    assert run.result(timeout=30).result == "Mild."


def test_a_run_that_ended_shows_its_final_snapshot(nb: Any) -> None:
    cell(nb, 'handle = await quick.invoke(client, {"n": 5})\nresult = await handle')
    assert nb.user_ns["result"] == {"n": 10}
    shown = cell(nb, "handle")
    assert_run_view(shown, nb.user_ns["handle"].id, live=False)
    html = shown[0]["data"]["text/html"]
    assert 'data-status="completed"' in html and "10" in html


def test_a_run_is_shown_once_per_cell(nb: Any) -> None:
    code = (
        'handle = await waits.invoke(client, {"n": 1})\n'
        "display(handle)\n"
        "display(ExecutionHandle(id=handle.id))   # another handle of the same run\n"
        "run = %polos show {handle.id}\n"  # the session's client: the same Run
        "handle"
    )
    nb.user_ns["ExecutionHandle"] = ExecutionHandle
    shown = cell(nb, code)
    handle = nb.user_ns["handle"]
    assert_run_view(shown, handle.id, live=True)
    from polos_nb.notebook import get_client, show

    assert get_client() is not handle._client  # two clients (one engine), one Run
    assert nb.user_ns["run"] is show(handle)
    # a later cell shows it again
    assert_run_view(cell(nb, "handle"), handle.id, live=True)
    nb.user_ns["run"].cancel()


def test_a_handle_of_another_journal_or_a_closed_client(nb: Any, tmp_path: Path) -> None:
    nb.user_ns["OTHER"] = str(tmp_path / "other.duckdb")
    code = (
        "other = PolosClient(journal=OTHER)\n"
        'elsewhere = await quick.invoke(other, {"n": 1})\n'
        "await elsewhere\n"
        "elsewhere"
    )
    shown = cell(nb, code)
    assert_run_view(shown, nb.user_ns["elsewhere"].id, live=False)
    assert "other.duckdb" in str(nb.user_ns["other"].journal_path)
    # a client closed since: the session's client reads the same journal
    from polos_nb.notebook import get_client

    get_client()
    code = (
        "async with PolosClient() as scoped:\n"
        '    gone = await quick.invoke(scoped, {"n": 3})\n'
        "    await gone\n"
        "gone"
    )
    shown = cell(nb, code)
    assert nb.user_ns["scoped"]._closed
    assert_run_view(shown, nb.user_ns["gone"].id, live=False)


def test_without_a_view_a_handle_shows_as_text(
    nb: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from polos_nb.notebook import _display, _handle_view

    nb.user_ns["ExecutionHandle"] = ExecutionHandle
    with caplog.at_level(logging.WARNING, logger="polos_nb.notebook"):
        # a run id the journal does not have
        data, _ = nb.display_formatter.format(ExecutionHandle(id="no-such-run"))
    assert data == {"text/plain": "ExecutionHandle(id='no-such-run')"}
    assert "the ExecutionHandle of run no-such-run is shown as text" in caplog.text
    assert nb.display_pub.outputs == []

    # the view itself fails: the handle's text, no traceback, nothing else shown
    def broken(run: Any, *, force: bool = False) -> None:
        raise RuntimeError("frontend gone")

    monkeypatch.setattr(_display, "display_run", broken)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="polos_nb.notebook"):
        cell(nb, 'handle = await quick.invoke(client, {"n": 1})')
        data, _ = nb.display_formatter.format(nb.user_ns["handle"])
    assert list(data) == ["text/plain"] and data["text/plain"].startswith("ExecutionHandle(id=")
    assert "frontend gone" in caplog.text

    # a formatter that fails whatever it is given never raises out of the display
    monkeypatch.setattr(_handle_view, "_view", lambda value: 1 / 0)
    result = nb.run_cell("handle")
    assert result.success and result.result is nb.user_ns["handle"]


def test_a_terminal_gets_the_handle_repr(shell: Any) -> None:
    # a plain DisplayPublisher: nothing updates displays there, so no view is read
    shell.user_ns["WAITS"] = uid("waits")
    shell.run_cell(
        "from polos_nb import workflow, WorkflowContext\n"
        "@workflow(id=WAITS)\n"
        "async def waits(ctx: WorkflowContext, payload: dict) -> dict:\n"
        "    return await ctx.step.suspend('check')\n"
    ).raise_error()
    from polos_nb.notebook import _run, get_client

    handle = get_client().invoke_sync(shell.user_ns["waits"], {})
    data, _ = shell.display_formatter.format(handle)
    assert data["text/plain"] == repr(handle)
    assert f"id={handle.id!r}" in data["text/plain"] and "status='" in data["text/plain"]
    assert not [r for r in _run.known_runs() if r.id == handle.id]
    get_client().cancel_sync(handle.id)


# --------------------------------------------------------------------------- reprs


def test_the_handles_say_what_they_are_without_reading_anything(
    client: PolosClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from polos_nb import WorkflowContext, workflow

    @workflow(id=uid("repr"))
    async def waits(ctx: WorkflowContext, payload: Any) -> Any:
        return await ctx.step.suspend("check")

    handle = client.invoke_sync(waits, None)
    # no engine call, no journal read: a repr must not block
    for name in ("call", "submit"):
        monkeypatch.setattr(client.runtime, name, _no_io)
    text = repr(handle)
    assert text == f"ExecutionHandle(id={handle.id!r}, workflow_id={waits.id!r}, status='waiting')"
    stream = StreamResult(handle, client)
    assert repr(stream) == (
        f"StreamResult(agent_run_id={handle.id!r}, workflow_id={waits.id!r}, status='waiting')"
    )
    assert repr(AgentStreamHandle(client, handle.id, waits.id)) == (
        f"AgentStreamHandle(agent_run_id={handle.id!r}, root_workflow_id={waits.id!r}, "
        "status='waiting')"
    )
    monkeypatch.undo()
    client.cancel_sync(handle.id)
    wait_until(lambda: "status=" not in repr(handle), what="the run to end")
    assert repr(handle) == f"ExecutionHandle(id={handle.id!r}, workflow_id={waits.id!r})"
    # a handle made from a stored id, and a child's: its parent and root, its step
    assert repr(ExecutionHandle(id="e1")) == "ExecutionHandle(id='e1')"
    child = ExecutionHandle(
        id="c1",
        workflow_id="child",
        parent_execution_id="p1",
        root_workflow_id="parent",
        root_execution_id="p1",
        step_key="spawn",
        session_id="s1",
    )
    assert repr(child) == (
        "ExecutionHandle(id='c1', workflow_id='child', parent_execution_id='p1', "
        "root_workflow_id='parent', root_execution_id='p1', step_key='spawn', session_id='s1')"
    )
    # the model itself is untouched: its fields, its JSON, equality
    assert child.model_dump()["root_execution_id"] == "p1"
    assert ExecutionHandle.model_validate(child.to_dict()) == child


def _no_io(*_args: Any, **_kwargs: Any) -> Any:
    raise AssertionError("a repr read the engine")


@pytest.fixture
def client(tmp_path: Path) -> Iterator[PolosClient]:
    c = PolosClient(journal=str(tmp_path / "repr.duckdb"))
    try:
        yield c
    finally:
        c.close()


# --------------------------------------------------------------------------- a real kernel


@pytest.mark.kernel
@pytest.mark.timeout(300)
def test_in_a_kernel_a_stream_shows_its_live_run_once(tmp_path: Path) -> None:
    env = {
        "POLOS_JOURNAL": str(tmp_path / "kernel.duckdb"),
        "IPYTHONDIR": str(tmp_path / "ipython"),
    }
    k = Kernel(tmp_path, env)
    try:
        k.run(
            "%load_ext polos_nb\n"
            "WAITS, QUICK, AGENT, MODEL = 'waits', 'quick', 'weather', 'kernel-model'\n" + SETUP
        )
        outputs = k.run(
            'stream = await weather.stream(client, "Weather in Oslo?")\ndisplay(stream)\nstream'
        )
        assert not [m for m in outputs if m["msg_type"] in ("error", "execute_result")]
        shown = [m["content"] for m in outputs if m["msg_type"] == "display_data"]
        run_id = k.value("stream.id")
        assert len(shown) == 2, [sorted(c["data"]) for c in shown]
        snapshot, live = shown
        assert f'data-run-id="{run_id}"' in snapshot["data"]["text/html"]
        assert snapshot["transient"]["display_id"]
        assert snapshot["metadata"] == {"polos_nb": {"run_id": run_id, "view": "snapshot"}}
        assert VIEW in live["data"] and live["metadata"]["polos_nb"]["view"] == "live"
        # the text repr a script prints
        assert k.value("repr(stream)").startswith(f"StreamResult(agent_run_id={run_id!r}")
        k.run("from polos_nb.notebook import show\nshow(stream).wait_for_pending()")
        k.run("show(stream).approve(data={'approved': True})\nawait stream.result()")
        # an ended run: its final snapshot, no widget, no text repr
        outputs = k.run("stream")
        shown = [m["content"] for m in outputs if m["msg_type"] == "display_data"]
        assert len(shown) == 1 and 'data-status="completed"' in shown[0]["data"]["text/html"]
        assert "Mild." in shown[0]["data"]["text/html"]
        assert not [m for m in outputs if m["msg_type"] == "execute_result"]
    finally:
        k.close()

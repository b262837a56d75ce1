"""The magics, through a real IPython ``InteractiveShell`` (run_cell_magic / run_line_magic)."""

from __future__ import annotations

from typing import Any

import pytest
from IPython.core.error import UsageError

from polos_nb import Agent, Workflow
from polos_nb.errors import UserError
from polos_nb.notebook import Run
from tests.notebook.conftest import uid, wait_until

SETUP = """
from pydantic import BaseModel
from polos_nb import tool, workflow, WorkflowContext, max_steps, MaxStepsConfig
from polos_nb.testing import ScriptedModel, FakeToolCall

class Weather(BaseModel):
    city: str
    temp: int

@tool(description="Get the weather", approval="always")
def get_weather(city: str) -> dict:
    CALLS.append(city)
    return {"city": city, "temp": 21}

@tool(description="Add")
def add(a: int, b: int) -> int:
    return a + b

not_a_tool = 42
CALLS = []
"""


def _setup(ip: Any, turns: str) -> str:
    model = uid("model")
    ip.run_cell(SETUP + f"\nmodel = ScriptedModel({model!r}, {turns})\n")
    return model


def test_load_ext_is_silent_and_reloadable(shell: Any, capsys: pytest.CaptureFixture[str]) -> None:
    shell.run_line_magic("reload_ext", "polos_nb")
    out = capsys.readouterr()
    assert out.out == "" and out.err == ""
    assert "polos" in shell.magics_manager.magics["line"]
    assert "polos_agent" in shell.magics_manager.magics["cell"]


def test_polos_agent_binds_an_agent(shell: Any) -> None:
    _setup(shell, '["hi"]')
    name = uid("helper").replace("-", "_")
    shell.run_cell_magic(
        "polos_agent",
        f"{name} --model model --tools get_weather,add --output Weather "
        "--max-steps 3 --temperature 0",
        "You are helpful.\n",
    )
    agent = shell.user_ns[name]
    assert isinstance(agent, Agent) and agent.id == name
    assert agent.system_prompt == "You are helpful."
    assert [t.id for t in agent.tools] == ["get_weather", "add"]
    assert agent.output_schema is shell.user_ns["Weather"]
    assert agent.step_cap() == 3 and agent.provider == "fake"
    assert agent.provider_kwargs["temperature"] == 0


@pytest.mark.parametrize(
    "line, body, message",
    [
        ("a1 --model model --colour red", "prompt", "unrecognized arguments"),
        ("a2 --model model --tools nope", "prompt", "tool 'nope' is not defined"),
        ("a3 --model model --tools not_a_tool", "prompt", "is a int, not a @tool"),
        ("a4 --model model", "   \n  ", "is empty"),
        ("a5", "prompt", "give --model"),
        ("a6 --model model --output add", "prompt", "Pydantic model class"),
        ("a-7 --model model", "prompt", "Python identifier"),
        ("a8 --model model --max-steps many", "prompt", "invalid int value"),
    ],
)
def test_polos_agent_bad_input(shell: Any, line: str, body: str, message: str) -> None:
    _setup(shell, '["hi"]')
    with pytest.raises(UsageError, match=message):
        shell.run_cell_magic("polos_agent", line, body)
    assert line.split()[0] not in shell.user_ns


def test_run_returns_at_once_then_approve_validates_then_completes(shell: Any) -> None:
    _setup(
        shell,
        '[FakeToolCall("get_weather", {"city": "Paris"}, id="c1"), '
        'FakeToolCall("get_weather", {"city": "Rome"}, id="c2"), "Sunny in both."]',
    )
    name = uid("w").replace("-", "_")
    shell.run_cell_magic("polos_agent", f"{name} --model model --tools get_weather", "Weather bot.")
    # The magic hands back a live Run at once: the run cannot end before someone approves
    # its tool call, so a magic that waited for the result would never return.
    run = shell.run_line_magic("polos", f"run {name} What's the weather in Paris and Rome?")
    assert isinstance(run, Run) and not run.done
    wait_until(lambda: run.state.pending, what="the approval form")
    [pending] = run.pending
    assert (
        pending.key == "approve_get_weather_1_c1"
        and pending.spec["approval"]
        and pending.spec["tool"] == "get_weather"
    )
    assert pending.spec["context"] == {"tool": "get_weather", "input": {"city": "Paris"}}
    with pytest.raises(UsageError, match="ApprovalValidationError.*approved"):
        shell.run_line_magic(
            "polos", f'approve {run.id} approve_get_weather_1_c1 {{"approved": "perhaps"}}'
        )
    assert [p.key for p in run.pending] == ["approve_get_weather_1_c1"]  # nothing was delivered
    assert shell.user_ns["CALLS"] == []
    shell.run_line_magic("polos", f"approve {run.id[:30]} --always")
    result = run.result(timeout=30)
    assert result.result == "Sunny in both."
    assert shell.user_ns["CALLS"] == ["Paris", "Rome"]  # "always" approved the second call too
    wait_until(lambda: run.done, what="the run state to finish")
    assert run.state.approvals["approve_get_weather_1_c1"]["status"] == "approved_always"
    assert "approve_get_weather_2_c2" not in run.state.approvals


def test_reject_with_feedback(shell: Any) -> None:
    _setup(shell, '[FakeToolCall("get_weather", {"city": "Oslo"}, id="c1"), "OK, I will not."]')
    name = uid("w").replace("-", "_")
    shell.run_cell_magic("polos_agent", f"{name} --model model --tools get_weather", "Weather bot.")
    run = shell.run_line_magic("polos", f"run {name} Oslo?")
    wait_until(lambda: run.state.pending, what="the approval")
    shell.run_line_magic("polos", f'reject {run.id} --feedback "not today"')
    result = run.result(timeout=30)
    assert result.tool_results[0].status == "failed" and "not today" in result.tool_results[0].error
    assert shell.user_ns["CALLS"] == []


WORKFLOW = """
from polos_nb import workflow, WorkflowContext, approval_form
from pydantic import BaseModel, Field

class Decision(BaseModel):
    approved: bool
    limit: int = Field(ge=1, le=10)

@workflow(id=WF_ID)
async def flow(ctx: WorkflowContext, payload: dict) -> dict:
    a = await ctx.step.run("double", lambda: payload["n"] * 2)
    d = await ctx.step.suspend("check", data=approval_form(Decision, title="Go on?"))
    b = await ctx.step.run("add", lambda: a + d.data["limit"])
    return {"a": a, "b": b}
"""


def _workflow(ip: Any) -> str:
    wf_id = uid("flow")
    ip.user_ns["WF_ID"] = wf_id
    ip.run_cell(WORKFLOW)
    return wf_id


def test_workflow_run_with_schema_form_and_journal_tools(shell: Any) -> None:
    wf_id = _workflow(shell)
    assert isinstance(shell.user_ns["flow"], Workflow)
    run = shell.run_line_magic("polos", 'run flow {"n": 5}')
    wait_until(lambda: run.state.pending, what="the suspension")
    entry = run.state.pending[0]
    assert entry["title"] == "Go on?" and "limit" in entry["schema"]["properties"]
    with pytest.raises(UsageError, match="limit"):
        shell.run_line_magic("polos", f'approve {run.id} check {{"approved": True, "limit": 99}}')
    shell.run_line_magic("polos", f'approve {run.id} check {{"approved": True, "limit": 3}}')
    assert run.result(timeout=30) == {"a": 10, "b": 13}

    frame = shell.run_line_magic("polos", "runs")
    assert run.id in list(frame["id"])
    sql = shell.run_line_magic(
        "polos", f"sql SELECT step_key FROM steps WHERE execution_id = '{run.id}' ORDER BY seq"
    )
    assert list(sql["step_key"]) == ["double", "check", "add"]
    # as typed in a cell: {run.id} is expanded although a JSON path's '$.' is on the line
    # (IPython alone gives up on the whole line there: issue 11, item 7)
    shell.user_ns["run"] = run
    shell.run_cell(
        "found = %polos sql SELECT step_key, output->>'$.a' AS a FROM steps "
        "WHERE execution_id = '{run.id}' AND step_key = 'add' ORDER BY seq"
    )
    found = shell.user_ns["found"]
    assert list(found["step_key"]) == ["add"]
    events = shell.run_line_magic("polos", f"events {run.id}")
    assert "suspend_check" in list(events["type"]) and "resume_check" in list(events["type"])
    inspection = shell.run_line_magic("polos", f"inspect {run.id}")
    assert list(inspection.steps["key"]) == ["double", "check", "add"]
    assert "polos-inspect-steps" in inspection._repr_html_()
    report = shell.run_line_magic("polos", f"replay {run.id}")
    assert report.matches is True

    fork = shell.run_line_magic("polos", f"fork {run.id} --at double --result 100")
    assert isinstance(fork, Run) and fork.workflow_id == wf_id
    wait_until(lambda: fork.state.pending, what="the fork's suspension")
    fork.approve(data={"approved": True, "limit": 1})
    assert fork.result(timeout=30) == {"a": 100, "b": 101}
    comparison = shell.run_line_magic("polos", f"compare {run.id} {fork.id}")
    assert comparison.first_difference == 0
    assert [r.same for r in comparison.rows] == [False, False, False]
    assert "polos-compare" in comparison._repr_html_()


@pytest.mark.parametrize(
    "line, message",
    [
        ("", "needs a subcommand"),
        ("frobnicate", "unknown subcommand"),
        ("run", "give the agent or workflow"),
        ("run nothing_here 1", "no agent or workflow named 'nothing_here'"),
        ("run flow {", "could not evaluate the input"),
        ("runs --colour red", "unknown option --colour"),
        ("sql DELETE FROM executions", "read-only"),
        ("sql SELECT * FROM no_such_table", "SQL error"),
        ("show", "give one run id"),
        ("show 0000-no-such-run", "ExecutionNotFound|No execution"),
        ("approve", "give the run"),
        ("fork abc", "needs --at"),
        ("compare a", "RUN_A RUN_B"),
        # IPython passes a line magic its whole line: a trailing "# ..." is input, and the
        # error says so.
        ("show abc  # look at it", r"give one run id \(a '#' in a magic line is part of"),
        ("runs  # the latest", "not a comment"),
    ],
)
def test_polos_bad_input(shell: Any, line: str, message: str) -> None:
    _workflow(shell)
    with pytest.raises(UsageError, match=message):
        shell.run_line_magic("polos", line)


def test_approve_without_pending_and_unknown_key(shell: Any) -> None:
    _workflow(shell)
    run = shell.run_line_magic("polos", 'run flow {"n": 1}')
    wait_until(lambda: run.state.pending, what="the suspension")
    with pytest.raises(UsageError, match="does not wait at 'nope'"):
        shell.run_line_magic("polos", f"approve {run.id} nope {{}}")
    run.approve("check", {"approved": False, "limit": 1})
    run.result(timeout=30)
    with pytest.raises(UsageError, match="no pending approval"):
        shell.run_line_magic("polos", f"approve {run.id}")
    # An early answer (nothing pending to check it) cannot be both data and a rejection.
    with pytest.raises(UserError, match="not both"):
        run.approve("later", {"limit": 1}, reject=True)


def test_blocking_result_in_a_kernel_cell_raises_instead_of_hanging(
    shell: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from polos_nb.errors import ApprovalPendingError
    from polos_nb.notebook import _run

    _workflow(shell)
    run = shell.run_line_magic("polos", 'run flow {"n": 2}')
    monkeypatch.setattr(_run, "_in_kernel_main_thread", lambda: True)
    # A blocking wait would end in a timeout error after 30 s; the kernel gets the
    # pending-approval error instead, naming the step that waits.
    with pytest.raises(ApprovalPendingError, match="await run") as err:
        run.result(timeout=30)
    assert err.value.step_keys == ["check"]
    run.approve(data={"approved": True, "limit": 2})
    assert run.result(timeout=30) == {"a": 4, "b": 6}


def test_completion_of_subcommands_agents_and_run_ids(shell: Any) -> None:
    _workflow(shell)
    run = shell.run_line_magic("polos", 'run flow {"n": 3}')
    from IPython.core.completer import provisionalcompleter

    def complete(line: str) -> list[str]:
        with provisionalcompleter():
            return [c.text for c in shell.Completer.completions(line, len(line))]

    subs = complete("%polos ru")
    assert "run" in subs and "runs" in subs
    assert "flow" in complete("%polos run fl")
    assert run.id in complete(f"%polos show {run.id[:10]}")
    run.cancel()


def test_a_run_shows_a_current_snapshot_then_its_live_widget(shell: Any) -> None:
    from IPython.core.displaypub import CapturingDisplayPublisher

    captured = CapturingDisplayPublisher()
    shell.display_pub = captured
    _workflow(shell)
    run = shell.run_line_magic("polos", 'run flow {"n": 3}')
    first, second = captured.outputs[:2]
    # 1. the snapshot: static HTML with the widget's classes, under a display id, and the
    #    run's state as JSON for the extension's saved-run renderer
    assert set(first["data"]) == {"text/plain", "text/html", "application/vnd.polos.run+json"}
    assert first["data"]["application/vnd.polos.run+json"]["run_id"] == run.id
    assert (
        first["data"]["text/plain"].startswith("<Run ") and "0x" not in first["data"]["text/plain"]
    )
    assert 'class="polos-run polos-snapshot"' in first["data"]["text/html"]
    assert "<style>" in first["data"]["text/html"]  # it carries its look (and the swap rules)
    display_id = first["transient"]["display_id"]
    assert first["metadata"] == {"polos_nb": {"run_id": run.id, "view": "snapshot"}}
    # 2. the live widget, with an empty text/plain for frontends without widgets
    assert "application/vnd.jupyter.widget-view+json" in second["data"]
    assert second["data"]["text/plain"] == ""
    # the snapshot follows the run: waiting with its form's key, then cancelled
    wait_until(lambda: run.state.pending, what="the suspension")

    def latest() -> str:
        updates = [o for o in captured.outputs if o["update"]]
        assert all(o["transient"]["display_id"] == display_id for o in updates)
        return str((updates or [first])[-1]["data"]["text/html"])

    wait_until(lambda: 'data-status="waiting"' in latest(), what="a waiting snapshot")
    html = latest()
    assert 'data-key="check"' in html and "polos_nb.approve(" in html
    assert shell.run_line_magic("polos", f"cancel {run.id}") is True
    wait_until(lambda: run.done, what="the cancelled run")
    wait_until(lambda: 'data-status="cancelled"' in latest(), what="the final snapshot")
    assert run.status == "cancelled" and "cancelled" in run._repr_mimebundle_()["text/html"]
    # a run that has ended is shown without a live widget
    captured.outputs.clear()
    shell.run_cell(f"%polos show {run.id}")  # a new cell: the run is displayed again
    assert len(captured.outputs) == 1 and "text/html" in captured.outputs[0]["data"]


def test_run_arguments_take_an_agent_result_or_an_id_in_a_variable(shell: Any) -> None:
    _setup(shell, '[FakeToolCall("add", {"a": 2, "b": 3}, id="c1"), "5"]')
    name = uid("calc").replace("-", "_")
    shell.run_cell_magic("polos_agent", f"{name} --model model --tools add", "Adds.")
    run = shell.run_line_magic("polos", f"run {name} what is 2+3?")
    # What `r = await calc.run(client, ...)` leaves in a notebook: an AgentResult.
    shell.user_ns["res"] = run.result(timeout=30)
    shell.user_ns["rid"] = run.id
    for ref in ("res", "rid"):
        inspection = shell.run_line_magic("polos", f"inspect {ref}")
        assert list(inspection.steps["key"])[:2] == ["llm:1", "tool:1:c1:add"], ref
    # A {expression} IPython could not evaluate reaches the magic as written: say so.
    with pytest.raises(UsageError, match=r"IPython left \{res.execution_id\} as written"):
        shell.run_line_magic("polos", "inspect {res.execution_id}")

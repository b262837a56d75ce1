"""Kernel-level tests: real ipykernel processes driven through jupyter_client.

- a widget click (a real ``comm_msg``) resumes a waiting run while no cell is running;
- ``await run`` in a later cell, with the click arriving while that cell awaits;
- a blocking ``run.result()`` with an approval pending raises instead of hanging;
- a kernel restart mid-step and a restart while an approval is pending: after
  ``%load_ext polos_nb`` the runs are listed and shown again with their forms, they resume
  once the workflow is defined again, and file-based step counters prove that no
  completed step ran twice.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.notebook.kernel_harness import Kernel

pytestmark = [pytest.mark.kernel, pytest.mark.timeout(300)]

PIPELINE = """
import os, time
from polos_nb import workflow, WorkflowContext

def count(name):
    with open(os.environ["COUNTER"], "a") as f:
        f.write(name + "\\n")
    return name

def slow(name):
    count(name)
    while os.path.exists(os.environ["SLOW_FLAG"]):
        time.sleep(0.05)
    return name

@workflow(id="pipeline")
async def pipeline(ctx: WorkflowContext, payload: dict) -> dict:
    await ctx.step.run("a", count, "a")
    await ctx.step.run("slow", slow, "slow")
    d = await ctx.step.suspend("review", data={"_form": {"title": "Ship it?", "fields": [
        {"key": "approved", "type": "boolean", "label": "Ship"},
        {"key": "copies", "type": "number", "label": "Copies", "min": 1},
        {"key": "note", "type": "text", "label": "Note", "required": False}]}})
    await ctx.step.run("c", count, "c")
    return {"copies": d.data["copies"], "note": d.data.get("note"), "n": payload["n"]}
"""


@pytest.fixture
def kernel(tmp_path: Path) -> Iterator[Kernel]:
    env = {
        "POLOS_JOURNAL": str(tmp_path / "kernel.duckdb"),
        "COUNTER": str(tmp_path / "counter.txt"),
        "SLOW_FLAG": str(tmp_path / "slow.flag"),
        "IPYTHONDIR": str(tmp_path / "ipython"),  # its own input history (read after a restart)
    }
    k = Kernel(tmp_path, env)
    k.tmp = tmp_path  # type: ignore[attr-defined]
    try:
        yield k
    finally:
        k.close()


def counts(tmp: Path) -> dict[str, int]:
    path = tmp / "counter.txt"
    out: dict[str, int] = {}
    for line in path.read_text().splitlines() if path.exists() else []:
        out[line] = out.get(line, 0) + 1
    return out


def start_pipeline(k: Kernel) -> str:
    outputs = k.run(
        "%load_ext polos_nb\n"
        + PIPELINE
        + "\nrun = %polos run pipeline {'n': 1}\nprint('@@', run.id)"
    )
    assert not any(m["msg_type"] == "error" for m in outputs)
    run_id = next(line.split()[1] for line in k.text(outputs).splitlines() if line.startswith("@@"))
    # the cell returned and displayed the run's snapshot (kept current through its
    # display_id), then the live widget
    shown = [m for m in outputs if m["msg_type"] == "display_data"]
    assert len(shown) == 2, [m["content"]["data"].keys() for m in shown]
    snapshot, live = (m["content"] for m in shown)
    assert 'class="polos-run polos-snapshot"' in snapshot["data"]["text/html"]
    assert snapshot["transient"]["display_id"]
    assert snapshot["metadata"] == {"polos_nb": {"run_id": run_id, "view": "snapshot"}}
    assert "application/vnd.jupyter.widget-view+json" in live["data"]
    assert live["data"]["text/plain"] == ""  # frontends without widgets show the snapshot
    return run_id


def test_widget_click_resumes_a_waiting_run_after_the_cell_returned(kernel: Kernel) -> None:
    run_id = start_pipeline(kernel)
    kernel.poll("[a['key'] for a in run.widget().approvals]", ["review"])
    comm_id = kernel.value("run.widget().model_id")
    # an invalid answer: validated in Python, errors go back into the form, nothing delivered
    kernel.click(
        comm_id,
        {
            "kind": "submit",
            "key": "review",
            "decision": "submit",
            "data": {"approved": True, "copies": 0},
        },
    )
    errors = kernel.poll("[a['errors'] for a in run.widget().approvals]", lambda v: v and v[0])
    assert "copies" in errors[0]
    assert kernel.value("run.status") == "waiting"
    # a valid click, with no cell running: the run resumes on the engine thread
    kernel.click(
        comm_id,
        {
            "kind": "submit",
            "key": "review",
            "decision": "submit",
            "data": {"approved": True, "copies": 2, "note": "go"},
        },
    )
    kernel.poll("run.status", "completed")
    assert kernel.value("run.output") == {"copies": 2, "note": "go", "n": 1}
    assert kernel.value("[a['status'] for a in run.widget().approvals]") == ["approved"]
    assert counts(kernel.tmp) == {"a": 1, "slow": 1, "c": 1}  # type: ignore[attr-defined]
    assert kernel.value("run.widget().status") == "completed"
    assert run_id


def test_await_run_in_a_later_cell_lets_the_click_through(kernel: Kernel) -> None:
    start_pipeline(kernel)
    kernel.poll("len(run.state.pending)", 1)
    comm_id = kernel.value("run.widget().model_id")
    waiting = kernel.send("result = await run\nprint('RESULT', result)")
    kernel.click(
        comm_id,
        {
            "kind": "submit",
            "key": "review",
            "decision": "submit",
            "data": {"approved": True, "copies": 3},
        },
    )
    reply, outputs = kernel.wait(waiting, timeout=60)
    assert reply["status"] == "ok", kernel.text(outputs)
    assert "RESULT {'copies': 3, 'note': None, 'n': 1}" in kernel.text(outputs)


def test_blocking_result_raises_a_helpful_error_while_an_approval_is_pending(
    kernel: Kernel,
) -> None:
    start_pipeline(kernel)
    reply, _outputs = kernel.wait(kernel.send("run.result()"), timeout=60)
    assert reply["status"] == "error" and reply["ename"] == "ApprovalPendingError"
    assert "await run" in reply["evalue"] and "polos_nb.approve" in reply["evalue"]
    # the kernel is still usable and the approval still possible without a widget
    kernel.run("import polos_nb; polos_nb.approve(run, 'review', {'approved': True, 'copies': 1})")
    kernel.poll("run.status", "completed")


def test_restart_mid_step_then_resume_runs_no_completed_step_twice(kernel: Kernel) -> None:
    tmp: Path = kernel.tmp  # type: ignore[attr-defined]
    (tmp / "slow.flag").write_text("hold")
    run_id = start_pipeline(kernel)
    kernel.poll("open(os.environ['COUNTER']).read().split()", ["a", "slow"])
    kernel.restart()  # the kernel dies in the middle of step "slow"
    (tmp / "slow.flag").unlink()
    outputs = kernel.run("%load_ext polos_nb")
    kernel.run("import os, polos_nb, polos_nb.notebook")
    listing = kernel.text(outputs)
    assert run_id in listing and "unfinished run" in listing and "pipeline" in listing
    assert any(
        "application/vnd.jupyter.widget-view+json" in m["content"].get("data", {})
        for m in outputs
        if m["msg_type"] == "display_data"
    )
    # not defined yet in this kernel: it waits for its code, and says which cell that is
    assert kernel.value(f"polos_nb.notebook.show({run_id!r}).status") in ("running", "queued")
    note = kernel.value(f"polos_nb.notebook.show({run_id!r}).state.note")
    assert "'pipeline'" in note and '[1] before the restart: @workflow(id="pipeline")' in note
    assert '[1] before the restart: @workflow(id="pipeline")' in listing
    kernel.run(PIPELINE)  # define it again: the run resumes from its journal
    kernel.poll(f"polos_nb.notebook.show({run_id!r}).state.note", None)  # the note goes
    kernel.poll(f"[a['key'] for a in polos_nb.notebook.show({run_id!r}).state.pending]", ["review"])
    comm_id = kernel.value(f"polos_nb.notebook.show({run_id!r}).widget().model_id")
    kernel.click(
        comm_id,
        {
            "kind": "submit",
            "key": "review",
            "decision": "submit",
            "data": {"approved": True, "copies": 5},
        },
    )
    kernel.poll(f"polos_nb.notebook.show({run_id!r}).status", "completed")
    # "a" completed before the restart and was not run again; "slow" had not completed
    # (its result was never journaled), so it ran again; "c" ran once.
    assert counts(tmp) == {"a": 1, "slow": 2, "c": 1}
    assert kernel.value(f"polos_nb.notebook.show({run_id!r}).output") == {
        "copies": 5,
        "note": None,
        "n": 1,
    }


def test_restart_with_a_pending_approval_shows_the_form_again(kernel: Kernel) -> None:
    tmp: Path = kernel.tmp  # type: ignore[attr-defined]
    run_id = start_pipeline(kernel)
    kernel.poll("len(run.state.pending)", 1)
    kernel.restart()
    outputs = kernel.run("%load_ext polos_nb")
    kernel.run("import os, polos_nb, polos_nb.notebook")
    listing = kernel.text(outputs)
    assert run_id in listing and "approval pending" in listing and "review" in listing
    assert "Ship it?" in listing  # the form, in the static snapshot of the re-displayed run
    form = kernel.value(f"polos_nb.notebook.show({run_id!r}).widget().approvals")
    assert form[0]["key"] == "review" and form[0]["status"] == "pending"
    assert set(form[0]["schema"]["properties"]) == {"approved", "copies", "note"}
    pending = kernel.value("[(p.execution_id, p.key) for p in polos_nb.pending_approvals()]")
    assert pending == [[run_id, "review"]]
    # answer without a widget, before the workflow is defined again: kept, then delivered
    outputs = kernel.run(
        f"%polos approve {run_id} review {json.dumps({'approved': True, 'copies': 4})}"
    )
    kernel.run(PIPELINE)
    kernel.poll(f"polos_nb.notebook.show({run_id!r}).status", "completed")
    assert counts(tmp) == {"a": 1, "slow": 1, "c": 1}
    assert kernel.value(f"polos_nb.notebook.show({run_id!r}).output") == {
        "copies": 4,
        "note": None,
        "n": 1,
    }

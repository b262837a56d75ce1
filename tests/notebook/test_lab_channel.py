"""The kernel side of the JupyterLab extension outside JupyterLab: nothing needs it.

In a plain IPython shell (a terminal, a test), ``%load_ext polos_nb`` registers no comm
target and writes no hint: the magics work as before. In a kernel, the hint names the
kernel's journal and is removed by the process that wrote it only.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from IPython.core.interactiveshell import InteractiveShell

from polos_nb.notebook import _lab
from tests.notebook.conftest import uid, wait_until


def test_load_ext_outside_a_kernel_registers_nothing() -> None:
    ip = InteractiveShell.instance()
    try:
        assert _lab.register(ip) is False
        ip.extension_manager.load_extension("polos_nb")
        assert "polos" in ip.magics_manager.magics["line"]
    finally:
        InteractiveShell.clear_instance()


def test_the_hint_names_the_journal_and_only_its_writer_removes_it(tmp_path: Path) -> None:
    connection = tmp_path / "kernel-abc.json"
    _lab._write_hint(str(connection))
    hint = Path(_lab.hint_path(str(connection)))
    assert hint.name == "polos_nb-kernel-abc.json"
    info = json.loads(hint.read_text())
    assert info["pid"] == os.getpid() and info["protocol"] == _lab.PROTOCOL
    assert info["journal"].endswith(".duckdb")
    _lab._remove_hint(str(hint), os.getpid() + 1)  # another process (a restarted kernel)
    assert hint.exists()
    _lab._remove_hint(str(hint), os.getpid())
    assert not hint.exists()


SAVED_FLOW = """
from polos_nb import workflow, WorkflowContext

@workflow(id=WF_ID)
async def saved_flow(ctx: WorkflowContext, payload: dict) -> dict:
    n = await ctx.step.run("double", lambda: payload["n"] * 2)
    answer = await ctx.step.suspend("check", data={"_form": {"fields": [{"key": "ok", "type": "boolean"}]}})
    return {"n": n, "ok": answer.data["ok"]}
"""


def test_a_runs_output_carries_its_state_as_json_for_the_saved_run_renderer(shell: Any) -> None:
    from polos_nb.notebook._run import RUN_MIME

    shell.user_ns["WF_ID"] = uid("saved")
    shell.run_cell(SAVED_FLOW)
    run = shell.run_line_magic("polos", 'run saved_flow {"n": 4}')
    wait_until(lambda: run.state.pending, what="the suspension")
    waiting = run._repr_mimebundle_()[RUN_MIME]
    assert waiting["run_id"] == run.id and waiting["status"] in ("running", "waiting")
    assert [a["key"] for a in waiting["approvals"]] == ["check"]
    json.dumps(waiting)  # plain JSON: it is saved in the notebook file as is
    shell.run_line_magic("polos", f'approve {run.id} check {{"ok": true}}')
    assert run.result(timeout=30) == {"n": 8, "ok": True}
    wait_until(lambda: run.done, what="the run to end")
    done = json.loads(json.dumps(run._repr_mimebundle_()[RUN_MIME]))
    assert done["status"] == "completed" and done["done"] is True
    assert [s["key"] for s in done["steps"]][:1] == ["double"]
    assert "8" in str(done["output"])


class _Comm:
    """A comm with the server extension, as the kernel side sees it: what it was sent."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    def on_msg(self, callback: Any) -> None:
        pass

    def on_close(self, callback: Any) -> None:
        pass

    def send(self, data: dict[str, Any]) -> None:
        self.sent.append(data)


def test_the_channel_says_when_runs_change_from_their_metadata_alone(
    shell: Any, monkeypatch: Any
) -> None:
    from polos_nb import WorkflowContext, workflow
    from polos_nb.notebook import _session

    client = _session.get_client()
    heard: list[Any] = []  # the events the channel is given, and how much it had sent then
    subscribed: list[dict[str, Any]] = []
    subscribe_all = client.subscribe_all

    def spy(callback: Any, **options: Any) -> Any:
        subscribed.append(options)

        def both(event: Any) -> None:
            heard.append((event, len(comm.sent)))
            callback(event)

        return subscribe_all(both, **options)

    monkeypatch.setattr(client, "subscribe_all", spy)

    @workflow(id=uid("plain"))
    async def plain(ctx: WorkflowContext, payload: dict) -> dict:
        return {"n": payload["n"] + 1}

    def ends(run_id: str) -> list[tuple[Any, int]]:
        return [
            (e, n)
            for e, n in list(heard)
            if e.event_type in ("workflow_start", "workflow_finish")
            and e.data["_metadata"]["execution_id"] == run_id
        ]

    comm = _Comm()
    channel = _lab.LabChannel(comm)
    try:
        assert subscribed == [{"payloads": False}]
        shell.user_ns["WF_ID"] = uid("lab")
        shell.run_cell(SAVED_FLOW)
        run = shell.run_line_magic("polos", 'run saved_flow {"n": 4}')
        suspended = {"kind": "changed", "reason": "suspend", "execution_id": run.id, "key": "check"}
        wait_until(lambda: suspended in comm.sent, what="the suspension to be pushed")
        shell.run_line_magic("polos", f'approve {run.id} check {{"ok": true}}')
        assert run.result(timeout=30) == {"n": 8, "ok": True}
        # A run nobody shows: its start and finish reach the channel without its payload or
        # result (nothing decodes them for it), and the panel hears that runs changed.
        handle = plain.invoke_sync(client, {"n": 1})
        assert client.wait_for_result_sync(handle.id, timeout=30) == {"n": 2}
        wait_until(lambda: len(ends(handle.id)) == 2, what="the run's finish event")
        (_, sent_before_finish) = ends(handle.id)[-1]
        wait_until(
            lambda: {"kind": "changed", "reason": "runs"} in comm.sent[sent_before_finish:],
            what="the run's end to be pushed",
        )
    finally:
        channel._on_close(None)
    assert comm.sent[0]["kind"] == "hello"
    assert [e.event_type for e, _ in ends(handle.id)] == ["workflow_start", "workflow_finish"]
    assert [e.data for e, _ in ends(handle.id)] == [
        {"_metadata": {"execution_id": handle.id, "workflow_id": plain.id}}
    ] * 2

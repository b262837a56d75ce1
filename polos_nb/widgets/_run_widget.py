"""``RunWidget``: a run's timeline, tool calls, streamed text, usage, output and forms.

State lives in synced traits (re-sent whole, so at most once per flush interval); the
streamed text arrives as ``delta`` custom messages between snapshots (no O(n²) resend
of a growing string). A click on a form button reaches :meth:`_on_msg` — on the kernel's
main shell or on a subshell thread — which validates the answer in Python through
``polos_nb.approve`` and hands it to the engine thread-safely (``run_coroutine_threadsafe``,
i.e. ``loop.call_soon_threadsafe``); it never waits for the workflow.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import anywidget
import traitlets

from ._protocol import DeltaMsg

if TYPE_CHECKING:
    from polos_nb.notebook._run import Run

__all__ = ["RunWidget"]

STATIC = Path(__file__).parent / "static"
_TRAITS = (
    "run_id",
    "workflow_id",
    "workflow_type",
    "status",
    "steps",
    "tools",
    "text",
    "usage",
    "approvals",
    "output",
    "error",
    "note",
    "started_at",
    "ended_at",
    "done",
)


class RunWidget(anywidget.AnyWidget):
    """The live view of one run (see the module docstring). Created by ``Run.widget()``."""

    _esm = STATIC / "run.js"
    _css = STATIC / "run.css"

    run_id = traitlets.Unicode("").tag(sync=True)
    workflow_id = traitlets.Unicode("").tag(sync=True)
    workflow_type = traitlets.Unicode("workflow").tag(sync=True)
    status = traitlets.Unicode("queued").tag(sync=True)
    steps: traitlets.List[dict[str, Any]] = traitlets.List().tag(sync=True)
    tools: traitlets.List[dict[str, Any]] = traitlets.List().tag(sync=True)
    text = traitlets.Unicode("").tag(sync=True)
    usage = traitlets.Dict().tag(sync=True)
    approvals: traitlets.List[dict[str, Any]] = traitlets.List().tag(sync=True)
    output = traitlets.Unicode(None, allow_none=True).tag(sync=True)
    error = traitlets.Unicode(None, allow_none=True).tag(sync=True)
    note = traitlets.Unicode(None, allow_none=True).tag(sync=True)
    started_at = traitlets.Unicode(None, allow_none=True).tag(sync=True)
    ended_at = traitlets.Unicode(None, allow_none=True).tag(sync=True)
    done = traitlets.Bool(False).tag(sync=True)

    messages_sent = (
        0  # comm messages sent (state updates + custom messages): the benchmark reads it
    )
    deltas_sent = 0

    def __init__(self, run: Run, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._run = run
        self.on_msg(self._on_msg)
        run.state.attach(self, loop=run.client.loop)

    def __repr__(self) -> str:
        return f"<RunWidget {self.workflow_id} {self.run_id} status={self.status}>"

    # ------------------------------------------------------------------ kernel → frontend
    def apply(self, snapshot: dict[str, Any]) -> None:
        """Set the traits from a state snapshot, in one comm message."""
        resend_text = False
        with self.hold_sync():
            for name in _TRAITS:
                if name not in snapshot:
                    continue
                value = snapshot[name]
                if name == "text" and value == self.text:
                    resend_text = True  # the frontend may hold deltas beyond it
                    continue
                if getattr(self, name) != value:
                    setattr(self, name, value)
        if resend_text and snapshot.get("done"):
            self.send_state("text")

    def delta(self, text: str) -> None:
        msg: DeltaMsg = {"kind": "delta", "text": text}
        self.deltas_sent += 1
        self.send(msg)

    def _send(self, msg: Any, buffers: Any = None) -> None:
        self.messages_sent += 1
        super()._send(msg, buffers=buffers)

    # ------------------------------------------------------------------ frontend → kernel
    def _on_msg(self, _widget: Any, content: Any, _buffers: Any) -> None:
        if not isinstance(content, dict):
            return
        kind = content.get("kind")
        if kind == "submit":
            data = content.get("data")
            self.submit(
                str(content.get("key") or ""),
                str(content.get("decision") or "submit"),
                data if isinstance(data, dict) else {},
            )
        elif kind == "cancel":
            run = self._run
            run.client.submit(run.client.cancel(run.id))

    def submit(self, key: str, decision: str, data: dict[str, Any]) -> None:
        """Validate an answer from the form and deliver it (what a click does)."""
        from polos_nb.errors import ApprovalValidationError, PolosError
        from polos_nb.notebook._approve import approve

        run = self._run
        state = run.state
        entry = state.approvals.get(key)
        execution_id = entry.get("execution_id", run.id) if entry else run.id
        options: dict[str, Any] = {}
        if decision == "reject":
            options["reject"] = True
        elif decision == "always":
            options["always"] = True
        state.set_approval(key, status="sending", errors={})
        try:
            future = approve(execution_id, key, data, client=run.client, wait=False, **options)
        except ApprovalValidationError as exc:
            state.set_approval(key, status="invalid", errors=exc.errors)
            return
        except PolosError as exc:
            state.set_approval(key, status="error", errors={"": str(exc)})
            return

        def delivered(f: Any) -> None:
            error = f.exception()
            if error is not None:
                state.set_approval(key, status="error", errors={"": str(error)})

        future.add_done_callback(delivered)

"""After a kernel restart: list interrupted runs and pending approvals, show them again.

The journal is the source of truth; widgets from before the restart are dead. On
``%load_ext polos_nb`` (and ``%polos resume``) each unfinished root run gets a fresh
widget bound to its journal state, with the forms of its pending approvals. A run whose
workflow or agent is not defined yet in the new kernel waits for it: run the defining
cell and it resumes from its journal — completed steps are not run again.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from polos_nb.config import redact_url

from . import _session
from ._approve import PendingApproval, pending_approvals
from ._html import e
from ._run import Run, show

if TYPE_CHECKING:
    from polos_nb.engine import PolosClient

__all__ = ["Unfinished", "unfinished"]


@dataclass
class Unfinished:
    """What the journal holds that is not finished: runs, approvals, missing definitions."""

    runs: list[Run] = field(default_factory=list)
    approvals: list[PendingApproval] = field(default_factory=list)
    undefined: dict[str, list[str]] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.runs)

    def summary(self) -> str:
        if not self.runs:
            return "polos_nb: no interrupted runs."
        lines = [
            f"polos_nb: {len(self.runs)} unfinished run(s) in {redact_url(_session.journal_path())}"
        ]
        for run in self.runs:
            waits = [p.key for p in self.approvals if p.root_execution_id == run.id]
            extra = f" — waiting for approval at {', '.join(waits)}" if waits else ""
            if any(run.id in ids for ids in self.undefined.values()):
                extra += f" — define {run.workflow_id!r} again to resume it"
            lines.append(f"  {run.workflow_id} {run.id} [{run.status}]{extra}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return self.summary()

    def _repr_html_(self) -> str:
        if not self.runs:
            return "<div class='polos-unfinished'>polos_nb: no interrupted runs.</div>"
        items = []
        for run in self.runs:
            waits = [p.key for p in self.approvals if p.root_execution_id == run.id]
            undefined = any(run.id in ids for ids in self.undefined.values())
            items.append(
                f"<li><b>{e(run.workflow_id)}</b> <code>{e(run.id)}</code> {e(run.status)}"
                + (f" — approval pending at <code>{e(', '.join(waits))}</code>" if waits else "")
                + (
                    f" — run the cell defining <code>{e(run.workflow_id)}</code> to resume"
                    if undefined
                    else ""
                )
                + "</li>"
            )
        return (
            f"<div class='polos-unfinished'><b>polos_nb: {len(self.runs)} unfinished run(s)</b>"
            f"<ul>{''.join(items)}</ul></div>"
        )


def unfinished(*, client: PolosClient | None = None, limit: int = 20) -> Unfinished:
    """Unfinished root runs of the session's journal (queued, running or waiting)."""
    client = _session.get_client(client)
    infos = []
    for status in ("running", "waiting", "queued"):
        infos.extend(
            _session.call(client, client.list_executions(None, status, limit, root_only=True))
        )
    infos.sort(key=lambda i: i.created_at)
    approvals = pending_approvals(client=client)
    undefined = client.pending_workflows()
    runs = [show(i.id, client=client, workflow_id=i.workflow_id) for i in infos[-limit:]]
    for run, info in zip(runs, infos[-limit:], strict=False):
        run.state.status = info.status
    return Unfinished(runs=runs, approvals=approvals, undefined=undefined)


def journal_exists() -> bool:
    path = _session.journal_path()
    return path != ":memory:" and os.path.exists(path)

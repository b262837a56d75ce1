"""After a kernel restart: list interrupted runs and pending approvals, show them again.

The journal is the source of truth; widgets from before the restart are dead. On
``%load_ext polos_nb`` (and ``%polos resume``) each unfinished root run gets a fresh
widget bound to its journal state, with the forms of its pending approvals. A run whose
workflow or agent is not defined yet in the new kernel waits for it: run the defining
cell and it resumes from its journal — completed steps are not run again.
"""

from __future__ import annotations

import os
import re
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
                where = defining_cell(run.workflow_id)
                extra += f" — define {run.workflow_id!r} again to resume it" + (
                    f" ({where})" if where else ""
                )
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
                    + (f" ({e(where)})" if (where := defining_cell(run.workflow_id)) else "")
                    if undefined
                    else ""
                )
                + "</li>"
            )
        return (
            f"<div class='polos-unfinished'><b>polos_nb: {len(self.runs)} unfinished run(s)</b>"
            f"<ul>{''.join(items)}</ul></div>"
        )


def _defines(source: str, workflow_id: str) -> bool:
    """Whether a cell's source defines the agent or workflow ``workflow_id``."""
    wid = re.escape(workflow_id)
    patterns = (
        rf"^\s*%%polos_agent\s+{wid}\b",
        rf"^\s*%%polos_agent\b.*--id\s+{wid}\b",
        rf"@workflow\(\s*(?:id\s*=\s*)?['\"]{wid}['\"]",
        rf"\bAgent\((?:.|\n)*?\bid\s*=\s*['\"]{wid}['\"]",
    )
    if any(re.search(p, source, re.M) for p in patterns):
        return True
    # @workflow without an id takes the function's name
    return bool(re.search(rf"@workflow\b(?:\(\s*\))?\s*\n\s*(?:async\s+)?def\s+{wid}\s*\(", source))


def defining_cell(workflow_id: str) -> str | None:
    """Where ``workflow_id`` was defined, from IPython's history of earlier sessions:
    ``"[15] before the restart: %%polos_agent mailer ..."`` (None if not found)."""
    try:
        from IPython import get_ipython

        ip = get_ipython()
        history = getattr(ip, "history_manager", None)
        if history is None or not getattr(history, "enabled", True):
            return None
        best: tuple[int, int, str] | None = None
        for session, line, source in history.search(f"*{workflow_id}*", raw=True):
            later = best is None or (session, line) > best[:2]
            if later and isinstance(source, str) and _defines(source, workflow_id):
                best = (int(session), int(line), source)
    except Exception:  # the history is a convenience: never fail the listing over it
        return None
    if best is None:
        return None
    session, line, source = best
    lines = [x.strip() for x in source.splitlines() if x.strip()]
    first = next((x for x in lines if workflow_id in x and not x.startswith("#")), lines[0])
    if len(first) > 70:
        first = first[:69] + "…"
    when = "before the restart" if session != history.session_number else "in this kernel"
    return f"[{line}] {when}: {first}"


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
    from polos_nb.engine import get_workflow

    # Not defined in this kernel (yet): from the registry itself, as the engine may not
    # have tried to resume these runs when the extension loads.
    undefined: dict[str, list[str]] = {k: list(v) for k, v in client.pending_workflows().items()}
    for info in infos:
        if get_workflow(info.workflow_id) is None:
            ids = undefined.setdefault(info.workflow_id, [])
            if info.id not in ids:
                ids.append(info.id)
    # show() reads each run's events and then its status: fresher than `infos`, which a
    # run that ended since would contradict
    runs = [show(i.id, client=client, workflow_id=i.workflow_id) for i in infos[-limit:]]
    return Unfinished(runs=runs, approvals=approvals, undefined=undefined)


def journal_exists() -> bool:
    path = _session.journal_path()
    return path != ":memory:" and os.path.exists(path)

"""What the JupyterLab extension shows, as plain JSON, from a journal's typed run reads.

Each function takes a :class:`polos_nb.engine.RunReader`: the kernel that owns a journal
passes ``client.run_reader()`` (``_lab``), the server extension one over a journal that
no process owns (``polos_nb.engine.read_runs``). So a run looks the same in the sidebar
whether its notebook's kernel is alive or not. No SQL here: the reads are the journal
interface's, the shaping into JSON is this module's.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from polos_nb.contracts import LLM_KEY_PREFIX

from ._forms import form_spec
from ._run_state import RunState, plain

if TYPE_CHECKING:
    from polos_nb.engine import RunReader

__all__ = ["STATUSES", "pending_from", "run_detail", "run_page", "summary"]

STATUSES = ("queued", "running", "waiting", "completed", "failed", "cancelled")
MAX_PAGE = 500


def _iso(value: Any) -> str | None:
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return value.isoformat()
    return None


def _ms(start: Any, end: Any) -> float | None:
    if isinstance(start, dt.datetime) and isinstance(end, dt.datetime):
        return round((end - start).total_seconds() * 1000, 1)
    return None


def pending_from(reads: RunReader, run_id: str | None = None) -> list[dict[str, Any]]:
    """The suspensions that wait for an answer, each with its form (``form_spec``)."""
    out = []
    for item in reads.pending_suspensions(run_id):
        data = item.data
        spec = form_spec(data, step_key=item.key)
        out.append(
            {
                "execution_id": item.execution_id,
                "root_execution_id": item.root_execution_id,
                "root_workflow_id": item.root_workflow_id,
                "workflow_id": item.workflow_id,
                "key": item.key,
                "created_at": _iso(item.created_at),
                "url": data.get("_approval_url") if isinstance(data, dict) else None,
                "form": plain(spec),
            }
        )
    return out


def summary(reads: RunReader) -> dict[str, Any]:
    """What the sidebar's source list and the inbox need: run counts per status and the
    suspensions waiting for a person."""
    counts = reads.run_counts()
    return {"counts": counts, "total": sum(counts.values()), "pending": pending_from(reads)}


def run_page(
    reads: RunReader, *, status: str | None = None, offset: int = 0, limit: int = 100
) -> dict[str, Any]:
    """One page of root runs, newest first, with the count of runs in each status.

    Each run: id, workflow, type, status, times, ``duration_ms`` (to now while it runs:
    the frontend ticks it), tokens and cost summed over the model calls of its whole tree,
    and how many of its suspensions wait for a person.
    """
    if status is not None and status not in STATUSES:
        raise ValueError(f"unknown run status {status!r}; use one of {', '.join(STATUSES)}")
    offset = max(0, int(offset))
    limit = max(1, min(int(limit), MAX_PAGE))
    counts = reads.run_counts()
    page = reads.runs(status=status, offset=offset, limit=limit)
    ids = [info.id for info in page]
    usage: dict[str, dict[str, Any]] = {}
    for root_id, output in reads.step_outputs(ids, LLM_KEY_PREFIX):
        value = plain(output) if output is not None else None
        u = value.get("usage") if isinstance(value, dict) else None
        if not isinstance(u, dict):
            continue
        total = usage.setdefault(root_id, {"input_tokens": 0, "output_tokens": 0, "cost_usd": None})
        total["input_tokens"] += int(u.get("input_tokens") or 0)
        total["output_tokens"] += int(u.get("output_tokens") or 0)
        if u.get("cost_usd") is not None:
            total["cost_usd"] = round(float(total["cost_usd"] or 0.0) + float(u["cost_usd"]), 8)
    waiting = reads.pending_counts(ids)
    runs = []
    for info in page:
        u = usage.get(info.id) or {}
        runs.append(
            {
                "id": info.id,
                "workflow_id": info.workflow_id,
                "workflow_type": info.workflow_type,
                "status": info.status,
                "created_at": _iso(info.created_at),
                "started_at": _iso(info.started_at),
                "completed_at": _iso(info.completed_at),
                "duration_ms": _ms(info.started_at, info.completed_at),
                "input_tokens": u.get("input_tokens", 0),
                "output_tokens": u.get("output_tokens", 0),
                "cost_usd": u.get("cost_usd"),
                "pending": waiting.get(info.id, 0),
            }
        )
    return {
        "total": sum(counts.values()),
        "matching": counts.get(status, 0) if status else sum(counts.values()),
        "counts": counts,
        "offset": offset,
        "runs": runs,
    }


def run_detail(reads: RunReader, run_id: str) -> dict[str, Any]:
    """Everything the run inspector shows: the run's state as its widget shows it
    (timeline of steps, tool calls, streamed text, approvals, output, usage) and its steps
    with inputs, outputs, timings and tokens."""
    info = reads.execution(run_id)
    state = RunState(info.id, info.workflow_id, info.status)
    for event in reads.run_events(info.id):
        state.feed(event)
    state.status = info.status
    if info.status in ("completed", "failed", "cancelled"):
        state.finish(info)
    snapshot = state.snapshot()
    snapshot["root_execution_id"] = info.root_execution_id
    snapshot["created_at"] = _iso(info.created_at)
    snapshot["input"] = plain(info.payload)
    return dict(plain(snapshot))

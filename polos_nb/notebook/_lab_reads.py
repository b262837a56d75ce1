"""What the JupyterLab extension shows, read from one journal connection.

Each function takes a connection to a journal and returns plain JSON. It runs either on
the journal's own thread in the kernel that owns the journal (``_lab`` calls it through
``_session.read``), or on a read-only connection to a journal that no process owns (the
server extension calls it through ``polos_nb.engine.journal.read_journal``). So a run
looks the same in the sidebar whether its notebook's kernel is alive or not.

Every journal read of the JupyterLab extension is here, in one module, so that a typed
read API on the client can take them over in one move.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from polos_nb import _serde

from ._forms import form_spec
from ._run import RunState, plain

__all__ = ["STATUSES", "pending_from", "run_detail", "run_page", "summary"]

STATUSES = ("queued", "running", "waiting", "completed", "failed", "cancelled")
MAX_PAGE = 500

_PENDING_SQL = """
SELECT w.execution_id, w.step_key, e.workflow_id, e.root_execution_id, e.root_workflow_id, w.created_at,
       (SELECT ev.data FROM events ev WHERE ev.execution_id = w.execution_id
          AND ev.event_type = 'suspend_' || w.step_key ORDER BY ev.seq DESC LIMIT 1) AS data
FROM waits w JOIN executions e ON e.id = w.execution_id
WHERE w.kind = 'suspend' AND w.resolved_at IS NULL AND e.status IN ('queued', 'running', 'waiting')
"""


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


def pending_rows(con: Any, run_id: str | None = None) -> list[tuple[Any, ...]]:
    """Raw rows of the suspensions that wait for an answer (of one run's tree, or all)."""
    sql = _PENDING_SQL
    params: list[Any] = []
    if run_id is not None:
        sql += " AND (e.id = ? OR e.root_execution_id = ?)"
        params = [run_id, run_id]
    sql += " ORDER BY w.created_at"
    return list(con.execute(sql, params).fetchall())


def pending_from(con: Any, run_id: str | None = None) -> list[dict[str, Any]]:
    """The suspensions that wait for an answer, each with its form (``form_spec``)."""
    out = []
    for exec_id, key, wf_id, root_id, root_wf, created, data_json in pending_rows(con, run_id):
        data = _serde.loads(data_json, strict=False) if data_json else {}
        if isinstance(data, dict):
            data = {k: v for k, v in data.items() if k != "_metadata"}
        spec = form_spec(data, step_key=key)
        out.append(
            {
                "execution_id": exec_id,
                "root_execution_id": root_id,
                "root_workflow_id": root_wf,
                "workflow_id": wf_id,
                "key": key,
                "created_at": _iso(created),
                "url": data.get("_approval_url") if isinstance(data, dict) else None,
                "form": plain(spec),
            }
        )
    return out


def summary(con: Any) -> dict[str, Any]:
    """What the sidebar's source list and the inbox need: run counts per status and the
    suspensions waiting for a person."""
    counts = _counts(con)
    return {"counts": counts, "total": sum(counts.values()), "pending": pending_from(con)}


def _counts(con: Any) -> dict[str, int]:
    return {
        str(s): int(n)
        for s, n in con.execute(
            "SELECT status, count(*) FROM executions WHERE parent_execution_id IS NULL GROUP BY status"
        ).fetchall()
    }


def run_page(
    con: Any, *, status: str | None = None, offset: int = 0, limit: int = 100
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
    counts = _counts(con)
    where = "parent_execution_id IS NULL" + (" AND status = ?" if status else "")
    params: list[Any] = [status] if status else []
    rows = con.execute(
        "SELECT id, workflow_id, workflow_type, status, created_at, started_at, completed_at"
        f" FROM executions WHERE {where} ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?",
        [*params, limit, offset],
    ).fetchall()
    ids = [r[0] for r in rows]
    usage: dict[str, dict[str, Any]] = {}
    waiting: dict[str, int] = {}
    if ids:
        marks = ", ".join("?" for _ in ids)
        for root_id, output in con.execute(
            "SELECT root_execution_id, output FROM steps WHERE root_execution_id IN "
            f"({marks}) AND step_key LIKE 'llm:%' AND status = 'completed'",
            ids,
        ).fetchall():
            value = plain(_serde.loads(output, strict=False)) if output else None
            u = value.get("usage") if isinstance(value, dict) else None
            if not isinstance(u, dict):
                continue
            total = usage.setdefault(
                root_id, {"input_tokens": 0, "output_tokens": 0, "cost_usd": None}
            )
            total["input_tokens"] += int(u.get("input_tokens") or 0)
            total["output_tokens"] += int(u.get("output_tokens") or 0)
            if u.get("cost_usd") is not None:
                total["cost_usd"] = round(float(total["cost_usd"] or 0.0) + float(u["cost_usd"]), 8)
        for root_id, n in con.execute(
            "SELECT e.root_execution_id, count(*) FROM waits w JOIN executions e ON e.id = w.execution_id"
            f" WHERE w.kind = 'suspend' AND w.resolved_at IS NULL AND e.root_execution_id IN ({marks})"
            " GROUP BY e.root_execution_id",
            ids,
        ).fetchall():
            waiting[root_id] = int(n)
    runs = []
    for run_id, wf_id, wf_type, st, created, started, completed in rows:
        u = usage.get(run_id) or {}
        runs.append(
            {
                "id": run_id,
                "workflow_id": wf_id,
                "workflow_type": wf_type,
                "status": st,
                "created_at": _iso(created),
                "started_at": _iso(started),
                "completed_at": _iso(completed),
                "duration_ms": _ms(started, completed),
                "input_tokens": u.get("input_tokens", 0),
                "output_tokens": u.get("output_tokens", 0),
                "cost_usd": u.get("cost_usd"),
                "pending": waiting.get(run_id, 0),
            }
        )
    return {
        "total": sum(counts.values()),
        "matching": counts.get(status, 0) if status else sum(counts.values()),
        "counts": counts,
        "offset": offset,
        "runs": runs,
    }


def run_detail(con: Any, run_id: str) -> dict[str, Any]:
    """Everything the run inspector shows: the run's state as its widget shows it
    (timeline of steps, tool calls, streamed text, approvals, output, usage) and its steps
    with inputs, outputs, timings and tokens."""
    from polos_nb.engine._reads import execution_from, history_from

    info = execution_from(con, run_id)
    topic = f"workflow/{info.root_workflow_id}/{info.root_execution_id}"
    state = RunState(info.id, info.workflow_id, info.status)
    for _seq, event in history_from(con, info.root_execution_id, topic, 0):
        state.feed(event)
    state.status = info.status
    if info.status in ("completed", "failed", "cancelled"):
        state.finish(info)
    snapshot = state.snapshot()
    snapshot["root_execution_id"] = info.root_execution_id
    snapshot["created_at"] = _iso(info.created_at)
    snapshot["input"] = plain(info.payload)
    return dict(plain(snapshot))

"""Journal tools for notebooks: run lists, the run inspector, events, SQL, replay, fork, compare.

Each is the plain-Python twin of a ``%polos`` subcommand. Tables come back as pandas
DataFrames (pandas is imported on first use). Queries run on the journal's own thread
(the kernel owns the DuckDB file; no other process can open it while the kernel lives).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from polos_nb.contracts import parse_step_key

from . import _session
from ._html import e, table
from ._run import Run, show
from ._run_state import plain, short

if TYPE_CHECKING:
    from polos_nb.engine import PolosClient

__all__ = [
    "Comparison",
    "Inspection",
    "compare",
    "events",
    "fork",
    "inspect",
    "replay",
    "runs",
    "sql",
]


def _frame(rows: list[dict[str, Any]], columns: list[str]) -> Any:
    import pandas as pd

    return pd.DataFrame(rows, columns=columns)


def runs(
    status: str | None = None,
    *,
    workflow: str | None = None,
    limit: int = 50,
    client: PolosClient | None = None,
    children: bool = False,
) -> Any:
    """Recent runs (newest first) as a DataFrame: id, workflow, type, status, times."""
    client = _session.get_client(client)
    infos = _session.call(
        client, client.list_executions(workflow, status, limit, root_only=not children)
    )
    rows = [
        {
            "id": i.id,
            "workflow": i.workflow_id,
            "type": i.workflow_type,
            "status": i.status,
            "created_at": i.created_at,
            "completed_at": i.completed_at,
            "parent": i.parent_execution_id,
        }
        for i in infos
    ]
    return _frame(
        rows, ["id", "workflow", "type", "status", "created_at", "completed_at", "parent"]
    )


def sql(query: str, *, client: PolosClient | None = None, timeout: float | None = 600.0) -> Any:
    """Run a read-only SQL query over the journal; returns a DataFrame.

    Tables: ``executions``, ``steps``, ``events``, ``waits``, ``mailbox``, ``schedules``,
    ``triggers`` (see docs/journal.md). JSON columns work with DuckDB's ``->>``.

    Only statements that read are accepted (DuckDB's parser decides: SELECT, WITH, FROM,
    VALUES, TABLE, DESCRIBE, SHOW, SUMMARIZE, EXPLAIN of a query); anything else raises
    :class:`UserError` naming the statement, and nothing runs. The query runs in a
    read-only transaction on its own connection and thread, so a slow query never holds
    up the runs that are writing to the journal.
    """
    client = _session.get_client(client)
    import pandas as pd  # fail here, before the query runs, with a clear ImportError

    result = client.query(query).result(timeout)
    return pd.DataFrame.from_records(result.rows, columns=result.columns)


def events(run: Any, *, client: PolosClient | None = None) -> Any:
    """Every persisted event of a run's tree, in journal order, as a DataFrame."""
    client = _session.client_of(run, client)
    run_id = _session.run_id_of(run)
    rows = []
    for ev in _session.call(client, client.run_events(run_id)):
        data = ev.data if isinstance(ev.data, dict) else {}
        meta = data.get("_metadata") or {}
        rows.append(
            {
                "seq": ev.journal_seq,
                "type": ev.event_type,
                "execution_id": meta.get("execution_id"),
                "step_key": data.get("step_key"),
                "created_at": ev.created_at,
                "data": short({k: v for k, v in data.items() if k != "_metadata"}, 300),
            }
        )
    return _frame(rows, ["seq", "type", "execution_id", "step_key", "created_at", "data"])


class Inspection:
    """One run's journal: its input, result, and every step with timings and LLM usage."""

    def __init__(self, info: Any, steps: list[dict[str, Any]]) -> None:
        self.info = info
        self.step_rows = steps

    @property
    def steps(self) -> Any:
        """The steps as a DataFrame."""
        return _frame(self.step_rows, list(_STEP_COLUMNS))

    @property
    def llm_calls(self) -> Any:
        return _frame(
            [r for r in self.step_rows if parse_step_key(str(r["key"])).kind == "llm"],
            list(_STEP_COLUMNS),
        )

    def __repr__(self) -> str:
        i = self.info
        return f"<Inspection {i.workflow_id} {i.id} status={i.status} steps={len(self.step_rows)}>"

    def _repr_html_(self) -> str:
        i = self.info
        head = (
            f'<div class="polos-inspect"><b>{e(i.workflow_id)}</b> <code>{e(i.id)}</code> '
            f'<span class="polos-run-status" data-status="{e(i.status)}">{e(i.status)}</span>'
            f"<div>input: <code>{e(short(i.payload, 400))}</code></div>"
            + (
                f"<div>result: <code>{e(short(i.result, 400))}</code></div>"
                if i.status == "completed"
                else ""
            )
            + (f"<div class='polos-error'>error: {e(short(i.error, 400))}</div>" if i.error else "")
        )
        cols = [
            "position",
            "key",
            "kind",
            "attempt",
            "status",
            "ms",
            "input",
            "output",
            "error",
            "model",
            "tokens_in",
            "tokens_out",
            "cost_usd",
        ]
        rows = [[r.get(c) if r.get(c) is not None else "" for c in cols] for r in self.step_rows]
        return head + table(cols, rows, "polos-inspect-steps") + "</div>"


_STEP_COLUMNS = (
    "execution_id",
    "position",
    "key",
    "kind",
    "attempt",
    "status",
    "started_at",
    "ended_at",
    "ms",
    "input",
    "output",
    "error",
    "model",
    "tokens_in",
    "tokens_out",
    "cost_usd",
)


def inspect(run: Any, *, client: PolosClient | None = None) -> Inspection:
    """The inspector for one run: steps, inputs, outputs, timings, LLM calls with tokens."""
    client = _session.client_of(run, client)
    run_id = _session.run_id_of(run)
    record = _session.call(client, client.run_record(run_id))
    tool_args: dict[str, Any] = {}
    out: list[dict[str, Any]] = []
    for step in record.steps:
        key = parse_step_key(step.key)
        value = plain(step.output) if step.output is not None else None
        err = plain(step.error) if step.error is not None else None
        row: dict[str, Any] = {
            "execution_id": step.execution_id,
            "position": step.position,
            "key": step.key,
            "kind": step.kind,
            "attempt": step.attempt,
            "status": step.status,
            "started_at": step.started_at,
            "ended_at": step.ended_at,
            "ms": step.duration_ms,
            "input": None,
            "output": short(value, 300) if value is not None else None,
            "error": short(err, 300) if err is not None else None,
            "model": None,
            "tokens_in": None,
            "tokens_out": None,
            "cost_usd": None,
        }
        if key.kind == "llm" and isinstance(value, dict):
            usage = value.get("usage") or {}
            row.update(
                model=value.get("model"),
                tokens_in=usage.get("input_tokens"),
                tokens_out=usage.get("output_tokens"),
                cost_usd=usage.get("cost_usd"),
            )
            row["output"] = short(
                value.get("content") or [c.get("name") for c in value.get("tool_calls") or []], 300
            )
            for call in value.get("tool_calls") or []:
                if isinstance(call, dict):
                    tool_args[str(call.get("id"))] = call.get("arguments")
        if key.kind == "tool":
            row["input"] = short(tool_args.get(str(key.call_id)), 300)
        out.append(row)
    return Inspection(record.execution, out)


def replay(run: Any, *, client: PolosClient | None = None) -> Any:
    """Replay a finished run from its journal (no side effects); returns a ``ReplayReport``."""
    client = _session.client_of(run, client)
    return _session.call(client, client.replay(_session.run_id_of(run)))


_UNSET: Any = object()


def fork(
    run: Any,
    at: str | int,
    result: Any = _UNSET,
    *,
    payload: Any = _UNSET,
    client: PolosClient | None = None,
) -> Run:
    """Fork ``run`` at step ``at`` (a key or a position), optionally with an edited result for
    that step; returns the new :class:`Run` (compare them with :func:`compare`)."""
    client = _session.client_of(run, client)
    kwargs: dict[str, Any] = {}
    if payload is not _UNSET:
        kwargs["payload"] = payload
    if result is not _UNSET:
        handle = _session.call(client, client.fork(_session.run_id_of(run), at, result, **kwargs))
    else:
        handle = _session.call(client, client.fork(_session.run_id_of(run), at, **kwargs))
    return show(handle.id, client=client, workflow_id=handle.workflow_id)


class Comparison:
    """Two runs side by side, step by step (by position)."""

    def __init__(self, a: str, b: str, rows: list[Any]) -> None:
        self.a, self.b, self.rows = a, b, rows

    @property
    def frame(self) -> Any:
        return _frame(
            [r.model_dump() for r in self.rows],
            [
                "position",
                "key_a",
                "key_b",
                "kind",
                "status_a",
                "status_b",
                "output_a",
                "output_b",
                "same",
            ],
        )

    @property
    def first_difference(self) -> int | None:
        for r in self.rows:
            if not r.same:
                return int(r.position)
        return None

    def __repr__(self) -> str:
        diff = sum(1 for r in self.rows if not r.same)
        return f"<Comparison {self.a} vs {self.b}: {len(self.rows)} positions, {diff} differ>"

    def _repr_html_(self) -> str:
        body = []
        for r in self.rows:
            cls = "polos-same" if r.same else "polos-diff"
            body.append(
                f'<tr class="{cls}" data-position="{e(r.position)}"><td>{e(r.position)}</td>'
                f"<td>{e(r.key_a)}</td>"
                f"<td>{e(r.status_a)}</td><td><code>{e(short(r.output_a, 200))}</code></td>"
                f"<td>{e(r.key_b)}</td><td>{e(r.status_b)}</td><td><code>{e(short(r.output_b, 200))}</code></td>"
                f"<td>{'=' if r.same else '≠'}</td></tr>"
            )
        return (
            '<table class="polos-compare"><tr><th>#</th>'
            f"<th colspan=3>A <code>{e(self.a)}</code></th><th colspan=3>B <code>{e(self.b)}</code></th>"
            "<th></th></tr>" + "".join(body) + "</table>"
        )


def compare(a: Any, b: Any, *, client: PolosClient | None = None) -> Comparison:
    """Compare two runs (e.g. a run and its fork) step by step."""
    client = _session.client_of(a, client)
    ida, idb = _session.run_id_of(a), _session.run_id_of(b)
    return Comparison(ida, idb, _session.call(client, client.compare(ida, idb)))

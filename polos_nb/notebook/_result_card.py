"""How a notebook shows an :class:`~polos_nb.AgentResult` or an
:class:`~polos_nb.ExecutionInfo`: a card, not a wall of repr.

``r = await agent.run(client, ...)`` then ``r`` on the last line of a cell is what people
do most. The card says what they look for first — the answer (a structured result as a
field table), whether the run completed or why it stopped, the tool calls with their
arguments and results, steps, tokens and cost — and keeps the run id to paste into
``%polos inspect``. It is static HTML in JupyterLab's colours, so a saved notebook reads
the same without a kernel; ``text/plain`` stays the model's own repr. Every value goes
through :func:`~polos_nb.notebook._html.e` (escaped, credentials removed): results and
tool arguments come from a model.

``info = await client.get_execution(run_id)`` gets the same treatment: the workflow, its
status, how long it ran, the result (a dict or a model as a field table) or the error, the
payload and where the run sits (parent, queue, session). A snapshot, so it says when it
was taken for a run still going.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel

from ._html import ICON, e, fmt_ms, markdown, usage_text
from ._run_state import short

__all__ = ["agent_result_html", "execution_info_html", "register_formatters"]

_CSS = (
    "<style>.polos-result{font-family:var(--jp-ui-font-family,sans-serif);font-size:13px;"
    "color:var(--jp-ui-font-color1,inherit);border:1px solid var(--jp-border-color2,#ccc);"
    "border-radius:6px;padding:8px 10px;margin:4px 0}"
    ".polos-result-head{display:flex;flex-wrap:wrap;gap:8px;align-items:baseline}"
    ".polos-result-head code{color:var(--jp-ui-font-color2,#666);font-size:12px}"
    ".polos-result-meta{color:var(--jp-ui-font-color2,#666)}"
    ".polos-result-badge{border-radius:10px;padding:0 8px;"
    "border:1px solid var(--jp-border-color1,#bbb);background:var(--jp-layout-color2,#eee)}"
    ".polos-result-badge[data-status=completed]{border-color:var(--jp-success-color1,#388e3c);"
    "background:color-mix(in srgb,var(--jp-success-color1,#388e3c) 22%,transparent)}"
    ".polos-result-badge[data-status=stopped],.polos-result-badge[data-status=cancelled]"
    "{border-color:var(--jp-warn-color1,#f57c00);"
    "background:color-mix(in srgb,var(--jp-warn-color1,#f57c00) 22%,transparent)}"
    ".polos-result-badge[data-status=failed]{border-color:var(--jp-error-color1,#d32f2f);"
    "background:color-mix(in srgb,var(--jp-error-color1,#d32f2f) 22%,transparent)}"
    ".polos-result-badge[data-status=running],.polos-result-badge[data-status=waiting],"
    ".polos-result-badge[data-status=queued]{border-color:var(--jp-brand-color1,#1976d2);"
    "background:color-mix(in srgb,var(--jp-brand-color1,#1976d2) 16%,transparent)}"
    ".polos-result-error{margin:6px 0;padding:2px 8px;white-space:pre-wrap;"
    "border-left:3px solid var(--jp-error-color1,#d32f2f)}"
    ".polos-result-stop{margin:4px 0;padding-left:6px;"
    "border-left:3px solid var(--jp-warn-color1,#f57c00)}"
    ".polos-result-answer{margin:6px 0;padding:2px 8px;"
    "border-left:3px solid var(--jp-brand-color1,#1976d2)}"
    ".polos-result-answer p{margin:0 0 4px 0}"
    # JupyterLab's rendered-HTML tables align right and stripe rows: not here.
    ".polos-result table{border-collapse:collapse;margin-top:4px}"
    ".polos-result table tr{background:transparent!important}"
    ".polos-result table td,.polos-result table th{padding:2px 8px;text-align:left!important;"
    "vertical-align:top;border:none;border-bottom:1px solid var(--jp-border-color3,#eee)}"
    ".polos-result table th{color:var(--jp-ui-font-color2,#666);font-weight:normal}"
    ".polos-result .polos-failed{color:var(--jp-error-color1,#c00)}</style>"
)


_FIELDS_MAX = 20  # a dict with more keys than this shows as text


def _answer(result: Any) -> str:
    fields: dict[str, Any] | None = None
    if isinstance(result, BaseModel):
        fields = result.model_dump(mode="json")
    elif (
        isinstance(result, dict)
        and 0 < len(result) <= _FIELDS_MAX
        and all(isinstance(k, str) for k in result)
    ):
        fields = result
    if fields is not None:
        rows = "".join(
            f"<tr><th>{e(name)}</th><td>{e(short(value, 400))}</td></tr>"
            for name, value in fields.items()
        )
        return f'<div class="polos-result-answer"><table>{rows}</table></div>'
    if isinstance(result, str):
        body = markdown(result) if result.strip() else "<i>(no text)</i>"
        return f'<div class="polos-result-answer">{body}</div>'
    return f'<div class="polos-result-answer"><code>{e(short(result, 1000))}</code></div>'


def _tool_rows(result: Any) -> str:
    calls = list(getattr(result, "tool_results", None) or [])
    if not calls:
        return ""
    rows = []
    for call in calls:
        failed = call.status != "completed"
        outcome = call.error if failed else short(call.result, 200)
        rows.append(
            f"<tr><td>{e(call.step)}</td><td><b>{e(call.tool_name)}</b></td>"
            f"<td><code>{e(short(call.arguments, 200))}</code></td>"
            f'<td class="{"polos-failed" if failed else ""}">'
            f"{e(ICON.get(call.status, ''))} {e(outcome)}</td></tr>"
        )
    return (
        "<table><tr><th>step</th><th>tool</th><th>arguments</th><th>result</th></tr>"
        + "".join(rows)
        + "</table>"
    )


def agent_result_html(result: Any) -> str:
    """The card of an :class:`~polos_nb.AgentResult` (``text/html``)."""
    stop = str(getattr(result, "stop_reason", "") or "completed")
    status = "completed" if stop == "completed" else "stopped"
    calls = len(getattr(result, "tool_results", None) or [])
    steps = int(getattr(result, "total_steps", 0) or 0)
    usage = getattr(result, "usage", None)
    usage_dict = usage.model_dump() if isinstance(usage, BaseModel) else {}
    meta = [f"{steps} step{'s' if steps != 1 else ''}"]
    if calls:
        meta.append(f"{calls} tool call{'s' if calls != 1 else ''}")
    if usage_text(usage_dict):
        meta.append(usage_text(usage_dict))
    schema = getattr(result, "result_schema", None)
    head = (
        '<div class="polos-result-head">'
        f"<b>agent {e(getattr(result, 'agent_id', ''))}</b>"
        f'<span class="polos-result-badge" data-status="{e(status)}">'
        f"{e(ICON.get('completed', '') if status == 'completed' else '⏹')} {e(stop)}</span>"
        f'<span class="polos-result-meta">{e(" · ".join(meta))}</span>'
        f"<code>{e(getattr(result, 'agent_run_id', ''))}</code>"
        "</div>"
    )
    note = ""
    if status != "completed":
        note = (
            '<div class="polos-result-stop">The run stopped before a final answer '
            f"({e(stop)}): the result is the last text the model wrote.</div>"
        )
    label = f"result ({e(schema)})" if schema else "result"
    return (
        f'{_CSS}<div class="polos-result" data-status="{e(status)}">{head}{note}'
        f'<div class="polos-result-meta">{label}</div>{_answer(getattr(result, "result", None))}'
        f"{_tool_rows(result)}</div>"
    )


def _when(value: Any) -> str:
    if not isinstance(value, dt.datetime):
        return ""
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _error_text(error: Any) -> str:
    if isinstance(error, dict):
        kind = error.get("type") or error.get("class") or "error"
        message = error.get("message") or ""
        return f"{kind}: {message}" if message else str(kind)
    return short(error, 2000)


def _field(value: Any, name: str) -> Any:
    return value.get(name) if isinstance(value, dict) else getattr(value, name, None)


def _agent_answer(result: Any) -> str | None:
    """An agent run's result is its AgentResult (or that as data): its answer and a line of
    facts, not every field (the messages and steps are in ``%polos inspect``)."""
    if isinstance(result, dict):
        if "result" not in result:
            return None
    elif not isinstance(result, BaseModel) or not hasattr(result, "stop_reason"):
        return None
    facts = [str(_field(result, "stop_reason") or "completed")]
    steps = _field(result, "total_steps")
    if isinstance(steps, int):
        facts.append(f"{steps} step{'s' if steps != 1 else ''}")
    usage = _field(result, "usage")
    if isinstance(usage, BaseModel):
        usage = usage.model_dump()
    if isinstance(usage, dict) and usage_text(usage):
        facts.append(usage_text(usage))
    return (
        f'<div class="polos-result-meta">answer · {e(" · ".join(facts))}</div>'
        f"{_answer(_field(result, 'result'))}"
    )


def execution_info_html(info: Any) -> str:
    """The card of an :class:`~polos_nb.ExecutionInfo` (``text/html``)."""
    status = str(getattr(info, "status", "") or "")
    kind = "agent" if getattr(info, "workflow_type", "") == "agent" else "workflow"
    created = getattr(info, "created_at", None)
    started = getattr(info, "started_at", None)
    completed = getattr(info, "completed_at", None)
    meta = []
    if isinstance(started, dt.datetime) and isinstance(completed, dt.datetime):
        meta.append(f"ran {fmt_ms((completed - started).total_seconds() * 1000)}")
    if isinstance(created, dt.datetime):
        meta.append(f"started {_when(started or created)}")
    head = (
        '<div class="polos-result-head">'
        f"<b>{kind} {e(getattr(info, 'workflow_id', ''))}</b>"
        f'<span class="polos-result-badge" data-status="{e(status)}">'
        f"{e(ICON.get(status, ''))} {e(status)}</span>"
        f'<span class="polos-result-meta">{e(" · ".join(meta))}</span>'
        f"<code>{e(getattr(info, 'id', ''))}</code>"
        "</div>"
    )
    body = ""
    error = getattr(info, "error", None)
    result = getattr(info, "result", None)
    agent_answer = _agent_answer(result) if kind == "agent" and status == "completed" else None
    if agent_answer is not None:
        body = agent_answer
    elif status == "completed":
        body = f'<div class="polos-result-meta">result</div>{_answer(result)}'
    elif error:
        body = f'<div class="polos-result-error">{e(_error_text(error))}</div>'
    elif status not in ("failed", "cancelled"):
        body = (
            '<div class="polos-result-meta">A snapshot: the run was '
            f"{e(status)} when it was read. <code>await client.wait_for_result(info.id)</code> "
            "waits for its result.</div>"
        )
    note = getattr(info, "note", None)
    if note and status not in ("completed", "failed", "cancelled"):
        # e.g. a shared journal where no live worker defines the workflow: say why it waits
        body = f'<div class="polos-result-error">{e(note)}</div>' + body
    rows = []
    payload = getattr(info, "payload", None)
    if payload is not None:
        rows.append(("payload", f"<code>{e(short(payload, 300))}</code>"))
    parent = getattr(info, "parent_execution_id", None)
    if parent:
        rows.append(("parent", f"<code>{e(parent)}</code> (step {e(info.step_key or '?')})"))
        rows.append(
            ("root", f"{e(info.root_workflow_id)} <code>{e(info.root_execution_id)}</code>")
        )
    for label, name in (
        ("queue", "queue_name"),
        ("concurrency key", "concurrency_key"),
        ("session", "session_id"),
        ("user", "user_id"),
    ):
        value = getattr(info, name, None)
        if value:
            rows.append((label, e(value)))
    table = (
        "<table>" + "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows) + "</table>"
        if rows
        else ""
    )
    return f'{_CSS}<div class="polos-result" data-status="{e(status)}">{head}{body}{table}</div>'


def register_formatters(ip: Any) -> None:
    """Show :class:`~polos_nb.AgentResult` and :class:`~polos_nb.ExecutionInfo` values as
    cards in this shell (``%load_ext``), and handles (``ExecutionHandle``,
    ``StreamResult``, ``AgentStreamHandle``) as their run's view (``_handle_view``)."""
    from ._handle_view import register_handle_views

    register_handle_views(ip)
    formatters = getattr(getattr(ip, "display_formatter", None), "formatters", None)
    if not formatters or "text/html" not in formatters:
        return
    # By name: registering imports nothing, and a subclass is shown the same way.
    formatters["text/html"].for_type_by_name(
        "polos_nb.agents._results", "AgentResult", agent_result_html
    )
    formatters["text/html"].for_type_by_name(
        "polos_nb.engine._types", "ExecutionInfo", execution_info_html
    )

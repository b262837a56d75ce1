"""Static HTML for runs, approvals, inspections and comparisons.

This is what a saved notebook, nbviewer or GitHub shows when no widget can render. The
class names are those of the live widget (``polos-run``, ``polos-step`` …).

Every value shown goes through :func:`e`, which escapes it for HTML text and attributes
(tool call ids, tool names, arguments and text come from a model and may hold markup) and
removes registered credentials (``polos_nb._secrets``). Nothing else is interpolated.
"""

from __future__ import annotations

import html
from typing import Any

from polos_nb import _secrets

__all__ = ["approval_card", "e", "run_card", "table"]

_STYLE = (
    "<style>.polos-run,.polos-approval-card{font-family:var(--jp-ui-font-family,sans-serif);font-size:13px;"
    "border:1px solid #ccc;border-radius:6px;padding:8px;margin:4px 0}"
    ".polos-run table{border-collapse:collapse}.polos-run td,.polos-run th{padding:2px 8px;text-align:left}"
    ".polos-badge{border-radius:8px;padding:1px 8px;background:#eee}</style>"
)


def e(value: Any) -> str:
    """``value`` as HTML text (also safe in a quoted attribute), credentials removed."""
    return html.escape(_secrets.redact("" if value is None else str(value)), quote=True)


def _fmt_ms(ms: Any) -> str:
    if ms is None:
        return ""
    try:
        ms = float(ms)
    except (TypeError, ValueError):
        return e(ms)
    return f"{ms:.0f} ms" if ms < 1000 else f"{ms / 1000:.2f} s"


def run_card(s: dict[str, Any]) -> str:
    """The static snapshot of a run (same information as the widget, no interaction)."""
    parts = [_STYLE, f'<div class="polos-run polos-static" data-status="{e(s.get("status"))}">']
    parts.append(
        f'<div class="polos-run-header"><b>{e(s.get("workflow_id"))}</b> '
        f'<code class="polos-run-id">{e(s.get("run_id"))}</code> '
        f'<span class="polos-run-status polos-badge" data-status="{e(s.get("status"))}">{e(s.get("status"))}</span>'
        "</div>"
    )
    if s.get("note"):
        parts.append(f'<div class="polos-note">{e(s["note"])}</div>')
    steps = s.get("steps") or []
    if steps:
        rows = "".join(
            f'<tr class="polos-step" data-key="{e(st.get("key"))}" data-status="{e(st.get("status"))}">'
            f"<td>{e(st.get('key'))}</td><td>{e(st.get('kind'))}</td><td>{e(st.get('status'))}</td>"
            f'<td class="polos-step-duration">{_fmt_ms(st.get("ms"))}</td>'
            f"<td>{e(_tokens(st))}</td><td>{e(st.get('error') or st.get('detail') or '')}</td></tr>"
            for st in steps
        )
        parts.append(
            '<table class="polos-steps"><tr><th>step</th><th>kind</th><th>status</th><th>time</th>'
            f"<th>tokens</th><th>detail</th></tr>{rows}</table>"
        )
    tools = s.get("tools") or []
    if tools:
        rows = "".join(
            f'<tr class="polos-tool-call" data-call-id="{e(t.get("call_id"))}"><td>{e(t.get("name"))}</td>'
            f"<td><code>{e(t.get('arguments'))}</code></td><td>{e(t.get('status'))}</td>"
            f"<td>{e(t.get('error') or t.get('result') or '')}</td></tr>"
            for t in tools
        )
        parts.append(
            '<table class="polos-tools"><tr><th>tool</th><th>arguments</th><th>status</th>'
            f"<th>result</th></tr>{rows}</table>"
        )
    if s.get("text") and s.get("text") != s.get("output"):
        parts.append(f'<pre class="polos-stream">{e(s["text"])}</pre>')
    for a in s.get("approvals") or []:
        parts.append(
            f'<div class="polos-approval" data-key="{e(a.get("key"))}" data-status="{e(a.get("status"))}">'
            f"<b>{e(a.get('title'))}</b> <code>{e(a.get('key'))}</code> — {e(a.get('status'))}"
            + (f"<div>{e(a.get('description'))}</div>" if a.get("description") else "")
            + (f"<div>answer: <code>{e(a.get('answer'))}</code></div>" if a.get("answer") else "")
            + (
                f"<div><code>polos_nb.approve({e(repr(s.get('run_id')))}, "
                f"{e(repr(a.get('key')))}, {{...}})</code></div>"
                if a.get("status") == "pending"
                else ""
            )
            + "</div>"
        )
    if s.get("output") is not None:
        parts.append(f'<div class="polos-output"><b>output</b><pre>{e(s["output"])}</pre></div>')
    if s.get("error"):
        parts.append(f'<div class="polos-error"><b>error</b> {e(s["error"])}</div>')
    usage = s.get("usage") or {}
    if usage:
        cost = usage.get("cost_usd")
        parts.append(
            f'<div class="polos-usage">tokens in {e(usage.get("input_tokens", 0))} / out '
            f"{e(usage.get('output_tokens', 0))}"
            + (f" · ${cost:.6f}" if isinstance(cost, (int, float)) else "")
            + "</div>"
        )
    parts.append("</div>")
    return "".join(parts)


def _tokens(step: dict[str, Any]) -> str:
    tokens = step.get("tokens")
    if not tokens:
        return ""
    return f"{tokens.get('input', 0)}→{tokens.get('output', 0)}"


def approval_card(p: Any) -> str:
    spec = p.spec or {}
    fields = ", ".join(str(k) for k in ((spec.get("schema") or {}).get("properties") or {}))
    return (
        f'{_STYLE}<div class="polos-approval-card" data-key="{e(p.key)}">'
        f"<b>{e(spec.get('title'))}</b> — {e(p.workflow_id)} <code>{e(p.execution_id)}</code> "
        f"waits at <code>{e(p.key)}</code>"
        + (f"<div>{e(spec.get('description'))}</div>" if spec.get("description") else "")
        + (f"<div>fields: {e(fields)}</div>" if fields else "")
        + f"<div><code>polos_nb.approve({e(repr(p.execution_id))}, {e(repr(p.key))}, {{...}})"
        "</code></div></div>"
    )


def table(columns: list[str], rows: list[list[Any]], css: str = "polos-table") -> str:
    head = "".join(f"<th>{e(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{e(v)}</td>" for v in row) + "</tr>" for row in rows)
    return f'{_STYLE}<table class="{e(css)}"><tr>{head}</tr>{body}</table>'

"""Static HTML for runs, approvals, inspections and comparisons.

This is what a saved notebook, nbviewer or GitHub shows when no widget can render. A run's
snapshot (:func:`run_card`) has the same structure and CSS classes as the live widget
(``polos_nb/widgets/static/run.js``), and it carries the widget's stylesheet, so the two
look alike and a reopened notebook reads like the live one.

How a run's output swaps between the live widget and its snapshot (see ``_display``): a
run is shown as two outputs, the snapshot then the widget view. The rules in
:data:`SWAP_CSS` hide the snapshot while the widget next to it renders, and hide a widget
view that cannot render (no kernel, no model: "Loading widget...", "Error displaying
widget") so the snapshot shows instead. Frontends that ignore widgets (GitHub, nbviewer)
show the snapshot and an empty text output.

Every value shown goes through :func:`e`, which escapes it for HTML text and attributes
(tool call ids, tool names, arguments and text come from a model and may hold markup) and
removes registered credentials (``polos_nb._secrets``). Nothing else is interpolated.
"""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any

from polos_nb import _secrets

__all__ = ["approval_card", "e", "markdown", "run_card", "table"]

_WIDGET_CSS = Path(__file__).resolve().parents[1] / "widgets" / "static" / "run.css"
SWAP_CSS = (
    # the live widget replaces the snapshot just before it
    ".jp-OutputArea-child:has(.polos-snapshot):has(+ .jp-OutputArea-child .polos-live){display:none}"
    # the next output, when a widget renderer's (JupyterLab marks its own renderers with
    # data-mime-type, a widget view has none) that does not show polos's widget, gives way
    ".jp-OutputArea-child:has(.polos-snapshot)+.jp-OutputArea-child:has(>.jp-OutputArea-output:not([data-mime-type])):not(:has(.polos-live)){display:none}"
)


def _minified_css() -> str:
    try:
        css = _WIDGET_CSS.read_text()
    except OSError:  # pragma: no cover - a broken install; the snapshot is still readable
        return ""
    css = re.sub(r"/\*.*?\*/", "", css, flags=re.S)
    css = re.sub(r"\s+", " ", css)
    css = re.sub(r"\s*([{};:,>])\s*", r"\1", css)
    return css.strip()


_RUN_STYLE = f"<style>{_minified_css()}{SWAP_CSS}</style>"
_STYLE = (
    f"<style>{_minified_css()}"
    ".polos-approval-card,.polos-table-wrap{font-family:var(--jp-ui-font-family,sans-serif);font-size:13px;"
    "border:1px solid var(--jp-border-color2,#ccc);border-radius:6px;padding:8px;margin:4px 0}"
    ".polos-table{border-collapse:collapse}.polos-table td,.polos-table th{padding:2px 8px;text-align:left}</style>"
)
ICON = {
    "running": "◐",
    "completed": "✓",
    "failed": "✗",
    "waiting": "‖",
    "queued": "…",
    "cancelled": "⊘",
}
_DONE_TEXT = {
    "approved": "Approved",
    "approved_always": "Approved (always)",
    "rejected": "Rejected",
    "answered": "Answered",
    "closed": "Closed (the run ended)",
    "sending": "Sending…",
    "invalid": "Waiting for you (the last answer did not fit the form).",
    "error": "Could not deliver the answer.",
    "pending": "Waiting for you.",
}


def e(value: Any) -> str:
    """``value`` as HTML text (also safe in a quoted attribute), credentials removed."""
    return html.escape(_secrets.redact("" if value is None else str(value)), quote=True)


def fmt_ms(ms: Any) -> str:
    """A duration in ms as ``12 ms`` / ``1.20 s`` (plain text: callers escape it)."""
    if ms is None:
        return ""
    try:
        ms = float(ms)
    except (TypeError, ValueError):
        return str(ms)
    return f"{ms:.0f} ms" if ms < 1000 else f"{ms / 1000:.2f} s"


_INLINE = [
    (re.compile(r"`([^`\n]+)`"), r"<code>\1</code>"),
    (re.compile(r"\*\*(?=\S)(.+?)(?<=\S)\*\*"), r"<strong>\1</strong>"),
    (re.compile(r"(?<![\w*])\*(?=\S)([^*\n]+?)(?<=\S)\*(?![\w*])"), r"<em>\1</em>"),
    (re.compile(r"(?<![\w_])_(?=\S)([^_\n]+?)(?<=\S)_(?![\w_])"), r"<em>\1</em>"),
    (
        re.compile(r"\[([^\]\n]+)\]\(((?:https?://|mailto:)[^)\s]+)\)"),
        r'<a href="\2" target="_blank" rel="noopener noreferrer">\1</a>',
    ),
]


_BULLET = re.compile(r"^\s*[-*] ")


def markdown(text: Any) -> str:
    """A small, safe Markdown subset as HTML (what form descriptions may use).

    The text is escaped first, then: ``**bold**``, ``*em*``/``_em_``, ```code```,
    ``[links](https://...)``, "- " lists, and blank-line paragraphs. ``static/run.js``
    has the same rules, so the widget and the snapshot agree.
    """
    if text is None or str(text).strip() == "":
        return ""
    blocks = re.split(r"\n\s*\n", _secrets.redact(str(text)).strip())
    out = []
    for block in blocks:
        lines = block.split("\n")
        if all(_BULLET.match(line) for line in lines):
            items = "".join(f"<li>{_inline(_BULLET.sub('', x))}</li>" for x in lines)
            out.append(f"<ul>{items}</ul>")
        else:
            out.append("<p>" + "<br>".join(_inline(x) for x in lines) + "</p>")
    return "".join(out)


def _inline(text: str) -> str:
    # escape first (quote=False keeps the link targets' characters readable to the regexes;
    # a quote cannot end an attribute because link targets stop at whitespace and ")")
    out = html.escape(text, quote=False).replace('"', "&quot;")
    for pattern, repl in _INLINE:
        out = pattern.sub(repl, out)
    return out


def _tokens(step: dict[str, Any]) -> str:
    tokens = step.get("tokens")
    if not tokens:
        return ""
    return f"{tokens.get('input', 0)}→{tokens.get('output', 0)} tok"


def usage_text(usage: dict[str, Any]) -> str:
    """``tokens in N · out M · $cost`` (or ``no price`` for a model without one)."""
    if not usage or not (usage.get("input_tokens") or usage.get("output_tokens")):
        return ""
    text = f"tokens in {usage.get('input_tokens') or 0} · out {usage.get('output_tokens') or 0}"
    cost = usage.get("cost_usd")
    if isinstance(cost, (int, float)):
        return f"{text} · ${cost:.6f}"
    return f"{text} · no price"


def run_card(s: dict[str, Any]) -> str:
    """The static snapshot of a run: the widget's look and information, no interaction."""
    status = s.get("status") or ""
    parts = [
        _RUN_STYLE,
        f'<div class="polos-run polos-snapshot" data-status="{e(status)}" data-run-id="{e(s.get("run_id"))}">',
        '<div class="polos-run-header">'
        f'<span class="polos-run-title">{e(s.get("workflow_type") or "workflow")} {e(s.get("workflow_id"))}</span> '
        f'<code class="polos-run-id">{e(s.get("run_id"))}</code> '
        f'<span class="polos-run-status polos-badge" data-status="{e(status)}">{e(ICON.get(status, ""))} {e(status)}</span> '
        f'<span class="polos-run-elapsed">{e(_elapsed(s))}</span>'
        "</div>",
    ]
    if s.get("note"):
        parts.append(f'<div class="polos-note">{e(s["note"])}</div>')
    steps = s.get("steps") or []
    if steps:
        rows = "".join(
            f'<div class="polos-step" data-key="{e(st.get("key"))}" data-status="{e(st.get("status"))}">'
            f'<span class="polos-step-icon">{e(ICON.get(st.get("status") or "", "•"))}</span> '
            f'<span class="polos-step-key">{e(st.get("key"))}</span> '
            f'<span class="polos-step-kind">{e(st.get("kind"))}</span> '
            f'<span class="polos-step-duration">{e(fmt_ms(st.get("ms")))}</span> '
            f'<span class="polos-step-tokens">{e(_tokens(st))}</span> '
            + (
                f'<span class="polos-step-error">{e(st.get("error"))}</span>'
                if st.get("error")
                else f'<span class="polos-step-detail">{e(st.get("detail") or "")}</span>'
            )
            + "</div>"
            for st in steps
        )
        parts.append(f'<div class="polos-steps">{rows}</div>')
    tools = s.get("tools") or []
    if tools:
        rows = "".join(
            f'<div class="polos-tool-call" data-call-id="{e(t.get("call_id"))}" data-status="{e(t.get("status"))}">'
            f'<span class="polos-tool-name">{e(t.get("name"))}</span> '
            f'<code class="polos-tool-args">({e(t.get("arguments"))})</code> '
            f'<span class="polos-tool-status">{e(ICON.get(t.get("status") or "", t.get("status") or ""))}</span> '
            + (
                f'<span class="polos-tool-error">{e(t.get("error"))}</span>'
                if t.get("error")
                else f'<span class="polos-tool-result">{e(t.get("result") or "")}</span>'
            )
            + "</div>"
            for t in tools
        )
        parts.append(f'<div class="polos-tools">{rows}</div>')
    if s.get("text") and s.get("text") != s.get("output"):
        parts.append(f'<pre class="polos-stream">{e(s["text"])}</pre>')
    approvals = s.get("approvals") or []
    if approvals:
        parts.append('<div class="polos-approvals">')
        parts.extend(_approval(s, a) for a in approvals)
        parts.append("</div>")
    if s.get("output") is not None:
        parts.append(
            '<div class="polos-output"><div class="polos-output-label">Output</div>'
            f'<pre class="polos-output-value">{e(s["output"])}</pre></div>'
        )
    if s.get("error"):
        parts.append(f'<div class="polos-error">{e(s["error"])}</div>')
    usage = usage_text(s.get("usage") or {})
    if usage:
        parts.append(f'<div class="polos-usage">{e(usage)}</div>')
    parts.append("</div>")
    return "".join(parts)


def _elapsed(s: dict[str, Any]) -> str:
    from ._run_state import _ms

    a, b = s.get("started_at"), s.get("ended_at")
    return fmt_ms(_ms(a, b)) if a and b else ""


def _approval(s: dict[str, Any], a: dict[str, Any]) -> str:
    status = a.get("status") or "pending"
    text = _DONE_TEXT.get(status, status)
    if a.get("answer") and status in ("approved", "approved_always", "rejected", "answered"):
        text += f" — {a['answer']}"
    body = [
        f'<div class="polos-approval" data-key="{e(a.get("key"))}" data-status="{e(status)}">',
        f'<div class="polos-approval-title">{e(a.get("title") or "Input needed")}'
        f' <code class="polos-approval-key">{e(a.get("key"))}</code></div>',
    ]
    if a.get("description"):
        body.append(f'<div class="polos-approval-description">{markdown(a["description"])}</div>')
    if a.get("context") is not None:
        import json

        body.append(
            f'<pre class="polos-context">{e(json.dumps(a["context"], indent=2, ensure_ascii=False, default=str))}</pre>'
        )
    body.append(f'<div class="polos-approval-status">{e(text)}</div>')
    if status in ("pending", "invalid", "error"):
        body.append(
            '<div class="polos-approval-hint">Answer from code: '
            f"<code>polos_nb.approve({e(repr(s.get('run_id')))}, {e(repr(a.get('key')))}, {{...}})</code></div>"
        )
    body.append("</div>")
    return "".join(body)


def approval_card(p: Any) -> str:
    spec = p.spec or {}
    fields = ", ".join(str(k) for k in ((spec.get("schema") or {}).get("properties") or {}))
    return (
        f'{_STYLE}<div class="polos-approval-card" data-key="{e(p.key)}">'
        f"<b>{e(spec.get('title'))}</b> — {e(p.workflow_id)} <code>{e(p.execution_id)}</code> "
        f"waits at <code>{e(p.key)}</code>"
        + (f"<div>{markdown(spec.get('description'))}</div>" if spec.get("description") else "")
        + (f"<div>fields: {e(fields)}</div>" if fields else "")
        + f"<div><code>polos_nb.approve({e(repr(p.execution_id))}, {e(repr(p.key))}, {{...}})"
        "</code></div></div>"
    )


def table(columns: list[str], rows: list[list[Any]], css: str = "polos-table") -> str:
    head = "".join(f"<th>{e(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{e(v)}</td>" for v in row) + "</tr>" for row in rows)
    return f'{_STYLE}<table class="{e(css)}"><tr>{head}</tr>{body}</table>'

"""The run widget's ESM alone in a Chromium page, with a stand-in for its model.

Quicker than JupyterLab for what only the widget's JavaScript decides (what a click
sends, what a form shows); the JupyterLab tests cover the real thing end to end.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from playwright.sync_api import Page

ROOT = Path(__file__).resolve().parents[2]
STATIC = ROOT / "polos_nb" / "widgets" / "static"

_MODEL = """
(state) => {
  const listeners = {};
  window.sent = [];
  window.state = state;
  window.fire = (ev) => (listeners[ev] || []).forEach((f) => f());
  const slots = [];
  window.kernel = {
    id: "k1", status: "idle", isDisposed: false,
    statusChanged: { connect: (f) => slots.push(f), disconnect: (f) => slots.splice(slots.indexOf(f), 1) },
  };
  window.setKernelStatus = (s) => { window.kernel.status = s; slots.forEach((f) => f(window.kernel, s)); };
  const model = {
    get: (k) => window.state[k],
    set: (k, v) => { window.state[k] = v; },
    save_changes: () => {},
    on: (ev, fn) => { (listeners[ev] ||= []).push(fn); },
    off: (ev, fn) => { listeners[ev] = (listeners[ev] || []).filter((f) => f !== fn); },
    send: (m) => window.sent.push(JSON.parse(JSON.stringify(m))),
    widget_manager: { get kernel() { return window.kernel; } },
  };
  const el = document.getElementById("root");
  window.cleanup = window.widget.render({ model, el });
}
"""


def run_state(**overrides: Any) -> dict[str, Any]:
    """A widget state (the traits of ``RunWidget``) with sensible defaults."""
    state: dict[str, Any] = {
        "run_id": "R1",
        "workflow_id": "flow",
        "workflow_type": "workflow",
        "status": "running",
        "steps": [],
        "tools": [],
        "text": "",
        "usage": {},
        "approvals": [],
        "output": None,
        "error": None,
        "note": None,
        "started_at": None,
        "ended_at": None,
        "done": False,
    }
    state.update(overrides)
    return state


def render(page: Page, state: dict[str, Any]) -> None:
    """Load run.js and run.css into ``page`` and render the widget for ``state``."""
    source = base64.b64encode((STATIC / "run.js").read_bytes()).decode()
    page.set_content(
        f"<!doctype html><style>{(STATIC / 'run.css').read_text()}</style><div id=root></div>"
    )
    page.evaluate(
        "async (src) => { const m = await import('data:text/javascript;base64,' + src); "
        "window.widget = m.default; }",
        source,
    )
    page.evaluate(_MODEL, json.loads(json.dumps(state)))


def update(page: Page, **changes: Any) -> None:
    """Change traits and fire their ``change:`` events, as the kernel's updates do."""
    page.evaluate(
        "(c) => { Object.assign(window.state, c); for (const k of Object.keys(c)) window.fire('change:' + k); }",
        json.loads(json.dumps(changes)),
    )


def sent(page: Page) -> list[dict[str, Any]]:
    return list(page.evaluate("() => window.sent"))

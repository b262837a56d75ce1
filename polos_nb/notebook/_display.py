"""Showing runs in IPython: a snapshot that stays current, and the live widget beside it.

A run is shown as two outputs, one after the other:

1. the **snapshot**: ``text/html`` (the run's state, in the widget's look) with a
   ``display_id``; it is updated whenever the run's status, steps or forms change (and,
   throttled, while text streams), so whatever is saved with the notebook is the run's
   latest state;
2. the **live widget** (``application/vnd.jupyter.widget-view+json``), for runs that have
   not ended.

Where the widget renders (JupyterLab, Notebook 7 with a kernel) a stylesheet in the
snapshot hides the snapshot; where it cannot (the notebook reopened without its kernel,
or after a restart) it hides the widget's "Loading widget..." / "model not found" and the
snapshot shows. GitHub and nbviewer show the snapshot (see ``_html``).

Updates published from the engine thread are matched by frontends through their
``display_id``; tools that only listen to the cell being executed (nbclient, papermill,
nbval) also get them: at the start and the end of every cell each changed snapshot is
published again from the cell (``pre_run_cell`` / ``post_run_cell``).
"""

from __future__ import annotations

import threading
import time
from typing import Any

from ._run import Run, known_runs

__all__ = ["display_run", "display_runs", "settle"]

VIEW = "application/vnd.jupyter.widget-view+json"
THROTTLE = 1.0  # seconds between snapshot updates while only streamed text changes


def _cell_token() -> Any:
    """What identifies the cell being run: its execute request's id in a kernel, else the count."""
    try:
        from IPython import get_ipython

        ip = get_ipython()
        if ip is None:
            return None
        kernel = getattr(ip, "kernel", None)
        if kernel is not None:
            msg_id = (kernel.get_parent() or {}).get("header", {}).get("msg_id")
            if msg_id:
                return msg_id
        return getattr(ip, "execution_count", None)
    except Exception:
        return None


def _frontend() -> Any:
    """The shell when its displays reach a frontend that can update them (not a terminal)."""
    try:
        from IPython import get_ipython
        from IPython.core.displaypub import DisplayPublisher

        ip = get_ipython()
    except Exception:
        return None
    if ip is None or type(ip.display_pub) is DisplayPublisher:
        return None
    return ip


class Snapshots:
    """Keeps a run's snapshot outputs current (a sink of its :class:`RunState`)."""

    def __init__(self, run: Run) -> None:
        self.run = run
        self.display_ids: list[str] = []
        self._lock = threading.RLock()
        self._html: str | None = None  # last published
        self._cell_html: str | None = None  # last published from a cell (pre/post_run_cell)
        self._key: Any = None
        self._last = 0.0
        self._timer: threading.Timer | None = None
        self.published = 0

    def bundle(self) -> dict[str, Any]:
        """What the snapshot output holds: text, HTML, and the run's JSON for the extension."""
        return self.run._repr_mimebundle_()

    @staticmethod
    def metadata(run: Run) -> dict[str, Any]:
        return {"polos_nb": {"run_id": run.id, "view": "snapshot"}}

    def _significant(self) -> Any:
        s = self.run.state.snapshot()
        return (
            s["status"],
            s["done"],
            s["note"],
            s["error"],
            s["output"] is not None,
            tuple((st.get("key"), st.get("status")) for st in s["steps"]),
            tuple((t.get("call_id"), t.get("status")) for t in s["tools"]),
            tuple((a.get("key"), a.get("status")) for a in s["approvals"]),
            tuple(sorted((s["usage"] or {}).items())),
        )

    # ------------------------------------------------------------------ Sink
    def apply(self, snapshot: dict[str, Any]) -> None:
        with self._lock:
            key = self._significant()
            if key != self._key:
                self._key = key
                self.publish()
                return
            wait = THROTTLE - (time.monotonic() - self._last)
            if wait <= 0:
                self.publish()
            elif self._timer is None:
                self._timer = threading.Timer(wait, self._timed)
                self._timer.daemon = True
                self._timer.start()

    def delta(self, text: str) -> None:
        pass  # the text is in the next snapshot

    def _timed(self) -> None:
        with self._lock:
            self._timer = None
            self.publish()

    # ------------------------------------------------------------------ publishing
    def publish(self, *, from_cell: bool = False) -> bool:
        """Send the current snapshot to every display of the run, if it changed."""
        with self._lock:
            if not self.display_ids:
                return False
            bundle = self.bundle()
            html = bundle["text/html"]
            last = self._cell_html if from_cell else self._html
            if html == last:
                return False
            ip = _frontend()
            if ip is None:
                return False
            from IPython.display import update_display

            for display_id in list(self.display_ids):
                try:
                    update_display(
                        bundle, raw=True, display_id=display_id, metadata=self.metadata(self.run)
                    )
                except Exception:  # a closed frontend must not stop the run
                    return False
            self._html = html
            if from_cell:
                self._cell_html = html
            self._last = time.monotonic()
            self.published += 1
            return True

    def shown(self, display_id: str, html: str) -> None:
        with self._lock:
            self.display_ids.append(display_id)
            self._html = self._cell_html = html
            self._key = self._significant()


def _snapshots(run: Run) -> Snapshots:
    pub = getattr(run, "_snapshots", None)
    if pub is None:
        pub = Snapshots(run)
        run._snapshots = pub
        run.state.attach(pub, loop=run.client.loop)
    return pub


def display_run(run: Run, *, force: bool = False) -> None:
    """Display ``run`` once per cell: its snapshot, and its live widget while it runs."""
    from IPython.display import display

    token = _cell_token()
    if not force and token is not None and run._displayed_in == token:
        return
    run._displayed_in = token
    pub = _snapshots(run)
    with pub._lock:
        bundle = pub.bundle()
        handle = display(bundle, raw=True, display_id=True, metadata=Snapshots.metadata(run))
        display_id = getattr(handle, "display_id", None)
        if display_id is not None:
            pub.shown(display_id, bundle["text/html"])
            run._display_ids.append(display_id)
    if run.done:
        return
    view = run._widget_view()
    if view is not None:
        display(
            {"text/plain": "", VIEW: view},
            raw=True,
            metadata={"polos_nb": {"run_id": run.id, "view": "live"}},
        )


def display_runs(runs: list[Run]) -> None:
    for run in runs:
        display_run(run, force=True)


def republish_from_cell(*_args: Any) -> None:
    """``pre_run_cell`` / ``post_run_cell``: publish every changed snapshot from the cell."""
    for run in known_runs():
        pub = getattr(run, "_snapshots", None)
        if pub is not None:
            try:
                pub.publish(from_cell=True)
            except Exception:
                pass


def settle(timeout: float = 30.0) -> bool:
    """Wait until every displayed run has ended or waits for a human (then republish).

    For tools that save executed notebooks (``scripts/refresh_notebooks.py``): called in a
    last cell, it makes the saved snapshots final. Returns False on timeout.
    """
    deadline = time.monotonic() + timeout
    ok = False
    while time.monotonic() < deadline:
        runs = [r for r in known_runs() if getattr(r, "_snapshots", None) is not None]
        if all(r.state.done or (r.state.status == "waiting" and r.state.pending) for r in runs):
            ok = True
            break
        time.sleep(0.05)
    time.sleep(0.2)  # the last flush of each run (interval 0.08 s)
    republish_from_cell()
    return ok

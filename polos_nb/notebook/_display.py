"""Showing runs in IPython: one display per run per cell, and a final static snapshot.

A run's output carries the live widget *and* a ``text/html`` snapshot; frontends without
the widget (nbviewer, GitHub, a saved notebook whose kernel is gone) show the snapshot.
When the run ends, the display is updated (``update_display``) so the saved snapshot is
the final state rather than "running".
"""

from __future__ import annotations

from typing import Any

from ._run import Run

__all__ = ["display_run", "display_runs"]


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


def display_run(run: Run, *, force: bool = False) -> None:
    """Display ``run`` (live widget + static snapshot) once per cell; update it when it ends."""
    from IPython.display import display

    token = _cell_token()
    if not force and token is not None and run._displayed_in == token:
        return
    run._displayed_in = token
    handle = display(run._repr_mimebundle_(), raw=True, display_id=True)
    display_id = getattr(handle, "display_id", None)
    if display_id is None:
        return
    run._display_ids.append(display_id)
    parent = _parent_header()
    if len(run._display_ids) == 1:
        run._finished_callbacks.append(lambda r: _final_update(r, parent))
    if run.done:
        _final_update(run, parent)


def display_runs(runs: list[Run]) -> None:
    for run in runs:
        display_run(run, force=True)


def _parent_header() -> Any:
    try:
        from IPython import get_ipython

        ip = get_ipython()
        kernel = getattr(ip, "kernel", None)
        if kernel is not None:
            return kernel.get_parent()
    except Exception:
        return None
    return None


def _final_update(run: Run, parent: Any) -> None:
    """Replace every display of ``run`` by its final bundle (runs on the engine thread)."""
    try:
        from IPython import get_ipython
        from IPython.display import update_display

        ip = get_ipython()
        if ip is None:
            return
        # No set_parent here: frontends match update_display_data by display_id, and
        # setting the publisher's parent from this thread would leak into the cell's.
        bundle = run._repr_mimebundle_()
        for display_id in list(run._display_ids):
            update_display(bundle, raw=True, display_id=display_id)
    except Exception:
        pass

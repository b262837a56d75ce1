"""Driving JupyterLab (and Notebook 7) in Chromium: open, run cells, click, restart, save.

``Lab`` wraps one Playwright page. It talks to the application through
``window.jupyterapp`` (the server runs with ``expose_app_in_browser``) for what has no
stable button (run a cell, restart, save, switch the theme) and clicks the DOM for what
a user clicks (the run widget's forms). Every wait polls with a generous timeout: these
tests share two cores with the rest of the suite.

A command whose promise resolves only when a cell finishes (``notebook:run-cell``) is
started without awaiting it, so a test can click a widget while its cell still runs.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from playwright.sync_api import ConsoleMessage, Locator, Page

from .server import JupyterServer

TIMEOUT = 90.0  # seconds: generous, the machine is shared
THEMES = {"light": "JupyterLab Light", "dark": "JupyterLab Dark"}

_CURRENT = "window.jupyterapp.shell.currentWidget"
_KERNEL = f"({_CURRENT} && {_CURRENT}.sessionContext && {_CURRENT}.sessionContext.session && {_CURRENT}.sessionContext.session.kernel)"


class LabError(AssertionError):
    pass


class Lab:
    """One browser page on the test server (see the module docstring)."""

    def __init__(self, page: Page, server: JupyterServer, artifacts: Path) -> None:
        self.page = page
        self.server = server
        self.artifacts = artifacts
        self.console_errors: list[str] = []
        self.path = ""
        page.on("console", self._on_console)
        page.on("pageerror", lambda exc: self.console_errors.append(f"pageerror: {exc}"))
        page.set_default_timeout(TIMEOUT * 1000)

    def _on_console(self, msg: ConsoleMessage) -> None:
        if msg.type == "error":
            self.console_errors.append(msg.text)

    # ------------------------------------------------------------------ opening
    def open(self, path: str, *, kernel: bool = True, app: str = "lab") -> Lab:
        """Open ``path`` (relative to the server root) in JupyterLab (``app="lab"``) or in
        Notebook 7 (``app="notebook"``); with ``kernel`` wait until its kernel is idle."""
        self.path = path
        if app == "lab":
            # A workspace of its own per page: nothing another test left open reopens.
            workspace = re.sub(r"[^A-Za-z0-9]+", "-", path)[-60:] + f"-{time.monotonic_ns()}"
            url = f"{self.server.url}lab/workspaces/{workspace}/tree/{path}?reset&token={self.server.token}"
        else:
            url = f"{self.server.url}notebooks/{path}?token={self.server.token}"
        self.page.goto(url)
        self.wait_js(
            f"() => window.jupyterapp && {_CURRENT} && {_CURRENT}.content && "
            f"{_CURRENT}.content.widgets && {_CURRENT}.content.widgets.length > 0 && "
            f"{_CURRENT}.context && {_CURRENT}.context.isReady",
            what=f"notebook {path} to open",
        )
        if kernel:
            self.wait_idle()
        return self

    # ------------------------------------------------------------------ waiting
    def wait_js(
        self, predicate: str, arg: Any = None, *, timeout: float = TIMEOUT, what: str = ""
    ) -> Any:
        try:
            return self.page.wait_for_function(
                predicate, arg=arg, timeout=timeout * 1000, polling=100
            )
        except Exception as exc:
            raise LabError(f"timed out waiting for {what or predicate}: {exc}") from None

    def wait_until(
        self, predicate: Callable[[], Any], *, timeout: float = TIMEOUT, what: str = "condition"
    ) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() >= deadline:
                raise LabError(f"timed out waiting for {what}")
            self.page.wait_for_timeout(100)

    def kernel_status(self) -> str | None:
        return self.page.evaluate(f"() => {_KERNEL} ? {_KERNEL}.status : null")

    def wait_idle(self, timeout: float = TIMEOUT) -> None:
        self.wait_js(
            f"() => {_KERNEL} && {_KERNEL}.status === 'idle'", timeout=timeout, what="kernel idle"
        )

    # ------------------------------------------------------------------ cells
    def cell_count(self) -> int:
        return int(self.page.evaluate(f"() => {_CURRENT}.content.widgets.length"))

    def cell(self, index: int) -> Locator:
        return self.page.locator(".jp-Notebook .jp-Cell").nth(index)

    def output(self, index: int) -> Locator:
        return self.cell(index).locator(".jp-OutputArea")

    def run_view(self, index: int) -> Locator:
        """The run view cell ``index`` shows: its live widget, or its snapshot where no
        widget renders (the other is hidden)."""
        return self.output(index).locator(".polos-live:visible, .polos-snapshot:visible").first

    def find_cell(self, text: str) -> int:
        """The index of the first cell whose source contains ``text``."""
        index = self.page.evaluate(
            f"(t) => {_CURRENT}.content.widgets.findIndex((c) => c.model.sharedModel.getSource().includes(t))",
            text,
        )
        if index < 0:
            raise LabError(f"no cell contains {text!r}")
        return int(index)

    def set_source(self, index: int, source: str) -> None:
        self.page.evaluate(
            f"([i, s]) => {_CURRENT}.content.widgets[i].model.sharedModel.setSource(s)",
            [index, source],
        )

    def insert_cell(self, index: int, source: str) -> int:
        """Insert a code cell at ``index`` holding ``source``; returns its index."""
        self.page.evaluate(
            f"([i, s]) => {_CURRENT}.content.model.sharedModel.insertCell(i, {{cell_type: 'code', source: s}})",
            [index, source],
        )
        return index

    def run_cell(
        self, index: int, *, wait: bool = True, allow_error: bool = False, timeout: float = TIMEOUT
    ) -> None:
        """Run cell ``index`` as a user does (select it, run it); wait for it to finish.

        The command's promise resolves when the cell's execution ends; it is kept on
        ``window`` rather than awaited, so ``wait=False`` returns while the cell runs.
        """
        self.wait_idle()
        token = self.page.evaluate(
            f"(i) => {{ const nb = {_CURRENT}.content; nb.activeCellIndex = i; "
            "window.__polosRuns = window.__polosRuns || {}; const t = String(Date.now() + Math.random()); "
            "window.__polosRuns[t] = false; "
            "window.jupyterapp.commands.execute('notebook:run-cell').then(() => { window.__polosRuns[t] = true; }, "
            "(e) => { window.__polosRuns[t] = String(e); }); return t; }",
            index,
        )
        if not wait:
            return
        self.wait_js(
            "(t) => window.__polosRuns[t] !== false",
            token,
            timeout=timeout,
            what=f"cell {index} of {self.path} to run",
        )
        if not allow_error:
            self.raise_cell_error(index)

    def run_cells(self, indices: range | list[int], **kwargs: Any) -> None:
        for i in indices:
            if self.cell_type(i) == "code":
                self.run_cell(i, **kwargs)

    def run_all(self, *, timeout: float = 240.0) -> None:
        """Run every code cell in order, stopping at the first error (which is raised)."""
        for i in range(self.cell_count()):
            if self.cell_type(i) == "code":
                self.run_cell(i, timeout=timeout)

    def execution_count(self, index: int) -> int | None:
        value = self.page.evaluate(
            f"(i) => {_CURRENT}.content.widgets[i].model.executionCount", index
        )
        return None if value is None else int(value)

    def cell_type(self, index: int) -> str:
        return str(self.page.evaluate(f"(i) => {_CURRENT}.content.widgets[i].model.type", index))

    def cell_outputs(self, index: int) -> list[dict[str, Any]]:
        return list(
            self.page.evaluate(
                f"(i) => {_CURRENT}.content.widgets[i].model.outputs.toJSON()", index
            )
        )

    def raise_cell_error(self, index: int) -> None:
        for out in self.cell_outputs(index):
            if out.get("output_type") == "error":
                trace = "\n".join(out.get("traceback") or [])
                trace = re.sub(r"\x1b\[[0-9;]*m", "", trace)
                raise LabError(f"cell {index} of {self.path} failed:\n{trace[-4000:]}")

    # ------------------------------------------------------------------ kernel and file
    def restart_kernel(self) -> None:
        """Restart the kernel (no dialog) and wait until the new one is idle."""
        self.page.evaluate(f"() => {_CURRENT}.sessionContext.session.kernel.restart()")
        self.page.wait_for_timeout(300)
        self.wait_idle()

    def shutdown_kernel(self) -> None:
        self.page.evaluate(f"() => {_CURRENT}.sessionContext.shutdown()")
        self.wait_js(f"() => !{_KERNEL}", what="the kernel to shut down")

    def save(self) -> None:
        self.page.evaluate(f"() => {_CURRENT}.context.save()")
        self.wait_js(f"() => !{_CURRENT}.context.model.dirty", what="the notebook to be saved")

    def close_all(self) -> None:
        self.page.evaluate("() => window.jupyterapp.commands.execute('application:close-all')")

    def trusted(self) -> bool:
        return bool(
            self.page.evaluate(
                f"() => {_CURRENT}.content.widgets.filter((c) => c.model.type === 'code').every((c) => c.model.trusted)"
            )
        )

    # ------------------------------------------------------------------ look
    def set_theme(self, theme: str) -> None:
        name = THEMES[theme]
        self.page.evaluate(
            "(t) => window.jupyterapp.commands.execute('apputils:change-theme', {theme: t})", name
        )
        self.wait_js(
            "(light) => document.body.dataset.jpThemeLight === String(light)",
            theme == "light",
            what=f"the {theme} theme",
        )
        self.page.wait_for_timeout(300)  # let the theme's CSS apply before a screenshot

    def snap(
        self, name: str, target: Locator | None = None, *, themes: tuple[str, ...] = ("light",)
    ) -> list[Path]:
        """Screenshots of the page (or of ``target``) in each theme, kept as test artifacts.

        The theme is a server-side setting shared by the session's pages, so it is put back
        to light afterwards.
        """
        paths = []
        try:
            for theme in themes:
                if theme != "light" or len(themes) > 1:
                    self.set_theme(theme)
                path = self.artifacts / f"{name}-{theme}.png"
                path.parent.mkdir(parents=True, exist_ok=True)
                if target is not None:
                    target.scroll_into_view_if_needed()
                    target.screenshot(path=str(path))
                else:
                    self.page.screenshot(path=str(path), full_page=True)
                paths.append(path)
        finally:
            if themes != ("light",):
                self.set_theme("light")
        return paths

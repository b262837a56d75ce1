"""Fixtures for the browser tests: ONE JupyterLab server and ONE Chromium per session.

- ``jupyter_server``: ``jupyter lab`` on a free loopback port, serving a temporary root
  (see ``server.py``); shut down at the end of the session.
- ``browser``: Debian's ``/usr/bin/chromium`` driven by Playwright for Python (never a
  downloaded browser), kept off the network by its flags.
- ``workdir``: a fresh folder under the server root for the test; its notebooks' kernels
  are shut down when the test ends.
- ``lab``: a new browser context and page for the test, wrapped in :class:`Lab`
  (``lab.py``); screenshots go to ``.cache/e2e-artifacts/<test>/`` (git-ignored), and a
  screenshot is taken when a test fails.

Every test here carries the ``e2e`` marker (``pytest -m e2e`` runs only these,
``-m "not e2e"`` skips them). Adding a test for another part of the product (the
JupyterLab extension, a sidebar) needs nothing more than these fixtures::

    def test_sidebar(lab, workdir):
        path = lab.server.copy_notebook("01_quickstart.ipynb", workdir)
        lab.open(path)
        ...
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .lab import Lab
from .server import ROOT, JupyterServer

CHROMIUM = Path(os.environ.get("POLOS_CHROMIUM", "/usr/bin/chromium"))
ARTIFACTS = ROOT / ".cache" / "e2e-artifacts"
# Flags that keep Chromium off the network and quiet (no sync, no updates, no QUIC).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--disable-default-apps",
    "--disable-extensions",
    "--disable-dev-shm-usage",
    "--metrics-recording-only",
    "--no-default-browser-check",
]


def pytest_collection_modifyitems(config: Any, items: list[Any]) -> None:
    """Mark the browser tests ``e2e`` and run them last.

    Playwright's sync API keeps an event loop marked running on the main thread for as long
    as the session's browser is open, so an asyncio test that came after the first browser
    test would fail ("Runner.run() cannot be called from a running event loop"). Running
    the browser tests after every other test (in their own order) keeps the one shared
    JupyterLab and Chromium, started at the first of them.
    """
    here = Path(__file__).parent
    browser, others = [], []
    for item in items:
        if Path(str(item.fspath)).is_relative_to(here):
            item.add_marker(pytest.mark.e2e)
            browser.append(item)
        else:
            others.append(item)
    items[:] = others + browser


def _require_chromium() -> None:
    if CHROMIUM.exists():
        return
    message = f"{CHROMIUM} is missing: run `bash scripts/setup_browser.sh` (Debian's chromium)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def jupyter_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterServer]:
    _require_chromium()
    server = JupyterServer(tmp_path_factory.mktemp("jupyterlab"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    _require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield chromium
        finally:
            chromium.close()


def _test_dir_name(request: pytest.FixtureRequest) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)[:80]


@pytest.fixture
def workdir(jupyter_server: JupyterServer, request: pytest.FixtureRequest) -> Iterator[Path]:
    """A fresh folder under the server root; its kernels are shut down after the test."""
    folder = jupyter_server.folder(_test_dir_name(request))
    yield folder
    jupyter_server.shutdown_sessions(folder.relative_to(jupyter_server.root).as_posix())


@pytest.fixture
def artifacts(request: pytest.FixtureRequest) -> Path:
    path = ARTIFACTS / _test_dir_name(request)
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    return path


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: Any, call: Any) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


@pytest.fixture
def lab(
    browser: Any, jupyter_server: JupyterServer, artifacts: Path, request: pytest.FixtureRequest
) -> Iterator[Lab]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    helper = Lab(page, jupyter_server, artifacts)
    try:
        yield helper
    finally:
        report = getattr(request.node, "rep_call", None)
        if report is not None and report.failed:
            try:
                page.screenshot(path=str(artifacts / "failure.png"), full_page=True)
            except Exception:
                pass
        context.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A blank page of its own (no JupyterLab): for the widget alone (``widget_page.py``)."""
    context = browser.new_context(viewport={"width": 1000, "height": 800})
    try:
        yield context.new_page()
    finally:
        context.close()

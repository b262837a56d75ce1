"""Stopping the server extension's hub never waits on a task that does not end.

A teardown once hung for 240 s in ``hub.stop()`` (a loaded machine, a live kernel): each
of the hub's tasks now gets a bounded time to end once cancelled, then is left behind
with a warning, so a server's shutdown goes on.
"""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from polos_nb.server import _hub


async def test_a_task_that_ignores_its_cancellation_is_left_behind(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(_hub, "STOP_SECONDS", 0.2)
    release = asyncio.Event()

    async def stubborn() -> None:
        while not release.is_set():
            try:
                await asyncio.sleep(60)
            except asyncio.CancelledError:
                continue  # swallows the cancellation, as a stuck read can

    task = asyncio.create_task(stubborn())
    await asyncio.sleep(0)
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger=_hub.log.name):
        await _hub._cancelled(task, "a stuck reader")
    assert time.monotonic() - started < 2.0
    assert "a stuck reader did not stop within" in caplog.text
    release.set()
    task.cancel()
    await asyncio.wait({task}, timeout=2)


async def test_a_task_that_ends_when_cancelled_is_waited_for(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    ended = []

    async def polite() -> None:
        try:
            await asyncio.sleep(60)
        finally:
            ended.append(True)

    task = asyncio.create_task(polite())
    await asyncio.sleep(0)
    with caplog.at_level(logging.WARNING, logger=_hub.log.name):
        await _hub._cancelled(task, "a reader")
    assert ended == [True] and task.cancelled()
    assert "did not stop" not in caplog.text

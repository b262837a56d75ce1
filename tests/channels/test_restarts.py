"""Each Slack event starts one run, once, across restarts.

A script serving Slack (``serve_slack``) is SIGKILLed right after it journaled the run a
mention asked for, before it answered Slack. Slack retries the event, to a new process on
the same journal: no second run starts; the first one resumes and answers in the thread.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from polos_nb import PolosClient, workflow
from polos_nb.engine import WorkflowContext
from tests.agents.helpers import uid
from tests.channels.fakes import FakeSlack
from tests.channels.test_slack_requests import SlackSide

ROOT = Path(__file__).resolve().parents[2]
AGENT_ID = "slack-oracle"  # slack_child.py's agent (not imported: this process must not run it)


class Child:
    """``tests/channels/slack_child.py`` in a real subprocess."""

    def __init__(self, journal: Path, slack: FakeSlack, mode: str) -> None:
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith("SLACK_") and key != "PYTHONPATH"
        }
        env["PYTHONPATH"] = str(ROOT)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.channels.slack_child", str(journal), slack.url, mode],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert line, f"the child exited first (code {self.proc.wait(timeout=60)})"
        self.port = int(json.loads(line)["port"])

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=60)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


@pytest.fixture
def children() -> Iterator[list[Child]]:
    started: list[Child] = []
    yield started
    for child in started:
        child.stop()


@pytest.mark.slow
async def test_a_mention_retried_after_a_crash_starts_one_run(
    journal_path: Path, slack: FakeSlack, children: list[Child]
) -> None:
    text = f"<@U0BOT> @{AGENT_ID} what is the answer?"
    first = Child(journal_path, slack, "kill_after_start")
    children.append(first)
    side = SlackSide(f"http://127.0.0.1:{first.port}", slack)
    try:
        with pytest.raises(httpx.HTTPError):  # killed before it could answer Slack
            await side.mention(text, event_id="EvCrash1")
    finally:
        await side.http.aclose()
    assert first.proc.wait(timeout=60) == -9
    with PolosClient(journal=journal_path) as client:  # the run was journaled, then the crash
        (started,) = await client.list_executions(workflow_id=AGENT_ID)
        assert started.status in ("queued", "running")

    second = Child(journal_path, slack, "normal")
    children.append(second)
    side = SlackSide(f"http://127.0.0.1:{second.port}", slack)
    try:
        retry = await side.mention(text, event_id="EvCrash1", retry=1)
        assert retry.status_code == 200, retry.text
    finally:
        await side.http.aclose()
    answers = await slack.until(
        lambda: [
            c
            for c in slack.of("chat.postMessage")
            if c.body.get("thread_ts") == "1700000100.000100"
        ],
        what="the answer in the thread",
    )
    assert [c.body["text"] for c in answers] == ["The answer is 42."]
    second.stop()

    with PolosClient(journal=journal_path) as client:
        runs = await client.list_executions(workflow_id=AGENT_ID)
        assert [r.id for r in runs] == [started.id]
        assert runs[0].status == "completed"
        assert runs[0].payload["input"] == "what is the answer?"
    assert [c.body["text"] for c in slack.of("chat.postMessage")] == ["The answer is 42."]


async def test_a_start_key_is_kept_with_the_run_across_a_reopen(journal_path: Path) -> None:
    @workflow(id=uid("keyed"))
    async def keyed(ctx: WorkflowContext, payload: dict) -> int:
        return int(payload["n"])

    with PolosClient(journal=journal_path) as client:
        one = await client.invoke(keyed.id, {"n": 1}, idempotency_key="ev-1")
        again = await client.invoke(keyed.id, {"n": 2}, idempotency_key="ev-1")
        other = await client.invoke(keyed.id, {"n": 3}, idempotency_key="ev-2")
        assert again.id == one.id and other.id != one.id
        assert await client.wait_for_result(one.id, timeout=60) == 1
    with PolosClient(journal=journal_path) as client:
        after = await client.invoke(keyed.id, {"n": 4}, idempotency_key="ev-1")
        assert after.id == one.id
        assert len(await client.list_executions(workflow_id=keyed.id)) == 2
        with pytest.raises(Exception, match="idempotency_key"):
            await client.invoke(keyed.id, {"n": 5}, idempotency_key="")

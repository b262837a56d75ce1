"""Channel tests: real loopback servers (a fake Slack Web API, an HTTP receiver, SMTP)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.channels.fakes import FakeSlack, HookReceiver, SmtpSink


@pytest.fixture(scope="session", autouse=True)
def _litellm_loaded() -> None:
    from polos_nb.llm._litellm import _lit

    _lit()


@pytest.fixture(autouse=True)
def _no_slack_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """A developer's own Slack settings never leak into a test."""
    for name in ("SLACK_BOT_TOKEN", "SLACK_CHANNEL", "SLACK_SIGNING_SECRET", "SLACK_API_URL"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        yield fake


@pytest.fixture
def hook() -> Iterator[HookReceiver]:
    with HookReceiver() as receiver:
        yield receiver


@pytest.fixture
def smtp() -> Iterator[SmtpSink]:
    with SmtpSink() as sink:
        yield sink

"""Test doubles and fault injection, public and documented. Nothing in polos_nb imports this.

- :class:`FakeClock`: an injectable clock for timing rules without sleeping.
- :func:`kill_at_commit`: SIGKILL the process at a journal write boundary (crash tests).
- :class:`ScriptedModel`, :class:`FunctionModel`: fake LLMs reached through litellm's
  custom-provider mechanism (``Agent(provider="fake", model=ScriptedModel(...))``).
"""

from __future__ import annotations

import os
import signal
from typing import Literal

from polos_nb.engine import PolosClient

from ._clock import FakeClock
from ._models import FakeCall, FakeToolCall, FakeTurn, FunctionModel, ScriptedModel, get_fake_model

__all__ = [
    "FakeCall",
    "FakeClock",
    "FakeToolCall",
    "FakeTurn",
    "FunctionModel",
    "ScriptedModel",
    "get_fake_model",
    "kill_at_commit",
]


def kill_at_commit(client: PolosClient, n: int, when: Literal["before", "after"] = "after") -> None:
    """Kill this process with SIGKILL just before or just after the journal's ``n``-th commit.

    ``n`` counts commits made from now on (1 = the next one). Use it in a child process to
    prove that a crash at that write boundary loses nothing.
    """
    journal = client.runtime.journal
    target = journal.commits + n
    phase = f"{when}_commit"

    def hook(event: str, count: int) -> None:
        if event == phase and count == target:
            os.kill(os.getpid(), signal.SIGKILL)

    journal.fault_hook = hook

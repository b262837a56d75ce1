"""Test doubles and fault injection, public and documented. Nothing in polos_nb imports this.

- :class:`FakeClock`: an injectable clock for timing rules without sleeping.
- :func:`kill_at_commit`: SIGKILL the process at a journal write boundary (crash tests).
- :func:`refuse_writes`: make the journal refuse writes, as a full disk does.
- :func:`refuse_reads`: make some journal reads fail, as a flaky device does.
- :class:`ScriptedModel`, :class:`FunctionModel`: fake LLMs reached through litellm's
  custom-provider mechanism (``Agent(provider="fake", model=ScriptedModel(...))``).
"""

from __future__ import annotations

import errno
import os
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Literal

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
    "refuse_reads",
    "refuse_writes",
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


@contextmanager
def refuse_writes(
    client: PolosClient,
    error: BaseException | None = None,
    *,
    matching: Callable[[list[Any]], bool] | None = None,
) -> Iterator[list[int]]:
    """While the block runs, journal writes fail as if the disk were full.

    Every transaction (or, with ``matching``, those whose list of operations it accepts)
    fails with ``error``, by default ``OSError(ENOSPC, "No space left on device")``, at the
    journal's write boundary. Yields a one-item list counting the refused writes. On exit
    writes work again, as when space is freed.
    """
    journal = client.runtime.journal
    failure = error if error is not None else OSError(errno.ENOSPC, "No space left on device")
    refused = [0]

    def hook(ops: list[Any]) -> None:
        if matching is None or matching(ops):
            refused[0] += 1
            raise failure

    journal.write_hook = hook
    try:
        yield refused
    finally:
        journal.write_hook = None


@contextmanager
def refuse_reads(
    client: PolosClient,
    error: BaseException | None = None,
    *,
    matching: Callable[[str], bool] | None = None,
) -> Iterator[list[int]]:
    """While the block runs, the engine's reads of the journal fail (all, or those whose SQL
    ``matching`` accepts) with ``error``, by default ``OSError(EIO, "Input/output error")``.

    Yields a one-item list counting the refused reads.
    """
    journal = client.runtime.journal
    failure = error if error is not None else OSError(errno.EIO, "Input/output error")
    refused = [0]

    def hook(sql: str) -> None:
        if matching is None or matching(sql):
            refused[0] += 1
            raise failure

    journal.read_hook = hook
    try:
        yield refused
    finally:
        journal.read_hook = None

"""Retry policies and the ``Queue`` definition: the per-step and per-workflow knobs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from polos_nb.errors import UserError

__all__ = ["Queue", "RetryPolicy", "queue"]


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how fast to retry a failing step or workflow run.

    Attempt ``n`` (counting retries from 0) waits ``min(base_delay * backoff**n, max_delay)``
    seconds of the engine clock before running; there is no wait after the last attempt.
    Only exceptions that are instances of ``retry_on`` and not of ``non_retryable`` are
    retried. Every attempt is journaled.

    ```python
    policy = RetryPolicy(max_retries=5, base_delay=0.5, max_delay=30, non_retryable=(ValueError,))
    await ctx.step.run("fetch", fetch, url, retry=policy)

    @workflow(retry=RetryPolicy(max_retries=2))   # re-run the whole workflow after a failure
    async def sync_accounts(ctx, payload): ...
    ```
    """

    max_retries: int = 2
    base_delay: float = 1.0
    backoff: float = 2.0
    max_delay: float = 10.0
    retry_on: tuple[type[BaseException], ...] = field(default=(Exception,))
    non_retryable: tuple[type[BaseException], ...] = field(default=())

    def __post_init__(self) -> None:
        if not isinstance(self.max_retries, int) or self.max_retries < 0:
            raise UserError(
                f"RetryPolicy.max_retries must be an int >= 0 (got {self.max_retries!r})."
            )
        if self.base_delay < 0 or self.max_delay < 0:
            raise UserError("RetryPolicy delays must be >= 0 seconds.")
        if self.base_delay > self.max_delay:
            raise UserError(
                f"RetryPolicy.base_delay ({self.base_delay}s) is longer than max_delay ({self.max_delay}s), "
                "so every wait would be cut to max_delay; raise max_delay too."
            )
        if self.backoff < 1:
            raise UserError(f"RetryPolicy.backoff must be >= 1 (got {self.backoff!r}).")
        for name in ("retry_on", "non_retryable"):
            value = getattr(self, name)
            if isinstance(value, type):
                object.__setattr__(self, name, (value,))
            elif not all(
                isinstance(t, type) and issubclass(t, BaseException) for t in getattr(self, name)
            ):
                raise UserError(f"RetryPolicy.{name} must be exception classes.")

    def delay(self, retry_index: int) -> float:
        """Seconds to wait before retry number ``retry_index`` (0-based)."""
        return min(self.base_delay * (self.backoff**retry_index), self.max_delay)

    def retries(self, exc: BaseException) -> bool:
        """Whether ``exc`` is a kind of error this policy retries."""
        return isinstance(exc, self.retry_on) and not isinstance(exc, self.non_retryable)


@dataclass(frozen=True)
class Queue:
    """A named queue with an optional concurrency limit, shareable by several workflows.

    At most ``concurrency_limit`` executions of the queue run at once — per
    ``concurrency_key`` when one is given at invoke time (e.g. one per customer).
    Waiting executions (suspended, sleeping, waiting for an event or a child) hold no
    slot. ``None`` means no limit.
    """

    name: str
    concurrency_limit: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise UserError(f"A queue needs a non-empty name (got {self.name!r}).")
        if self.concurrency_limit is not None and (
            not isinstance(self.concurrency_limit, int)
            or isinstance(self.concurrency_limit, bool)
            or self.concurrency_limit < 1
        ):
            raise UserError(
                f"Queue {self.name!r}: concurrency_limit must be a positive integer or None "
                f"(got {self.concurrency_limit!r})."
            )


def queue(name: str, concurrency_limit: int | None = None) -> Queue:
    """Define a shared queue: ``q = queue("llm-calls", concurrency_limit=3)``."""
    return Queue(name, concurrency_limit)


def as_queue(value: Any, default_name: str) -> Queue:
    """Normalize the ``queue=`` option of ``@workflow``: a name, a Queue or a dict."""
    if value is None:
        return Queue(default_name, None)
    if isinstance(value, Queue):
        return value
    if isinstance(value, str):
        return Queue(value, None)
    if isinstance(value, dict):
        unknown = set(value) - {"name", "concurrency_limit"}
        if unknown:
            raise UserError(
                f"Unknown queue option(s) {sorted(unknown)}; use 'name' and 'concurrency_limit'."
            )
        return Queue(value.get("name") or default_name, value.get("concurrency_limit"))
    raise UserError(f"queue= takes a name, a Queue or a dict, not {type(value).__name__}.")

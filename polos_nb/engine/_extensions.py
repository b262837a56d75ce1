"""Runtime extensions: code above the engine that watches every runtime (channels).

The engine knows nothing of Slack or e-mail. A layer above it registers a factory with
:func:`add_runtime_extension`; every :class:`Runtime` opened afterwards (and every one
already open) calls it once, on the opening thread, before it resumes the journal's
unfinished runs, so the extension sees every event of those runs. The factory returns
an object (or ``None``); if that object has an ``async def aclose()``, the runtime awaits
it on its loop when it closes, before it stops the loop.

Extensions use the runtime's public surface only: ``subscribe_all``, ``publish``,
``read_topic``, ``get_execution``, ``channel_context``, ``channel_runs``, ``loop``,
``channels``, and the journal interface's named reads through ``read``
(``await runtime.read(runtime.journal.pending_suspensions())``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from polos_nb.errors import UserError

if TYPE_CHECKING:
    from ._runtime import Runtime

__all__ = ["add_runtime_extension", "attach_extensions", "check_channels"]

log = logging.getLogger("polos_nb.engine")

_FACTORIES: list[Callable[[Runtime], Any]] = []
_LOCK = threading.Lock()


def add_runtime_extension(factory: Callable[[Runtime], Any]) -> None:
    """Call ``factory(runtime)`` for every runtime, the ones opened later included.

    Registering the same factory twice does nothing.
    """
    with _LOCK:
        if factory in _FACTORIES:
            return
        _FACTORIES.append(factory)


def attach_extensions(runtime: Runtime) -> list[Any]:
    """Run every registered factory for ``runtime``; returns what they returned (not None)."""
    with _LOCK:
        factories = list(_FACTORIES)
    attached = []
    for factory in factories:
        try:
            extension = factory(runtime)
        except Exception:
            log.exception("runtime extension %r failed to attach", factory)
            continue
        if extension is not None:
            attached.append(extension)
    return attached


def check_channels(channels: Any, where: str) -> list[Any]:
    """A list of notification channels (objects with an ``id`` and an async ``notify``)."""
    if channels is None:
        return []
    if not isinstance(channels, (list, tuple)):
        raise UserError(
            f"{where} takes a list of channels, e.g. [SlackChannel(...)] (got {channels!r})."
        )
    for channel in channels:
        if not isinstance(getattr(channel, "id", None), str) or not callable(
            getattr(channel, "notify", None)
        ):
            raise UserError(
                f"{where}: {channel!r} is not a channel. Pass polos_nb.channels objects "
                "(SlackChannel, EmailChannel, WebhookChannel) or a Channel subclass."
            )
    return list(channels)

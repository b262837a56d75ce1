"""``Polos``: upstream Polos's one object that is both the client and the worker.

Every upstream example starts with it:

```python
async with Polos(log_file="polos.log") as polos:
    result = await weather_agent.run(polos, "What's the weather in Paris?")
    handle = await approval_workflow.invoke(polos, payload)
    await polos.resume(handle.root_workflow_id, handle.id, "await_approval", {"approved": True})
    execution = await polos.get_execution(handle.id)
```

In polos_nb the worker is the embedded engine: it already runs in this process, on its
own thread, and every ``@workflow``, ``Agent`` and ``@tool`` defined in the process is
known to it. So ``Polos`` is a :class:`PolosClient` with upstream's lifecycle on top
(``start``/``stop``/``serve``, ``async with`` and ``with``) and upstream's constructor.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
from typing import Any

from polos_nb._clock import Clock
from polos_nb.config import redact_url
from polos_nb.errors import UserError

from ._client import PolosClient, Worker

__all__ = ["Polos"]

log = logging.getLogger("polos_nb.engine")

# Loggers a Polos(log_file=...) sends to the file instead of the console.
_FILE_LOGGERS = ("polos_nb", "LiteLLM", "LiteLLM Router", "LiteLLM Proxy")


class Polos(PolosClient):
    """Upstream's unified client + worker, embedded: one object to run and drive everything.

    ```python
    async with Polos(log_file="polos.log") as polos:      # or: with Polos() as polos:
        print((await agent.run(polos, "Hi")).result)
    ```

    It is a :class:`PolosClient` (``invoke``, ``resume``, ``get_execution``,
    ``cancel_execution``, ``batch_invoke`` …, and every ``*_sync`` twin), so anything that
    takes a client takes it: ``agent.run(polos, ...)``, ``wf.invoke(polos, ...)``,
    ``events.stream_workflow(polos, ...)``, ``schedules.create(polos, ...)``.

    Args (upstream's, with what each means here):
        project_id, api_url, api_key, deployment_id: recorded (with upstream's environment
            fallbacks ``POLOS_PROJECT_ID``, ``POLOS_API_URL``, ``POLOS_API_KEY``,
            ``POLOS_DEPLOYMENT_ID``) and readable as properties; nothing connects to them,
            there is no orchestrator. The API key is never shown.
        port: no worker HTTP server is started (the engine runs in-process);
            :meth:`serve` serves Slack's request URLs there instead. Default
            ``$POLOS_WORKER_PORT``, else 8000.
        max_concurrent_workflows: recorded; not enforced. An execution holds no thread
            (it is an asyncio task on the engine's loop) and a waiting one holds nothing;
            bound concurrency with queues instead (``@workflow(queue={"concurrency_limit": n})``).
        channels: notification channels (``SlackChannel``, ``EmailChannel``,
            ``WebhookChannel`` from ``polos_nb.channels``) told when any run suspends for a
            human. As upstream, a ``SlackChannel`` is added from ``$SLACK_BOT_TOKEN`` when
            none is given (see docs/channels.md).
        log_file: while started, polos_nb's (and litellm's) log records go to this file
            instead of the console (upstream redirects all logging; here the root logger
            of the notebook or script is left alone).
        journal, clock: polos_nb's own :class:`PolosClient` options.

    ``stop()`` (or leaving the ``with`` block) releases this client like ``close()``:
    when it was the process's last client of the journal, the engine stops and runs
    still going resume the next time a client opens the journal.
    """

    def __init__(
        self,
        project_id: str | None = None,
        api_url: str | None = None,
        api_key: str | None = None,
        deployment_id: str | None = None,
        port: int | None = None,
        max_concurrent_workflows: int | None = None,
        channels: list[Any] | None = None,
        log_file: str | os.PathLike[str] | None = None,
        *,
        journal: str | os.PathLike[str] | None = None,
        clock: Clock | None = None,
    ) -> None:
        if max_concurrent_workflows is not None and (
            not isinstance(max_concurrent_workflows, int) or max_concurrent_workflows < 1
        ):
            raise UserError(
                f"max_concurrent_workflows must be a positive integer (got {max_concurrent_workflows!r})."
            )
        super().__init__(
            journal,
            clock=clock,
            project_id=project_id,
            api_url=api_url,
            api_key=api_key,
            deployment_id=deployment_id,
            channels=channels,
        )
        self.port = int(port or os.environ.get("POLOS_WORKER_PORT") or 8000)
        self.max_concurrent_workflows = max_concurrent_workflows
        self.log_file = os.fspath(log_file) if log_file is not None else None
        self.worker = Worker(
            self,
            deployment_id=self.deployment_id,
            max_concurrent_workflows=max_concurrent_workflows,
        )
        self._started = False
        self._log_state: list[tuple[logging.Logger, bool, int, list[logging.Handler]]] = []
        self._handler: logging.Handler | None = None
        self._serving: tuple[asyncio.AbstractEventLoop, asyncio.Event] | None = None

    def __repr__(self) -> str:
        return (
            f"Polos(project_id={self.project_id!r}, deployment_id={self.deployment_id!r}, "
            f"journal={redact_url(self.journal_path)!r})"
        )

    @property
    def started(self) -> bool:
        """True between :meth:`start` and :meth:`stop`."""
        return self._started

    # ------------------------------------------------------------------ lifecycle
    def start_sync(self) -> None:
        """Blocking twin of :meth:`start` (also what ``with Polos() as polos:`` does)."""
        if self._closed:
            raise UserError("This Polos was stopped; create a new one: Polos(...).")
        if self._started:
            return
        if self.log_file is not None:
            self._redirect_logs(self.log_file)
        self.worker.register()
        self._started = True
        log.info("Polos started (embedded engine, journal=%s)", redact_url(self.journal_path))

    async def start(self) -> None:
        """Start the worker: here, make sure every defined workflow is registered.

        Returns at once; the engine already runs in this process.
        """
        self.start_sync()

    def stop_sync(self) -> None:
        """Blocking twin of :meth:`stop`."""
        if self._serving is not None:
            loop, stopped = self._serving
            self._serving = None
            if not loop.is_closed():
                loop.call_soon_threadsafe(stopped.set)
        if self._started:
            self._started = False
            log.info("Polos stopped")
        self._restore_logs()
        self.close()

    async def stop(self) -> None:
        """Stop: release this client (see the class docs) and end :meth:`serve`."""
        self.stop_sync()

    async def serve(self) -> None:
        """Start, then serve (schedules, event triggers, resumes) until :meth:`stop` is
        called or the task is cancelled (Ctrl-C in a script).

        While serving, a ``SlackChannel`` with a signing secret (its config's, or
        ``$SLACK_SIGNING_SECRET``) also serves Slack's request URLs on ``port``
        (``/polos/slack/events``: mentions start agents; ``/polos/slack/interactions``:
        buttons answer approvals), the part upstream's orchestrator plays.
        """
        await self.start()
        stopped = asyncio.Event()
        self._serving = (asyncio.get_running_loop(), stopped)
        servers = self._serve_channel_requests()
        try:
            while not stopped.is_set():
                # On Unix the kernel may hand Ctrl+C to any thread; there it only marks the
                # signal, and Python's handler (asyncio.run's, which cancels this task) runs
                # once the main thread wakes. Nothing else wakes this loop while it serves,
                # so it wakes itself now and then.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stopped.wait(), SIGNAL_CHECK_SECONDS)
        finally:
            await _close_servers(servers)
            if not self._closed:
                await self.stop()

    def _serve_channel_requests(self) -> list[Any]:
        """Start the request servers of the channels that take requests (Slack's)."""
        servers = []
        for channel in self.channels:
            serve = getattr(channel, "serve_requests", None)
            if serve is None:
                continue
            try:
                server = serve(self, port=self.port)
            except OSError as exc:
                log.warning("%r cannot serve its requests on port %d: %s", channel, self.port, exc)
                continue
            if server is not None:
                log.info("%r: serving its request URLs at %s", channel, server.url)
                servers.append(server)
        return servers

    async def __aenter__(self) -> Polos:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def __enter__(self) -> Polos:
        self.start_sync()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_sync()

    # ------------------------------------------------------------------ log_file
    def _redirect_logs(self, path: str) -> None:
        handler = logging.FileHandler(path, mode="a", encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-8s %(name)s: %(message)s"))
        self._handler = handler
        for name in _FILE_LOGGERS:
            logger = logging.getLogger(name)
            # The logger's own console handlers (litellm installs one) step aside while
            # started; its level stays as it was, except polos_nb's, which logs at INFO.
            self._log_state.append((logger, logger.propagate, logger.level, list(logger.handlers)))
            for old in list(logger.handlers):
                logger.removeHandler(old)
            logger.addHandler(handler)
            logger.propagate = False
            if name == "polos_nb" and (
                logger.level == logging.NOTSET or logger.level > logging.INFO
            ):
                logger.setLevel(logging.INFO)

    def _restore_logs(self) -> None:
        handler, self._handler = self._handler, None
        for logger, propagate, level, handlers in self._log_state:
            if handler is not None:
                logger.removeHandler(handler)
            for old in handlers:
                logger.addHandler(old)
            logger.propagate = propagate
            logger.setLevel(level)
        self._log_state.clear()
        if handler is not None:
            handler.close()


SERVER_CLOSE_SECONDS = 15.0
SIGNAL_CHECK_SECONDS = 0.5  # how often serve() wakes to let a pending Ctrl+C be handled
"""How long :meth:`Polos.serve` waits for its channels' request servers to stop."""


async def _close_servers(servers: list[Any]) -> None:
    """Close the channels' request servers on a thread of their own, for at most
    :data:`SERVER_CLOSE_SECONDS`: Ctrl-C must end a script even if a request under way
    does not finish (the servers' threads are daemons; they end with the process). Not
    the loop's default executor, which ``asyncio.run`` waits for without a limit."""
    if not servers:
        return
    loop = asyncio.get_running_loop()
    closed: asyncio.Future[None] = loop.create_future()

    def settle() -> None:
        if not closed.done():
            closed.set_result(None)

    def close_all() -> None:
        for server in servers:
            try:
                server.close()
            except Exception:
                log.exception("could not close %r", server)
        with contextlib.suppress(RuntimeError):  # the loop is gone: nobody waits
            loop.call_soon_threadsafe(settle)

    threading.Thread(target=close_all, name="polos-close-servers", daemon=True).start()
    try:
        await asyncio.wait_for(asyncio.shield(closed), SERVER_CLOSE_SECONDS)
    except TimeoutError:
        log.warning(
            "channel request servers did not stop within %.0f s; going on", SERVER_CLOSE_SECONDS
        )

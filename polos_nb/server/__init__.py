"""polos_nb's Jupyter server extension: runs, approvals and the approval page over HTTP.

Enabled by ``{"ServerApp": {"jpserver_extensions": {"polos_nb": true}}}`` (the
repository's ``jupyter_config.json``, and ``etc/jupyter/jupyter_server_config.d/polos_nb.json``
in the wheel). It is the only part of polos_nb that imports ``jupyter_server`` or
``tornado``; the JupyterLab extension (``extension/``) is its browser side, but nothing
requires either: magics and widgets work without them.

What it serves is described in ``_handlers``; how it reaches runs (kernels over comms,
journals at rest directly) in ``_hub``. Every endpoint requires Jupyter's login and
checks XSRF on posts, except Slack's two request URLs (``_slack``: ``polos/slack/...``),
which Slack's servers call: they are authenticated by the Slack app's request signature
(``$SLACK_SIGNING_SECRET``) instead.

Routes from other parts of polos_nb (hook for channels)
--------------------------------------------------------
A *route provider* is a function ``provider(context) -> list of (path, handler class,
kwargs)``; the paths are relative to ``<base_url>/polos/`` (e.g. ``"slack/events"``).
``context`` is a :class:`ServerContext` with ``hub`` (answer a suspension wherever its run
lives: ``await context.hub.answer(run_id, key, decision, data)``; find one:
``context.hub.find_approval(run_id, key)``; be told of new ones:
``context.hub.on_approval(callback)``), ``serverapp``, ``base_url`` and ``url(path)``.

Providers are collected when the server starts, from :data:`ROUTE_PROVIDERS` (strings
``"module:function"``, imported only then; a module that does not exist is skipped) and
from :func:`add_route_provider`. ``polos_nb.server._slack:slack_routes`` is listed: the
Slack channel's buttons and mentions (``polos_nb.channels``) answered through the hub. A provider's handlers should
subclass ``jupyter_server.base.handlers.APIHandler`` and decorate every verb with
``tornado.web.authenticated``; a route that must be reachable without a Jupyter login
(a callback from Slack) has to authenticate its caller itself (e.g. Slack's request
signature) and say so with ``jupyter_server.auth.decorator.allow_unauthenticated``.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = [
    "ROUTE_PROVIDERS",
    "ServerContext",
    "add_route_provider",
    "route_providers",
    "slack_handlers",
]

ROUTE_PROVIDERS: list[str] = ["polos_nb.server._slack:slack_routes"]
"""Route providers imported when the server starts (``"module:function"``)."""

_EXTRA_PROVIDERS: list[Callable[[ServerContext], Any]] = []


@dataclass
class ServerContext:
    """What a route provider gets (see the module docstring)."""

    serverapp: Any
    hub: Any
    base_url: str

    def url(self, path: str) -> str:
        """The absolute URL path of ``<base_url>/polos/<path>``."""
        from jupyter_server.utils import url_path_join

        return str(url_path_join(self.base_url, "polos", path))


def add_route_provider(provider: Callable[[ServerContext], Any]) -> None:
    """Add a route provider (call it before the server starts, e.g. from an import hook)."""
    if provider not in _EXTRA_PROVIDERS:
        _EXTRA_PROVIDERS.append(provider)


def route_providers(log: Any = None) -> list[Callable[[ServerContext], Any]]:
    """The providers of :data:`ROUTE_PROVIDERS` that exist, then the added ones."""
    found: list[Callable[[ServerContext], Any]] = []
    for spec in ROUTE_PROVIDERS:
        module_name, _, attr = spec.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name is not None and module_name.startswith(exc.name):
                continue  # that part of polos_nb is not there (yet): nothing to add
            raise
        provider = getattr(module, attr or "server_routes", None)
        if provider is None:
            if log is not None:
                log.warning("polos_nb: %s has no route provider %r", module_name, attr)
            continue
        found.append(provider)
    return found + list(_EXTRA_PROVIDERS)


def slack_handlers(endpoint: Any, base_url: str = "/") -> list[tuple[str, Any, Any]]:
    """Tornado routes serving a ``polos_nb.channels.SlackEndpoint`` at
    ``<base_url>polos/slack/interactions`` and ``<base_url>polos/slack/events``, for a
    tornado application of your own (the Jupyter server mounts them by itself)."""
    from ._slack import slack_handlers as handlers

    return handlers(endpoint, base_url)


def approval_base_url(serverapp: Any) -> str:
    """The base of approval links this server gives its kernels.

    ``POLOS_APPROVAL_BASE_URL`` if set (e.g. the machine's address on your network, to
    answer from a phone); else ``ServerApp.custom_display_url``; else the server's own URL.
    """
    env = os.environ.get("POLOS_APPROVAL_BASE_URL")
    if env:
        return env.rstrip("/")
    custom = getattr(serverapp, "custom_display_url", "") or ""
    if custom:
        return str(custom).rstrip("/")
    return str(serverapp.connection_url).rstrip("/")


def _load_jupyter_server_extension(serverapp: Any) -> None:
    """Called by jupyter_server: start the hub, add the routes (ours and providers')."""
    from jupyter_server.utils import url_path_join

    from ._handlers import (
        AnswerHandler,
        ApprovalPageHandler,
        RunHandler,
        RunsHandler,
        StateHandler,
    )
    from ._hub import PolosHub

    web_app = serverapp.web_app
    base_url = web_app.settings["base_url"]
    hub = PolosHub(serverapp, approval_base_url=approval_base_url(serverapp))
    web_app.settings["polos_nb_hub"] = hub

    def route(path: str) -> str:
        return str(url_path_join(base_url, "polos", path))

    kwargs = {"hub": hub}
    handlers: list[tuple[str, Any, dict[str, Any]]] = [
        (route("api/state"), StateHandler, kwargs),
        (route("api/runs"), RunsHandler, kwargs),
        (route("api/run"), RunHandler, kwargs),
        (route("api/answer"), AnswerHandler, kwargs),
        (route(r"approve/([^/]+)/([^/]+)"), ApprovalPageHandler, kwargs),
    ]
    context = ServerContext(serverapp=serverapp, hub=hub, base_url=base_url)
    for provider in route_providers(serverapp.log):
        try:
            extra = provider(context) or []
        except Exception:
            serverapp.log.exception("polos_nb: the route provider %r failed", provider)
            continue
        for entry in extra:
            path, handler = entry[0], entry[1]
            options = entry[2] if len(entry) > 2 else {}
            handlers.append((route(str(path).lstrip("/")), handler, options))
    web_app.add_handlers(".*$", handlers)
    from tornado.ioloop import IOLoop

    IOLoop.current().add_callback(hub.start)
    serverapp.log.info("polos_nb: server extension loaded (%d routes)", len(handlers))

"""pytest-jupyter's server fixtures, for this folder only (``jp_serverapp``, ``jp_fetch``...).

They are imported here rather than listed in the root conftest's ``pytest_plugins``, so
their autouse event loop and their coroutine runner stay out of the rest of the suite.
The tests here are plain functions that drive the server's loop with :func:`run`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from pytest_jupyter.jupyter_server import *  # noqa: F403

SERVER_CONFIG = {
    "ServerApp": {
        "jpserver_extensions": {"polos_nb": True},
        # every endpoint must need a login: the server refuses anonymous calls outright
        "allow_unauthenticated_access": False,
    }
}


@pytest.fixture
def jp_server_config() -> dict[str, Any]:
    return SERVER_CONFIG


@pytest.fixture
def hub(jp_serverapp: Any, jp_asyncio_loop: Any) -> Iterator[Any]:
    """The server extension's hub, started; stopped after the test."""
    hub = jp_serverapp.web_app.settings["polos_nb_hub"]

    async def start() -> None:
        hub.start()

    jp_asyncio_loop.run_until_complete(start())
    yield hub
    jp_asyncio_loop.run_until_complete(hub.stop())

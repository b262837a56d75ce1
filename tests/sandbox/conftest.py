"""Sandbox test fixtures: the private Docker engine that scripts/setup_docker.sh starts.

Docker tests need that engine and its image. Where they are missing the tests are
skipped — except in CI (``CI`` set), where a missing engine fails them loudly, so the
Docker tests cannot silently stop running.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
IMAGE = os.environ.get("POLOS_SANDBOX_TEST_IMAGE", "polos-nb-sandbox:py3")


def _docker_host() -> str | None:
    if os.environ.get("DOCKER_HOST"):
        return os.environ["DOCKER_HOST"]
    for env_file in (ROOT / ".cache" / "docker.env", Path("/tmp/polos_nb-docker/env")):
        if env_file.exists():
            for line in env_file.read_text().splitlines():
                if line.startswith("DOCKER_HOST="):
                    return line.split("=", 1)[1].strip()
    return None


_HOST = _docker_host()
if _HOST:
    os.environ["DOCKER_HOST"] = _HOST  # the notebook kernels and child processes inherit it
os.environ["POLOS_SANDBOX_PULL"] = "0"  # tests never download an image


def _docker_problem() -> str | None:
    try:
        import docker
    except ImportError:
        return "the docker SDK is not installed (pip install 'polos_nb[sandbox]')"
    if not _HOST:
        return "no Docker engine: run `bash scripts/setup_docker.sh` (writes .cache/docker.env)"
    try:
        client = docker.DockerClient(base_url=_HOST, timeout=20)
        client.ping()
        client.images.get(IMAGE)
    except Exception as exc:
        return f"the Docker engine at {_HOST} cannot run {IMAGE}: {exc}"
    return None


DOCKER_PROBLEM = _docker_problem()


@pytest.fixture(scope="session")
def docker_ready(_litellm_loaded: None) -> str:
    """The image name, once the engine is known to answer; skip (fail in CI) otherwise."""
    if DOCKER_PROBLEM:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the Docker tests, but {DOCKER_PROBLEM}", pytrace=False)
        pytest.skip(DOCKER_PROBLEM)
    return IMAGE


@pytest.fixture
def workspaces(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private POLOS_WORKSPACES_DIR for the test."""
    path = tmp_path / "workspaces"
    monkeypatch.setenv("POLOS_WORKSPACES_DIR", str(path))
    return path


class Ctx:
    """What a sandbox tool reads of a workflow context (for calling tools directly)."""

    def __init__(self, root: str, session_id: str | None = None) -> None:
        self.execution_id = root
        self.root_execution_id = root
        self.session_id = session_id


async def call(tool: Any, ctx: Any, **arguments: Any) -> Any:
    """Call a tool as the agent would, minus the journal."""
    return await tool.invoke(ctx, tool.parse_arguments(arguments))


def by_id(tools: list[Any]) -> dict[str, Any]:
    return {t.id: t for t in tools}


def our_containers() -> list[Any]:
    """polos_nb's containers on the test engine (all worktrees and processes share it)."""
    import docker

    client = docker.DockerClient(base_url=_HOST, timeout=20)
    for _ in range(20):
        try:
            return client.containers.list(all=True, filters={"label": "polos_nb.managed=true"})
        except docker.errors.NotFound:
            # The SDK inspects each listed container; one removed in between (by another
            # run ending) is gone: list again.
            time.sleep(0.05)
    return client.containers.list(all=True, filters={"label": "polos_nb.managed=true"})


@pytest.fixture
def no_leaks(docker_ready: str) -> Iterator[None]:
    """Fail a test that leaves containers of this process behind."""
    from polos_nb.sandbox._docker import LABEL_OWNER, owner_label

    me = owner_label()
    yield
    deadline = time.monotonic() + 30  # removal runs in the background once a run ends
    while True:
        left = [c.name for c in our_containers() if c.labels.get(LABEL_OWNER) == me]
        if not left or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert left == [], f"containers left behind: {left}"


@pytest.fixture(scope="session")
def _litellm_loaded() -> None:
    """litellm takes seconds to import: do it once, outside any test's deadlines."""
    from polos_nb.llm._litellm import _lit

    _lit()

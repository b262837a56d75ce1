"""The escape suite: every way out of the workspace, and every awkward input, is refused or
contained with a clear message — in Docker and on the host (table-driven).

Each case sets up the workspace, calls one tool as the model would, and checks either the
error (class and message) or what came back. The host file ``outside/secret.txt`` must
never be read, and ``outside/`` never written.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from polos_nb import (
    DockerEnvironmentConfig,
    ExecToolConfig,
    LocalEnvironmentConfig,
    SandboxToolsConfig,
    sandbox_tools,
)
from polos_nb.errors import SandboxFileError, SandboxPathError
from polos_nb.sandbox import get_sandbox_manager

from .conftest import Ctx, by_id, call

SECRET = "TOP SECRET host file"


@dataclass
class Case:
    id: str
    tool: str
    args: dict[str, Any]
    expect: type[BaseException] | Callable[[Any], None]
    match: str = ""
    setup: Callable[[Path, Path], None] | None = None
    envs: tuple[str, ...] = ("docker", "local")


def link(name: str, target: Callable[[Path, Path], Path]) -> Callable[[Path, Path], None]:
    def make(ws: Path, outside: Path) -> None:
        path = ws / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.is_symlink():
            os.symlink(target(ws, outside), path)

    return make


def files(**contents: bytes) -> Callable[[Path, Path], None]:
    def make(ws: Path, outside: Path) -> None:
        for name, data in contents.items():
            (ws / name.replace("__", "/")).parent.mkdir(parents=True, exist_ok=True)
            (ws / name.replace("__", "/")).write_bytes(data)

    return make


def no_secret(result: Any) -> None:
    assert SECRET not in repr(result)


def check_truncated_read(result: dict[str, Any]) -> None:
    # Cut at max_output_chars (1000 here; else at 2000 lines), with the way to read on.
    shown = result["lines"]
    assert 0 < shown < 2000 and result["total_lines"] == 50_000 and result["truncated"]
    assert len(result["content"]) <= 1000
    assert f"Showing lines 1-{shown} of 50000; call read with offset={shown}" in result["note"]


def check_range(result: dict[str, Any]) -> None:
    assert result["content"] == "line 10\nline 11"
    assert result["offset"] == 9


def check_non_utf8(result: dict[str, Any]) -> None:
    assert "caf\ufffd" in result["content"] and "not valid UTF-8" in result["note"]


def check_long_line(result: dict[str, Any]) -> None:
    assert len(result["content"]) < 3000 and "line cut: 1000000 characters" in result["content"]


def check_huge_output(result: dict[str, Any]) -> None:
    assert result["truncated"] is True
    assert len(result["stdout"]) < 2000  # max_output_chars=1000 plus the marker
    assert "truncated" in result["stdout"]


def check_timeout(result: dict[str, Any]) -> None:
    assert result["exit_code"] == 137 and "timeout of 2 s exceeded" in result["stderr"]


CASES = [
    # --- paths out of the workspace
    Case(
        "dotdot-read", "read", {"path": "../outside/secret.txt"}, SandboxPathError, "climbs above"
    ),
    Case(
        "dotdot-write",
        "write",
        {"path": "../outside/new.txt", "content": "x"},
        SandboxPathError,
        "climbs above",
    ),
    Case(
        "dotdot-deep",
        "read",
        {"path": "a/../../outside/secret.txt"},
        SandboxPathError,
        "climbs above",
    ),
    Case("absolute-read", "read", {"path": "/etc/passwd"}, SandboxPathError, "outside"),
    Case(
        "absolute-write",
        "write",
        {"path": "/tmp/pwned.txt", "content": "x"},
        SandboxPathError,
        "outside",
    ),
    Case(
        "symlink-file-read",
        "read",
        {"path": "leak.txt"},
        SandboxPathError,
        "symbolic link",
        setup=link("leak.txt", lambda ws, out: out / "secret.txt"),
    ),
    Case(
        "symlink-dir-read",
        "read",
        {"path": "door/secret.txt"},
        SandboxPathError,
        "symbolic link",
        setup=link("door", lambda ws, out: out),
    ),
    Case(
        "symlink-relative-read",
        "read",
        {"path": "rel.txt"},
        SandboxPathError,
        "climbs above",
        setup=link("rel.txt", lambda ws, out: Path("../outside/secret.txt")),
    ),
    Case(
        "symlink-write",
        "write",
        {"path": "wlink.txt", "content": "overwritten"},
        SandboxPathError,
        "symbolic link",
        setup=link("wlink.txt", lambda ws, out: out / "secret.txt"),
    ),
    Case(
        "symlink-edit",
        "edit",
        {"path": "elink.txt", "old_text": "TOP", "new_text": "X"},
        SandboxPathError,
        "symbolic link",
        setup=link("elink.txt", lambda ws, out: out / "secret.txt"),
    ),
    Case(
        "symlink-parent-write",
        "write",
        {"path": "wdoor/new.txt", "content": "x"},
        SandboxPathError,
        "symbolic link",
        setup=link("wdoor", lambda ws, out: out),
    ),
    Case("glob-cwd-out", "glob", {"pattern": "*", "cwd": ".."}, SandboxPathError, "climbs above"),
    Case("grep-cwd-out", "grep", {"pattern": "SECRET", "cwd": "/"}, SandboxPathError, "outside"),
    Case(
        "glob-not-through-links",
        "glob",
        {"pattern": "*.txt"},
        no_secret,
        setup=link("gdoor", lambda ws, out: out),
    ),
    Case(
        "grep-not-through-links",
        "grep",
        {"pattern": "TOP SECRET"},
        lambda r: (no_secret(r), None if r["matches"] == [] else pytest.fail(str(r))),
        setup=link("grdoor", lambda ws, out: out),
    ),
    Case("nul-in-path", "read", {"path": "a\x00b"}, SandboxPathError, "NUL"),
    Case(
        "link-loop",
        "read",
        {"path": "loop1"},
        SandboxPathError,
        "too many symbolic links",
        setup=lambda ws, out: (
            link("loop1", lambda w, o: Path("loop2"))(ws, out),
            link("loop2", lambda w, o: Path("loop1"))(ws, out),
        ),
    ),
    # --- missing, binary, non-UTF-8, long files
    Case("missing-read", "read", {"path": "nope.txt"}, SandboxFileError, "does not exist"),
    Case(
        "missing-edit",
        "edit",
        {"path": "nope.txt", "old_text": "a", "new_text": "b"},
        SandboxFileError,
        "does not exist",
    ),
    Case(
        "missing-dir",
        "glob",
        {"pattern": "*", "cwd": "no_such_dir"},
        SandboxFileError,
        "does not exist",
    ),
    Case(
        "directory-read",
        "read",
        {"path": "adir"},
        SandboxFileError,
        "is a directory",
        setup=files(adir__x=b"x"),
    ),
    Case(
        "fifo-read",
        "read",
        {"path": "pipe"},
        SandboxFileError,
        "not a regular file",
        setup=lambda ws, out: (ws / "pipe").exists() or os.mkfifo(ws / "pipe"),
    ),
    Case(
        "binary-read",
        "read",
        {"path": "blob.bin"},
        SandboxFileError,
        "binary file",
        setup=files(**{"blob.bin": b"\x7fELF\x00\x01\x02" * 100}),
    ),
    Case(
        "binary-edit",
        "edit",
        {"path": "blob2.bin", "old_text": "ELF", "new_text": "X"},
        SandboxFileError,
        "binary file",
        setup=files(**{"blob2.bin": b"\x7fELF\x00\x01"}),
    ),
    Case(
        "non-utf8-read",
        "read",
        {"path": "latin1.txt"},
        check_non_utf8,
        setup=files(**{"latin1.txt": "café\n".encode("latin-1")}),
    ),
    Case(
        "non-utf8-edit",
        "edit",
        {"path": "latin1b.txt", "old_text": "caf", "new_text": "x"},
        SandboxFileError,
        "not valid UTF-8",
        setup=files(**{"latin1b.txt": "café\n".encode("latin-1")}),
    ),
    Case(
        "long-file",
        "read",
        {"path": "long.txt"},
        check_truncated_read,
        setup=files(**{"long.txt": "".join(f"line {i}\n" for i in range(1, 50_001)).encode()}),
    ),
    Case(
        "range",
        "read",
        {"path": "long2.txt", "offset": 9, "limit": 2},
        check_range,
        setup=files(**{"long2.txt": "".join(f"line {i}\n" for i in range(1, 30)).encode()}),
    ),
    Case(
        "long-line",
        "read",
        {"path": "minified.js"},
        check_long_line,
        setup=files(**{"minified.js": b"x" * 1_000_000}),
    ),
    Case(
        "bad-offset",
        "read",
        {"path": "long2.txt", "offset": -1},
        SandboxFileError,
        "offset must be",
    ),
    # --- edit
    Case(
        "edit-missing-text",
        "edit",
        {"path": "e.py", "old_text": "nothere", "new_text": "x"},
        SandboxFileError,
        "not found",
        setup=files(**{"e.py": b"a = 1\na = 1\n"}),
    ),
    Case(
        "edit-ambiguous",
        "edit",
        {"path": "e2.py", "old_text": "a = 1", "new_text": "a = 2"},
        SandboxFileError,
        "occurs 2 times in 'e2.py' (at lines 1, 2)",
        setup=files(**{"e2.py": b"a = 1\na = 1\n"}),
    ),
    Case(
        "edit-whitespace-hint",
        "edit",
        {"path": "e3.py", "old_text": "if x:\n  y()", "new_text": "z"},
        SandboxFileError,
        "spaces and indentation",
        setup=files(**{"e3.py": b"if x:\n    y()\n"}),
    ),
    Case(
        "edit-empty-old",
        "edit",
        {"path": "e3.py", "old_text": "", "new_text": "z"},
        SandboxFileError,
        "old_text is empty",
    ),
    Case("bad-regex", "grep", {"pattern": "("}, SandboxFileError, "not a valid regular expression"),
    # --- commands
    Case("huge-output", "exec", {"command": "yes 0123456789"}, check_huge_output),
    Case("timeout", "exec", {"command": "sleep 30", "timeout": 2}, check_timeout),
    Case(
        "after-timeout-files-kept",
        "exec",
        {"command": "cat kept.txt"},
        lambda r: None if r["stdout"] == "still here" else pytest.fail(str(r)),
        setup=files(**{"kept.txt": b"still here"}),
    ),
    Case(
        "fork-bomb",
        "exec",
        {"command": "bomb() { bomb | bomb & }; bomb", "timeout": 5},
        lambda r: (
            None if "can't fork" in r["stderr"] or r["exit_code"] == 137 else pytest.fail(str(r))
        ),
        envs=("docker",),
    ),  # the pids limit stops it
    Case(
        "after-fork-bomb",
        "exec",
        {"command": "echo alive"},
        lambda r: None if r["stdout"] == "alive\n" else pytest.fail(str(r)),
        envs=("docker",),
    ),
    Case(
        "memory-limit",
        "exec",
        {"command": "python3 -c 'x = bytearray(600 * 2**20)'"},
        lambda r: None if r["exit_code"] == 137 else pytest.fail(str(r)),
        envs=("docker",),
    ),
    Case(
        "no-network",
        "exec",
        {
            "command": "python3 -c 'import socket; socket.create_connection((\"1.1.1.1\", 53), timeout=3)'"
        },
        lambda r: (
            None if r["exit_code"] != 0 and "unreachable" in r["stderr"] else pytest.fail(str(r))
        ),
        envs=("docker",),
    ),
    Case(
        "exec-cwd-out",
        "exec",
        {"command": "ls", "cwd": "../outside"},
        SandboxPathError,
        "climbs above",
        envs=("local",),
    ),
    Case(
        "secrets-not-passed",
        "exec",
        {"command": "env"},
        lambda r: (
            None
            if "POLOS_TEST_SECRET" not in r["stdout"] and "PATH=" in r["stdout"]
            else pytest.fail(str(r))
        ),
        envs=("local",),
    ),
]


def _prepare(ws: Path, outside: Path) -> None:
    outside.mkdir(exist_ok=True)
    (outside / "secret.txt").write_text(SECRET)


@pytest.fixture(scope="module")
def local_sandbox(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[dict[str, Any], Ctx, Path, Path]]:
    base = tmp_path_factory.mktemp("local-escape")
    ws, outside = base / "ws", base / "outside"
    ws.mkdir()
    _prepare(ws, outside)
    tools = sandbox_tools(
        SandboxToolsConfig(
            env="local",
            local=LocalEnvironmentConfig(cwd=str(ws), path_restriction=str(ws)),
            exec=ExecToolConfig(security="allow-always", max_output_chars=1000),
            file_approval="none",
        )
    )
    yield by_id(tools), Ctx("escape-local"), ws, outside
    get_sandbox_manager().root_finished("escape-local")


@pytest.fixture(scope="module")
def docker_sandbox(
    docker_ready: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[dict[str, Any], Ctx, Path, Path]]:
    base = tmp_path_factory.mktemp("docker-escape")
    ws, outside = base / "ws", base / "outside"
    ws.mkdir()
    _prepare(ws, outside)
    tools = sandbox_tools(
        SandboxToolsConfig(
            env="docker",
            docker=DockerEnvironmentConfig(
                image=docker_ready, workspace_dir=str(ws), memory="256m", pids_limit=64
            ),
            exec=ExecToolConfig(max_output_chars=1000),
        )
    )
    yield by_id(tools), Ctx("escape-docker"), ws, outside
    get_sandbox_manager().root_finished("escape-docker")


def _params() -> list[Any]:
    return [pytest.param(env, case, id=f"{env}-{case.id}") for case in CASES for env in case.envs]


@pytest.mark.parametrize(("env", "case"), _params())
def test_escape(env: str, case: Case, request: pytest.FixtureRequest) -> None:
    tools, ctx, ws, outside = request.getfixturevalue(f"{env}_sandbox")
    monkeypatch = request.getfixturevalue("monkeypatch")
    monkeypatch.setenv("POLOS_TEST_SECRET", "sk-do-not-leak")
    if case.setup:
        case.setup(ws, outside)
    before = sorted(p.name for p in outside.iterdir())

    async def go() -> Any:
        return await call(tools[case.tool], ctx, **case.args)

    if isinstance(case.expect, type):
        with pytest.raises(case.expect) as info:
            asyncio.run(go())
        assert case.match in str(info.value)
        assert SECRET not in str(info.value)
    else:
        result = asyncio.run(go())
        case.expect(result)
        no_secret(result)
    assert (outside / "secret.txt").read_text() == SECRET
    assert sorted(p.name for p in outside.iterdir()) == before
    assert not Path("/tmp/pwned.txt").exists()

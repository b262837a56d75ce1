"""The environments' own API (upstream's ExecutionEnvironment): exec with cwd, env and stdin;
read_file / write_file / file_exists / glob / grep; the same answers in Docker and locally."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from polos_nb import (
    DockerEnvironmentConfig,
    ExecOptions,
    GlobOptions,
    GrepOptions,
    LocalEnvironment,
    LocalEnvironmentConfig,
)
from polos_nb.errors import SandboxFileError, SandboxPathError, UserError


def _local(ws: Path) -> LocalEnvironment:
    return LocalEnvironment(LocalEnvironmentConfig(cwd=str(ws)))


def _docker(ws: Path, image: str) -> object:
    from polos_nb import DockerEnvironment

    return DockerEnvironment(
        DockerEnvironmentConfig(image=image, workspace_dir=str(ws), env={"GREETING": "hi"}),
        name="env-test",
    )


@pytest.mark.parametrize("kind", ["local", "docker"])
def test_environment_api(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    if kind == "docker":
        env = _docker(ws, request.getfixturevalue("docker_ready"))
        request.getfixturevalue("no_leaks")
    else:
        env = _local(ws)

    async def go() -> None:
        await env.initialize({"polos_nb.test": "1"})  # type: ignore[attr-defined]
        try:
            await env.write_file("src/a.py", "print('a')\n# TODO one\n")  # type: ignore[attr-defined]
            await env.write_file("src/deep/b.py", "x = 1  # TODO two\n")  # type: ignore[attr-defined]
            assert await env.file_exists("src/a.py")  # type: ignore[attr-defined]
            assert not await env.file_exists("src/none.py")  # type: ignore[attr-defined]
            assert await env.read_file("src/a.py") == "print('a')\n# TODO one\n"  # type: ignore[attr-defined]
            cwd = env.get_cwd()  # type: ignore[attr-defined]
            files = await env.glob("*.py")  # type: ignore[attr-defined]
            assert files == [f"{cwd}/src/a.py", f"{cwd}/src/deep/b.py"]
            for ignore in ("deep", "**/deep/**"):  # a directory's name, or a path pattern
                assert await env.glob("src/**/*.py", GlobOptions(ignore=[ignore])) == [  # type: ignore[attr-defined]
                    f"{cwd}/src/a.py"
                ]
            matches = await env.grep("TODO", GrepOptions(include=["*.py"], context_lines=1))  # type: ignore[attr-defined]
            assert [(m.path, m.line) for m in matches] == [
                (f"{cwd}/src/a.py", 2),
                (f"{cwd}/src/deep/b.py", 1),
            ]
            assert matches[0].context == "1: print('a')\n2: # TODO one"
            r = await env.exec(  # type: ignore[attr-defined]
                "cat; echo; pwd; echo $WHO", ExecOptions(cwd="src", env={"WHO": "me"}, stdin="in")
            )
            assert r.exit_code == 0 and r.stdout == f"in\n{cwd}/src\nme\n"
            r = await env.exec("echo oops >&2; exit 3")  # type: ignore[attr-defined]
            assert (r.exit_code, r.stdout, r.stderr) == (3, "", "oops\n")
            r = await env.exec("printf '\\033[31mred\\033[0m'")  # type: ignore[attr-defined]
            assert r.stdout == "red"  # ANSI codes stripped
            r = await env.exec("(sleep 30 &) ; echo started")  # type: ignore[attr-defined]
            assert r.stdout == "started\n" and r.duration_ms < 20_000  # no wait for the child
            if kind == "docker":
                assert (await env.exec("echo $GREETING")).stdout == "hi\n"  # type: ignore[attr-defined]
                info = env.get_info()  # type: ignore[attr-defined]
                assert info.type == "docker" and info.sandbox_id
            with pytest.raises(SandboxPathError):
                await env.read_file("../x")  # type: ignore[attr-defined]
            with pytest.raises(SandboxFileError, match="binary"):
                (ws / "bin").write_bytes(b"\x00\x01")
                await env.read_file("bin")  # type: ignore[attr-defined]
        finally:
            await env.destroy()  # type: ignore[attr-defined]

    asyncio.run(go())
    assert (ws / "src" / "a.py").exists()  # destroy never removes the workspace


def test_local_cwd_must_be_inside_the_restriction(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    env = LocalEnvironment(
        LocalEnvironmentConfig(cwd=str(tmp_path / "a"), path_restriction=str(tmp_path / "b"))
    )
    with pytest.raises(UserError, match="outside path_restriction"):
        asyncio.run(env.initialize())

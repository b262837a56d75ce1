"""polos_nb sandbox benchmark: per-call overhead of each sandbox tool, in Docker and on
the host, against doing the same thing directly.

Run with ``.venv/bin/python bench/bench_sandbox.py`` (``--quick`` for fewer rounds) after
``bash scripts/setup_docker.sh``. It prints a table and writes docs/benchmarks-sandbox.md.

Each tool is called the way the agent calls it (``tool.invoke(ctx, arguments)``, without
the journal: the engine's cost per step is in docs/benchmarks-agents.md), on a sandbox
that already exists. Its median time is compared, side by side in the same run, with the
same work done directly:

* ``exec`` (``true``, ``echo``): in Docker, a ``docker exec`` through the same SDK
  (exec_create + exec_start + exec_inspect, no tool layer) and the ``docker exec`` CLI;
  locally, ``subprocess.run(["sh", "-c", ...])``.
* ``read`` / ``write`` / ``edit``: Python's ``open()`` on the same host file (the Docker
  workspace is a bind mount, so file tools work on the host side in both environments).
* ``glob`` / ``grep``: ``pathlib.rglob`` and a ``re`` scan over the same 200-file tree.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from polos_nb import (  # noqa: E402
    DockerEnvironmentConfig,
    ExecToolConfig,
    LocalEnvironmentConfig,
    SandboxToolsConfig,
    sandbox_tools,
)
from polos_nb.sandbox import get_sandbox_manager  # noqa: E402
from polos_nb.sandbox._docker import docker_client, docker_host  # noqa: E402

IMAGE = os.environ.get("POLOS_SANDBOX_TEST_IMAGE", "polos-nb-sandbox:py3")


class Ctx:
    def __init__(self, root: str) -> None:
        self.execution_id = self.root_execution_id = root
        self.session_id = None


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


async def timed_async(fn: Callable[[], Awaitable[Any]], n: int) -> float:
    await fn()  # warm
    samples = []
    for _ in range(n):
        t = time.perf_counter()
        await fn()
        samples.append(time.perf_counter() - t)
    return median_ms(samples)


def timed(fn: Callable[[], Any], n: int) -> float:
    fn()
    samples = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t)
    return median_ms(samples)


def make_tree(ws: Path) -> None:
    for d in range(10):
        for f in range(20):
            p = ws / "src" / f"pkg{d}" / f"mod{f}.py"
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text("".join(f"def f{i}(x):\n    return x + {i}  # TODO\n" for i in range(50)))
    (ws / "notes.txt").write_text("".join(f"line {i}\n" for i in range(1000)))


async def bench_env(
    env: str, ws: Path, n_exec: int, n_file: int
) -> list[tuple[str, float, float, str]]:
    if env == "docker":
        config = SandboxToolsConfig(
            env="docker",
            docker=DockerEnvironmentConfig(image=IMAGE, workspace_dir=str(ws)),
        )
    else:
        config = SandboxToolsConfig(
            env="local",
            local=LocalEnvironmentConfig(cwd=str(ws)),
            exec=ExecToolConfig(security="allow-always"),
            file_approval="none",
        )
    tools = {t.id: t for t in sandbox_tools(config)}
    ctx = Ctx(f"bench-{env}")

    def tool(name: str, **args: Any) -> Callable[[], Awaitable[Any]]:
        parsed = tools[name].parse_arguments(args)
        return lambda: tools[name].invoke(ctx, parsed)

    await tool("exec", command="true")()  # create the sandbox (not measured)
    rows: list[tuple[str, float, float, str]] = []
    if env == "docker":
        sandbox = next(
            s for s in get_sandbox_manager().sandboxes() if s.scope_key == f"run-bench-{env}"
        )
        container = sandbox._env._container  # type: ignore[union-attr]
        api = docker_client().api

        def sdk_exec(cmd: str) -> None:
            exec_id = api.exec_create(container.id, ["/bin/sh", "-c", cmd])["Id"]
            api.exec_start(exec_id)
            api.exec_inspect(exec_id)

        cli = shutil.which("docker")
        env_vars = {**os.environ, "DOCKER_HOST": docker_host()}
        for cmd in ("true", "echo hello"):
            t_tool = await timed_async(tool("exec", command=cmd), n_exec)
            t_sdk = timed(lambda cmd=cmd: sdk_exec(cmd), n_exec)
            rows.append((f"exec `{cmd}`", t_tool, t_sdk, "docker SDK exec"))
            if cli:
                t_cli = timed(
                    lambda cmd=cmd: subprocess.run(
                        [cli, "exec", container.name, "sh", "-c", cmd],
                        env=env_vars,
                        capture_output=True,
                        check=True,
                    ),
                    max(5, n_exec // 3),
                )
                rows.append((f"exec `{cmd}`", t_tool, t_cli, "`docker exec` CLI"))
    else:
        for cmd in ("true", "echo hello"):
            t_tool = await timed_async(tool("exec", command=cmd), n_exec)
            t_direct = timed(
                lambda cmd=cmd: subprocess.run(["sh", "-c", cmd], cwd=ws, capture_output=True),
                n_exec,
            )
            rows.append((f"exec `{cmd}`", t_tool, t_direct, "subprocess.run"))

    notes = ws / "notes.txt"
    rows.append(
        (
            "read (1000 lines)",
            await timed_async(tool("read", path="notes.txt"), n_file),
            timed(lambda: notes.read_text().splitlines(), n_file),
            "open().read()",
        )
    )
    rows.append(
        (
            "write (1 KiB)",
            await timed_async(tool("write", path="out.txt", content="x" * 1024), n_file),
            timed(lambda: (ws / "out2.txt").write_text("x" * 1024), n_file),
            "open().write()",
        )
    )
    (ws / "e.py").write_text("value = 0\n" * 1 + "rest\n" * 200)
    flip = [0]

    async def edit() -> Any:
        old, new = ("value = 0", "value = 1") if flip[0] % 2 == 0 else ("value = 1", "value = 0")
        flip[0] += 1
        return await tools["edit"].invoke(
            ctx, tools["edit"].parse_arguments({"path": "e.py", "old_text": old, "new_text": new})
        )

    def edit_direct() -> None:
        p = ws / "e2.py"
        if not p.exists():
            p.write_text("value = 0\n" + "rest\n" * 200)
        text = p.read_text()
        p.write_text(
            text.replace("value = 0", "value = 1", 1)
            if "value = 0" in text
            else text.replace("value = 1", "value = 0", 1)
        )

    rows.append(
        (
            "edit (201 lines)",
            await timed_async(edit, n_file),
            timed(edit_direct, n_file),
            "read + replace + write",
        )
    )
    rows.append(
        (
            "glob `*.py` (200 files)",
            await timed_async(tool("glob", pattern="*.py"), n_file // 4),
            timed(lambda: sorted(ws.rglob("*.py")), n_file // 4),
            "pathlib.rglob",
        )
    )
    regex = re.compile("TODO")

    def grep_direct() -> int:
        found = 0
        for p in sorted(ws.rglob("*.py")):
            for line in p.read_text().splitlines():
                if regex.search(line):
                    found += 1
                    if found >= 100:
                        return found
        return found

    rows.append(
        (
            "grep `TODO` (first 100 matches)",
            await timed_async(tool("grep", pattern="TODO"), n_file // 4),
            timed(grep_direct, n_file // 4),
            "re scan of the files",
        )
    )
    get_sandbox_manager().root_finished(f"bench-{env}")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--no-write", action="store_true", help="do not update docs/")
    opts = parser.parse_args()
    n_exec, n_file = (10, 40) if opts.quick else (40, 200)
    started = time.time()
    results: dict[str, list[tuple[str, float, float, str]]] = {}
    for env in ("docker", "local"):
        ws = Path(tempfile.mkdtemp(prefix=f"polos-bench-{env}-"))
        try:
            make_tree(ws)
            results[env] = asyncio.run(bench_env(env, ws, n_exec, n_file))
        finally:
            shutil.rmtree(ws, ignore_errors=True)
    load = "/".join(f"{x:.1f}" for x in os.getloadavg())
    lines = [
        "# Sandbox tool benchmarks",
        "",
        f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} with "
        f"`.venv/bin/python bench/bench_sandbox.py{' --quick' if opts.quick else ''}` "
        f"({time.time() - started:.0f} s; load average {load} on {os.cpu_count()} cores; "
        f"{n_exec} exec calls and {n_file} file calls per figure, medians). "
        "See the script's docstring for what each figure measures.",
        "",
    ]
    for env, rows in results.items():
        lines += [
            f"## {'Docker (`polos-nb-sandbox:py3`)' if env == 'docker' else 'Local (host)'}",
            "",
            "| Call | Tool | Direct | Direct means | Tool overhead |",
            "|---|---|---|---|---|",
        ]
        for name, t_tool, t_direct, what in rows:
            lines.append(
                f"| {name} | {t_tool:.2f} ms | {t_direct:.2f} ms | {what} | "
                f"{t_tool - t_direct:+.2f} ms ({t_tool / t_direct:.1f}x) |"
            )
        lines.append("")
    text = "\n".join(lines)
    print(text)
    if not opts.no_write:
        (ROOT / "docs" / "benchmarks-sandbox.md").write_text(text)


if __name__ == "__main__":
    main()

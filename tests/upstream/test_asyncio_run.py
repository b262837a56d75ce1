"""Gap 9: ``asyncio.run(main())`` in a notebook cell (kernel-level proof: test_projects.py).

Here: the cell rewrite itself, the approval links' Jupyter base, and the engine's loop
staying stock when the kernel's loop is made re-entrant.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from polos_nb.notebook._asyncio_run import jupyter_server_url, rewrite_asyncio_run

ROOT = Path(__file__).resolve().parents[2]


def rewrite(source: str) -> str:
    return "".join(rewrite_asyncio_run(source.splitlines(keepends=True)))


def test_top_level_asyncio_run_becomes_an_await() -> None:
    main_py = textwrap.dedent(
        """\
        import asyncio

        async def main():
            print("é")  # non-ASCII before the call moves byte offsets
            return asyncio.run(other())  # inside a function: left alone

        if __name__ == "__main__":
            result = asyncio.run(main(), debug=False)
        """
    )
    out = rewrite(main_py)
    assert "return asyncio.run(other())" in out
    assert 'result = (await __import__("polos_nb.notebook._asyncio_run"' in out
    assert out.rstrip().endswith(".run_in_cell(main(), debug=False))")
    # still Python, with a top-level await: what IPython runs as an async cell
    code = compile(out, "<cell>", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    assert code.co_flags & 0x80  # CO_COROUTINE


@pytest.mark.parametrize(
    "cell",
    [
        "x = 1\n",
        "asyncio.run(\n",  # a syntax error: IPython reports it, not us
        "f = lambda: asyncio.run(main())\n",
        "[asyncio.run(m) for m in mains]\n",
        "class A:\n    v = asyncio.run(main())\n",
        "loop.run(main())\n",
    ],
)
def test_other_cells_are_left_alone(cell: str) -> None:
    assert rewrite(cell) == cell


def test_jupyter_server_url_comes_from_the_runtime_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path))
    monkeypatch.setenv("JPY_PARENT_PID", "4242")
    assert jupyter_server_url() is None  # no server file
    (tmp_path / "jpserver-4242.json").write_text(
        json.dumps({"url": "http://127.0.0.1:8890/", "base_url": "/user/ada/", "pid": 4242})
    )
    assert jupyter_server_url() == "http://127.0.0.1:8890/user/ada"
    (tmp_path / "jpserver-4242.json").write_text(
        json.dumps({"url": "http://127.0.0.1:8890/user/ada/", "base_url": "/user/ada/"})
    )
    assert jupyter_server_url() == "http://127.0.0.1:8890/user/ada"
    monkeypatch.delenv("JPY_PARENT_PID")
    assert jupyter_server_url() is None


def test_the_engine_loop_stays_stock_when_asyncio_is_made_reentrant(tmp_path: Path) -> None:
    # In a fresh process: nest_asyncio2 patches the loop class of a running loop (as in a
    # kernel); the engine's own loop keeps asyncio's scheduling and still runs workflows.
    script = textwrap.dedent(
        f"""
        import asyncio
        import nest_asyncio2
        from polos_nb import PolosClient, WorkflowContext, workflow

        @workflow(id="twice")
        async def twice(ctx: WorkflowContext, payload: dict) -> int:
            return await ctx.step.run("double", lambda: payload["n"] * 2)

        async def main():
            nest_asyncio2.apply(asyncio.get_running_loop())
            patched = type(asyncio.get_running_loop())._run_once
            client = PolosClient(journal={str(tmp_path / "j.duckdb")!r})
            loop = client.runtime.loop
            assert type(loop)._run_once is asyncio.BaseEventLoop._run_once
            assert type(loop)._run_once is not patched
            print("RESULT", await twice.run(client, {{"n": 21}}, timeout=60))
            client.close()

        asyncio.run(main())
        """
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT), "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, env=env
    )
    assert proc.returncode == 0, proc.stderr
    assert "RESULT 42" in proc.stdout

"""``asyncio.run(main())`` in a notebook cell: upstream's ``main.py``, pasted into a cell, runs.

A Jupyter kernel runs every cell inside its own running event loop, so the last line of
every upstream example, ``asyncio.run(main())``, raises there ("cannot be called from a
running event loop"). Once polos_nb is imported in a kernel (``import polos_nb``, ``from
polos_nb import ...`` or ``%load_ext polos_nb``), it is handled in two ways, each used
only where it is needed:

1. **A cell that calls ``asyncio.run(...)`` at its top level** (also inside ``if
   __name__ == "__main__":``) is rewritten before it runs: ``asyncio.run(x)`` becomes
   an ``await`` of ``x`` on the kernel's loop, so the cell is an async cell. While it
   waits, the kernel keeps handling widget messages (ipykernel ≥ 7.4 dispatches comm
   messages to a waiting async cell), so approval forms stay clickable (decision 1 in docs/architecture.md).
   Nothing else in the cell changes; cells without ``asyncio.run`` are left alone.
2. **Any other call of ``asyncio.run`` from inside the kernel's running loop** — the cell
   that imports polos_nb for the first time and calls ``asyncio.run`` itself, or a
   helper function that calls it — runs ``main`` to completion on the kernel's loop,
   re-entered with ``nest_asyncio2`` (applied then, and only then). Such a cell blocks
   like a script: ``print`` and ``input()`` work, but widget clicks wait until it
   returns; run the cell again (or import polos_nb in an earlier cell) to get the async
   path above.

Outside a kernel (scripts, ``python main.py``), and in a kernel's other threads,
``asyncio.run`` is the standard one.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import json
import os
import sys
import threading
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

__all__ = ["install", "jupyter_server_url", "rewrite_asyncio_run", "run_in_cell"]

_ORIGINAL_RUN = asyncio.run
_INSTALLED: dict[str, Any] = {}
_HELPER = '__import__("polos_nb.notebook._asyncio_run", fromlist=["run_in_cell"]).run_in_cell'


def _kernel_shell() -> Any:
    """The ipykernel shell of this process, or ``None`` (never imports IPython itself)."""
    if "ipykernel" not in sys.modules or "IPython" not in sys.modules:
        return None
    try:
        from IPython import get_ipython
    except Exception:
        return None
    shell = get_ipython()
    if shell is None or getattr(shell, "kernel", None) is None:
        return None
    return shell


def install(shell: Any = None) -> bool:
    """Handle ``asyncio.run`` in this kernel (see the module docs). Idempotent.

    Returns False (and changes nothing) outside an ipykernel.
    """
    shell = shell if shell is not None else _kernel_shell()
    if shell is None or getattr(shell, "kernel", None) is None:
        return False
    if asyncio.run is not _patched_run:
        asyncio.run = _patched_run
    transformers = shell.input_transformers_post
    if rewrite_asyncio_run not in transformers:
        transformers.append(rewrite_asyncio_run)
    _INSTALLED["thread"] = threading.current_thread()
    _record_approval_base()
    return True


# ---------------------------------------------------------------------- 1. rewriting cells
class _Finder(ast.NodeVisitor):
    """Top-level ``asyncio.run(...)`` calls: not inside functions, classes or lambdas."""

    def __init__(self) -> None:
        self.calls: list[ast.Call] = []

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        return None

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> None:
        return None

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        return None

    def visit_Lambda(self, node: ast.Lambda) -> None:
        return None

    def _comprehension(self, node: ast.AST) -> None:
        return None  # await in a comprehension is not top-level await

    visit_ListComp = visit_SetComp = visit_DictComp = visit_GeneratorExp = _comprehension

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        if (
            isinstance(func, ast.Attribute)
            and func.attr == "run"
            and isinstance(func.value, ast.Name)
            and func.value.id == "asyncio"
        ):
            self.calls.append(node)
            return  # an asyncio.run inside the arguments stays as it is
        self.generic_visit(node)


def rewrite_asyncio_run(lines: list[str]) -> list[str]:
    """IPython input transformer: ``asyncio.run(x)`` at a cell's top level → ``await`` of ``x``."""
    source = "".join(lines)
    if "asyncio.run" not in source:
        return lines
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return lines
    finder = _Finder()
    finder.visit(tree)
    if not finder.calls:
        return lines
    starts = [0]
    for line in source.splitlines(keepends=True):
        starts.append(starts[-1] + len(line))
    encoded = source.splitlines(keepends=True)

    def offset(lineno: int, col: int) -> int:  # ast columns are UTF-8 byte offsets
        text = encoded[lineno - 1].encode("utf-8")[:col].decode("utf-8", errors="ignore")
        return starts[lineno - 1] + len(text)

    out = source
    for call in sorted(finder.calls, key=lambda c: (c.lineno, c.col_offset), reverse=True):
        assert call.end_lineno is not None and call.end_col_offset is not None
        func = call.func
        assert func.end_lineno is not None and func.end_col_offset is not None
        begin = offset(call.lineno, call.col_offset)
        args_begin = offset(func.end_lineno, func.end_col_offset)
        end = offset(call.end_lineno, call.end_col_offset)
        out = out[:begin] + f"(await {_HELPER}{out[args_begin:end]})" + out[end:]
    return out.splitlines(keepends=True)


async def run_in_cell(main: Any, *, debug: bool | None = None, **_: Any) -> Any:
    """What a rewritten ``asyncio.run(main)`` awaits: ``main`` as a task on the kernel loop."""
    if not asyncio.iscoroutine(main):
        raise ValueError(f"a coroutine was expected, got {main!r}")
    if debug is not None:
        asyncio.get_running_loop().set_debug(debug)
    return await asyncio.ensure_future(main)


# ---------------------------------------------------------------------- 2. nested runs
def _patched_run(
    main: Coroutine[Any, Any, Any], *, debug: bool | None = None, **kwargs: Any
) -> Any:
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return _ORIGINAL_RUN(main, debug=debug, **kwargs)
    if threading.current_thread() is not _INSTALLED.get("thread"):
        return _ORIGINAL_RUN(main, debug=debug, **kwargs)  # raises as usual
    return _run_nested(loop, main, debug)


def _run_nested(loop: asyncio.AbstractEventLoop, main: Any, debug: bool | None) -> Any:
    if not asyncio.iscoroutine(main):
        raise ValueError(f"a coroutine was expected, got {main!r}")
    import nest_asyncio2

    nest_asyncio2.apply(loop)  # makes the kernel's loop re-entrant (once)
    asyncio.run = _patched_run  # apply() installs its own
    if debug is not None:
        loop.set_debug(debug)
    task = loop.create_task(main)
    try:
        return loop.run_until_complete(task)
    finally:
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                loop.run_until_complete(task)


# ---------------------------------------------------------------------- approval links
def jupyter_server_url() -> str | None:
    """The URL (with its base path) of the Jupyter server that started this kernel, if known."""
    pid = os.environ.get("JPY_PARENT_PID")
    if not pid:
        return None
    try:
        from jupyter_core.paths import jupyter_runtime_dir

        info = json.loads((Path(jupyter_runtime_dir()) / f"jpserver-{pid}.json").read_text())
    except Exception:
        return None
    url = info.get("url")
    if not isinstance(url, str) or "://" not in url:
        return None
    base = str(info.get("base_url") or "/")
    if not url.rstrip("/").endswith(base.rstrip("/")):
        url = url.rstrip("/") + base
    return url.rstrip("/")


def _record_approval_base() -> None:
    url = jupyter_server_url()
    if url:
        from polos_nb.engine import set_approval_base_url

        set_approval_base_url(url)

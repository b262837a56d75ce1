"""docs/benchmarks.md is shared by several bench scripts: each owns one marked section.

A section runs from ``<!-- NAME:start -->`` to ``<!-- NAME:end -->``; a script rewrites its
own section in place (or appends it) and leaves the others as they are.
"""

from __future__ import annotations

import re
from pathlib import Path

DOC = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"
_SECTION = re.compile(r"<!-- (\w+):start -->.*?<!-- \1:end -->", re.S)


def write_section(name: str, lines: list[str], path: Path = DOC) -> None:
    """Put ``lines`` into the ``name`` section of ``path`` (markers added here)."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    block = "\n".join([start, *lines, end])
    text = path.read_text() if path.exists() else "# polos_nb benchmarks\n"
    if start in text and end in text:
        head, rest = text.split(start, 1)
        text = head + block + rest.split(end, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    path.write_text(text)


def sections(text: str) -> list[str]:
    """Every marked section of ``text``, markers included, in order."""
    return [m.group(0) for m in _SECTION.finditer(text)]

"""Every design reference in the code points into this repository.

Docstrings and tests cite the durability rules (D1-D22) and the decisions; both are written
in docs/architecture.md. A citation of a rule that page does not define, or of a document
outside the repository, fails here.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ARCHITECTURE = ROOT / "docs" / "architecture.md"
SOURCES = [
    *sorted((ROOT / "polos_nb").rglob("*.py")),
    *sorted((ROOT / "tests").rglob("*.py")),
    *sorted((ROOT / "docs").glob("*.md")),
    *sorted((ROOT / "bench").glob("*.py")),
    ROOT / "README.md",
]
OUTSIDE = re.compile(r"ARCHITECTURE\.md|SEMANTICS\.md|\.\./shared|style rule R\d+|style-anchors")


def test_every_cited_durability_rule_is_defined() -> None:
    defined = set(re.findall(r"\*\*D(\d+)\.\*\*", ARCHITECTURE.read_text()))
    assert defined == {str(n) for n in range(1, 23)}
    for path in SOURCES:
        for number in re.findall(r"\bD(\d{1,2})\b", path.read_text(errors="replace")):
            assert number in defined, f"{path.relative_to(ROOT)} cites D{number}, not defined"


def test_no_reference_leaves_the_repository() -> None:
    this = Path(__file__).resolve()
    for path in SOURCES:
        if path.resolve() == this:
            continue
        for line_no, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            assert not OUTSIDE.search(line), f"{path.relative_to(ROOT)}:{line_no}: {line.strip()}"

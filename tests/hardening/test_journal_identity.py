"""One journal file, one engine: every way of naming the same file reaches the same engine.

A second engine on the same file would run pending steps twice and lose one engine's
commits, so the identity of a journal is the file itself (device and inode), never the
path string. Each row names the file a different way; a case-insensitive file system's
"other case" is one file with two names, which a hard link reproduces on any file system.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from polos_nb import JournalLockedError, PolosClient, WorkflowContext, workflow
from polos_nb.engine.journal import DuckDBJournal
from tests.engine.helpers import wait_status


def _symlink(real: Path, tmp: Path) -> str:
    link = tmp / "link.duckdb"
    link.symlink_to(real)
    return str(link)


def _dir_symlink(real: Path, tmp: Path) -> str:
    linked_dir = tmp / "linked_dir"
    linked_dir.symlink_to(real.parent, target_is_directory=True)
    return str(linked_dir / real.name)


def _hard_link(real: Path, tmp: Path) -> str:
    other = tmp / "hard.duckdb"
    os.link(real, other)
    return str(other)


def _other_case(real: Path, tmp: Path) -> str:
    # What a case-insensitive file system (macOS, Windows) does: another case, same file.
    other = real.with_name(real.name.upper())
    os.link(real, other)
    return str(other)


def _relative(real: Path, tmp: Path) -> str:
    os.chdir(real.parent)
    return os.path.join(".", real.name)


def _dotdot(real: Path, tmp: Path) -> str:
    (real.parent / "sub").mkdir()
    return str(real.parent / "sub" / ".." / real.name)


ALIASES: list[tuple[str, Callable[[Path, Path], str]]] = [
    ("symlink to the file", _symlink),
    ("symlink to its directory", _dir_symlink),
    ("hard link", _hard_link),
    ("another case of the name", _other_case),
    ("relative ./ path", _relative),
    ("path with ..", _dotdot),
]


@pytest.fixture
def files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    monkeypatch.chdir(tmp_path)
    home = tmp_path / "journals"
    home.mkdir()
    return home / "j.duckdb", tmp_path


@pytest.mark.parametrize(("what", "alias"), ALIASES, ids=[a[0] for a in ALIASES])
async def test_every_name_of_a_journal_reaches_one_engine(
    files: tuple[Path, Path], what: str, alias: Callable[[Path, Path], str]
) -> None:
    real, tmp = files
    calls: list[str] = []
    wf_id = f"identity_{uuid.uuid4().hex[:8]}"

    @workflow(id=wf_id)
    async def flow(ctx: WorkflowContext) -> str:
        await ctx.step.run("charge", lambda: calls.append(ctx.execution_id))
        answer = await ctx.step.suspend("approve")
        return str(answer.data)

    first = PolosClient(journal=real)
    try:
        handle = await flow.invoke(first)
        await wait_status(first, handle.id, "waiting")
        second = PolosClient(journal=alias(real, tmp))
        try:
            assert second.runtime is first.runtime, f"{what}: a second engine was opened"
            await second.resume(None, handle.id, "approve", {"ok": 1})
            assert await second.wait_for_result(handle.id, timeout=20) == "{'ok': 1}"
        finally:
            second.close()
        # The first client still works: closing the second did not close the shared engine.
        assert (await first.get_execution(handle.id)).status == "completed"
    finally:
        first.close()
    assert calls == [handle.id], f"{what}: the step ran {len(calls)} times"


@pytest.mark.parametrize(("what", "alias"), ALIASES, ids=[a[0] for a in ALIASES])
def test_a_second_journal_object_on_the_same_file_is_refused(
    files: tuple[Path, Path], what: str, alias: Callable[[Path, Path], str]
) -> None:
    real, tmp = files
    journal = DuckDBJournal(str(real))
    try:
        name = alias(real, tmp)
        with pytest.raises(JournalLockedError, match="already open in this process") as info:
            DuckDBJournal(name)
        assert info.value.pid == os.getpid()
    finally:
        journal.close()
    DuckDBJournal(str(real)).close()  # closed: the file can be opened again


async def test_a_journal_not_created_yet_is_one_engine_under_two_names(
    files: tuple[Path, Path],
) -> None:
    real, tmp = files
    link_dir = tmp / "via_link"
    link_dir.symlink_to(real.parent, target_is_directory=True)
    assert not real.exists()
    first = PolosClient(journal=link_dir / real.name)  # creates the file through the link
    try:
        second = PolosClient(journal=real)
        try:
            assert second.runtime is first.runtime
        finally:
            second.close()
    finally:
        first.close()

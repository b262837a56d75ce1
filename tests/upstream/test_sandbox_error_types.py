"""Upstream code catches the built-in exceptions upstream's environments raise; polos_nb's
sandbox errors are those types too (and stay in polos_nb's own error tree).

Upstream's local and Docker environments raise ``FileNotFoundError`` reading a missing file,
``ValueError`` for a binary file, and ``RuntimeError`` when the environment itself cannot be
used; polos_nb raises ``SandboxFileNotFoundError``, ``SandboxFileError`` and
``SandboxError``, which are each of those.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from polos_nb import LocalEnvironment, LocalEnvironmentConfig, PolosError
from polos_nb.errors import SandboxError, SandboxFileError, SandboxFileNotFoundError


async def test_reading_a_missing_file_raises_file_not_found(tmp_path: Path) -> None:
    env = LocalEnvironment(LocalEnvironmentConfig(cwd=str(tmp_path)))
    try:
        await env.read_file("missing.txt")
    except FileNotFoundError as exc:  # as upstream code writes it
        assert isinstance(exc, SandboxFileNotFoundError) and isinstance(exc, PolosError)
        assert "missing.txt" in str(exc) and "does not exist" in str(exc)
    else:
        pytest.fail("no error for a missing file")
    with pytest.raises(FileNotFoundError):  # a missing folder on the way too
        await env.read_file("nowhere/missing.txt")


async def test_a_binary_file_raises_value_error(tmp_path: Path) -> None:
    (tmp_path / "blob.bin").write_bytes(b"\x00\x01\x02binary\x00")
    env = LocalEnvironment(LocalEnvironmentConfig(cwd=str(tmp_path)))
    with pytest.raises(ValueError, match="binary") as info:
        await env.read_file("blob.bin")
    assert isinstance(info.value, SandboxFileError)
    assert not isinstance(info.value, FileNotFoundError)


async def test_an_unusable_environment_raises_runtime_error(tmp_path: Path) -> None:
    env = LocalEnvironment(LocalEnvironmentConfig(cwd=str(tmp_path / "gone")))
    with pytest.raises(RuntimeError) as info:
        await env.initialize()
    assert isinstance(info.value, SandboxError)


async def test_a_path_outside_the_restriction_raises_value_error(tmp_path: Path) -> None:
    from polos_nb.errors import SandboxPathError

    env = LocalEnvironment(LocalEnvironmentConfig(cwd=str(tmp_path)))
    with pytest.raises(ValueError, match="[Pp]ath traversal") as info:
        await env.write_file("../evil.txt", "bad")
    assert isinstance(info.value, SandboxPathError) and isinstance(info.value, PermissionError)
    assert not (tmp_path.parent / "evil.txt").exists()
    (tmp_path / "cwd-file").write_text("x")
    env = LocalEnvironment(LocalEnvironmentConfig(cwd=str(tmp_path / "cwd-file")))
    with pytest.raises(RuntimeError, match="not a directory"):
        await env.initialize()


async def test_writing_then_editing_a_new_file_is_not_a_missing_file(tmp_path: Path) -> None:
    env = LocalEnvironment(LocalEnvironmentConfig(cwd=str(tmp_path)))
    await env.write_file("new/dir/a.txt", "hello")  # folders made on the way
    assert await env.read_file("new/dir/a.txt") == "hello"

"""Paths inside a sandbox: resolved component by component, links included, never outside.

A :class:`SafeRoot` is a host directory (the workspace, or ``path_restriction``) and the
name the model knows it by (``/workspace`` in a container; the same host path locally).
Every path a tool receives is resolved the way the kernel would — ``..`` and symbolic
links one component at a time, a link's absolute target read in the model's view — and
refused as soon as it would leave the root. Files are then opened by walking from the
root's directory descriptor with ``O_NOFOLLOW`` on every component, so a link swapped in
between the check and the open (by a command still running in the sandbox) makes the
open fail instead of escaping.
"""

from __future__ import annotations

import errno
import os
import posixpath
import stat
from collections.abc import Iterator
from contextlib import contextmanager

from polos_nb.errors import SandboxFileError, SandboxFileNotFoundError, SandboxPathError

__all__ = ["SafeRoot"]

_MAX_LINKS = 40
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)


class SafeRoot:
    """A directory tools may not leave. ``visible`` is how the model names it."""

    def __init__(self, host_root: str, visible: str | None = None) -> None:
        self.host = os.path.realpath(host_root)
        self.visible = posixpath.normpath(visible) if visible else self.host
        self._prefixes = sorted(
            {self.visible, self.host, posixpath.normpath(os.path.abspath(host_root))},
            key=len,
            reverse=True,
        )

    # ------------------------------------------------------------------ naming
    def _split_absolute(self, path: str, original: str, via_link: str | None) -> list[str]:
        norm = posixpath.normpath(path)
        for prefix in self._prefixes:
            if prefix == "/":
                return [c for c in norm.split("/") if c]
            if norm == prefix or norm.startswith(prefix + "/"):
                return [c for c in path[len(prefix) :].split("/") if c]
        where = f"the symbolic link {via_link} points to {path}" if via_link else f"{path}"
        raise SandboxPathError(original, f"{where} is outside {self.visible}")

    def visible_path(self, comps: list[str]) -> str:
        """The model's name for a resolved path."""
        return posixpath.join(self.visible, *comps) if comps else self.visible

    def host_path(self, comps: list[str]) -> str:
        return os.path.join(self.host, *comps)

    def resolve(self, path: str, cwd: list[str] | None = None) -> list[str]:
        """The components (below the root) that ``path`` names, links resolved.

        ``cwd`` (components) is where relative paths start. Raises ``SandboxPathError``
        when the path, or a link on the way, leads outside the root.
        """
        if not isinstance(path, str) or path == "":
            raise SandboxFileError("A path is needed (got an empty one).")
        if "\x00" in path:
            raise SandboxPathError(path.replace("\x00", "\\0"), "it contains a NUL byte")
        if path.startswith("/"):
            todo = self._split_absolute(path, path, None)
        else:
            todo = [*(cwd or []), *path.split("/")]
        stack: list[str] = []
        links = 0
        while todo:
            part = todo.pop(0)
            if part in ("", "."):
                continue
            if part == "..":
                if not stack:
                    raise SandboxPathError(path, f"'..' climbs above {self.visible}")
                stack.pop()
                continue
            full = os.path.join(self.host, *stack, part)
            try:
                st = os.lstat(full)
            except FileNotFoundError:
                stack.append(part)
                continue
            except NotADirectoryError:
                raise SandboxFileError(
                    f"{self.visible_path(stack)} is a file, not a directory: {path!r} cannot exist."
                ) from None
            if stat.S_ISLNK(st.st_mode):
                links += 1
                if links > _MAX_LINKS:
                    raise SandboxPathError(path, "too many symbolic links (a loop?)")
                target = os.readlink(full)
                link_name = self.visible_path([*stack, part])
                if target.startswith("/"):
                    todo = self._split_absolute(target, path, link_name) + todo
                    stack = []
                else:
                    todo = target.split("/") + todo
                continue
            stack.append(part)
        return stack

    # ------------------------------------------------------------------ opening
    def _root_fd(self) -> int:
        return os.open(self.host, _DIR_FLAGS)

    def _descend(self, fd: int, comps: list[str], original: str, *, create: bool) -> int:
        """Walk ``comps`` from directory ``fd`` without following links; returns a new fd."""
        for i, part in enumerate(comps):
            try:
                nfd = os.open(part, _DIR_FLAGS, dir_fd=fd)
            except FileNotFoundError:
                if not create:
                    os.close(fd)
                    raise SandboxFileNotFoundError(
                        f"{original!r} does not exist ({self.visible_path(comps[: i + 1])} is missing)."
                    ) from None
                try:
                    os.mkdir(part, 0o755, dir_fd=fd)
                except FileExistsError:
                    pass
                nfd = os.open(part, _DIR_FLAGS, dir_fd=fd)
            except OSError as exc:
                os.close(fd)
                if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                    kind = "a symbolic link" if exc.errno == errno.ELOOP else "not a directory"
                    raise SandboxPathError(
                        original,
                        f"{self.visible_path(comps[: i + 1])} is {kind} (it changed while in use)",
                    ) from None
                raise
            os.close(fd)
            fd = nfd
        return fd

    @contextmanager
    def dir_fd(self, comps: list[str], original: str, *, create: bool = False) -> Iterator[int]:
        """A descriptor of the directory ``comps`` (made with its parents when ``create``)."""
        fd = self._descend(self._root_fd(), comps, original, create=create)
        try:
            yield fd
        finally:
            os.close(fd)

    def open_file(
        self, comps: list[str], original: str, flags: int, *, create_dirs: bool = False
    ) -> int:
        """Open a regular file without following any link; returns a descriptor."""
        if not comps:
            raise SandboxFileError(f"{original!r} is the workspace directory itself, not a file.")
        with self.dir_fd(comps[:-1], original, create=create_dirs) as parent:
            try:
                fd = os.open(
                    comps[-1],
                    flags | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0),
                    0o644,
                    dir_fd=parent,
                )
            except FileNotFoundError:
                raise SandboxFileNotFoundError(f"{original!r} does not exist.") from None
            except IsADirectoryError:
                raise SandboxFileError(
                    f"{original!r} is a directory; use glob to list it."
                ) from None
            except OSError as exc:
                if exc.errno == errno.ELOOP:
                    raise SandboxPathError(
                        original, "it became a symbolic link while in use"
                    ) from None
                if exc.errno == errno.ENXIO:
                    raise SandboxFileError(
                        f"{original!r} is not a regular file (a pipe?)."
                    ) from None
                raise
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            os.close(fd)
            raise SandboxFileError(f"{original!r} is a directory; use glob to list it.")
        if not stat.S_ISREG(st.st_mode):
            os.close(fd)
            raise SandboxFileError(f"{original!r} is not a regular file (a pipe or a device).")
        os.set_blocking(fd, True)
        return fd

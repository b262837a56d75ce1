"""The file tools' work, on a :class:`SafeRoot`: read, write, edit, glob, grep.

Shared by the Docker environment (through its bind-mounted workspace) and the local
one. Nothing here follows a symbolic link out of the root (see ``_paths``).
"""

from __future__ import annotations

import difflib
import hashlib
import os
import re
import stat
from dataclasses import dataclass
from typing import Any

from polos_nb.errors import SandboxFileError, SandboxFileNotFoundError

from ._output import is_binary
from ._paths import SafeRoot
from ._types import GrepMatch

__all__ = [
    "DEFAULT_READ_LINES",
    "EditPlan",
    "apply_plan",
    "glob_files",
    "grep_files",
    "plan_edit",
    "plan_write",
    "read_text",
    "write_text",
]

DEFAULT_READ_LINES = 2000
MAX_LINE_CHARS = 2000
MAX_EDIT_BYTES = 10 * 1024 * 1024
MAX_GREP_FILE_BYTES = 20 * 1024 * 1024
MAX_GLOB_RESULTS = 1000
MAX_DIFF_CHARS = 20_000


def _read_all(root: SafeRoot, comps: list[str], original: str, limit: int) -> bytes:
    fd = root.open_file(comps, original, os.O_RDONLY)
    with os.fdopen(fd, "rb") as f:
        data = f.read(limit + 1)
    if len(data) > limit:
        raise SandboxFileError(
            f"{original!r} is larger than {limit // (1024 * 1024)} MiB; edit it with exec (sed, python) instead."
        )
    return data


def _binary_message(path: str, size: int) -> str:
    return (
        f"{path!r} is a binary file ({size} bytes); read shows text only. "
        f"Inspect it with exec instead (e.g. `od -c {path} | head`)."
    )


def read_text(
    root: SafeRoot, path: str, cwd: list[str], offset: int | None, limit: int | None, max_chars: int
) -> dict[str, Any]:
    """Lines ``offset`` (0-based) to ``offset + limit`` of a text file, within ``max_chars``."""
    if offset is not None and offset < 0:
        raise SandboxFileError(f"offset must be 0 or more (got {offset}).")
    if limit is not None and limit < 1:
        raise SandboxFileError(f"limit must be 1 or more (got {limit}).")
    comps = root.resolve(path, cwd)
    fd = root.open_file(comps, path, os.O_RDONLY)
    start = offset or 0
    want = limit if limit is not None else DEFAULT_READ_LINES
    lines: list[str] = []
    chars = 0
    total = 0
    bad_utf8 = cut_lines = False
    stopped_for_size = False
    with os.fdopen(fd, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if is_binary(f.read(8192)):
            raise SandboxFileError(_binary_message(path, size))
        f.seek(0)
        for raw in f:
            total += 1
            if total <= start or len(lines) >= want or stopped_for_size:
                continue
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                text = raw.decode("utf-8", "replace")
                bad_utf8 = True
            text = text.rstrip("\n").rstrip("\r")
            if len(text) > MAX_LINE_CHARS:
                text = text[:MAX_LINE_CHARS] + f" … [line cut: {len(text)} characters]"
                cut_lines = True
            if chars + len(text) + 1 > max_chars and lines:
                stopped_for_size = True
                continue
            lines.append(text)
            chars += len(text) + 1
    shown_end = start + len(lines)
    result: dict[str, Any] = {
        "content": "\n".join(lines),
        "path": path,
        "total_lines": total,
        "offset": start,
        "lines": len(lines),
        "truncated": shown_end < total or cut_lines,
    }
    notes = []
    if start >= total and total:
        notes.append(f"The file has {total} lines; offset {start} is past its end.")
    elif shown_end < total:
        notes.append(
            f"Showing lines {start + 1}-{shown_end} of {total}; "
            f"call read with offset={shown_end} to see more."
        )
    if cut_lines:
        notes.append(f"Lines longer than {MAX_LINE_CHARS} characters are cut.")
    if bad_utf8:
        notes.append("The file is not valid UTF-8; undecodable bytes are shown as U+FFFD.")
    if notes:
        result["note"] = " ".join(notes)
    return result


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _diff(path: str, before: str, after: str) -> str:
    lines = difflib.unified_diff(
        before.splitlines(keepends=True),
        after.splitlines(keepends=True),
        fromfile=f"a/{path.lstrip('/')}",
        tofile=f"b/{path.lstrip('/')}",
    )
    text = "".join(line if line.endswith("\n") else line + "\n" for line in lines)
    if len(text) > MAX_DIFF_CHARS:
        text = text[:MAX_DIFF_CHARS] + f"\n… [diff cut: {len(text)} characters]\n"
    return text


@dataclass
class EditPlan:
    """A write or an edit worked out but not done: what changes, as a diff."""

    path: str
    comps: list[str]
    new_content: str
    diff: str
    before_sha: str | None  # None: the file does not exist yet
    replacements: int = 0


def _current(root: SafeRoot, comps: list[str], path: str) -> bytes | None:
    try:
        return _read_all(root, comps, path, MAX_EDIT_BYTES)
    except SandboxFileNotFoundError:
        return None


def plan_write(root: SafeRoot, path: str, cwd: list[str], content: str) -> EditPlan:
    comps = root.resolve(path, cwd)
    if not comps:
        raise SandboxFileError(f"{path!r} is the workspace directory itself, not a file.")
    old = _current(root, comps, path)
    if old is not None and is_binary(old):
        before = f"(binary file, {len(old)} bytes)\n"
    else:
        before = old.decode("utf-8", "replace") if old is not None else ""
    return EditPlan(
        path=path,
        comps=comps,
        new_content=content,
        diff=_diff(path, before, content),
        before_sha=_sha(old) if old is not None else None,
    )


def _line_of(content: str, index: int) -> int:
    return content.count("\n", 0, index) + 1


def plan_edit(
    root: SafeRoot, path: str, cwd: list[str], old_text: str, new_text: str, replace_all: bool
) -> EditPlan:
    if old_text == "":
        raise SandboxFileError("old_text is empty; to create or overwrite a file use write.")
    if old_text == new_text:
        raise SandboxFileError("old_text and new_text are the same; there is nothing to change.")
    comps = root.resolve(path, cwd)
    data = _read_all(root, comps, path, MAX_EDIT_BYTES)
    if is_binary(data):
        raise SandboxFileError(_binary_message(path, len(data)))
    try:
        content = data.decode("utf-8")
    except UnicodeDecodeError:
        raise SandboxFileError(
            f"{path!r} is not valid UTF-8 text; edit changes UTF-8 text only (use exec for others)."
        ) from None
    count = content.count(old_text)
    if count == 0:
        hint = ""
        squashed = re.sub(r"[ \t]+", " ", old_text.strip())
        if squashed and squashed in re.sub(r"[ \t]+", " ", content):
            hint = " It does occur when spaces and indentation are ignored: copy them exactly."
        raise SandboxFileError(
            f"old_text was not found in {path!r} ({content.count(chr(10)) + 1} lines).{hint} "
            "Read the file again and copy the text exactly, including whitespace."
        )
    if count > 1 and not replace_all:
        where, at = [], 0
        for _ in range(min(count, 10)):
            at = content.index(old_text, at)
            where.append(str(_line_of(content, at)))
            at += len(old_text)
        raise SandboxFileError(
            f"old_text occurs {count} times in {path!r} (at lines {', '.join(where)}); "
            "include more surrounding lines so it is unique, or set replace_all=true."
        )
    new_content = (
        content.replace(old_text, new_text)
        if replace_all
        else content.replace(old_text, new_text, 1)
    )
    return EditPlan(
        path=path,
        comps=comps,
        new_content=new_content,
        diff=_diff(path, content, new_content),
        before_sha=_sha(data),
        replacements=count if replace_all else 1,
    )


def apply_plan(root: SafeRoot, plan: EditPlan, *, check_unchanged: bool) -> int:
    """Write a plan's content; with ``check_unchanged``, refuse if the file changed since."""
    if check_unchanged:
        now = _current(root, plan.comps, plan.path)
        now_sha = _sha(now) if now is not None else None
        if now_sha != plan.before_sha:
            raise SandboxFileError(
                f"{plan.path!r} changed after the approval was asked; call the tool again."
            )
    return write_text(root, plan.comps, plan.path, plan.new_content)


def write_text(root: SafeRoot, comps: list[str], path: str, content: str) -> int:
    data = content.encode("utf-8")
    fd = root.open_file(comps, path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, create_dirs=True)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    return len(data)


# ---------------------------------------------------------------------- searching
def _glob_regex(pattern: str) -> re.Pattern[str]:
    out, i = [], 0
    while i < len(pattern):
        c = pattern[i]
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
            continue
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        if c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[":
            end = pattern.find("]", i + 1)
            if end < 0:
                out.append(re.escape(c))
            else:
                body = pattern[i + 1 : end].replace("\\", "\\\\")
                if body.startswith("!"):
                    body = "^" + body[1:]
                out.append(f"[{body}]")
                i = end
        else:
            out.append(re.escape(c))
        i += 1
    return re.compile("".join(out) + r"\Z", re.S)


class _Matcher:
    """A glob: a bare name (``*.py``) matches at any depth; one with ``/`` matches the path."""

    def __init__(self, pattern: str) -> None:
        self.by_name = "/" not in pattern
        self.regex = _glob_regex(pattern.lstrip("./") if pattern.startswith("./") else pattern)

    def __call__(self, rel: str) -> bool:
        target = rel.rsplit("/", 1)[-1] if self.by_name else rel
        return bool(self.regex.match(target))


def _walk(root: SafeRoot, base: list[str], original: str) -> Any:
    """(relative dir, file names) below ``base``, never following links (``os.fwalk``)."""
    with root.dir_fd(base, original) as fd:
        for dirpath, dirnames, filenames, dfd in os.fwalk(".", dir_fd=fd, follow_symlinks=False):
            rel = "" if dirpath == "." else dirpath[2:]
            dirnames.sort()
            files = []
            for name in sorted(filenames):
                try:
                    st = os.stat(name, dir_fd=dfd, follow_symlinks=False)
                except OSError:
                    continue
                if stat.S_ISREG(st.st_mode):
                    files.append((name, st.st_size))
            yield rel, dirnames, files


def glob_files(
    root: SafeRoot, pattern: str, cwd: list[str], search_dir: str | None, ignore: list[str] | None
) -> dict[str, Any]:
    if not pattern:
        raise SandboxFileError("A glob pattern is needed, e.g. '*.py' or 'src/**/*.ts'.")
    base = root.resolve(search_dir, cwd) if search_dir else list(cwd)
    if pattern.startswith("/"):
        comps = root.resolve(pattern.split("*", 1)[0].rsplit("/", 1)[0] or "/", [])
        rest = pattern[len(pattern.split("*", 1)[0].rsplit("/", 1)[0]) :].lstrip("/")
        base, pattern = comps, rest
    match = _Matcher(pattern)
    skips = [_Matcher(p) for p in ignore or []]
    found: list[str] = []
    for rel, dirnames, files in _walk(root, base, search_dir or pattern):
        dirnames[:] = [d for d in dirnames if not any(s(f"{rel}/{d}".lstrip("/")) for s in skips)]
        for name, _size in files:
            rp = f"{rel}/{name}" if rel else name
            if match(rp) and not any(s(rp) for s in skips):
                found.append(root.visible_path([*base, *rp.split("/")]))
    # Sorted as whole paths, then cut (upstream: `find ... | sort | head -1000`): the
    # first files of the listing do not depend on how deep they are.
    found.sort()
    more = len(found) > MAX_GLOB_RESULTS
    out: dict[str, Any] = {"files": found[:MAX_GLOB_RESULTS]}
    if more:
        out["truncated"] = True
        out["note"] = f"Only the first {MAX_GLOB_RESULTS} files are listed; narrow the pattern."
    return out


def grep_files(
    root: SafeRoot,
    pattern: str,
    cwd: list[str],
    search_dir: str | None,
    include: list[str] | None,
    max_results: int | None,
    context_lines: int | None,
) -> dict[str, Any]:
    try:
        regex = re.compile(pattern)
    except re.error as exc:
        raise SandboxFileError(f"{pattern!r} is not a valid regular expression: {exc}.") from None
    limit = max_results if max_results and max_results > 0 else 100
    ctx_n = max(0, context_lines or 0)
    base = root.resolve(search_dir, cwd) if search_dir else list(cwd)
    includes = [_Matcher(p) for p in include or []]
    matches: list[GrepMatch] = []
    skipped: list[str] = []
    for rel, dirnames, files in _walk(root, base, search_dir or "."):
        dirnames[:] = [d for d in dirnames if d != ".git"]
        for name, size in files:
            rp = f"{rel}/{name}" if rel else name
            if includes and not any(m(rp) for m in includes):
                continue
            comps = [*base, *rp.split("/")]
            shown = root.visible_path(comps)
            if size > MAX_GREP_FILE_BYTES:
                skipped.append(f"{shown} (larger than 20 MiB)")
                continue
            try:
                fd = root.open_file(comps, shown, os.O_RDONLY)
            except Exception:
                continue
            with os.fdopen(fd, "rb") as f:
                data = f.read(MAX_GREP_FILE_BYTES + 1)
            if is_binary(data):
                continue
            lines = data.decode("utf-8", "replace").splitlines()
            for i, line in enumerate(lines):
                if regex.search(line):
                    context = None
                    if ctx_n:
                        lo, hi = max(0, i - ctx_n), min(len(lines), i + ctx_n + 1)
                        context = "\n".join(f"{k + 1}: {lines[k][:500]}" for k in range(lo, hi))
                    matches.append(
                        GrepMatch(path=shown, line=i + 1, text=line[:500], context=context)
                    )
                    if len(matches) >= limit:
                        return _grep_result(matches, skipped, truncated=True)
    return _grep_result(matches, skipped, truncated=False)


def _grep_result(
    matches: list[GrepMatch], skipped: list[str], *, truncated: bool
) -> dict[str, Any]:
    out: dict[str, Any] = {"matches": [m.model_dump() for m in matches]}
    if truncated:
        out["truncated"] = True
        out["note"] = (
            f"Stopped after {len(matches)} matches; raise max_results or narrow the pattern."
        )
    if skipped:
        out["skipped"] = skipped[:20]
    return out

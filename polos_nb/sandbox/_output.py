"""Output handling: truncation that keeps the head and the tail, binary detection, ANSI codes.

A command's output is collected as it streams (:class:`OutputCollector`), keeping at most
a head and a tail in memory however much the command prints.
"""

from __future__ import annotations

import re

from ._types import GrepMatch

__all__ = [
    "DEFAULT_MAX_CHARS",
    "OutputCollector",
    "is_binary",
    "parse_grep_output",
    "strip_ansi",
    "truncate_output",
]

DEFAULT_MAX_CHARS = 100_000
HEAD_RATIO = 0.2
_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)")


def truncate_output(output: str, max_chars: int | None = None) -> tuple[str, bool]:
    """Keep the first 20% and the last 80% of ``max_chars`` (default 100,000) characters.

    Returns ``(text, truncated)``; the cut is marked ``--- truncated N characters ---``.
    """
    limit = DEFAULT_MAX_CHARS if max_chars is None else max(0, max_chars)
    if len(output) <= limit:
        return output, False
    head = int(limit * HEAD_RATIO)
    tail = limit - head
    omitted = len(output) - head - tail
    end = output[-tail:] if tail else ""
    return f"{output[:head]}\n\n--- truncated {omitted} characters ---\n\n{end}", True


def is_binary(data: bytes) -> bool:
    """True when the first 8 KiB hold a NUL byte (how git and grep tell binary files)."""
    return b"\x00" in data[:8192]


def strip_ansi(text: str) -> str:
    """Remove terminal colour and cursor escape sequences."""
    return _ANSI.sub("", text)


def parse_grep_output(output: str) -> list[GrepMatch]:
    """Parse ``grep -rn`` lines (``path:line:text``) into :class:`GrepMatch` objects."""
    matches: list[GrepMatch] = []
    pattern = re.compile(r"^(.+?):(\d+):(.*)$")
    for line in output.splitlines():
        m = pattern.match(line)
        if m:
            matches.append(GrepMatch(path=m.group(1), line=int(m.group(2)), text=m.group(3)))
    return matches


class OutputCollector:
    """Collect one output stream: keep a head and a rolling tail, count everything.

    ``feed`` never holds more than about ``8 * max_chars`` bytes, however much arrives.
    """

    def __init__(self, max_chars: int) -> None:
        self.max_chars = max(0, max_chars)
        budget = max(4 * self.max_chars, 4096)  # UTF-8: at most 4 bytes a character
        self._head_cap = budget
        self._tail_cap = budget
        self._head = bytearray()
        self._tail = bytearray()
        self.total = 0

    def feed(self, data: bytes) -> None:
        self.total += len(data)
        room = self._head_cap - len(self._head)
        if room > 0:
            self._head += data[:room]
            data = data[room:]
        if data:
            self._tail += data
            if len(self._tail) > 2 * self._tail_cap:
                del self._tail[: len(self._tail) - self._tail_cap]

    def text(self) -> tuple[str, bool]:
        """The output as text (undecodable bytes replaced), ANSI-stripped and truncated."""
        dropped = self.total - len(self._head) - len(self._tail)
        if dropped <= 0:
            raw = bytes(self._head) + bytes(self._tail)
            return truncate_output(strip_ansi(raw.decode("utf-8", "replace")), self.max_chars)
        head_text = strip_ansi(bytes(self._head).decode("utf-8", "replace"))
        tail_text = strip_ansi(bytes(self._tail[-self._tail_cap :]).decode("utf-8", "replace"))
        head_n = int(self.max_chars * HEAD_RATIO)
        tail_n = self.max_chars - head_n
        shown_tail = tail_text[-tail_n:] if tail_n else ""
        marker = f"--- truncated: {self.total} bytes in all, {head_n + len(shown_tail)} characters shown ---"
        return f"{head_text[:head_n]}\n\n{marker}\n\n{shown_tail}", True

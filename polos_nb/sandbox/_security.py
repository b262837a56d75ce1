"""Command allowlists that chaining cannot get around, and path checks that resolve links.

An allowlist pattern describes **one simple command**: a program and its arguments,
nothing the shell would expand or chain. :func:`parse_simple_command` reads a command
the way ``sh`` would and refuses anything that is not that — a second command (``;``,
``&&``, ``||``, ``|``, ``&``, a newline), a substitution (``$(...)``, backticks, ``$VAR``),
a redirection (``<``, ``>``), a glob the shell would expand against file names (``*``,
``?``, ``[``), braces, ``~``, comments, escapes, variable assignments, shell keywords.
Such commands never match a pattern: they go to a human instead (which is not a refusal:
the approver may well say yes). Quoted text is literal, so ``grep 'a;b' file.txt`` is
simple. Upstream Polos matches the whole command text against glob patterns instead,
which lets ``ls; rm -rf /`` through a pattern ``ls *``.
"""

from __future__ import annotations

import os
import re
import shlex

from polos_nb.errors import UserError

__all__ = [
    "NotSimpleCommand",
    "assert_safe_path",
    "evaluate_allowlist",
    "is_within_restriction",
    "match_pattern",
    "parse_pattern",
    "parse_simple_command",
]

# Outside quotes, each of these makes the shell do more than run one program.
_UNQUOTED_SPECIAL = {
    ";": "';' starts another command",
    "&": "'&' runs a command in the background or chains one (&&)",
    "|": "'|' pipes into another program (or chains one: ||)",
    "<": "'<' redirects input",
    ">": "'>' redirects output",
    "(": "'(' starts a subshell",
    ")": "')' ends a subshell",
    "`": "backticks substitute a command's output",
    "$": "'$' expands a variable or substitutes a command",
    "\\": "a backslash escape",
    "*": "'*' is expanded against file names",
    "?": "'?' is expanded against file names",
    "[": "'[' is expanded against file names",
    "]": "']' is part of a file-name pattern",
    "{": "'{' is a brace expansion or a command group",
    "}": "'}' is a brace expansion or a command group",
    "~": "'~' is expanded to a home directory",
    "#": "'#' starts a comment",
    "!": "'!' negates a command or expands history",
}
_IN_DOUBLE_QUOTES = {
    "$": "'$' expands inside double quotes",
    "`": "backticks substitute inside double quotes",
    "\\": "a backslash escape inside double quotes",
}
_KEYWORDS = {
    "if", "then", "else", "elif", "fi", "case", "esac", "for", "select", "while", "until",
    "do", "done", "function", "time", "coproc", "in", "[[", "]]",
}  # fmt: skip
_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\+?=")


class NotSimpleCommand(ValueError):
    """The command is not one simple command; ``reason`` says what the shell would do."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def parse_simple_command(command: str) -> list[str]:
    """The words of ``command`` if it is one simple command, else :class:`NotSimpleCommand`.

    ```python
    parse_simple_command("grep -n 'a;b' notes.txt")  # ['grep', '-n', 'a;b', 'notes.txt']
    parse_simple_command("ls; rm -rf /")             # NotSimpleCommand("';' starts another command")
    ```
    """
    words: list[str] = []
    current: list[str] = []
    in_word = False
    i, n = 0, len(command)
    while i < n:
        ch = command[i]
        if ch in (" ", "\t"):
            if in_word:
                words.append("".join(current))
                current, in_word = [], False
            i += 1
            continue
        if ch in ("\n", "\r"):
            raise NotSimpleCommand("a line break starts another command")
        if ord(ch) < 0x20 or ord(ch) == 0x7F:
            raise NotSimpleCommand(f"a control character ({ord(ch):#04x})")
        if ch == "'":
            end = command.find("'", i + 1)
            if end < 0:
                raise NotSimpleCommand("an unterminated single quote")
            current.append(command[i + 1 : end])
            in_word = True
            i = end + 1
            continue
        if ch == '"':
            j = i + 1
            while j < n and command[j] != '"':
                if command[j] in _IN_DOUBLE_QUOTES:
                    raise NotSimpleCommand(_IN_DOUBLE_QUOTES[command[j]])
                if command[j] in ("\n", "\r"):
                    raise NotSimpleCommand("a line break inside double quotes")
                j += 1
            if j >= n:
                raise NotSimpleCommand("an unterminated double quote")
            current.append(command[i + 1 : j])
            in_word = True
            i = j + 1
            continue
        if ch in _UNQUOTED_SPECIAL:
            raise NotSimpleCommand(_UNQUOTED_SPECIAL[ch])
        current.append(ch)
        in_word = True
        i += 1
    if in_word:
        words.append("".join(current))
    if not words:
        raise NotSimpleCommand("an empty command")
    first = command.lstrip(" \t")
    if _ASSIGNMENT.match(first):
        raise NotSimpleCommand("a variable assignment before the command")
    if words[0] in _KEYWORDS and not first.startswith(("'", '"')):
        raise NotSimpleCommand(f"the shell keyword {words[0]!r}")
    return words


def parse_pattern(pattern: str) -> list[str]:
    """The words of an allowlist pattern (``"python3 *"``); raises ``UserError`` if unusable."""
    try:
        words = shlex.split(pattern)
    except ValueError as exc:
        raise UserError(f"Allowlist pattern {pattern!r} cannot be read: {exc}.") from None
    if not words:
        raise UserError("An allowlist pattern is empty; write a command such as 'ls' or 'node *'.")
    return words


def _word_regex(word: str) -> re.Pattern[str]:
    return re.compile("".join(".*" if c == "*" else re.escape(c) for c in word) + r"\Z", re.S)


def match_pattern(pattern_words: list[str], words: list[str]) -> bool:
    """Whether a simple command's words fit a pattern's words.

    A pattern word ``*`` on its own stands for one or more whole words (``"ls *"``
    matches ``ls -la src`` but not ``ls``, as upstream); inside a word ``*`` stands for
    any characters of that word (``"*.py"``). Everything else is literal.
    """

    def fits(p: int, w: int) -> bool:
        if p == len(pattern_words):
            return w == len(words)
        if pattern_words[p] == "*":
            return any(fits(p + 1, k) for k in range(w + 1, len(words) + 1))
        if w == len(words):
            return False
        return bool(_word_regex(pattern_words[p]).match(words[w])) and fits(p + 1, w + 1)

    return fits(0, 0)


def evaluate_allowlist(command: str, patterns: list[str]) -> bool:
    """Whether ``command`` is one simple command that fits one of ``patterns``.

    Chained, piped, redirected or substituted commands never fit (see the module help).
    """
    try:
        words = parse_simple_command(command)
    except NotSimpleCommand:
        return False
    for pattern in patterns:
        try:
            pattern_words = parse_pattern(pattern)
        except UserError:
            continue
        if match_pattern(pattern_words, words):
            return True
    return False


def is_within_restriction(resolved_path: str, restriction: str) -> bool:
    """Whether a path, with links resolved, is ``restriction`` or inside it (links resolved too)."""
    base = os.path.realpath(restriction)
    target = os.path.realpath(resolved_path)
    return target == base or target.startswith(base.rstrip(os.sep) + os.sep)


def assert_safe_path(file_path: str, restriction: str) -> None:
    """Raise ``SandboxPathError`` if ``file_path`` (relative to ``restriction``) leads outside it."""
    from polos_nb.errors import SandboxPathError

    target = os.path.join(os.path.realpath(restriction), file_path)
    if not is_within_restriction(target, restriction):
        raise SandboxPathError(
            file_path, f"it resolves to {os.path.realpath(target)}, outside {restriction}"
        )

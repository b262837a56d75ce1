"""The exec allowlist: one simple command matching a pattern runs; nothing chained,
substituted, redirected or expanded ever matches (table-driven)."""

from __future__ import annotations

import pytest

from polos_nb.errors import UserError
from polos_nb.sandbox import evaluate_allowlist, parse_simple_command
from polos_nb.sandbox._security import NotSimpleCommand, parse_pattern

PATTERNS = ["ls", "ls *", "cat *", "python3 *", "git status", "grep -n * *.py", "echo *"]

ALLOWED = [
    "ls",
    "  ls  ",
    "ls -la src",
    "cat notes.txt",
    "python3 main.py --fast",
    "git status",
    "grep -n TODO app.py",
    "echo 'a;b && c | d $(e) `f` > g'",  # quoted: literal text, one program
    'echo "plain words"',
    "cat 'file with spaces.txt'",
]

BYPASSES = [
    ("ls; rm -rf /", "';'"),
    ("ls && rm -rf /", "'&'"),
    ("ls || rm -rf /", "'|'"),
    ("ls | sh", "'|'"),
    ("cat x | python3", "'|'"),
    ("ls & rm -rf /", "'&'"),
    ("ls\nrm -rf /", "line break"),
    ("ls\rrm -rf /", "line break"),
    ("ls $(rm -rf /)", "'$'"),
    ("ls `rm -rf /`", "backticks"),
    ('echo "$(rm -rf /)"', "inside double quotes"),
    ('echo "`id`"', "inside double quotes"),
    ("echo $HOME", "'$'"),
    ("echo ${PATH}", "'$'"),
    ("cat < /etc/shadow", "'<'"),
    ("echo pwned > /etc/passwd", "'>'"),
    ("ls >> log", "'>'"),
    ("ls 2>&1", "'>'"),
    ("(rm -rf /)", "subshell"),
    ("{ rm -rf /; }", "'{'"),
    ("ls *", "file names"),  # the glob would expand to names the agent controls
    ("cat ?", "file names"),
    ("cat [a]", "file names"),
    ("ls ~root", "home directory"),
    ("ls # ; rm -rf /", "comment"),
    ("ls \\; rm", "backslash"),
    ("LD_PRELOAD=/w/evil.so ls", "assignment"),
    ("PATH=/tmp ls", "assignment"),
    ("! ls", "'!'"),
    ("if ls; then rm -rf /; fi", "';'"),
    ("for x in a; do ls; done", "';'"),
    ("ls 'unterminated", "unterminated"),
    ('ls "unterminated', "unterminated"),
    ("", "empty"),
    ("ls\x00rm", "control character"),
]


@pytest.mark.parametrize("command", ALLOWED)
def test_simple_commands_matching_a_pattern_are_allowed(command: str) -> None:
    assert evaluate_allowlist(command, PATTERNS)


@pytest.mark.parametrize(("command", "reason"), BYPASSES)
def test_chains_substitutions_redirections_and_expansions_never_match(
    command: str, reason: str
) -> None:
    # Even the pattern "*" (any simple command) does not let them through.
    assert not evaluate_allowlist(command, [*PATTERNS, "*"])
    with pytest.raises(NotSimpleCommand) as info:
        parse_simple_command(command)
    assert reason in info.value.reason


@pytest.mark.parametrize(
    ("command", "patterns", "allowed"),
    [
        ("ls", ["ls *"], False),  # '*' alone stands for one or more words (as upstream)
        ("ls -la", ["ls *"], True),
        ("lsblk", ["ls *", "ls"], False),  # words, not prefixes
        ("rm -rf /", ["ls *", "cat *"], False),
        ("python3 -c 'print(1)'", ["python3 *"], True),
        ("python3", ["python3 *"], False),
        ("grep -n x a.py", ["grep -n * *.py"], True),
        ("grep -n x a.txt", ["grep -n * *.py"], False),
        ("'rm' -rf x", ["ls *"], False),
        ("node app.js", ["*"], True),
        ("git status --short", ["git status"], False),
    ],
)
def test_pattern_matching_is_by_words(command: str, patterns: list[str], allowed: bool) -> None:
    assert evaluate_allowlist(command, patterns) is allowed


def test_quoted_words_are_literal() -> None:
    assert parse_simple_command("grep -n 'a;b' \"c d\" e") == ["grep", "-n", "a;b", "c d", "e"]
    assert parse_simple_command("echo ''") == ["echo", ""]


def test_a_pattern_that_cannot_be_read_is_a_user_error() -> None:
    with pytest.raises(UserError, match="cannot be read"):
        parse_pattern("ls 'oops")
    with pytest.raises(UserError, match="empty"):
        parse_pattern("   ")

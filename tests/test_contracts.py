"""The cross-layer contracts (polos_nb.contracts): step keys, event names, forms; and the
widget's JavaScript reading exactly the fields Python's protocol declares."""

from __future__ import annotations

import re
import typing
from pathlib import Path

import pytest

from polos_nb import contracts as c
from polos_nb.widgets import _protocol

PACKAGE = Path(__file__).resolve().parents[1] / "polos_nb"


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("llm:3", c.StepKey("llm:3", "llm", 3)),
        ("llm:3#retry2", c.StepKey("llm:3#retry2", "llm", 3, 2)),
        ("llm:compact", c.StepKey("llm:compact", "llm")),
        (
            "tool:2:call_9:web_search",
            c.StepKey(
                "tool:2:call_9:web_search", "tool", 2, call_id="call_9", tool_name="web_search"
            ),
        ),
        (
            "tool:2:c1:mcp:files#approved",
            c.StepKey(
                "tool:2:c1:mcp:files#approved",
                "tool",
                2,
                call_id="c1",
                tool_name="mcp:files",
                suffix="approved",
            ),
        ),
        ("approve_exec_1_c1", c.StepKey("approve_exec_1_c1", "other")),
        ("llm:x", c.StepKey("llm:x", "other")),
        ("tool:1:only-two", c.StepKey("tool:1:only-two", "other")),
    ],
)
def test_step_keys_parse(key: str, expected: c.StepKey) -> None:
    assert c.parse_step_key(key) == expected


def test_step_keys_round_trip() -> None:
    for n, retry in [(1, 0), (12, 3)]:
        parsed = c.parse_step_key(c.llm_step_key(n, retry))
        assert (parsed.kind, parsed.step, parsed.retry) == ("llm", n, retry)
    for suffix in ("", "answer", "approved"):
        key = c.tool_step_key(4, "call_x", "run_code", suffix)  # type: ignore[arg-type]
        parsed = c.parse_step_key(key)
        assert (parsed.kind, parsed.step, parsed.call_id, parsed.tool_name, parsed.suffix) == (
            "tool",
            4,
            "call_x",
            "run_code",
            suffix,
        )
    assert c.llm_step_key(1) == "llm:1"
    assert c.tool_step_key(1, "a", "b") == "tool:1:a:b"


def test_suspension_event_names() -> None:
    assert c.suspend_event("review") == "suspend_review"
    assert c.resume_event("review") == "resume_review"
    assert c.suspended_key("suspend_approve_x_1_c") == "approve_x_1_c"
    assert c.resumed_key("resume_k") == "k"
    assert c.suspended_key("resume_k") is None and c.resumed_key("workflow_start") is None
    assert c.suspended_key(None) is None


def test_agent_code_builds_keys_and_names_only_through_the_contracts() -> None:
    """No layer spells an agent step key or a live event name by hand any more."""
    literal = re.compile(
        r"""f?["'](llm:|tool:|text_delta|stream_start|text_final|tool_call_start|"""
        r"""tool_call_finish|agent_step_start|agent_step_end)"""
    )
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        if rel == "contracts.py" or rel.startswith("testing/"):
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if literal.search(line) and not line.lstrip().startswith("#"):
                offenders.append(f"{rel}:{number}: {line.strip()}")
    assert offenders == []


def _keys(typed_dict: type) -> set[str]:
    return set(typing.get_type_hints(typed_dict))


def test_the_widget_javascript_mirrors_the_protocol() -> None:
    js = (PACKAGE / "widgets" / "static" / "run.js").read_text()
    entry_fields = set(re.findall(r"\bentry\.([a-z_]+)", js))
    assert entry_fields, "run.js reads approval entries"
    assert entry_fields <= _keys(_protocol.ApprovalEntry)
    assert _keys(c.FormSpec) <= _keys(_protocol.ApprovalEntry)  # one form shape, two layers
    # messages go out through a send() helper that marks the view disconnected on failure
    sent = re.findall(r"\bsend\(\{\s*kind:\s*\"([a-z]+)\"([^}]*)\}", js)
    kinds = {kind for kind, _ in sent}
    assert kinds == {"submit", "cancel"}
    submit_fields = {"kind", *re.findall(r"([a-z_]+)(?::|,|\s*$)", dict(sent)["submit"])}
    assert submit_fields == _keys(_protocol.SubmitMsg)

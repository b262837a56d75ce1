"""Library warnings never fail a model call (in a user's warnings-as-errors setup, or here).

Seen on a fresh machine: litellm imports a module on the first call whose ``TypedDict``s make
pydantic warn; under ``filterwarnings = error`` (which pytest re-applies per test, dropping
litellm's own ignore filter) that warning became an exception inside the call, and every
agent test after the first one to import litellm failed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import pytest

from polos_nb import Agent, PolosClient
from polos_nb.testing import FunctionModel
from tests.agents.helpers import uid

ROOT = Path(__file__).resolve().parents[2]


def _run(code: str, tmp_path: Path, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "script.py"
    script.write_text(textwrap.dedent(code))
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=tmp_path,
        check=False,
    )


def test_first_model_call_under_warnings_as_errors_succeeds(tmp_path: Path) -> None:
    """litellm imported earlier, then a fresh ``error`` filter (as pytest sets per test):
    the first model call imports more of litellm, which warns; the call must still succeed."""
    proc = _run(
        f"""
        import asyncio, warnings
        from polos_nb import Agent, PolosClient
        from polos_nb.testing import ScriptedModel

        async def main():
            import litellm  # imported earlier: by another test, another cell
            warnings.resetwarnings()
            warnings.simplefilter("error")
            client = PolosClient(journal={str(tmp_path / "j.duckdb")!r})
            for i in range(2):
                agent = Agent(id=f"w{{i}}", provider="fake", model=ScriptedModel(turns=["Sunny."]))
                print("RESULT", (await agent.run(client, "Weather?")).result)
            client.close()

        asyncio.run(main())
        """,
        tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("RESULT Sunny.") == 2, proc.stdout


async def test_a_warning_inside_the_call_is_shown_not_raised(client: PolosClient) -> None:
    def noisy(messages: list, info: dict) -> str:
        # Stands for a provider SDK that warns while it serves the call.
        warnings.warn("a library's own warning", UserWarning, stacklevel=1)
        return "done"

    agent = Agent(id=uid("noisy"), provider="fake", model=FunctionModel(noisy))
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("error")
        before = list(warnings.filters)
        result = await agent.run(client, "go")
        after = list(warnings.filters)
    assert result.result == "done"
    assert "a library's own warning" in [str(w.message) for w in seen]
    assert after == before, "the call must leave the warning filters as it found them"


async def test_parallel_calls_leave_no_filter_behind(client: PolosClient) -> None:
    import asyncio

    agent = Agent(id=uid("par"), provider="fake", model=FunctionModel(lambda m, i: "ok"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        before = list(warnings.filters)
        results = await asyncio.gather(*(agent.run(client, f"q{n}") for n in range(6)))
        assert [r.result for r in results] == ["ok"] * 6
        assert list(warnings.filters) == before


@pytest.mark.slow
def test_agent_suite_in_the_order_that_failed(tmp_path: Path) -> None:
    """The order seen failing on a fresh machine: the crash tests first (they import
    litellm), then the agent-run tests, in one pytest process."""
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "tests/agents/test_agent_crash.py::test_reference_run_without_crash",
            "tests/agents/test_agent_run.py",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
        env={**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"},
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert " failed" not in proc.stdout


def test_missing_local_model_names_the_install_command(tmp_path: Path) -> None:
    proc = _run(
        f"""
        import asyncio, sys
        sys.modules["llama_cpp"] = None  # as in an environment without the local extra
        from polos_nb import Agent, PolosClient, LocalModelUnavailableError
        from polos_nb.errors import ExecutionFailedError

        async def main():
            client = PolosClient(journal={str(tmp_path / "j.duckdb")!r})
            agent = Agent(id="local", provider="local", model="gemma3-270m")
            try:
                await agent.run(client, "hi")
            except ExecutionFailedError as exc:
                print("FAILED:", exc)
            client.close()

        asyncio.run(main())
        """,
        tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    assert "LocalModelUnavailableError" in out, out
    assert "scripts/install_local_model.sh" in out and "polos_nb[local]" in out, out
    assert "LiteLLM" not in out, out


def test_local_model_being_built_says_so(tmp_path: Path) -> None:
    log = tmp_path / "local-model.log"
    log.write_text("polos_nb: building the local model\n")
    code = """
        import sys
        sys.modules["llama_cpp"] = None
        from polos_nb.llm._local import ensure_local_backend
        try:
            ensure_local_backend()
        except Exception as exc:
            print(type(exc).__name__, exc)
        """
    env_code = f"import os; os.environ['POLOS_LOCAL_MODEL_LOG'] = {str(log)!r}\n"
    proc = _run(env_code + textwrap.dedent(code), tmp_path)
    assert "LocalModelUnavailableError" in proc.stdout, proc.stdout + proc.stderr
    assert "in the background" in proc.stdout and str(log) in proc.stdout
    log.write_text("polos_nb: local model install ended (exit 1)\n")
    proc = _run(env_code + textwrap.dedent(code), tmp_path)
    assert "in the background" not in proc.stdout and "install_local_model.sh" in proc.stdout


def test_pydantics_notes_about_litellms_types_are_not_shown() -> None:
    """Noise a user can do nothing about (it would land in a notebook cell's output); any
    other warning inside a call is still shown."""
    import warnings

    from polos_nb.llm._warnings import library_warnings_shown

    note = (
        "Items 'device_code', 'user_code' on TypedDict class '_DeviceCode' are using the "
        "`ReadOnly` qualifier. Pydantic will not protect items from any mutation."
    )
    with warnings.catch_warnings(record=True) as caught, library_warnings_shown():
        warnings.warn_explicit(note, UserWarning, "x.py", 1, module="pydantic._internal.x")
        warnings.warn_explicit("something else", UserWarning, "x.py", 2, module="pydantic.y")
    assert [str(w.message) for w in caught] == ["something else"]

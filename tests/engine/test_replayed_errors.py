"""Replayed errors are rebuilt from their exact stable name, not by matching type names.

A journaled error carries ``class`` (polos_nb's classes by their public path, a user's by
``module:Qualname``); rows written before that key existed still decode by the old rules.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path
from typing import Any

import duckdb
import pytest

from polos_nb import (
    ExecutionFailedError,
    PolosClient,
    StepExecutionError,
    StepTimeoutError,
    WorkflowContext,
    workflow,
)
from polos_nb import WaitTimeoutError as PolosWaitTimeoutError
from tests.engine.helpers import rows, wait_status


class WaitTimeoutError(Exception):
    """A user's exception that happens to share its name with one of polos_nb's errors."""


USER_CLASS = f"{WaitTimeoutError.__module__}:WaitTimeoutError"
USER_TYPE = f"{WaitTimeoutError.__module__}.WaitTimeoutError"


def uid(name: str) -> str:
    return f"{name}_{uuid.uuid4().hex[:10]}"


def _raise_users() -> None:
    raise WaitTimeoutError("the user's own timeout")


def _describe(exc: BaseException) -> dict[str, Any]:
    return {
        "class": type(exc).__name__,
        "module": type(exc).__module__,
        "error_type": getattr(exc, "error_type", None),
        "what": getattr(exc, "what", None),
    }


async def _run_to_hold_then_replay(
    journal_path: Path,
    keys: list[str],
    seen: list[dict[str, Any]],
    rewrite: dict[str, dict[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """Run a workflow whose steps ``keys`` fail, hold it at a suspension, restart the engine
    (optionally rewriting failed steps' journaled errors first) and replay it to its end."""
    wf_id = uid("replayed_errors")

    @workflow(id=wf_id)
    async def flow(ctx: WorkflowContext) -> str:
        for key in keys:
            try:
                await ctx.step.run(key, _raise_users)
            except Exception as exc:
                seen.append({"key": key, **_describe(exc)})
        await ctx.step.suspend("hold", {})
        return "done"

    client = PolosClient(journal=journal_path)
    handle = await flow.invoke(client)
    await wait_status(client, handle.id, "waiting")
    client.close()
    if rewrite:
        con = duckdb.connect(str(journal_path))
        try:
            for key, error in rewrite.items():
                con.execute(
                    "UPDATE steps SET error = ? WHERE execution_id = ? AND step_key = ?",
                    [json.dumps(error), handle.id, key],
                )
        finally:
            con.close()
    client = PolosClient(journal=journal_path)
    try:
        await client.resume(wf_id, handle.id, "hold", {})
        assert await client.wait_for_result(handle.id, timeout=20) == "done"
        return await rows(
            client,
            "SELECT step_key, error::VARCHAR FROM steps WHERE execution_id = ? AND status = 'failed'",
            [handle.id],
        )
    finally:
        client.close()


async def test_a_users_class_named_like_ours_replays_as_the_users_error(journal_path):
    seen: list[dict[str, Any]] = []
    failed = await _run_to_hold_then_replay(journal_path, ["mine"], seen)
    # Journaled under the user's exact name, beside the type shown to people.
    [(key, error)] = failed
    assert key == "mine"
    assert {k: json.loads(error)[k] for k in ("type", "class")} == {
        "type": USER_TYPE,
        "class": USER_CLASS,
    }
    # The first run and the replay raise the same error: a step failure naming the user's
    # class (matching the type name would have made it polos_nb's WaitTimeoutError).
    assert len(seen) == 2
    first, replayed = seen
    assert first == replayed
    assert replayed == {
        "key": "mine",
        "class": StepExecutionError.__name__,
        "module": StepExecutionError.__module__,
        "error_type": USER_TYPE,
        "what": None,
    }


async def test_rows_of_the_old_form_still_decode(journal_path):
    # Rows written before errors carried "class": only the dotted type name.
    old_timeout = {
        "type": "polos_nb.errors.WaitTimeoutError",
        "message": "Event wait 'x' of execution e timed out at 2026-01-01T00:00:00+00:00.",
        "what": "Event wait 'x' of execution e",
        "deadline": "2026-01-01T00:00:00+00:00",
    }
    old_attempt = {
        "type": "polos_nb.engine._context._AttemptTimeout",
        "message": "step 'slow' did not finish within 30s",
    }
    old_user = {"type": USER_TYPE, "message": "the user's own timeout"}
    seen: list[dict[str, Any]] = []
    await _run_to_hold_then_replay(
        journal_path,
        ["timeout", "attempt", "user"],
        seen,
        rewrite={"timeout": old_timeout, "attempt": old_attempt, "user": old_user},
    )
    replayed = {entry["key"]: entry for entry in seen[3:]}
    assert replayed["timeout"]["class"] == PolosWaitTimeoutError.__name__
    assert replayed["timeout"]["module"] == "polos_nb.errors"
    assert replayed["timeout"]["what"] == "Event wait 'x' of execution e"
    assert replayed["attempt"]["class"] == StepTimeoutError.__name__
    assert replayed["attempt"]["error_type"] == "polos_nb.engine._context._AttemptTimeout"
    # An old row names only a type: the old matching applies to it, as it always did.
    assert replayed["user"]["class"] == PolosWaitTimeoutError.__name__


async def test_an_attempt_timeout_is_journaled_under_a_stable_name(journal_path):
    wf_id = uid("attempt_timeout")

    async def slow() -> None:
        await asyncio.sleep(60)

    @workflow(id=wf_id)
    async def flow(ctx: WorkflowContext) -> str:
        try:
            await ctx.step.run("slow", slow, timeout=0.2)
        except StepTimeoutError as exc:
            return exc.error_type
        return "no timeout"

    client = PolosClient(journal=journal_path)
    try:
        handle = await flow.invoke(client)
        assert await client.wait_for_result(handle.id, timeout=20) == (
            "polos_nb.engine._context._AttemptTimeout"
        )
        errors = await rows(
            client,
            "SELECT error::VARCHAR FROM steps WHERE execution_id = ? AND step_key = 'slow'",
            [handle.id],
        )
        assert errors  # every attempt (the step retries by default) under the stable name
        assert {json.loads(e)["class"] for (e,) in errors} == {"polos_nb.engine:StepAttemptTimeout"}
    finally:
        client.close()


async def test_a_run_failing_with_a_users_class_named_like_ours_is_a_failure(client):
    wf_id = uid("run_fails")

    @workflow(id=wf_id)
    async def flow(ctx: WorkflowContext) -> None:
        raise WaitTimeoutError("the user's own timeout")

    handle = await flow.invoke(client)
    with pytest.raises(ExecutionFailedError) as info:
        await client.wait_for_result(handle.id, timeout=20)
    assert info.value.error_type == USER_TYPE


async def test_a_run_past_its_deadline_still_raises_wait_timeout(client):
    wf_id = uid("run_deadline")

    @workflow(id=wf_id)
    async def flow(ctx: WorkflowContext) -> None:
        await ctx.step.suspend("forever", {})

    handle = await flow.invoke(client, run_timeout_seconds=0.3)
    with pytest.raises(PolosWaitTimeoutError):
        await client.wait_for_result(handle.id, timeout=20)

"""Journal tools: replay a finished run, fork a run from a step, compare two runs.

- **replay** re-runs a finished execution's workflow function against its journal, with
  no side effects: every step must come back from the journal in the recorded order, and
  the result must equal the recorded one. It proves the code still matches the journal.
- **fork** starts a new execution of the same workflow whose journal is a copy of the
  source's steps *before* a chosen step; from that step on it runs for real. Pass
  ``result=`` to replace the chosen step's outcome instead of running it again ("what if
  the model had answered this?"). The fork records ``forked_from`` and ``fork_position``.
- **compare** lines two executions up step by step (by position) for a side-by-side view.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError

from polos_nb import _serde
from polos_nb.errors import ExecutionNotFoundError, UserError, WorkflowNotFoundError

from . import _workflow as registry
from ._context import CURRENT, WorkflowContext
from ._signals import Park
from ._types import TERMINAL_STATUSES, ExecutionHandle
from .journal import StepRow, Update

if TYPE_CHECKING:
    from ._records import Exec
    from ._runtime import Runtime

__all__ = ["ReplayReport", "StepComparison", "compare", "fork", "replay"]

_UNSET: Any = object()


class ReplayReport(BaseModel):
    """Outcome of replaying a finished run from its journal."""

    execution_id: str
    workflow_id: str
    steps_replayed: int
    matches: bool
    result: Any = None
    recorded_result: Any = None
    error: str | None = None
    recorded_error: Any = None


class StepComparison(BaseModel):
    """One step position of two runs, side by side."""

    position: int
    key_a: str | None
    key_b: str | None
    kind: str | None
    status_a: str | None
    status_b: str | None
    output_a: Any = None
    output_b: Any = None
    same: bool


async def _load_exec(rt: Runtime, execution_id: str) -> tuple[Exec, Any]:
    from ._records import exec_from_row

    row = await rt.read(rt.journal.execution(execution_id))
    if row is None:
        raise ExecutionNotFoundError(execution_id)
    found = await rt.read(rt.journal.outcomes([execution_id]))
    extra = (found[0].result, found[0].error) if found else (None, None)
    return exec_from_row(row), extra


def _finished(rows: list[StepRow]) -> list[StepRow]:
    """Attempts that ended (completed or failed) at a position, in journal order."""
    return [r for r in rows if r.status in ("completed", "failed") and r.position is not None]


async def replay(rt: Runtime, execution_id: str) -> ReplayReport:
    """Replay a finished run against its journal, writing nothing."""
    ex, (result_json, error_json) = await _load_exec(rt, execution_id)
    if ex.status not in TERMINAL_STATUSES:
        raise UserError(
            f"Execution {execution_id} is {ex.status}; replay needs a finished run "
            "(wait for it, or fork it to try something else)."
        )
    wf = registry.get_workflow(ex.workflow_id)
    if wf is None:
        raise WorkflowNotFoundError(ex.workflow_id, list(registry.get_all_workflows()))
    ex.replay_only = True
    await rt._load(ex)
    ctx = WorkflowContext(rt, ex, wf)
    token = CURRENT.set(ctx)
    value: Any = None
    error: str | None = None
    try:
        payload = _serde.loads(ex.payload_json) if ex.payload_json is not None else None
        value = await wf.call(ctx, payload)
        if ctx._fatal is not None:
            raise ctx._fatal
    except Park:
        error = (ctx._fatal and f"{type(ctx._fatal).__name__}: {ctx._fatal}") or (
            "the run would wait again: its journal ends at a suspension, sleep or child"
        )
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
    finally:
        CURRENT.reset(token)
    recorded_error = _serde.loads(error_json, strict=False) if error_json else None
    if ex.status == "completed":
        try:
            matches = error is None and _serde.dumps(value) == result_json
        except Exception:
            matches = False
    else:
        recorded_type = str((recorded_error or {}).get("type", "")).rsplit(".", 1)[-1]
        matches = error is not None and recorded_type != "" and error.startswith(recorded_type)
    return ReplayReport(
        execution_id=execution_id,
        workflow_id=ex.workflow_id,
        steps_replayed=ctx.step._next_position,
        matches=matches,
        result=value,
        recorded_result=_serde.loads(result_json, strict=False),
        error=error,
        recorded_error=recorded_error,
    )


async def fork(
    rt: Runtime, execution_id: str, at: str | int, result: Any = _UNSET, *, payload: Any = _UNSET
) -> ExecutionHandle:
    """Start a new run that reuses ``execution_id``'s journal before step ``at``.

    ``at`` is a step key or a position (0 = the first step). With ``result=``, the step at
    ``at`` is recorded with that value instead of running again. ``payload=`` replaces the
    input (validated like any payload).
    """
    source, _ = await _load_exec(rt, execution_id)
    if source.parent_id is not None:
        raise UserError(
            f"Execution {execution_id} is a child run; fork its root execution {source.root_id}."
        )
    wf = registry.get_workflow(source.workflow_id)
    if wf is None:
        raise WorkflowNotFoundError(source.workflow_id, list(registry.get_all_workflows()))
    rows = await rt.read(rt.journal.steps(execution_id))
    latest: dict[str, tuple[Any, ...]] = {}
    for step in _finished(rows):
        latest[step.step_key] = (
            step.step_key,
            step.position,
            step.kind,
            step.status,
            step.output,
            step.error,
            step.state,
        )
    by_position = {r[1]: r for r in latest.values()}
    if isinstance(at, str):
        match = latest.get(at)
        if match is None:
            raise UserError(
                f"Execution {execution_id} has no journaled step {at!r}; "
                f"its steps are {sorted(latest, key=lambda k: latest[k][1])}."
            )
        position = match[1]
    elif isinstance(at, int) and not isinstance(at, bool) and at >= 0:
        position = at
    else:
        raise UserError(f"fork(at=...) takes a step key or a position >= 0, got {at!r}.")
    if result is not _UNSET and position not in by_position:
        raise UserError(f"Execution {execution_id} has no step at position {position} to replace.")
    payload_json = source.payload_json
    if payload is not _UNSET:
        payload_json = _serde.dumps(wf.validate_payload(payload)) if wf._takes_payload else None
    ex, insert = rt.starts.new_exec(
        wf.id,
        wf.workflow_type,
        payload_json,
        initial_state_json=source.initial_state_json,
        queue_name=source.queue_name,
        concurrency_key=source.concurrency_key,
        session_id=source.session_id,
        user_id=source.user_id,
    )
    ops: list[Any] = [
        insert,
        Update(
            "executions", "id", ex.id, ("forked_from", "fork_position"), (execution_id, position)
        ),
    ]
    now = rt.clock.now()
    for pos in sorted(p for p in by_position if p < position):
        key, _, kind, status, output, error, state = by_position[pos]
        ops.append(
            rt.step_insert(ex, key, pos, kind, 1, status, None, output, error, state, now, now)
        )
    if result is not _UNSET:
        key, _, kind, _, recorded, _, state = by_position[position]
        result = _as_recorded_type(result, recorded, key)
        ops.append(
            rt.step_insert(
                ex,
                key,
                position,
                kind,
                1,
                "completed",
                None,
                _serde.dumps(result),
                None,
                state,
                now,
                now,
            )
        )
    await rt.commit(ops)
    rt.adopt(ex)
    return rt.bind_handle(ex.handle())


def _as_recorded_type(result: Any, recorded: Any, key: str) -> Any:
    """A plain dict given for a step that recorded a Pydantic model, as that model.

    An agent's model call records an ``LLMResponse``; ``fork(..., result={"content": ...})``
    means one, and the run would otherwise fail later on a dict. A dict that does not fit
    is refused here, before anything is written, naming the step and the fields.
    """
    if not isinstance(result, dict) or not isinstance(recorded, str):
        return result
    try:
        tagged = json.loads(recorded)
    except ValueError:
        return result
    if not (isinstance(tagged, dict) and tagged.get("$t") == "model"):
        return result
    cls = _serde._resolve(str(tagged.get("cls", "")))
    if cls is None or not (isinstance(cls, type) and issubclass(cls, BaseModel)):
        return result
    try:
        return cls.model_validate(result)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(value)'}: {err['msg']}"
            for err in exc.errors()
        )
        raise UserError(
            f"fork(result=...) for step {key!r}: that step recorded a {cls.__name__}, and the "
            f"dict given does not fit it ({problems}). Pass a {cls.__name__}, or a dict of "
            "its fields."
        ) from None


async def compare(rt: Runtime, a: str, b: str) -> list[StepComparison]:
    """Both runs' steps by position: keys, statuses, outputs, and whether they agree."""

    async def steps(execution_id: str) -> dict[int, tuple[Any, ...]]:
        found = _finished(await rt.read(rt.journal.steps(execution_id)))
        if not found:
            exists = await rt.read(rt.journal.outcomes([execution_id]))
            if not exists:
                raise ExecutionNotFoundError(execution_id)
        return {
            s.position: (s.position, s.step_key, s.kind, s.status, s.output, s.error)
            for s in found
            if s.position is not None
        }

    left, right = await steps(a), await steps(b)
    out = []
    for position in sorted(set(left) | set(right)):
        la, rb = left.get(position), right.get(position)
        value_a = (
            _serde.loads(la[4] if la[3] == "completed" else la[5], strict=False) if la else None
        )
        value_b = (
            _serde.loads(rb[4] if rb[3] == "completed" else rb[5], strict=False) if rb else None
        )
        same = la is not None and rb is not None and la[1:5] == rb[1:5]
        out.append(
            StepComparison(
                position=position,
                key_a=la[1] if la else None,
                key_b=rb[1] if rb else None,
                kind=(left[position] if position in left else right[position])[2],
                status_a=la[3] if la else None,
                status_b=rb[3] if rb else None,
                output_a=value_a,
                output_b=value_b,
                same=same,
            )
        )
    return out

"""Approvals without a widget — and the one function every approval goes through.

``approve(run, key, data)`` finds the suspension, validates the answer against the
suspension's form in Python, and delivers it with ``client.resume(...)`` on the engine's
thread. The run widget's buttons, ``%polos approve`` and plain scripts all call it, so
an answer is validated the same way whichever way it comes.
"""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from polos_nb.errors import ApprovalValidationError, ResumeError, UserError

from . import _session
from ._forms import AnswerErrors, FormSpec, form_spec, validate_answer

if TYPE_CHECKING:
    from polos_nb.engine import PendingSuspension, PolosClient

__all__ = ["PendingApproval", "approvals_of", "approve", "pending_approvals", "prepare_answer"]


@dataclass
class PendingApproval:
    """A suspension waiting for a human: which run, which key, and the form it asks."""

    execution_id: str
    root_execution_id: str
    workflow_id: str
    key: str
    data: Any = None
    created_at: dt.datetime | None = None
    spec: FormSpec = field(default_factory=lambda: FormSpec())
    client: PolosClient | None = field(default=None, repr=False, compare=False)

    def approve(self, data: Any = None, **options: Any) -> dict[str, Any]:
        """Answer this suspension (see :func:`approve`)."""
        return approve(self.execution_id, self.key, data, client=self.client, **options)

    def reject(self, feedback: str | None = None) -> dict[str, Any]:
        """Reject this approval, with optional feedback for the agent."""
        return approve(
            self.execution_id, self.key, reject=True, feedback=feedback, client=self.client
        )

    def _repr_html_(self) -> str:
        from ._html import approval_card

        return approval_card(self)

    def __str__(self) -> str:
        return f"{self.workflow_id} {self.execution_id} waits at {self.key!r}: {self.spec.get('title', '')}"


def pending_approvals(
    run: Any = None, *, client: PolosClient | None = None
) -> list[PendingApproval]:
    """Suspensions that wait for an answer: of one run's tree, or of the whole journal."""
    client = _session.client_of(run, client) if run is not None else _session.get_client(client)
    run_id = _session.run_id_of(run) if run is not None else None
    return approvals_of(_session.call(client, client.pending_suspensions(run_id)), client)


def approvals_of(
    found: list[PendingSuspension], client: PolosClient | None = None
) -> list[PendingApproval]:
    """The :class:`PendingApproval` of each pending suspension (the engine's typed read)."""
    return [
        PendingApproval(
            execution_id=item.execution_id,
            root_execution_id=item.root_execution_id,
            workflow_id=item.workflow_id,
            key=item.key,
            data=item.data,
            created_at=item.created_at,
            spec=form_spec(item.data, step_key=item.key),
            client=client,
        )
        for item in found
    ]


def approve(
    run: Any,
    key: str | None = None,
    data: Any = None,
    *,
    reject: bool = False,
    feedback: str | None = None,
    always: bool = False,
    schema: type[BaseModel] | dict[str, Any] | None = None,
    client: PolosClient | None = None,
    wait: bool = True,
    timeout: float | None = 60.0,
) -> Any:
    """Answer a suspension of ``run``: validate ``data`` against its form, then resume it.

    Args:
        run: a run, a handle or an execution id (the run's root works for its children's
            suspensions too).
        key: the suspension's step key; optional when exactly one is pending.
        data: the answer (a dict of the form's fields). For a yes/no approval form it may
            be omitted: ``approve(run)`` approves, ``approve(run, reject=True,
            feedback="...")`` rejects.
        always: approve this tool for the rest of the run (``{"always": True}``; the
            agent stops asking for it).
        schema: validate against this Pydantic model / JSON schema instead of the
            suspension's own form.
        wait: ``False`` returns a ``concurrent.futures.Future`` at once (the widget's path).

    Returns the data delivered. Raises ``ApprovalValidationError`` (per-field errors,
    nothing delivered) or ``ResumeError`` / ``UserError`` when nothing waits.
    """
    client = _session.client_of(run, client)
    run_id = _session.run_id_of(run)
    pending = pending_approvals(run_id, client=client)
    wf_id, exec_id, step_key, payload = prepare_answer(
        run_id,
        key,
        data,
        pending,
        reject=reject,
        feedback=feedback,
        always=always,
        schema=schema,
    )
    future = client.submit(client.resume(wf_id, exec_id, step_key, payload))
    if not wait:
        out: concurrent.futures.Future[Any] = concurrent.futures.Future()

        def done(f: concurrent.futures.Future[Any]) -> None:
            exc = f.exception()
            if exc is not None:
                out.set_exception(exc)
            else:
                out.set_result(payload)

        future.add_done_callback(done)
        return out
    future.result(timeout)
    return payload


def prepare_answer(
    run_id: str,
    key: str | None,
    data: Any,
    pending: list[PendingApproval],
    *,
    reject: bool = False,
    feedback: str | None = None,
    always: bool = False,
    schema: type[BaseModel] | dict[str, Any] | None = None,
) -> tuple[str | None, str, str, Any]:
    """The resume an answer makes, checked against the form of the suspension it answers:
    ``(workflow id, execution id, step key, data)`` (the arguments of :func:`approve`;
    ``pending``: the run's pending suspensions). Raises as :func:`approve` does."""
    target = _choose(run_id, key, pending)
    if target is None:
        # Not pending (yet): the engine keeps an early answer and delivers it when the run
        # reaches the suspension; it cannot be checked against a form it has not shown.
        if key is None:
            raise ResumeError(f"Run {run_id} has no pending approval; nothing to answer.")
        spec = _spec_for(schema, key) if schema is not None else None
        exec_id, wf_id = run_id, None
    else:
        spec = target.spec if schema is None else _spec_for(schema, target.key)
        exec_id, wf_id, key = target.execution_id, target.workflow_id, target.key
    if reject and spec is not None and spec.get("approval"):
        # Rejecting asks for nothing but optional feedback: the form's other fields (an
        # amount, a reason...) are for approving and are not required here.
        if feedback is None and isinstance(data, dict):
            feedback = data.get("feedback")
        data, spec = None, _reject_spec(spec)
    payload = _payload(spec, data, reject=reject, feedback=feedback, always=always)
    if spec is not None:
        try:
            cleaned = validate_answer(spec, payload)
        except AnswerErrors as exc:
            raise ApprovalValidationError(exec_id, str(key), exc.errors) from None
        if spec.get("approval") and always and not reject:
            cleaned["always"] = True
        payload = cleaned
    return wf_id, exec_id, str(key), payload


def _choose(run_id: str, key: str | None, pending: list[PendingApproval]) -> PendingApproval | None:
    if key is None:
        if not pending:
            return None
        if len(pending) > 1:
            keys = ", ".join(repr(p.key) for p in pending)
            raise UserError(
                f"Run {run_id} waits at several suspensions ({keys}); say which: approve(run, key, ...)."
            )
        return pending[0]
    matches = [p for p in pending if p.key == key]
    if len(matches) > 1:
        ids = ", ".join(p.execution_id for p in matches)
        raise UserError(
            f"Several executions of run {run_id} wait at {key!r} ({ids}); pass the exact execution id."
        )
    if matches:
        return matches[0]
    if pending:
        keys = ", ".join(repr(p.key) for p in pending)
        raise ResumeError(f"Run {run_id} does not wait at {key!r}; it waits at {keys}.")
    return None


def _reject_spec(spec: FormSpec) -> FormSpec:
    """The part of an approval form a rejection answers: ``approved`` and ``feedback``."""
    schema = dict(spec.get("schema") or {})
    props = schema.get("properties") or {}
    schema["properties"] = {k: v for k, v in props.items() if k in ("approved", "feedback")}
    schema["required"] = ["approved"]
    return {**spec, "schema": schema}


def _spec_for(schema: Any, key: str) -> FormSpec:
    if isinstance(schema, type) and issubclass(schema, BaseModel):
        return form_spec({"_schema": schema.model_json_schema()}, step_key=key)
    if isinstance(schema, dict):
        return form_spec({"_schema": schema}, step_key=key)
    raise UserError(f"schema= takes a Pydantic model class or a JSON schema dict, got {schema!r}.")


def _payload(
    spec: FormSpec | None, data: Any, *, reject: bool, feedback: str | None, always: bool
) -> Any:
    if isinstance(data, BaseModel):
        data = data.model_dump(mode="json")
    if isinstance(data, str) and spec is not None and data.strip().startswith("{"):
        try:
            data = json.loads(data)
        except json.JSONDecodeError as exc:
            raise UserError(f"The answer is not valid JSON: {exc}") from None
    is_approval = bool(spec.get("approval")) if spec is not None else data is None
    if not is_approval:
        if reject or always:
            if spec is None:  # an early answer (nothing pending to check it against)
                raise UserError(
                    "reject/always answer an approval, but data= makes this answer input; "
                    "pass either data={...} or reject/always, not both."
                )
            raise UserError(
                f"Suspension {spec.get('key')!r} asks for input ({spec.get('title')!r}), not for an approval; "
                "answer it with data={...} instead of reject/always."
            )
        if feedback is not None:
            raise UserError("feedback= is for approvals; put the answer in data={...}.")
        return data if data is not None else {}
    payload = dict(data) if isinstance(data, dict) else ({} if data is None else data)
    if isinstance(payload, dict):
        if reject:
            payload["approved"] = False
        elif "approved" not in payload:
            payload["approved"] = True
        if feedback is not None:
            payload["feedback"] = feedback
        if always and not reject:
            payload["always"] = True
    return payload


def describe(pending: list[PendingApproval]) -> str:
    """Plain-text lines for a list of pending approvals (for ``%polos`` and logs)."""
    if not pending:
        return "No pending approvals."
    lines = []
    for p in pending:
        lines.append(
            f"- {p.workflow_id} {p.execution_id} waits at {p.key!r}: {p.spec.get('title', '')}"
        )
    return "\n".join(lines)

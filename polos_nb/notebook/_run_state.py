"""``RunState``: what a run's widget shows, built from the run's event stream.

A :class:`RunState` folds a run's events (lifecycle, steps, tool calls, streamed text,
suspensions) into one snapshot: status, steps, tool calls, usage and cost, output, pending
approvals. A sink (the live widget, when the run is displayed) receives a full snapshot
at most every ``interval`` seconds plus the new streamed text as deltas, so a fast model
cannot flood the frontend: at most two messages per interval per run. :class:`Run`
(``_run.py``) drives it; the JupyterLab extension's reads use it for runs at rest.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import re
import threading
import time
from typing import Any, Protocol

from pydantic import BaseModel

from polos_nb import _secrets, _serde
from polos_nb.contracts import (
    STEP_FINISH,
    STEP_START,
    STREAM_START,
    TEXT_DELTA,
    TOOL_CALL_FINISH,
    TOOL_CALL_START,
    parse_step_key,
    resumed_key,
    suspended_key,
)

from ._forms import form_spec

__all__ = ["RUN_MIME", "RunState", "Sink", "plain", "short"]

_LIFECYCLE = re.compile(r"^([a-z]+)_(start|finish|error|cancel|retry|blocked|unblocked)$")
_STATUS_OF = {
    "start": "running",
    "finish": "completed",
    "error": "failed",
    "cancel": "cancelled",
    "retry": "waiting",
    "blocked": "waiting",  # parked until its code, a class or the journal is back
    "unblocked": "running",
}
DEFAULT_INTERVAL = 0.08


class Sink(Protocol):
    """What a :class:`RunState` pushes to (the run widget)."""

    def apply(self, snapshot: dict[str, Any]) -> None: ...

    def delta(self, text: str) -> None: ...


RUN_MIME = "application/vnd.polos.run+json"
"""A run's state as JSON in its output: what the JupyterLab extension draws a saved run from."""


def plain(value: Any) -> Any:
    """A JSON-able form of a journaled value (models dumped, unresolved tags unwrapped)."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, dict):
        if "$t" in value and "v" in value:
            return plain(value["v"])
        return {str(k): plain(v) for k, v in value.items() if k != "_metadata"}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def short(value: Any, limit: int = 300) -> str:
    """A one-line text form of a value, cut at ``limit`` characters (credentials removed)."""
    if isinstance(value, str):
        text = value
    else:
        try:
            text = json.dumps(plain(value), ensure_ascii=False, default=str)
        except Exception:
            text = repr(value)
    text = _secrets.redact(text).replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _iso(value: Any) -> str | None:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    return value if isinstance(value, str) else None


def _ms(start: Any, end: Any) -> float | None:
    try:
        a = start if isinstance(start, dt.datetime) else dt.datetime.fromisoformat(str(start))
        b = end if isinstance(end, dt.datetime) else dt.datetime.fromisoformat(str(end))
        return round((b - a).total_seconds() * 1000, 1)
    except Exception:
        return None


class RunState:
    """The display state of one run, fed by its events (on the engine thread).

    Everything here is plain JSON so it syncs to the widget and renders as static HTML.
    """

    def __init__(
        self,
        run_id: str,
        workflow_id: str = "",
        status: str = "queued",
        interval: float = DEFAULT_INTERVAL,
    ) -> None:
        self.run_id = run_id
        self.workflow_id = workflow_id
        self.workflow_type = "workflow"
        self.status = status
        self.interval = interval
        self.steps: dict[str, dict[str, Any]] = {}
        self.tools: dict[str, dict[str, Any]] = {}
        self.texts: dict[str, str] = {}
        self._final_texts: set[str] = set()  # calls whose journaled reply set their text
        self.usage: dict[str, Any] = {}
        self._step_usage: dict[str, dict[str, Any]] = {}
        self._final_usage: dict[str, Any] = {}
        self.approvals: dict[str, dict[str, Any]] = {}
        self.output: str | None = None
        self.output_value: Any = None
        self.error: str | None = None
        self.note: str | None = None
        self.started_at: str | None = None
        self.ended_at: str | None = None
        self.done = False
        self.events_seen = 0
        self._lock = threading.RLock()
        self._sinks: list[Sink] = []
        self._sent_text = ""
        self._dirty = False
        self._last_flush = 0.0
        self._flush_handle: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.flushes = 0

    # ------------------------------------------------------------------ reading events
    def feed(self, event: Any) -> None:
        """Apply one stream event (``StreamEvent``) to the state."""
        kind = event.event_type or ""
        data = event.data if isinstance(event.data, dict) else {}
        meta = data.get("_metadata") or {}
        own = meta.get("execution_id") == self.run_id
        with self._lock:
            self.events_seen += 1
            if kind == STEP_START:
                key = str(data.get("step_key"))
                step = self.steps.setdefault(key, {"key": key})
                step.update(
                    kind=data.get("step_type"),
                    status="running",
                    attempt=data.get("attempt", 1),
                    started=_iso(event.created_at),
                    execution_id=meta.get("execution_id"),
                )
            elif kind == STEP_FINISH:
                self._step_finish(data, event.created_at, meta)
            elif kind == TEXT_DELTA:
                text_key = str(data.get("step"))
                text = str(data.get("content") or "")
                if not self._latest_attempt(text_key) or text_key in self._final_texts:
                    pass  # a rejected attempt, or a call whose whole text is already known
                elif data.get("replay"):
                    if len(text) > len(self.texts.get(text_key, "")):
                        self.texts[text_key] = text
                else:
                    self.texts[text_key] = self.texts.get(text_key, "") + text
            elif kind == STREAM_START:
                text_key = str(data.get("step"))
                if not self._latest_attempt(text_key) or text_key in self._final_texts:
                    pass
                elif (data.get("attempt") or 0) > 1:
                    self.texts[text_key] = ""  # a retried call streams again from its start
                else:
                    self.texts.setdefault(text_key, "")
            elif kind == TOOL_CALL_START:
                call_id = str(data.get("call_id"))
                self.tools[call_id] = {
                    "call_id": call_id,
                    "name": data.get("name"),
                    "step": data.get("step"),
                    "arguments": short(_parse_json(data.get("arguments")), 500),
                    "status": "running",
                    "result": None,
                    "error": None,
                }
            elif kind == TOOL_CALL_FINISH:
                call_id = str(data.get("call_id"))
                tool = self.tools.setdefault(
                    call_id, {"call_id": call_id, "name": data.get("name"), "arguments": ""}
                )
                tool.update(
                    status=data.get("status"),
                    result=short(data.get("result"), 500)
                    if data.get("result") is not None
                    else None,
                    error=data.get("error"),
                )
            elif (suspended := suspended_key(kind)) is not None:
                key = suspended
                spec = form_spec({k: v for k, v in data.items() if k != "_metadata"}, step_key=key)
                self.approvals[key] = {
                    **spec,
                    "execution_id": meta.get("execution_id", self.run_id),
                    "workflow_id": meta.get("workflow_id", self.workflow_id),
                    "status": "pending",
                    "errors": {},
                    "answer": None,
                    "answer_data": None,
                }
                # the suspension is a step of the timeline while it waits
                step = self.steps.setdefault(key, {"key": key})
                if step.get("status") != "completed":
                    step.update(
                        kind="suspend",
                        status="waiting",
                        started=step.get("started") or _iso(event.created_at),
                        execution_id=meta.get("execution_id"),
                        detail=spec.get("title") or "",
                    )
                if own:
                    self.status = "waiting"
                self._tool_approval(key, "waiting")
            elif (resumed := resumed_key(kind)) is not None:
                key = resumed
                entry = self.approvals.get(key)
                answer = plain({k: v for k, v in data.items() if k != "_metadata"})
                if entry is not None:
                    entry["status"] = _answer_status(entry, answer)
                    entry["answer"] = short(answer, 300)
                    entry["answer_data"] = answer if isinstance(answer, dict) else None
                    entry["errors"] = {}
                if isinstance(answer, dict) and entry is not None and entry.get("approval"):
                    if answer.get("approved") is True:
                        self._tool_approval(key, "running")
                    else:
                        feedback = answer.get("feedback")
                        self._tool_approval(
                            key, "failed", "rejected" + (f": {feedback}" if feedback else "")
                        )
                waited = self.steps.get(key)
                if waited is not None and waited.get("status") == "waiting":
                    ended = _iso(event.created_at)
                    waited.update(
                        status="completed", ended=ended, ms=_ms(waited.get("started"), ended)
                    )
                if own and self.status == "waiting":
                    self.status = "running"
            elif own and event.sequence_id is not None and (m := _LIFECYCLE.match(kind)):
                self.workflow_type = m.group(1)
                self.status = _STATUS_OF[m.group(2)]
                if m.group(2) == "start":
                    self.started_at = self.started_at or _iso(event.created_at)
                elif m.group(2) == "blocked":
                    self.note = f"blocked, not failed: {_error_text(data.get('error'))}"
                elif m.group(2) == "unblocked":
                    self.note = None
                elif m.group(2) in ("finish", "error", "cancel"):
                    self.ended_at = _iso(event.created_at)
                    if m.group(2) == "error":
                        self.error = _error_text(data.get("error"))
                    if m.group(2) == "finish" and "result" in data:
                        self._set_output(data.get("result"))
            self._mark_dirty()

    def _latest_attempt(self, key: str) -> bool:
        """Whether ``key`` (``llm:3`` or a retry, ``llm:3#retry1``) is its step's latest
        attempt; the texts of earlier ones (a reply a guardrail rejected) are dropped, so
        the run shows the text it kept, once."""
        base, _, retry = key.partition("#retry")
        number = int(retry) if retry.isdigit() else 0
        for other in list(self.texts):
            o_base, _, o_retry = other.partition("#retry")
            if o_base != base or other == key:
                continue
            o_number = int(o_retry) if o_retry.isdigit() else 0
            if o_number > number:
                return False
            del self.texts[other]
        return True

    def _tool_approval(self, key: str, status: str, error: str | None = None) -> None:
        """The tool call an approval suspension is about (its key names the call's id), as
        it goes: waiting for the answer, then running or rejected."""
        if not key.startswith("approve"):
            return
        for call_id, tool in self.tools.items():
            if (
                call_id
                and key.endswith(call_id)
                and tool.get("status") not in ("completed", "failed")
            ):
                tool.update(status=status, error=error)

    def _step_finish(self, data: dict[str, Any], ended: Any, meta: dict[str, Any]) -> None:
        key = str(data.get("step_key"))
        parsed = parse_step_key(key)
        step = self.steps.setdefault(key, {"key": key})
        started = data.get("started_at") or step.get("started")
        suspended = data.get("step_type") == "suspend" or step.get("kind") == "suspend"
        if suspended and step.get("started"):
            started = step["started"]  # a suspension lasts from the question to the answer
        step.update(
            kind=data.get("step_type"),
            status=data.get("status"),
            attempt=data.get("attempt", 1),
            started=started,
            ended=_iso(ended),
            ms=_ms(started, ended) if started else None,
            execution_id=meta.get("execution_id"),
        )
        result = data.get("result")
        if data.get("status") == "completed":
            value = plain(result)
            if parsed.kind == "llm" and isinstance(value, dict):
                usage = value.get("usage") or {}
                step["tokens"] = {
                    "input": usage.get("input_tokens", 0),
                    "output": usage.get("output_tokens", 0),
                }
                self._step_usage[key] = usage if isinstance(usage, dict) else {}
                self._recount_usage()
                step["model"] = value.get("model")
                if isinstance(value.get("content"), str) and value["content"]:
                    text = value["content"]
                    if self._latest_attempt(key) and len(text) >= len(self.texts.get(key, "")):
                        self.texts[key] = text
                        self._final_texts.add(key)  # later deltas of it repeat it
                calls = value.get("tool_calls") or []
                step["detail"] = short(
                    value.get("content")
                    or ", ".join(f"{c.get('name')}(…)" for c in calls if isinstance(c, dict)),
                    160,
                )
                # Tool calls from the journal too (live tool events are missed by a late viewer).
                for call in calls:
                    if (
                        isinstance(call, dict)
                        and call.get("id")
                        and str(call["id"]) not in self.tools
                    ):
                        self.tools[str(call["id"])] = {
                            "call_id": str(call["id"]),
                            "name": call.get("name"),
                            "step": str(parsed.step),
                            "arguments": short(_parse_json(call.get("arguments")), 500),
                            "status": "running",
                            "result": None,
                            "error": None,
                        }
            elif suspended and isinstance(value, dict) and "data" in value:
                step["detail"] = short(value["data"], 160)  # the answer, not the event around it
            else:
                step["detail"] = short(value, 160)
            if parsed.kind == "tool" and isinstance(value, dict) and "ok" in value:
                call_id = str(parsed.call_id)
                tool = self.tools.setdefault(
                    call_id, {"call_id": call_id, "name": parsed.tool_name, "arguments": ""}
                )
                if value.get("ok"):
                    tool.update(
                        status="completed", result=short(value.get("result"), 500), error=None
                    )
                elif "approval" not in value:
                    tool.update(status="failed", error=str(value.get("error")))
            step["error"] = None
        else:
            step["error"] = _error_text(data.get("error"))

    def _recount_usage(self) -> None:
        """The run's usage: the sum over its journaled LLM calls (every call counts, also
        for a viewer that joined late), until the run's result gives the total."""
        if self._final_usage:
            return
        total: dict[str, Any] = {}
        for usage in self._step_usage.values():
            _add_usage(total, usage)
        self.usage = total

    def _set_output(self, value: Any) -> None:
        value = _serde.typed(value)  # event data is JSON; its view still holds the AgentResult
        self.output_value = value
        if (
            isinstance(value, BaseModel)
            and hasattr(value, "result")
            and hasattr(value, "stop_reason")
        ):
            result = value.result
            self.output = result if isinstance(result, str) else short(result, 4000)
            usage = plain(getattr(value, "usage", None))
            if isinstance(usage, dict) and (
                usage.get("input_tokens") or usage.get("output_tokens")
            ):
                total: dict[str, Any] = {}
                _add_usage(total, usage)
                self.usage = self._final_usage = total
            for r in (
                getattr(value, "tool_results", None) or []
            ):  # the authoritative outcome of each call
                entry = self.tools.setdefault(
                    r.tool_call_id,
                    {
                        "call_id": r.tool_call_id,
                        "name": r.tool_name,
                        "arguments": short(r.arguments, 500),
                    },
                )
                entry.update(
                    status=r.status,
                    result=short(r.result, 500) if r.status == "completed" else None,
                    error=r.error,
                )
        else:
            self.output = value if isinstance(value, str) else short(value, 4000)

    def finish(self, info: Any) -> None:
        """The run ended (or the stream stopped): take the final status, result and error."""
        with self._lock:
            if info is not None:
                self.status = info.status
                self.workflow_id = info.workflow_id
                if info.status == "completed":
                    self._set_output(info.result)
                elif info.error:
                    self.error = _error_text(info.error)
                self.started_at = self.started_at or _iso(info.started_at)
                self.ended_at = self.ended_at or _iso(info.completed_at)
            for entry in self.approvals.values():
                if entry["status"] == "pending" and self.status in (
                    "completed",
                    "failed",
                    "cancelled",
                ):
                    entry["status"] = "closed"
            self.done = True
            self._mark_dirty()

    # ------------------------------------------------------------------ what sinks get
    @property
    def text(self) -> str:
        return "\n\n".join(t for t in self.texts.values() if t)

    @property
    def pending(self) -> list[dict[str, Any]]:
        with self._lock:
            return [
                a
                for a in self.approvals.values()
                if a["status"] in ("pending", "invalid", "sending")
            ]

    def snapshot(self) -> dict[str, Any]:
        """The state as plain JSON, credentials removed (live events are not journaled)."""
        with self._lock:
            return _secrets.redact_value(self._snapshot())

    def _snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "run_id": self.run_id,
                "workflow_id": self.workflow_id,
                "workflow_type": self.workflow_type,
                "status": self.status,
                "steps": [dict(s) for s in self.steps.values()],
                "tools": [dict(t) for t in self.tools.values()],
                "text": self.text,
                "usage": dict(self.usage),
                "approvals": [dict(a) for a in self.approvals.values()],
                "output": self.output,
                "error": self.error,
                "note": self.note,
                "started_at": self.started_at,
                "ended_at": self.ended_at,
                "done": self.done,
            }

    def set_approval(self, key: str, **fields: Any) -> None:
        """Update one approval entry (status, errors) and push it at once."""
        with self._lock:
            entry = self.approvals.get(key)
            if entry is None:
                return
            entry.update(fields)
        self.flush(force=True)

    def attach(self, sink: Sink, loop: asyncio.AbstractEventLoop | None = None) -> None:
        with self._lock:
            self._sinks.append(sink)
            self._loop = loop or self._loop
            self._sent_text = self.text
            snap = self.snapshot()
        sink.apply(snap)

    def detach(self, sink: Sink) -> None:
        with self._lock:
            if sink in self._sinks:
                self._sinks.remove(sink)

    def _mark_dirty(self) -> None:
        self._dirty = True
        if not self._sinks:
            return
        loop = self._loop
        if loop is None or self._flush_handle is not None:
            return
        wait = max(0.0, self.interval - (time.monotonic() - self._last_flush))
        if self.done:
            wait = 0.0
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._flush_handle = loop.call_later(wait, self._timed_flush)
        else:
            loop.call_soon_threadsafe(self._schedule_from_loop, wait)
            self._flush_handle = True

    def _schedule_from_loop(self, wait: float) -> None:
        assert self._loop is not None
        self._flush_handle = self._loop.call_later(wait, self._timed_flush)

    def _timed_flush(self) -> None:
        self._flush_handle = None
        self.flush()

    def flush(self, force: bool = False) -> None:
        """Push what changed: the streamed text as a delta when it only grew, and a snapshot."""
        with self._lock:
            if not (self._dirty or force) or not self._sinks:
                return
            self._dirty = False
            self._last_flush = time.monotonic()
            self.flushes += 1
            text = self.text
            delta = None
            if text != self._sent_text and text.startswith(self._sent_text) and not self.done:
                delta = text[len(self._sent_text) :]
            self._sent_text = text
            snap = self.snapshot()
            sinks = list(self._sinks)
        for sink in sinks:
            try:
                if delta is not None:
                    sink.delta(delta)
                    snap_for_sink = {k: v for k, v in snap.items() if k != "text"}
                else:
                    snap_for_sink = snap
                sink.apply(snap_for_sink)
            except Exception:  # a broken frontend must not stop the run
                pass


def _add_usage(total: dict[str, Any], usage: Any) -> None:
    usage = plain(usage) or {}
    if not isinstance(usage, dict):
        return
    for name in ("input_tokens", "output_tokens", "total_tokens", "requests"):
        total[name] = int(total.get(name, 0)) + int(usage.get(name) or 0)
    if usage.get("cost_usd") is not None:
        total["cost_usd"] = round(float(total.get("cost_usd") or 0.0) + float(usage["cost_usd"]), 8)


def _parse_json(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except (Exception, RecursionError):
            return value
    return value


def _error_text(error: Any) -> str | None:
    if error is None:
        return None
    error = plain(error)
    if isinstance(error, dict):
        kind = str(error.get("type", "Error")).rsplit(".", 1)[-1]
        return f"{kind}: {error.get('message', '')}".strip()
    return str(error)


def _answer_status(entry: dict[str, Any], answer: Any) -> str:
    if entry.get("approval") and isinstance(answer, dict):
        if answer.get("approved") is True:
            return "approved_always" if answer.get("always") else "approved"
        return "rejected"
    return "answered"

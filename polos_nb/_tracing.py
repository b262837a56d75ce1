"""OpenTelemetry spans for runs, steps, LLM calls and tool calls (docs/observability.md).

polos_nb only talks to the OpenTelemetry *API* (``opentelemetry-api``). Spans go wherever
the application configured an SDK (``opentelemetry.trace.set_tracer_provider``); with no
SDK no span is made (only a caller's trace context is carried along), and without
``opentelemetry-api`` installed nothing is imported and every helper here is a no-op. The API is imported on the first
span, never when polos_nb is imported.

``POLOS_OTEL=0`` turns the spans off even when an SDK is configured.

Trace context crosses runs as a W3C ``traceparent`` carrier (a small dict of strings):
a run records the context it was started in, so its spans join the caller's trace (or
the parent run's) even when another process or worker resumes it.
"""

from __future__ import annotations

import os
from types import TracebackType
from typing import Any

__all__ = ["TRACER_NAME", "Span", "current_carrier", "enabled", "span"]

TRACER_NAME = "polos_nb"

_UNSET: Any = object()
_api: Any = _UNSET  # the opentelemetry modules, None when not installed


def _load() -> Any:
    global _api
    if _api is _UNSET:
        try:
            from opentelemetry import context, propagate, trace
        except ImportError:
            _api = None
        else:
            _api = (trace, context, propagate)
    return _api


def enabled() -> bool:
    """Whether spans are made: ``opentelemetry-api`` is installed and ``POLOS_OTEL`` is not 0."""
    if os.environ.get("POLOS_OTEL", "1").strip().lower() in ("0", "false", "no", "off"):
        return False
    return _load() is not None


def current_carrier() -> dict[str, str] | None:
    """The active trace context as a W3C carrier, or ``None`` when there is none."""
    api = _load()
    if api is None:
        return None
    trace, _context, propagate = api
    # The environment is read last: it is the costly check, and most calls stop before it.
    if not trace.get_current_span().get_span_context().is_valid or not enabled():
        return None
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier or None


def _attr(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)) and all(
        isinstance(v, (bool, int, float, str)) for v in value
    ):
        return list(value)
    return str(value)


class Span:
    """One span, made current for the ``with`` block (a no-op when tracing is off).

    ``parent`` is a carrier from :func:`current_carrier`: the span becomes its child.
    ``root=True`` without a parent starts a new trace instead of joining whatever span is
    current (an engine task must not join the trace of the code that happened to wake it).
    An ``Exception`` leaving the block marks the span as an error; other exits (a run
    that parks, a cancelled task) end it without an error.
    """

    __slots__ = ("_attributes", "_name", "_parent", "_root", "_span", "_token")

    def __init__(
        self,
        name: str,
        attributes: dict[str, Any] | None = None,
        *,
        parent: dict[str, str] | None = None,
        root: bool = False,
    ) -> None:
        self._name = name
        self._attributes = attributes
        self._parent = parent
        self._root = root
        self._span: Any = None
        self._token: Any = None

    def __enter__(self) -> Span:
        api = _load()
        if api is None:
            return self
        trace, context, propagate = api
        if (
            not self._parent
            and isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)
            and not (self._root and trace.get_current_span().get_span_context().is_valid)
        ):
            # No SDK configured: the span would record nothing and leave the current trace
            # context as it is, so it is not made at all (measured: 6-14% of the engine's
            # CPU on a run of no-op steps). The trace context still flows (a parent carrier
            # or a root span that must leave a valid context take the full path), and an
            # SDK configured later is used from the next span on.
            return self
        if not enabled():  # POLOS_OTEL=0 (read after the cheaper check above)
            return self
        if self._parent:
            ctx = propagate.extract(self._parent)
        elif self._root:
            ctx = context.Context()
        else:
            ctx = None
        attributes = {k: _attr(v) for k, v in (self._attributes or {}).items() if v is not None}
        self._span = trace.get_tracer(TRACER_NAME).start_span(
            self._name, context=ctx, attributes=attributes
        )
        self._token = context.attach(trace.set_span_in_context(self._span))
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._span is None:
            return
        context = _api[1]
        try:
            if isinstance(exc, Exception):
                self.error(exc)
        finally:
            try:
                context.detach(self._token)
            except Exception:  # detached in another context (a task switch): harmless
                pass
            self._span.end()
            self._span = None

    @property
    def recording(self) -> bool:
        """Whether attributes set now are kept (an SDK records this span)."""
        return self._span is not None and self._span.is_recording()

    def set(self, key: str, value: Any) -> None:
        """Set an attribute (``None`` values are skipped)."""
        if self._span is not None and value is not None:
            self._span.set_attribute(key, _attr(value))

    def error(self, exc: BaseException | str) -> None:
        """Mark the span as failed with ``exc`` (recorded as an exception event)."""
        if self._span is None:
            return
        trace = _api[0]
        if isinstance(exc, BaseException):
            self._span.record_exception(exc)
            description = f"{type(exc).__name__}: {exc}"
        else:
            description = exc
        self._span.set_status(trace.Status(trace.StatusCode.ERROR, description))

    def carrier(self) -> dict[str, str] | None:
        """This span's context as a W3C carrier (``None`` when tracing is off)."""
        if self._span is None or not self._span.get_span_context().is_valid:
            return None
        trace, _context, propagate = _api
        carrier: dict[str, str] = {}
        propagate.inject(carrier, context=trace.set_span_in_context(self._span))
        return carrier or None


def span(
    name: str,
    attributes: dict[str, Any] | None = None,
    *,
    parent: dict[str, str] | None = None,
    root: bool = False,
) -> Span:
    """A :class:`Span` to use as ``with span("step k", {...}) as s:``."""
    return Span(name, attributes, parent=parent, root=root)

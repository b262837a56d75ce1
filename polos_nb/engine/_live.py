"""The live event bus: subscribers of a topic, or of everything, and what they are sent.

:class:`Live` is the runtime's part (``rt.live``) that delivers events to code watching
runs in this process: ``events.stream``, a run's widget, the JupyterLab extension,
notification channels. Journaled events are emitted once committed; live ones (step
starts and finishes, streamed text, tool progress) only while someone watches their topic,
so an unwatched run pays nothing for them. A stream that begins mid-step gets what it
missed of the steps running then: their ``step_start``, and what a step gives to catch up
(``ctx.catch_up``: an agent's model call gives the text it streamed so far). What it uses
of the runtime is declared by ``LiveHost`` in ``_host.py``.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from polos_nb._ids import new_id

from ._records import Exec, _step_start_event, step_event
from ._types import TERMINAL_STATUSES, CatchUp, MakeEvent, StreamEvent

if TYPE_CHECKING:
    from ._host import LiveHost

__all__ = ["Live"]

log = logging.getLogger("polos_nb.engine")


class Live:
    """Who watches which topic, and delivering events to them (engine thread)."""

    def __init__(self, rt: LiveHost) -> None:
        self.rt = rt

    def subscribe(self, topic: str, callback: Callable[[StreamEvent], None]) -> Callable[[], None]:
        """Call ``callback(event)`` on the engine thread for every event of ``topic``
        (journaled ones once committed, live ones as they happen); returns the function
        that unsubscribes."""
        self.rt._subscribers.setdefault(topic, []).append(callback)

        def unsubscribe() -> None:
            subs = self.rt._subscribers.get(topic, [])
            if callback in subs:
                subs.remove(callback)

        return unsubscribe

    def subscribe_all(
        self, callback: Callable[[StreamEvent], None], *, payloads: bool = True
    ) -> Callable[[], None]:
        """Call ``callback(event)`` on the engine thread for every event delivered to
        subscribers of any topic (lifecycle, suspend/resume, step and published events).

        Journaled events (``sequence_id`` set) arrive once they are committed (a
        ``suspend_<key>`` event after the suspension is in the journal); live ones
        (``sequence_id`` None: step progress, streamed text) only while some subscriber
        watches their topic. Returns the function that unsubscribes. The notebook layer
        uses it to tell the JupyterLab extension that runs changed, ``polos_nb.channels``
        to notify channels; a callback must be quick and never block (schedule work on
        ``runtime.loop`` instead).

        ``payloads=False`` for a callback that never reads a run's payload or result: while
        only such callbacks watch, the start and end events of runs reach them with
        ``_metadata`` alone in their data, those values not decoded (:meth:`emit_lazy`);
        when anyone else watches, they get the event in full, as everyone does."""
        self.rt._all_subscribers.append(callback)
        if not payloads:
            self.rt._light_subscribers.append(callback)

        def unsubscribe() -> None:
            if callback in self.rt._all_subscribers:
                self.rt._all_subscribers.remove(callback)
            if callback in self.rt._light_subscribers:
                self.rt._light_subscribers.remove(callback)

        return unsubscribe

    def emit(self, event: StreamEvent) -> None:
        """Deliver ``event`` to every subscriber of all events, then to its topic's."""
        for callback in list(self.rt._all_subscribers):
            try:
                callback(event)
            except Exception:
                log.exception("event subscriber failed")
        for callback in list(self.rt._subscribers.get(event.topic, ())):
            try:
                callback(event)
            except Exception:
                log.exception("event subscriber failed")

    def emit_lazy(self, topic: str, make: MakeEvent) -> None:
        """:meth:`emit` the committed event ``make`` makes (``_types.MakeEvent``), made only
        if anyone watches: in full for subscribers of ``topic`` and of all events, without
        the run's payload or result when all that watch subscribed with ``payloads=False``."""
        everyone = self.rt._all_subscribers
        if self.rt._subscribers.get(topic) or any(
            callback not in self.rt._light_subscribers for callback in everyone
        ):
            self.emit(make(True))
            return
        if not everyone:
            return
        event = make(False)
        for callback in list(everyone):
            try:
                callback(event)
            except Exception:
                log.exception("event subscriber failed")

    def emit_live(self, ex: Exec, event_type: str, data: dict[str, Any]) -> None:
        """A live (not journaled) event of run ``ex``, if anyone watches its topic; any thread."""
        if not self.rt._subscribers.get(ex.topic):
            return
        event = self._live_event(ex, event_type, data)
        if self.rt.on_engine_thread():
            self.emit(event)
        else:  # e.g. from a sync step function running in a worker thread
            self.rt.loop.call_soon_threadsafe(self.emit, event)

    def _live_event(self, ex: Exec, event_type: str, data: dict[str, Any]) -> StreamEvent:
        payload = dict(data)
        payload["_metadata"] = {"execution_id": ex.id, "workflow_id": ex.workflow_id}
        return StreamEvent(
            id=f"live:{new_id()}",
            sequence_id=None,
            topic=ex.topic,
            event_type=event_type,
            data=payload,
            created_at=self.rt.clock.now(),
        )

    def catch_up(self, ex: Exec, key: str, events: CatchUp) -> Callable[[], None]:
        """While step ``key`` of ``ex`` runs, a stream that begins gets ``events()`` right
        after the step's ``step_start`` (engine loop only; ``ctx.catch_up``). Dropped when
        the step's outcome is recorded, or by the function returned."""
        ex.catch_up[key] = events

        def forget() -> None:
            if ex.catch_up.get(key) is events:
                del ex.catch_up[key]

        return forget

    def emit_step_start(
        self, ex: Exec, key: str, kind: str, attempt: int, started: dt.datetime
    ) -> None:
        ex.running[key] = (kind, attempt, started)
        if not self.rt._subscribers.get(ex.topic):
            return
        self.emit(_step_start_event(ex, key, kind, attempt, started))

    def running_step_events(self, root_id: str) -> list[StreamEvent]:
        """What a stream that begins now has missed of the steps of ``root_id``'s tree
        that run now (engine loop only): each one's ``step_start`` (step starts are
        live-only events, not journaled), so a stream that begins mid-step shows the step
        running, not only once it ends, then the step's catch-up (:meth:`catch_up`), e.g.
        the text a model call streamed so far."""
        return [event for _, event in self._running(lambda ex: ex.root_id == root_id)]

    def subscribe_caught_up(
        self, topic: str, callback: Callable[[StreamEvent], None]
    ) -> tuple[Callable[[], None], list[tuple[tuple[str, str], StreamEvent]]]:
        """:meth:`subscribe`, and what the subscriber has missed of the steps running on
        ``topic`` (as :meth:`running_step_events` gives it), each event with its step's
        ``(execution id, step key)``. Engine loop only: both are done at once, so a live
        event emitted meanwhile is neither lost nor also delivered to ``callback``."""
        unsubscribe = self.subscribe(topic, callback)
        return unsubscribe, self._running(lambda ex: ex.topic == topic)

    def _running(self, chosen: Callable[[Exec], bool]) -> list[tuple[tuple[str, str], StreamEvent]]:
        out: list[tuple[tuple[str, str], StreamEvent]] = []
        for ex in list(self.rt.execs.values()):
            if ex.status in TERMINAL_STATUSES or not chosen(ex):
                continue
            for key, (kind, attempt, started) in list(ex.running.items()):
                step = (ex.id, key)
                out.append((step, _step_start_event(ex, key, kind, attempt, started)))
                events = ex.catch_up.get(key)
                if events is None:
                    continue
                try:
                    missed = events()
                except Exception:
                    log.exception("a step's catch-up failed")
                    continue
                out.extend((step, self._live_event(ex, name, data)) for name, data in missed)
        return out

    def emit_step_finish(
        self,
        ex: Exec,
        key: str,
        kind: str,
        attempt: int,
        status: str,
        output: str | None,
        error: str | None,
        seq: int,
        started: dt.datetime | None,
        ended: dt.datetime,
    ) -> None:
        if not self.rt._subscribers.get(ex.topic):
            return
        self.rt.loop.call_soon(
            self.emit,
            step_event(
                ex.id,
                ex.workflow_id,
                ex.topic,
                key,
                kind,
                attempt,
                status,
                output,
                error,
                seq,
                started,
                ended,
            ),
        )

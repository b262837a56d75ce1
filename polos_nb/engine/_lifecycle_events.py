"""The journal rows of events the runtime writes, and the live events made from them.

An event the runtime journals (a run's events on its tree's topic: its start and end,
retries, suspensions and resumes, being blocked and unblocked, and the events its steps
add; and events published on a topic) is one row of the journal's ``events`` table,
written in the transaction of the change it reports.
This module builds that row and the function that makes its live event once the row is
committed (``_types.MakeEvent``): ``Live.emit_lazy`` calls it only if anyone watches. A
run's payload or result goes into a lifecycle event's row as the journal JSON it already
is, and is decoded only for subscribers that read it (``subscribe_all(payloads=False)``
subscribers do not).

What these helpers use of the runtime (its journal sequence, its topics' counters, its
clock) is declared by ``EventRowsHost`` in ``_host.py``; the runtime calls them from its
``_lifecycle_event``, ``_lifecycle_row`` and ``event_insert``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from polos_nb import _serde

from ._types import MakeEvent, StreamEvent
from .journal import Insert

if TYPE_CHECKING:
    from ._host import EventRowsHost
    from ._records import Exec

__all__ = ["event_row", "lifecycle_event", "lifecycle_row"]

_EVENT_COLUMNS = ("seq", "topic", "topic_seq", "event_type", "data", "execution_id", "created_at")


def lifecycle_event(
    rt: EventRowsHost,
    ex: Exec,
    event_type: str,
    data: dict[str, Any],
    *,
    encoded: dict[str, str | None] | None = None,
) -> tuple[Insert, StreamEvent]:
    """An event on the execution tree's topic; the topic's counter is known (created with the root).

    ``encoded``: more fields of the event's data whose values are journal JSON already
    (a run's payload or result as journaled): their text goes into the event row as it
    is, and is decoded for the live event, not decoded and encoded again.
    """
    insert, make = lifecycle_row(rt, ex, event_type, data, encoded=encoded)
    return insert, make(True)


def lifecycle_row(
    rt: EventRowsHost,
    ex: Exec,
    event_type: str,
    data: dict[str, Any],
    *,
    encoded: dict[str, str | None] | None = None,
) -> tuple[Insert, MakeEvent]:
    """:func:`lifecycle_event`, with the live event made by the function returned: hand
    it to ``live.emit_lazy`` once committed, which makes it only for whoever watches,
    and decodes the ``encoded`` fields (a run's payload or result) only for those who
    read them."""
    topic = ex.topic
    rt._topic_seq[topic] = rt._topic_seq.get(topic, 0) + 1
    data = {**data, "_metadata": {"execution_id": ex.id, "workflow_id": ex.workflow_id}}
    data_json = _serde.dumps(data)
    if not encoded:
        return _event_row_made(
            rt,
            topic,
            rt._topic_seq[topic],
            event_type,
            data_json,
            ex.id,
            lambda full: _serde.loads(data_json, strict=False),
        )
    fields = ",".join(
        f"{json.dumps(key)}:{'null' if text is None else text}" for key, text in encoded.items()
    )

    def decode(full: bool) -> dict[str, Any]:
        rest: dict[str, Any] = _serde.loads(data_json, strict=False)
        if not full:
            return rest
        decoded = {key: _serde.loads(text, strict=False) for key, text in encoded.items()}
        decoded.update(rest)
        return decoded

    return _event_row_made(
        rt,
        topic,
        rt._topic_seq[topic],
        event_type,
        "{" + fields + "," + data_json[1:],  # data_json is an object with _metadata in it
        ex.id,
        decode,
    )


def event_row(
    rt: EventRowsHost,
    topic: str,
    topic_seq: int,
    event_type: str | None,
    data_json: str,
    execution_id: str | None,
) -> tuple[Insert, StreamEvent]:
    """The row of an event numbered ``topic_seq`` on ``topic``, and its live event."""
    insert, make = _event_row_made(
        rt,
        topic,
        topic_seq,
        event_type,
        data_json,
        execution_id,
        lambda full: _serde.loads(data_json, strict=False),
    )
    return insert, make(True)


def _event_row_made(
    rt: EventRowsHost,
    topic: str,
    topic_seq: int,
    event_type: str | None,
    data_json: str,
    execution_id: str | None,
    decode: Callable[[bool], Any],
) -> tuple[Insert, MakeEvent]:
    """An event row, and the function that makes its live event (its data: ``decode(full)``)."""
    seq = rt.next_seq()
    now = rt.clock.now()

    def make(full: bool) -> StreamEvent:
        event = StreamEvent(
            id=str(seq),
            sequence_id=topic_seq,
            topic=topic,
            event_type=event_type,
            data=decode(full),
            created_at=now,
        )
        event._journal_seq = seq
        return event

    return Insert(
        "events",
        _EVENT_COLUMNS,
        (seq, topic, topic_seq, event_type, data_json, execution_id, now),
    ), make

"""A run's mailbox: events sent to it (``engine.send_event``) wait there until the
code asks for them (``ctx.wait_for_event``). Pure: no I/O.

An event is recorded twice: ``event_sent`` when it arrives (kept in the fold's
``mailbox``), ``event_received`` when a wait takes it, appended by whoever executes
the code, at the point the code took it. Replay delivers ``event_received`` by
path like any answer, so a run replays exactly what it did live, however early
or late the event came; the mailbox only tells the live driver what it may take.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from durable.events import EventReceived, EventSent, EventType, Kind, encode_raw
from durable.recorded import SUSPEND
from durable.steps import Request
from durable.writer import Item


def sent(name: str, value: Any) -> Item:
    return EventType.EVENT_SENT, EventSent(name=name, data=encode_raw(value))


def first_take(requests: Iterable[Request], mailbox: Sequence[dict[str, Any]]
               ) -> tuple[Request, Item] | None:
    """The first wait for an event (in the order the code asked) that the mailbox can
    answer, with the event that records it taking the oldest event of its name.

    One at a time: once a wait has its event, the code may stop waiting elsewhere,
    and an event handed to a wait the code gave up would be lost."""
    if not mailbox:
        return None
    for req in requests:
        if req.kind != SUSPEND or req.suspend_kind != Kind.EVENT or req.future.done():
            continue
        name = req.payload["name"]
        for m in mailbox:
            if m["name"] == name:
                return req, (EventType.EVENT_RECEIVED, EventReceived(
                    path=list(req.path), name=name, data=encode_raw(m["data"]),
                    sent=m["position"]))
    return None

"""Which parts of each event are a person's data, and erasing them. Pure: no I/O.

``engine.redact`` replaces these fields with ``{"redacted": reason}``: a run's
input, state and request context, step results, suspension payloads, resume data,
events sent, children's outputs and payloads, outputs, a fork's state and what-if
results. Everything else of an event (its path, attempt, kind, names) is kept.
The audit uses the same list to check that an event whose payload is said to be
erased holds nothing but marks.
"""

from __future__ import annotations

from typing import Any

import msgspec

from durable.codec import encode
from durable.events import Event, EventType, encode_raw


def mark_of(e: Event) -> dict[str, str] | None:
    """The redaction mark an erased event holds (the first one found), if any."""
    found: dict[str, str] | None = None

    def look(value: Any) -> None:
        nonlocal found
        if found is None and isinstance(value, dict) and set(value) == {"redacted"}:
            found = value

    def walk(value: Any) -> None:
        look(value)
        if isinstance(value, dict):
            for v in value.values():
                look(v)
                if isinstance(v, list):
                    for item in v:
                        if isinstance(item, dict):
                            look(item.get("payload"))
    walk(e.as_dict())
    return found


def holds_only_marks(e: Event) -> dict[str, str] | None:
    """The mark, if every erasable field of ``e`` is that mark or empty; else None."""
    mark = mark_of(e)
    if mark is None or not isinstance(mark.get("redacted"), str):
        return None
    return mark if erase(e, mark) is None else None


def erase(e: Event, mark: dict[str, str]) -> bytes | None:
    """The event's payload with the user's data replaced by ``mark`` (None: it holds none)."""
    p, t = e.payload, e.type

    def gone(value: Any) -> Any:
        return mark if value not in (None, {}, [], "") else value

    def raw(value: msgspec.Raw) -> msgspec.Raw:
        return encode_raw(mark) if bytes(value) not in (b"", b"\xc0") else value

    if t is EventType.STARTED:
        new = msgspec.structs.replace(p, input=gone(p.input), state=gone(p.state),
                                      request_context=gone(p.request_context))
    elif t is EventType.STEP_COMPLETED:
        new = msgspec.structs.replace(p, result=encode_raw(mark), ref=None, size=None)
    elif t is EventType.SUSPENDED:
        new = msgspec.structs.replace(p, payload=gone(p.payload))
    elif t in (EventType.RESUMED, EventType.EVENT_SENT, EventType.EVENT_RECEIVED):
        new = msgspec.structs.replace(p, data=raw(p.data))
    elif t is EventType.CHILD_SUSPENDED:
        new = msgspec.structs.replace(p, suspensions=[
            {**s, "payload": gone(s.get("payload"))} for s in p.suspensions])
    elif t in (EventType.CHILD_ENDED, EventType.SUCCEEDED):
        new = msgspec.structs.replace(p, output=gone(p.output))
    elif t is EventType.STATE_SET:
        new = msgspec.structs.replace(p, state=gone(p.state))
    elif t is EventType.FORKED:
        new = msgspec.structs.replace(p, state=gone(p.state),
                                      results={k: mark for k in p.results})
    else:
        return None
    data = encode(new)
    return None if data == bytes(e.data) else data


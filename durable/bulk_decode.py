"""Stored rows to events, in bulk: one msgspec call for a batch of envelopes, one
more per event type for their payloads (see decision 0009)."""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence

import msgspec

from durable.events import _PAYLOAD_LISTS, TYPES_BY_TOPIC, Event, EventType

_EVENTS = msgspec.msgpack.Decoder(list[Event])


def _array_header(n: int) -> bytes:
    if n < 16:
        return bytes((0x90 | n,))
    if n < 65536:
        return b"\xdc" + struct.pack(">H", n)
    return b"\xdd" + struct.pack(">I", n)


def decode_rows(rows: Sequence[tuple[str, int, str, bytes]]) -> list[Event]:
    """Stored rows ``(run_id, position, topic, state)`` as events: one decode call for
    all the envelopes (their states joined into one msgpack array)."""
    if not rows:
        return []
    events = _EVENTS.decode(_array_header(len(rows)) + b"".join(r[3] for r in rows))
    types = TYPES_BY_TOPIC
    for r, e in zip(rows, events, strict=True):
        e.run_id = r[0]
        e.position = r[1]
        e.type = types[r[2]]
    return events


def decode_run_rows(run_id: str, rows: Sequence[tuple[int, str, bytes]]) -> list[Event]:
    """One run's stored rows ``(position, topic, state)`` as events (see :func:`decode_rows`;
    the run id is not read back once per row)."""
    if not rows:
        return []
    events = _EVENTS.decode(_array_header(len(rows)) + b"".join(r[2] for r in rows))
    types = TYPES_BY_TOPIC
    for r, e in zip(rows, events, strict=True):
        e.run_id = run_id
        e.position = r[0]
        e.type = types[r[1]]
    return events


def decode_payloads(events: Iterable[Event]) -> None:
    """Decode the payloads of ``events`` that are not yet, one call per event type."""
    by_type: dict[EventType, list[Event]] = {}
    for e in events:
        if e._payload is None:
            by_type.setdefault(e.type, []).append(e)
    for type_, group in by_type.items():
        payloads = _PAYLOAD_LISTS[type_].decode(
            _array_header(len(group)) + b"".join(e.data for e in group))
        for e, p in zip(group, payloads, strict=True):
            e._payload = p

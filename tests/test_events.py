"""Events decoded in bulk, and payloads decoded lazily, equal events decoded one by one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from durable.bulk_decode import decode_payloads, decode_rows, decode_run_rows
from durable.chain import verify_chain
from durable.events import (
    PAYLOADS,
    Event,
    EventType,
    decode_raw,
    new_event,
)
from durable.fold import fold
from durable.hashing import genesis_hash
from durable.store.types import to_stored

T0 = datetime(2026, 1, 1, tzinfo=UTC)
values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                   max_size=4),
    max_leaves=12,
)
step_ids = st.text("abcxyz", min_size=1, max_size=6)
paths = st.lists(step_ids | st.integers(0, 9), min_size=1, max_size=3).map(
    lambda p: [str(p[0]), *p[1:]])


@st.composite
def payloads(draw: Any) -> tuple[str, dict[str, Any]]:
    kind = draw(st.sampled_from([t for t in EventType if t is not EventType.STARTED]))
    path = draw(paths)
    by_kind: dict[str, dict[str, Any]] = {
        EventType.STEP_COMPLETED: draw(st.sampled_from([
            {"path": path, "result": draw(values), "attempt": draw(st.integers(0, 5))},
            {"path": path, "ref": "ab" * 32, "size": draw(st.integers(1, 10**6)),
             "attempt": 0},
        ])),
        EventType.STEP_FAILED: {"path": path, "error_type": "E", "message": draw(st.text()),
                                "attempt": draw(st.integers(0, 3)), "final": draw(st.booleans())},
        EventType.SUSPENDED: draw(st.sampled_from([
            {"path": path, "kind": "input", "payload": draw(values)},
            {"path": path, "kind": "timer", "payload": {"until": "2026-01-01T00:00:00+00:00"},
             "due": draw(st.floats(0, 2e9))},
        ])),
        EventType.TIMER_FIRED: {"path": path},
        EventType.EVENT_SENT: {"name": draw(st.text(min_size=1)), "data": draw(values)},
        EventType.EVENT_RECEIVED: {"path": path, "name": "n", "data": draw(values),
                                   "sent": draw(st.none() | st.integers(1, 99))},
        EventType.WAITING: {"paths": [".".join(map(str, path))]},
        EventType.CHILD_STARTED: {"path": path, "run_id": "kid", "workflow": "w"},
        EventType.CHILD_SUSPENDED: {"path": path, "run_id": "kid", "position": 3,
                                    "suspensions": [{"path": ["a"], "kind": "input",
                                                     "payload": draw(values)}]},
        EventType.CHILD_ENDED: draw(st.sampled_from([
            {"path": path, "run_id": "kid", "position": 4, "status": "succeeded",
             "output": draw(values)},
            {"path": path, "run_id": "kid", "position": 4, "status": "failed",
             "error": "boom", "error_type": "ChildFailed"},
        ])),
        EventType.RESUMED: {"path": path, "data": draw(values)},
        EventType.WITHDRAWN: {"path": path},
        EventType.STATE_SET: {"state": draw(st.dictionaries(st.text(max_size=5), values,
                                                            max_size=3))},
        EventType.PAUSE_REQUESTED: {}, EventType.PAUSED: {}, EventType.CONTINUED: {},
        EventType.RECOVERED: {"owner": "o2", "previous": "o1"},
        EventType.CLAIMED: {"owner": "o2", "queue": "default"},
        EventType.FORKED: {"forked_from": "orig", "fork_position": 3, "root": "run",
                           "run_id": "run",
                           "status": draw(st.sampled_from(["paused", "suspended"])),
                           "workflow": "w", "state": {"k": draw(values)},
                           "results": {"a.0": draw(values)}},
        EventType.PATCHED: {"patch_id": draw(st.text(min_size=1))},
        EventType.CANCELLED: {"reason": draw(st.text())},
        EventType.SUCCEEDED: {"output": draw(values)},
        EventType.FAILED: {"error": draw(st.text()), "error_type": "ValueError"},
    }
    return kind, by_kind[kind]


@st.composite
def logs(draw: Any) -> list[Event]:
    events = [new_event("run", 1, EventType.STARTED,
                        {"workflow": "w", "version": None, "input": draw(values), "state": {},
                         "request_context": {}, "resource_id": None, "thread_id": None,
                         "parent_run_id": None, "seed": 7}, genesis_hash("run"), T0)]
    for i, (kind, data) in enumerate(draw(st.lists(payloads(), max_size=25)), start=2):
        events.append(new_event("run", i, kind, data, events[-1].hash,
                                T0 + timedelta(milliseconds=i)))
    return events


def eager(e: Event) -> dict[str, Any]:
    """What one event decodes to on its own, field by field."""
    stored = msgspec.msgpack.decode(e.stored())
    return {"timestamp": stored["timestamp"], "hash": stored["hash"],
            "prev_hash": stored["prev_hash"], "data": decode_raw(e.data)}


def shown(payload: Any) -> dict[str, Any]:
    """A decoded payload as plain data: its Raw fields decoded, an absent one dropped."""
    out = {}
    for name, value in msgspec.structs.asdict(payload).items():
        if isinstance(value, msgspec.Raw):
            if not value:
                continue
            value = decode_raw(value)
        out[name] = value
    return out


def expected(kind: EventType, data: dict[str, Any]) -> dict[str, Any]:
    """What the payload struct of ``kind`` holds for stored ``data``: absent keys take
    their defaults (an absent result stays absent)."""
    out = {}
    for f in msgspec.structs.fields(PAYLOADS[kind]):
        if f.name in data:
            out[f.name] = data[f.name]
        elif f.default is not msgspec.NODEFAULT and not isinstance(f.default, msgspec.Raw):
            out[f.name] = f.default
        elif f.default_factory is not msgspec.NODEFAULT:
            out[f.name] = f.default_factory()
    return out


@settings(max_examples=150, deadline=None)
@given(logs())
def test_bulk_and_lazy_decoding_equal_one_by_one(events: list[Event]) -> None:
    rows = [(s.originator_id, s.originator_version, s.topic, s.state)
            for s in map(to_stored, events)]
    bulk = decode_rows(rows)
    per_run = decode_run_rows("run", [r[1:] for r in rows])
    lazy = decode_rows(rows)
    decode_payloads(bulk)  # one call per event type
    for original, b, r, lz in zip(events, bulk, per_run, lazy, strict=True):
        assert b == original and r == original and lz == original
        one = eager(original)
        for e in (b, r, lz):
            assert (e.timestamp, e.hash, e.prev_hash) == (
                one["timestamp"], one["hash"], one["prev_hash"])
            assert e.as_dict() == one["data"]
            assert isinstance(e.payload, PAYLOADS[e.type])
            assert shown(e.payload) == expected(e.type, one["data"])
    assert verify_chain(bulk) and verify_chain(per_run)
    assert vars_of(fold(bulk)) == vars_of(fold(events))


def vars_of(run: Any) -> dict[str, Any]:
    return {k: v for k, v in vars(run).items() if k != "_pending_events"}

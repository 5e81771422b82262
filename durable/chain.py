"""Checking a run's hash chain: where it first breaks, and why. Pure: no I/O.

Each event holds the hash of the one before it; its own hash covers that link,
its type, position and time, and its payload's hash. The first event links to
the genesis hash of the run the chain began as (a fork shares its original's
first events, so its chain names the original). A payload erased by
``engine.redact`` keeps its hash beside it, so the chain still holds; what was
erased can no longer be checked, and the report counts it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from durable.erasure import holds_only_marks
from durable.events import LEGACY_GENESIS, TOPICS, Event, EventType
from durable.hashing import chain_hash, genesis_hash, legacy_chain_hash

TERMINAL_TYPES = frozenset({EventType.SUCCEEDED, EventType.FAILED, EventType.CANCELLED})


@dataclass(frozen=True)
class ChainReport:
    """What a chain check found: the first bad position (None: the chain holds)."""

    length: int
    head_hash: str | None
    first_bad: int | None = None
    reason: str | None = None
    redacted: int = 0


def root_of(run_id: str, events: Sequence[Event]) -> str:
    """The run a log's chain began as: the original of a fork (its ``forked`` event
    names it), else the run itself."""
    for e in events:
        if e.type is EventType.FORKED:
            return str(e.payload.root)
    return run_id


def check_chain(run_id: str, events: Sequence[Event]) -> ChainReport:
    """Walk the chain from its genesis; stop at the first event that does not fit.

    A log begun before issue 12 (its first event links to ``""``) was linked by
    :func:`legacy_chain_hash` until the engine was upgraded, and goes on linked
    the new way: each of its events may fit either, until the first that fits
    only the new one.
    """
    if not events:
        return ChainReport(0, None, 1, "the log is empty: its first event is missing")
    legacy = events[0].prev_hash == LEGACY_GENESIS
    root = root_of(run_id, events)
    moved = _moved(run_id, events)
    if moved is not None:
        return ChainReport(len(events), events[-1].hash, *moved)
    prev = LEGACY_GENESIS if legacy else genesis_hash(root)
    redacted = 0
    reasons: set[str] = set()
    sha256, link, topics = hashlib.sha256, chain_hash, TOPICS
    for expected, e in enumerate(events, start=1):
        if e.position != expected or e.prev_hash != prev:
            bad = _misplaced(expected, e, prev)
            return ChainReport(len(events), events[-1].hash, expected, bad, redacted)
        if e.data_hash is None:
            payload = sha256(e.data).digest()
        else:
            redacted += 1
            payload = bytes.fromhex(e.data_hash)
            erased = _not_erased(e, events, reasons)
            if erased is not None:
                return ChainReport(len(events), events[-1].hash, expected, erased, redacted)
        if link(prev, topics[e.type], expected, e.timestamp, payload) != e.hash:
            if not (legacy and e.data_hash is None and legacy_chain_hash(
                    root, prev, topics[e.type], expected, e.timestamp, e.data) == e.hash):
                return ChainReport(len(events), events[-1].hash, expected,
                                   f"event {expected} ({e.type.value}) was altered: its hash "
                                   "no longer covers what is stored", redacted)
        else:
            legacy = False  # (a log goes on linked the new way once it has begun to)
        prev = e.hash
    return ChainReport(len(events), prev, redacted=redacted)


def _not_erased(e: Event, events: Sequence[Event], reasons: set[str]) -> str | None:
    """An event whose payload is said to be erased (its hash kept apart) must hold nothing
    but the redaction's marks, all with the run's one reason, in a run that has ended:
    otherwise someone wrote data under a kept hash."""
    mark = holds_only_marks(e)
    if mark is None:
        return (f"event {e.position} ({e.type.value}) is marked as erased but holds data: "
                "it was altered")
    reasons.add(mark["redacted"])
    if len(reasons) > 1:
        return (f"event {e.position} ({e.type.value}) was erased for another reason than "
                "the run's other erased events: it was altered")
    if events[-1].type not in TERMINAL_TYPES:
        return f"event {e.position} is marked as erased in a run that has not ended"
    return None


def _moved(run_id: str, events: Sequence[Event]) -> tuple[int, str] | None:
    """A fork's own events follow its ``forked`` event, which names the fork: the log of
    one fork stored under another's id (or exported under a made-up one) is caught."""
    last = None
    for e in events:
        if e.type is EventType.FORKED:
            last = e
    if last is None or last.payload.run_id == run_id:
        return None
    return (last.position, f"event {last.position} (forked) began run "
            f"{last.payload.run_id!r}, not {run_id!r}: this log was moved from another run")


def _misplaced(expected: int, e: Event, prev: str) -> str:
    if e.position > expected:
        return (f"event {expected} is missing (the log goes from {expected - 1} to "
                f"{e.position})")
    if e.position != expected:
        return f"event {e.position} stands where event {expected} should"
    if e.prev_hash != prev:
        if expected == 1:
            return "event 1 does not begin this run's chain"
        return (f"event {expected} ({e.type.value}) does not follow event {expected - 1}: "
                "an event was removed, inserted or moved here, or event "
                f"{expected - 1} was replaced")
    return "the chain breaks here"


def legacy_links(events: Sequence[Event]) -> bool:
    """Does the log begin with events linked before issue 12 (their hash covers their
    payload's bytes, so erasing one would break the chain)?"""
    return bool(events) and events[0].prev_hash == LEGACY_GENESIS


def verify_chain(events: Sequence[Event]) -> bool:
    """The chain of a whole log holds (its first event's run names it)."""
    return not events or check_chain(events[0].run_id, events).first_bad is None

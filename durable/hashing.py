"""The hash chain's links. Pure: no I/O.

A run's first event links to the genesis hash of the run its chain began as;
every event's hash covers the previous link, its place, type and time, and its
payload's hash (kept apart, so that erasing a payload keeps the chain). Logs
written before issue 12 were linked by :func:`legacy_chain_hash`.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

import msgspec

_encode = msgspec.msgpack.Encoder().encode
_sha256 = hashlib.sha256


def genesis_hash(root: str) -> str:
    """What a run's first event links to: its chain names the run it began as (a fork's
    chain begins as its original's, whose events it shares)."""
    return hashlib.sha256(b"durable:genesis:" + root.encode()).hexdigest()[:32]


def chain_hash(prev_hash: str, topic: str, position: int, timestamp: datetime,
               payload_hash: bytes) -> str:
    """The tamper-evident link: the previous link, this event's type, place and time (in
    whole microseconds since the epoch; timestamps are timezone-aware), and its
    payload's hash (kept apart, so that erasing a payload keeps the chain)."""
    return _sha256(b"%s\x00%s\x00%d\x00%d\x00%s" % (
        prev_hash.encode(), topic.encode(), position, round(timestamp.timestamp() * 1e6),
        payload_hash)).hexdigest()[:32]


def legacy_chain_hash(run_id: str, prev_hash: str, topic: str, position: int,
                      timestamp: datetime, data: bytes) -> str:
    """The link of logs written before issue 12 (their first event links to ``""``):
    it covered the payload's bytes themselves, so it cannot survive a redaction."""
    h = hashlib.sha256()
    h.update(prev_hash.encode())
    h.update(_encode((run_id, topic, position, timestamp.isoformat(), data)))
    return h.hexdigest()[:32]

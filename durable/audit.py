"""Auditing runs: what ``engine.audit`` checks, and the seal that backs it.

A run's log is checked as a reader relies on it: the hash chain (each event
fits the one before it, and its hash covers its place, type, time and
payload), the head row (a log shorter than the position its head row names was
cut short), the large results stored apart (each must match its content hash),
the latest snapshot (what ``get_run`` reads instead of the events before it
must equal their fold), and, given a :class:`~durable.seal.Seal`, the length
and head hash the seal recorded. The first bad position wins.
"""

from __future__ import annotations

import asyncio
import hashlib
from datetime import UTC, datetime
from typing import Any

from durable.chain import check_chain
from durable.codec import canonical
from durable.errors import RunNotFound
from durable.events import Event, EventType
from durable.fold import RunSnapshot, fold
from durable.logs import get_logger
from durable.results import Audit
from durable.runtime import Runtime
from durable.seal import Seal, SealedRun
from durable.store.types import Head

log = get_logger("durable")


async def audit_run(rt: Runtime, run_id: str, against: Seal | None = None) -> Audit:
    """Check one run's log and everything read beside it (see the module's doc)."""
    try:
        events = await rt.events(run_id)
    except RunNotFound:
        if await rt.store.read_head(run_id) is None:
            raise
        return Audit(run_id=run_id, ok=False, length=0, head_hash=None, first_bad=1,
                     reason="the run's head row remains but every event of its log is gone: "
                     "they were deleted")
    except Exception:  # an event that no longer decodes was altered
        log.warning("audit_decode_failed", run_id=run_id, exc_info=True)
        return await _undecodable(rt, run_id)
    found = await _snapshot(rt, run_id, events)
    head = await rt.store.read_head(run_id)
    refs = _refs(events)
    blobs = await rt.store.read_blobs(list(refs)) if refs else {}
    return _verdict(run_id, events, head, refs, blobs, found, against)


async def audit_all(rt: Runtime, against: Seal | None = None, chunk: int = 500
                    ) -> list[Audit]:
    """Every run's audit, read a chunk of runs at a time (their logs, head rows,
    snapshots and large results in a few statements per chunk, not per run); the next
    chunk is read while this one is checked."""
    run_ids = sorted(await rt.store.log_ends())
    chunks = [run_ids[i:i + chunk] for i in range(0, len(run_ids), chunk)]
    audits: list[Audit] = []
    ahead = asyncio.ensure_future(_read_chunk(rt, chunks[0])) if chunks else None
    try:
        for n, ids in enumerate(chunks):
            assert ahead is not None
            read = await ahead
            ahead = asyncio.ensure_future(_read_chunk(rt, chunks[n + 1])) if n + 1 < len(
                chunks) else None
            if read is None:  # something no longer decodes: find it run by run
                audits += [await audit_run(rt, r, against) for r in ids]
                continue
            logs, snapshots, heads, refs, blobs = read
            for r in ids:
                events = logs.get(r, [])
                found = _snapshot_found(r, events, snapshots.get(r))
                audits.append(_verdict(r, events, heads.get(r), refs[r], blobs, found,
                                       against))
    finally:
        if ahead is not None:  # given up: the read ahead goes too (its error read, if any)
            ahead.cancel()
            await asyncio.gather(ahead, return_exceptions=True)
    return audits


async def _read_chunk(rt: Runtime, ids: list[str]) -> tuple[Any, ...] | None:
    try:
        logs = await rt.store.read_logs(ids)
        snapshots = await rt.store.read_snapshots(ids)
    except Exception:
        return None
    heads = await rt.store.read_heads(ids)
    refs = {r: _refs(logs.get(r, [])) for r in ids}
    wanted = [h for r in ids for h in refs[r]]
    blobs = await rt.store.read_blobs(wanted) if wanted else {}
    return logs, snapshots, heads, refs, blobs


def _verdict(run_id: str, events: list[Event], head: Head | None, refs: dict[str, int],
             blobs: dict[str, bytes], found: list[tuple[int, str]], against: Seal | None
             ) -> Audit:
    chain = check_chain(run_id, events)
    if chain.first_bad is not None:
        found.append((chain.first_bad, chain.reason or "the chain breaks here"))
    if head is None:
        found.append((1, "the run's head row is missing"))
    elif head.position > len(events):
        found.append((len(events) + 1, f"the log ends at event {len(events)} but its head "
                      f"row says it reached {head.position}: it was cut short"))
    found += [(at, f"the large result of event {at}, stored apart, was "
               f"{'lost' if ref not in blobs else 'altered'}")
              for ref, at in refs.items()
              if hashlib.sha256(blobs.get(ref, b"")).hexdigest() != ref]
    if against is not None:
        found += _sealed(against.runs.get(run_id), events)
    if not found:
        return Audit(run_id=run_id, ok=True, length=chain.length, head_hash=chain.head_hash,
                     redacted=chain.redacted)
    first_bad, reason = min(found)
    return Audit(run_id=run_id, ok=False, length=len(events),
                 head_hash=events[-1].hash if events else None, first_bad=first_bad,
                 reason=reason, redacted=chain.redacted)


async def _undecodable(rt: Runtime, run_id: str) -> Audit:
    at = await _first_undecodable(rt, run_id)
    return Audit(run_id=run_id, ok=False, length=at - 1, head_hash=None, first_bad=at,
                 reason=f"event {at} no longer decodes: what is stored was altered")


def _refs(events: list[Event]) -> dict[str, int]:
    """The large results a log refers to (not erased), by the position referring."""
    step = EventType.STEP_COMPLETED
    return {e.payload.ref: e.position for e in events  # (b"\xa3ref": the key, msgpack)
            if e.type is step and e.data_hash is None and b"\xa3ref" in bytes(e.data)
            and e.payload.ref is not None}


async def seal(rt: Runtime) -> Seal:
    """Every run's length and head hash now, read in one statement."""
    ends = await rt.store.log_ends()
    return Seal.make(datetime.now(UTC), {r: SealedRun(n, h) for r, (n, h) in ends.items()})


def _sealed(sealed: SealedRun | None, events: list[Event]) -> list[tuple[int, str]]:
    if sealed is None:
        return []  # the run began after the seal was made
    if len(events) < sealed.length:
        return [(len(events) + 1, f"the log ends at event {len(events)} but the seal recorded "
                 f"{sealed.length} events: it was cut short (or rolled back) since")]
    if events[sealed.length - 1].hash != sealed.head_hash:
        return [(sealed.length, f"event {sealed.length} is not the one the seal recorded: "
                 "the history up to it was rewritten since")]
    return []


async def _snapshot(rt: Runtime, run_id: str, events: list[Event]) -> list[tuple[int, str]]:
    try:
        snapshot = await rt.store.read_snapshot(run_id)
    except Exception:
        log.warning("audit_snapshot_decode_failed", run_id=run_id, exc_info=True)
        return [(len(events), "the run's latest snapshot no longer decodes")]
    return _snapshot_found(run_id, events, snapshot)


def _snapshot_found(run_id: str, events: list[Event], snapshot: RunSnapshot | None
                    ) -> list[tuple[int, str]]:
    """The latest snapshot must be the fold of the events it stands for."""
    if snapshot is None or not events:
        return []
    at = snapshot.originator_version
    if not 1 <= at <= len(events):
        return [(min(max(at, 1), len(events) + 1),
                 f"a snapshot stands at event {at}, outside the log")]
    expected = RunSnapshot.of(fold(events[:at]), snapshot.timestamp)
    # Compared as loaded: a snapshot taken before the run's state gained a field is
    # upcast first (RunLog.class_version), as every read of it is.
    stored = RunSnapshot.of(snapshot.load(), snapshot.timestamp)
    if canonical(expected.state) != canonical(stored.state):
        return [(at, f"the snapshot at event {at} (read instead of the events before it) "
                 "does not match them: it was altered")]
    return []


async def _first_undecodable(rt: Runtime, run_id: str) -> int:
    at = 0
    while True:
        try:
            if not await rt.store.read_events(run_id, after=at, upto=at + 1):
                return at + 1
        except Exception:
            return at + 1
        at += 1

"""Erasing a finished run's payloads (``engine.redact``), keeping its chain.

A person's data in a run (its input, step results, resume data, events sent to
it, its state and output) can be erased on an erasure request. Each event keeps
its type, position, time, links and the hash of its payload as it was (kept
beside it), so the chain still verifies; the payload's fields are replaced with
``{"redacted": reason}``. Large results stored apart are deleted unless another
run's events refer to them, the run's snapshots are dropped (they hold its
state), and its runs-index row is rewritten. Other engines' in-memory copies of
the run go when they are evicted; forks and continued runs are runs of their
own and are redacted each on its own.
"""

from __future__ import annotations

import hashlib
from typing import Any

import msgspec

from durable.chain import legacy_links
from durable.codec import encode
from durable.events import TERMINAL, Event, EventType, encode_raw
from durable.fold import fold
from durable.runtime import Runtime


async def redact(rt: Runtime, run_id: str, reason: str) -> None:
    if not isinstance(reason, str) or not reason.strip():
        raise ValueError("redact needs a reason (the erasure request it answers, for the "
                         "audit trail): reason='...'")
    events = await rt.events(run_id)
    run = fold(events)
    if run.status not in TERMINAL:
        raise ValueError(f"run {run_id!r} is {run.status}: only a finished run is redacted "
                         "(cancel it first, or wait for it to end)")
    if legacy_links(events):
        raise ValueError(f"run {run_id!r}'s log was linked before payloads were hashed apart "
                         "(an engine older than issue 12): erasing a payload would break its "
                         "chain. Export it, then delete the run if the law requires it")
    mark = {"redacted": reason}
    own = run.fork_position or 0  # a fork's first events are its original's
    rewritten: dict[int, bytes] = {}
    erased: list[Event] = []
    refs: list[str] = []
    for e in events:
        data = _erase(e, mark) if e.position > own else None
        if data is None:
            erased.append(e)
            continue
        if e.type is EventType.STEP_COMPLETED and e.payload.ref is not None:
            refs.append(e.payload.ref)
        new = Event(e.timestamp, msgspec.Raw(data), e.prev_hash, e.hash, None,
                    e.data_hash or hashlib.sha256(e.data).hexdigest(), e.run_id, e.position,
                    e.type)
        rewritten[e.position] = new.stored()
        erased.append(new)
    after = fold(erased)
    index = (encode(after.output) if after.output is not None else None, encode(after.state))
    await rt.writer.rewrite(run_id, rewritten, refs, index)


def _erase(e: Event, mark: dict[str, str]) -> bytes | None:
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


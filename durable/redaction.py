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

import msgspec

from durable.chain import legacy_links
from durable.codec import encode
from durable.erasure import erase
from durable.events import TERMINAL, Event, EventType
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
    waiting = await _unfinished_forks(rt, run_id)
    if waiting:
        raise ValueError(
            f"run {run_id!r} has forks that have not ended ({', '.join(waiting[:3])}"
            f"{' ...' if len(waiting) > 3 else ''}): they read their first events from it, "
            "and would no longer replay once its payloads are erased. Let them end (or "
            "cancel them) first")
    mark = {"redacted": reason}
    rewritten: dict[int, bytes] = {}
    erased: list[Event] = []
    refs: list[str] = []
    for e in events:
        data = erase(e, mark)
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
    await rt.writer.rewrite(run_id, rewritten, refs, index, reason)


async def _unfinished_forks(rt: Runtime, run_id: str) -> list[str]:
    """Forks (and forks of forks) of the run that have not ended."""
    found: list[str] = []
    todo = [run_id]
    while todo:
        for head in await rt.store.forks_of(todo.pop()):
            if head.status not in TERMINAL:
                found.append(head.run_id)
            todo.append(head.run_id)
    return found

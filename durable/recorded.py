"""What a run's log says, indexed for the driver. Pure: no I/O.

Replay needs, from the log: the deliveries in the order they were recorded
(step results and resumes, matched to the code's requests by path), what kind
of thing each path was (a step or a suspension), which suspensions were
recorded and which withdrawn, how many state changes were made, which patches
(``ctx.patched``) the run took, and whether the run was interrupted (recovered)
while a step was in flight.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from durable.bulk_decode import decode_payloads
from durable.events import Event, EventType
from durable.paths import path_key

STEP, SUSPEND, CHILD = "step", "suspend", "child"


@dataclass
class Recorded:
    """The log, indexed for replay."""

    deliveries: list[tuple[str, Event]] = field(default_factory=list)  # in log order
    kinds: dict[str, str] = field(default_factory=dict)  # path key -> STEP | SUSPEND
    failures: dict[str, int] = field(default_factory=dict)  # failed attempts of held steps
    suspended: set[str] = field(default_factory=set)  # suspensions recorded
    withdrawn: set[str] = field(default_factory=set)  # suspensions recorded as withdrawn
    patches: set[str] = field(default_factory=set)  # ctx.patched ids recorded as taken
    state_sets: int = 0
    interrupted: int = 0  # `recovered` events after the last delivery
    pause_pending: bool = False  # a pause was requested and not yet honoured


def index_log(events: Sequence[Event]) -> Recorded:
    decode_payloads(events)  # one decode call per event type
    rec = Recorded()
    deliveries, kinds = rec.deliveries, rec.kinds
    step_completed, resumed, fired, received = (
        EventType.STEP_COMPLETED, EventType.RESUMED, EventType.TIMER_FIRED,
        EventType.EVENT_RECEIVED)
    for e in events:
        t = e.type
        if t is step_completed:
            key = path_key(e.payload.path)
            deliveries.append((key, e))
            kinds[key] = STEP
            rec.interrupted = 0
        elif t is resumed or t is fired or t is received:
            deliveries.append((path_key(e.payload.path), e))
            rec.interrupted = 0
        elif t is EventType.STEP_FAILED:
            key = path_key(e.payload.path)
            kinds[key] = STEP
            if e.payload.final:
                deliveries.append((key, e))
                rec.interrupted = 0
            else:
                rec.failures[key] = rec.failures.get(key, 0) + 1
        elif t is EventType.CHILD_STARTED:
            kinds[path_key(e.payload.path)] = CHILD
        elif t is EventType.CHILD_ENDED:
            key = path_key(e.payload.path)
            deliveries.append((key, e))
            kinds[key] = CHILD
            rec.interrupted = 0
        elif t is EventType.SUSPENDED:
            key = path_key(e.payload.path)
            kinds[key] = SUSPEND
            rec.suspended.add(key)
        elif t is EventType.WITHDRAWN:
            rec.withdrawn.add(path_key(e.payload.path))
        elif t is EventType.STATE_SET:
            rec.state_sets += 1
        elif t is EventType.PATCHED:
            rec.patches.add(e.payload.patch_id)
        elif t is EventType.RECOVERED:
            rec.interrupted += 1
        elif t is EventType.PAUSE_REQUESTED:
            rec.pause_pending = True
        elif t is EventType.PAUSED or t is EventType.CONTINUED:
            rec.pause_pending = False
    return rec


def blob_refs(events: Sequence[Event]) -> list[str]:
    """The content hashes of the large results a log refers to."""
    decode_payloads(e for e in events if e.type is EventType.STEP_COMPLETED)
    return [e.payload.ref for e in events
            if e.type is EventType.STEP_COMPLETED and e.payload.ref is not None]

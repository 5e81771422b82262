"""What a run's log says, indexed for the driver. Pure: no I/O.

Replay needs, from the log: the deliveries in the order they were recorded
(step results and resumes, matched to the code's requests by path), what kind
of thing each path was (a step or a suspension), which suspensions were
recorded and which withdrawn, how many state changes were made, and whether
the run was interrupted (recovered) while a step was in flight.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from durable.events import RunLog
from durable.paths import path_key

DELIVERY_TYPES = frozenset({"step_completed", "resumed"})


@dataclass
class Recorded:
    """The log, indexed for replay."""

    deliveries: list[tuple[str, RunLog.Event]] = field(default_factory=list)  # in log order
    kinds: dict[str, str] = field(default_factory=dict)  # path key -> "step" | "suspend"
    failures: dict[str, int] = field(default_factory=dict)  # failed attempts of held steps
    suspended: set[str] = field(default_factory=set)  # suspensions recorded
    withdrawn: set[str] = field(default_factory=set)  # suspensions recorded as withdrawn
    state_sets: int = 0
    interrupted: int = 0  # `recovered` events after the last delivery
    pause_pending: bool = False  # a pause was requested and not yet honoured


def index_log(events: list[RunLog.Event]) -> Recorded:
    rec = Recorded()
    for e in events:
        t = e.type
        if t in DELIVERY_TYPES or (t == "step_failed" and e.data.get("final")):
            key = path_key(e.data["path"])
            rec.deliveries.append((key, e))
            rec.interrupted = 0
            if t != "resumed":
                rec.kinds[key] = "step"
        elif t == "step_failed":
            key = path_key(e.data["path"])
            rec.kinds[key] = "step"
            rec.failures[key] = rec.failures.get(key, 0) + 1
        elif t == "suspended":
            key = path_key(e.data["path"])
            rec.kinds[key] = "suspend"
            rec.suspended.add(key)
        elif t == "withdrawn":
            rec.withdrawn.add(path_key(e.data["path"]))
        elif t == "state_set":
            rec.state_sets += 1
        elif t == "recovered":
            rec.interrupted += 1
        elif t == "pause_requested":
            rec.pause_pending = True
        elif t in ("paused", "continued"):
            rec.pause_pending = False
    return rec


def blob_refs(events: list[RunLog.Event]) -> list[str]:
    """The content hashes of the large results a log refers to."""
    return [e.data["ref"] for e in events if e.type == "step_completed" and "ref" in e.data]

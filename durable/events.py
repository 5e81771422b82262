"""The run log: a run is an aggregate, its history a stream of immutable events.

Pure domain code: no I/O. Every event class has a fixed ``TOPIC`` so that
renaming a class never orphans stored history. Each event carries the hash of
the one before it (per run), so an edit to stored history is detectable.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

import msgspec
from eventsourcing.domain import (
    BaseAggregate,
    CanInitAggregate,
    CanMutateAggregate,
    CanSnapshotAggregate,
)
from eventsourcing.utils import register_topic

from durable.paths import path_key

TERMINAL = frozenset({"succeeded", "failed", "cancelled"})
GENESIS_HASH = ""

_encode = msgspec.msgpack.Encoder().encode


def chain_hash(
    run_id: str, prev_hash: str, topic: str, position: int, timestamp: datetime, data: Any
) -> str:
    """The tamper-evident link: covers the previous link and everything stored."""
    h = hashlib.sha256()
    h.update(prev_hash.encode())
    h.update(_encode((run_id, topic, position, timestamp.isoformat(), data)))
    return h.hexdigest()[:32]


class RunLog(BaseAggregate[str]):
    """The fold of one run's events: what the run is, as its log says."""

    TOPIC = "durable:Run"
    # Bump with an ``upcast_v1_v2(state)`` static method when the folded state gains
    # fields, so snapshots taken before still load.
    class_version = 1

    if TYPE_CHECKING:  # set by the events' apply(); not dataclass fields of the aggregate
        workflow: str
        workflow_version: str | None
        status: str
        input: Any
        output: Any
        error: str | None
        state: dict[str, Any]
        request_context: dict[str, Any]
        suspensions: dict[str, dict[str, Any]]  # path key -> path, kind, payload, suspended_at
        resource_id: str | None
        thread_id: str | None
        parent_run_id: str | None
        suspended_at: datetime | None
        last_hash: str
        seed: int
        pause_pending: bool

    @dataclass(frozen=True)
    class Event(CanMutateAggregate[str]):
        TOPIC = "durable:event"
        type: ClassVar[str] = "event"
        originator_id: str
        originator_version: int
        timestamp: datetime
        data: dict[str, Any]
        prev_hash: str
        hash: str

        def apply(self, run: RunLog) -> None:
            run.last_hash = self.hash

    @dataclass(frozen=True)
    class Started(Event, CanInitAggregate[str]):
        TOPIC = "durable:started"
        type: ClassVar[str] = "started"
        originator_topic: str = "durable:Run"

        def apply(self, run: RunLog) -> None:
            d = self.data
            run.workflow = d["workflow"]
            run.workflow_version = d.get("version")
            run.status = "running"
            run.input = d.get("input")
            run.output = None
            run.error = None
            run.state = d.get("state") or {}
            run.request_context = d.get("request_context") or {}
            run.suspensions = {}
            run.resource_id = d.get("resource_id")
            run.thread_id = d.get("thread_id")
            run.parent_run_id = d.get("parent_run_id")
            run.suspended_at = None
            run.seed = d.get("seed", 0)
            run.pause_pending = False
            run.last_hash = self.hash

    @dataclass(frozen=True)
    class StepCompleted(Event):
        TOPIC = "durable:step_completed"
        type: ClassVar[str] = "step_completed"

        def apply(self, run: RunLog) -> None:
            run.status = "running"
            run.last_hash = self.hash

    @dataclass(frozen=True)
    class StepFailed(Event):
        TOPIC = "durable:step_failed"
        type: ClassVar[str] = "step_failed"

        def apply(self, run: RunLog) -> None:
            run.status = "running"
            run.last_hash = self.hash

    @dataclass(frozen=True)
    class Waiting(Event):
        """Every live branch waits on an open suspension (written when no
        ``suspended`` event of this quiescent point says so already)."""

        TOPIC = "durable:waiting"
        type: ClassVar[str] = "waiting"

        def apply(self, run: RunLog) -> None:
            run.status = "suspended"
            run.last_hash = self.hash

    @dataclass(frozen=True)
    class Suspended(Event):
        TOPIC = "durable:suspended"
        type: ClassVar[str] = "suspended"

        def apply(self, run: RunLog) -> None:
            d = self.data
            run.suspensions[path_key(tuple(d["path"]))] = {
                "path": tuple(d["path"]),
                "kind": d.get("kind", "input"),
                "payload": d.get("payload"),
                "suspended_at": self.timestamp,
            }
            run.suspended_at = self.timestamp
            run.status = "suspended"
            run.last_hash = self.hash

    @dataclass(frozen=True)
    class Resumed(Event):
        TOPIC = "durable:resumed"
        type: ClassVar[str] = "resumed"

        def apply(self, run: RunLog) -> None:
            run.suspensions.pop(path_key(tuple(self.data["path"])), None)
            run.status = "running"
            run.last_hash = self.hash

    @dataclass(frozen=True)
    class Withdrawn(Event):
        """The workflow stopped waiting on an open suspension (it cancelled the branch
        awaiting it, e.g. the loser of ``asyncio.wait(..., FIRST_COMPLETED)``)."""

        TOPIC = "durable:withdrawn"
        type: ClassVar[str] = "withdrawn"

        def apply(self, run: RunLog) -> None:
            run.suspensions.pop(path_key(tuple(self.data["path"])), None)
            run.last_hash = self.hash

    @dataclass(frozen=True)
    class StateSet(Event):
        TOPIC = "durable:state_set"
        type: ClassVar[str] = "state_set"

        def apply(self, run: RunLog) -> None:
            run.state = self.data["state"]
            run.last_hash = self.hash

    @dataclass(frozen=True)
    class Paused(Event):
        TOPIC = "durable:paused"
        type: ClassVar[str] = "paused"

        def apply(self, run: RunLog) -> None:
            run.status = "paused"
            run.pause_pending = False
            run.last_hash = self.hash

    @dataclass(frozen=True)
    class PauseRequested(Event):
        """Someone asked a run executing elsewhere to pause at its next step boundary."""

        TOPIC = "durable:pause_requested"
        type: ClassVar[str] = "pause_requested"

        def apply(self, run: RunLog) -> None:
            run.pause_pending = True
            run.last_hash = self.hash

    @dataclass(frozen=True)
    class Continued(Event):
        """A paused run was told to go on."""

        TOPIC = "durable:continued"
        type: ClassVar[str] = "continued"

        def apply(self, run: RunLog) -> None:
            run.status = "running"
            run.pause_pending = False
            run.last_hash = self.hash

    @dataclass(frozen=True)
    class Recovered(Event):
        """Another process claimed a run whose owner died; fences the old owner."""

        TOPIC = "durable:recovered"
        type: ClassVar[str] = "recovered"

        def apply(self, run: RunLog) -> None:
            run.status = "running"
            run.last_hash = self.hash

    @dataclass(frozen=True)
    class Cancelled(Event):
        TOPIC = "durable:cancelled"
        type: ClassVar[str] = "cancelled"

        def apply(self, run: RunLog) -> None:
            run.status = "cancelled"
            run.error = self.data.get("reason")
            run.suspensions = {}
            run.last_hash = self.hash

    @dataclass(frozen=True)
    class Succeeded(Event):
        TOPIC = "durable:succeeded"
        type: ClassVar[str] = "succeeded"

        def apply(self, run: RunLog) -> None:
            run.status = "succeeded"
            run.output = self.data.get("output")
            run.suspensions = {}
            run.last_hash = self.hash

    @dataclass(frozen=True)
    class Failed(Event):
        TOPIC = "durable:failed"
        type: ClassVar[str] = "failed"

        def apply(self, run: RunLog) -> None:
            run.status = "failed"
            run.error = self.data.get("error")
            run.suspensions = {}
            run.last_hash = self.hash


@dataclass(frozen=True)
class RunSnapshot(CanSnapshotAggregate[str]):
    """A run's folded state at a position: loading reads it plus the events after it."""

    TOPIC = "durable:snapshot"
    originator_id: str
    originator_version: int
    timestamp: datetime
    topic: str
    state: dict[str, Any]

    @classmethod
    def of(cls, run: RunLog, timestamp: datetime) -> RunSnapshot:
        state = {k: v for k, v in vars(run).items()
                 if k not in ("_id", "_version", "_pending_events")}
        state["suspensions"] = dict(run.suspensions)  # its values are never changed in place
        if RunLog.class_version > 1:
            state["class_version"] = RunLog.class_version
        return cls(originator_id=run.id, originator_version=run.version, timestamp=timestamp,
                   topic=RunLog.TOPIC, state=state)

    def load(self) -> RunLog:
        run = self.mutate(None)
        # msgpack gives back lists where the fold keeps tuples
        for s in run.suspensions.values():  # type: ignore[attr-defined]
            s["path"] = tuple(s["path"])
        return run  # type: ignore[return-value]


register_topic(RunSnapshot.TOPIC, RunSnapshot)


EVENT_CLASSES: dict[str, type[RunLog.Event]] = {
    cls.type: cls
    for cls in (
        RunLog.Started,
        RunLog.StepCompleted,
        RunLog.StepFailed,
        RunLog.Suspended,
        RunLog.Waiting,
        RunLog.Resumed,
        RunLog.Withdrawn,
        RunLog.StateSet,
        RunLog.Paused,
        RunLog.PauseRequested,
        RunLog.Continued,
        RunLog.Recovered,
        RunLog.Cancelled,
        RunLog.Succeeded,
        RunLog.Failed,
    )
}


def new_event(
    run_id: str, position: int, type_: str, data: dict[str, Any], prev_hash: str,
    timestamp: datetime,
) -> RunLog.Event:
    """Build the next event of a run, linked to the one before it."""
    cls = EVENT_CLASSES[type_]
    digest = chain_hash(run_id, prev_hash, cls.TOPIC, position, timestamp, data)
    return cls(
        originator_id=run_id,
        originator_version=position,
        timestamp=timestamp,
        data=data,
        prev_hash=prev_hash,
        hash=digest,
    )


def fold(events: list[RunLog.Event], start: RunLog | None = None) -> RunLog:
    """The run as its events say (after ``start``, a snapshot's state, if given).

    A plain loop: none of the library's per-event protocol checks.
    """
    run: Any = start
    for e in events:
        run = e.mutate(run)
    if run is None:
        raise ValueError("an empty log folds to no run")
    return run  # type: ignore[no-any-return]


def verify_chain(events: list[RunLog.Event]) -> bool:
    prev = GENESIS_HASH
    for position, e in enumerate(events, start=1):
        if e.originator_version != position or e.prev_hash != prev:
            return False
        digest = chain_hash(e.originator_id, prev, type(e).TOPIC, position, e.timestamp, e.data)
        if digest != e.hash:
            return False
        prev = e.hash
    return True

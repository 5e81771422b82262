"""What a run is, as its log says: the fold of its events. Pure: no I/O.

A run is an ``eventsourcing`` aggregate (:class:`RunLog`), so its snapshots are
the library's; its events are applied here, in one loop with no per-event
protocol (:func:`fold`), and the cheap, common ones (a completed step) touch only
what they change.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from eventsourcing.domain import BaseAggregate, CanSnapshotAggregate
from eventsourcing.utils import register_topic

from durable.events import Event, EventType, Status, decode_raw
from durable.paths import path_key


class RunLog(BaseAggregate[str]):
    """The fold of one run's events: what the run is, as its log says."""

    TOPIC = "durable:Run"
    # Bump with an ``upcast_v1_v2(state)`` static method when the folded state gains
    # fields, so snapshots taken before still load.
    class_version = 5

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        state["continued_from"] = None  # snapshots from before continue_as_new

    @staticmethod
    def upcast_v2_v3(state: dict[str, Any]) -> None:
        state["mailbox"] = []  # snapshots from before send_event and ctx.child
        state["children"] = {}
        state["parent_path"] = None

    @staticmethod
    def upcast_v3_v4(state: dict[str, Any]) -> None:
        state["queue"] = None  # snapshots from before engine.enqueue
        state["queue_key"] = None

    @staticmethod
    def upcast_v4_v5(state: dict[str, Any]) -> None:
        state["forked_from"] = None  # snapshots from before engine.fork
        state["fork_position"] = None
        state["what_if"] = {}

    if TYPE_CHECKING:  # set by apply(); not dataclass fields of the aggregate
        workflow: str
        workflow_version: str | None
        status: str
        input: Any
        output: Any
        error: str | None
        state: dict[str, Any]
        request_context: dict[str, Any]
        # path key -> path, kind, payload, suspended_at, due (a timer's; absent in old snapshots)
        suspensions: dict[str, dict[str, Any]]
        resource_id: str | None
        thread_id: str | None
        parent_run_id: str | None
        suspended_at: datetime | None
        last_hash: str
        seed: int
        pause_pending: bool
        continued_from: str | None
        # events sent and not yet taken, oldest first: {"position", "name", "data"}
        mailbox: list[dict[str, Any]]
        # ctx.child: path key -> {"path", "run_id", "position", "status"[, "withdrawn"]};
        # a child's open suspensions are in ``suspensions`` too, under its path, with
        # "child" naming it (its path key)
        children: dict[str, dict[str, Any]]
        parent_path: tuple[str | int, ...] | None
        queue: str | None  # engine.enqueue: the run's queue, and its key in it
        queue_key: str | None
        forked_from: str | None  # engine.fork: the original, and where the fork was taken
        fork_position: int | None
        what_if: dict[str, Any]  # engine.fork(results=): path key -> the result to record

    @classmethod
    def begin(cls, e: Event) -> RunLog:
        """The run its ``started`` event makes."""
        run = object.__new__(cls)
        run._id = e.run_id
        run._version = e.position
        run._created_on = e.timestamp
        run._modified_on = e.timestamp
        run._pending_events = []
        apply(run, e)
        return run


# -- what each event does to a run --------------------------------------------------------
def _started(run: Any, e: Event) -> None:
    p = e.payload
    run.workflow = p.workflow
    run.workflow_version = p.version
    run.status = Status.PENDING if p.queue is not None else Status.RUNNING
    run.input = p.input
    run.output = None
    run.error = None
    run.state = p.state
    run.request_context = p.request_context
    run.suspensions = {}
    run.resource_id = p.resource_id
    run.thread_id = p.thread_id
    run.parent_run_id = p.parent_run_id
    run.suspended_at = None
    run.seed = p.seed
    run.pause_pending = False
    run.continued_from = p.continued_from
    run.mailbox = []
    run.children = {}
    run.parent_path = tuple(p.parent_path) if p.parent_path is not None else None
    run.queue = p.queue
    run.queue_key = p.key
    run.forked_from = None
    run.fork_position = None
    run.what_if = {}


def _forked(run: Any, e: Event) -> None:
    """The fork's own first event: from here on the log is another run's."""
    p = e.payload
    run._id = e.run_id
    run._created_on = e.timestamp
    run.status = p.status
    run.forked_from = p.forked_from
    run.fork_position = p.fork_position
    run.what_if = dict(p.results)
    run.pause_pending = False
    run.parent_run_id = None  # a fork is nobody's child, and no queue's
    run.parent_path = None
    run.queue = None
    run.queue_key = None


def _running(run: Any, e: Event) -> None:
    run.status = Status.RUNNING


def _suspended(run: Any, e: Event) -> None:
    p = e.payload
    run.suspensions[path_key(p.path)] = {
        "path": tuple(p.path), "kind": p.kind, "payload": p.payload, "suspended_at": e.timestamp,
        "due": p.due,
    }
    run.suspended_at = e.timestamp
    run.status = Status.SUSPENDED


def _waiting(run: Any, e: Event) -> None:
    run.status = Status.SUSPENDED


def _resumed(run: Any, e: Event) -> None:
    run.suspensions.pop(path_key(e.payload.path), None)
    run.status = Status.RUNNING


def _event_sent(run: Any, e: Event) -> None:
    p = e.payload  # a new list, never changed in place: a snapshot may share the old one
    run.mailbox = [*run.mailbox,
                   {"position": e.position, "name": p.name, "data": decode_raw(p.data)}]


def _event_received(run: Any, e: Event) -> None:
    _resumed(run, e)
    sent = e.payload.sent
    if sent is not None:
        run.mailbox = [m for m in run.mailbox if m["position"] != sent]


def _withdrawn(run: Any, e: Event) -> None:
    key = path_key(e.payload.path)
    run.suspensions.pop(key, None)
    child = run.children.get(key)
    if child is not None:  # the code stopped waiting for a child: it is to be cancelled
        _surface(run, key, [], e)
        run.children = {**run.children, key: {**child, "withdrawn": True}}


def _child_started(run: Any, e: Event) -> None:
    p = e.payload
    key = path_key(p.path)
    if key in run.children:  # its news came first (told by another engine): keep it
        return
    run.children = {**run.children, key: {
        "path": tuple(p.path), "run_id": p.run_id, "position": 0, "status": Status.RUNNING}}


def _child_suspended(run: Any, e: Event) -> None:
    p = e.payload
    key = path_key(p.path)
    _surface(run, key, p.suspensions, e)
    run.children = {**run.children, key: {**run.children.get(key, {}), "path": tuple(p.path),
                                         "run_id": p.run_id, "position": p.position,
                                         "status": Status.SUSPENDED}}
    if p.suspensions:
        run.suspended_at = e.timestamp


def _child_ended(run: Any, e: Event) -> None:
    p = e.payload
    key = path_key(p.path)
    _surface(run, key, [], e)
    known = run.children.get(key, {})
    run.children = {**run.children, key: {**known, "path": tuple(p.path),
                                         "run_id": p.run_id, "position": p.position,
                                         "status": p.status}}
    # The code takes the child's outcome (and goes on) unless it stopped waiting for it,
    # or the run is paused (it takes it when continued).
    if not known.get("withdrawn") and run.status != Status.PAUSED:
        run.status = Status.RUNNING


def _surface(run: Any, key: str, suspensions: list[dict[str, Any]], e: Event) -> None:
    """The child at ``key`` now waits at ``suspensions`` (paths relative to it): they
    replace, in this run's open suspensions, what it waited at before."""
    base = tuple(run.children[key]["path"]) if key in run.children else tuple(e.payload.path)
    kept = {k: s for k, s in run.suspensions.items() if s.get("child") != key}
    for s in suspensions:
        path = (*base, *s["path"])
        kept[path_key(path)] = {"path": path, "kind": s["kind"], "payload": s["payload"],
                                "suspended_at": e.timestamp, "due": None, "child": key}
    run.suspensions = kept


def _state_set(run: Any, e: Event) -> None:
    run.state = e.payload.state


def _paused(run: Any, e: Event) -> None:
    run.status = Status.PAUSED
    run.pause_pending = False


def _pause_requested(run: Any, e: Event) -> None:
    run.pause_pending = True


def _continued(run: Any, e: Event) -> None:
    run.status = Status.RUNNING
    run.pause_pending = False


def _marker(run: Any, e: Event) -> None:
    pass  # patched: read by replay (durable.patching), changes nothing of the run


def _cancelled(run: Any, e: Event) -> None:
    run.status = Status.CANCELLED
    run.error = e.payload.reason
    run.suspensions = {}


def _succeeded(run: Any, e: Event) -> None:
    run.status = Status.SUCCEEDED
    run.output = e.payload.output
    run.suspensions = {}


def _failed(run: Any, e: Event) -> None:
    run.status = Status.FAILED
    run.error = e.payload.error
    run.suspensions = {}


APPLY: dict[str, Callable[[Any, Event], None]] = {
    EventType.STARTED: _started,
    EventType.STEP_COMPLETED: _running,
    EventType.STEP_FAILED: _running,
    EventType.SUSPENDED: _suspended,
    EventType.WAITING: _waiting,
    EventType.RESUMED: _resumed,
    EventType.TIMER_FIRED: _resumed,
    EventType.EVENT_SENT: _event_sent,
    EventType.EVENT_RECEIVED: _event_received,
    EventType.CHILD_STARTED: _child_started,
    EventType.CHILD_SUSPENDED: _child_suspended,
    EventType.CHILD_ENDED: _child_ended,
    EventType.WITHDRAWN: _withdrawn,
    EventType.STATE_SET: _state_set,
    EventType.PAUSE_REQUESTED: _pause_requested,
    EventType.PAUSED: _paused,
    EventType.CONTINUED: _continued,
    EventType.RECOVERED: _running,
    EventType.CLAIMED: _running,
    EventType.FORKED: _forked,
    EventType.PATCHED: _marker,
    EventType.CANCELLED: _cancelled,
    EventType.SUCCEEDED: _succeeded,
    EventType.FAILED: _failed,
}


def apply(run: Any, e: Event) -> None:
    """Apply one event to ``run`` (a :class:`RunLog`, or any object with its fields)."""
    APPLY[e.type](run, e)
    run.last_hash = e.hash


def fold(events: Sequence[Event], start: RunLog | None = None) -> RunLog:
    """The run as its events say (after ``start``, a snapshot's state, if given).

    One loop; a completed step, by far the most common event, sets only the status,
    and the position, time and hash are taken from the last event once.
    """
    run = start
    rest: Sequence[Event] = events
    if run is None:
        if not events:
            raise ValueError("an empty log folds to no run")
        run = RunLog.begin(events[0])
        rest = events[1:]
    if not rest:
        return run
    step = EventType.STEP_COMPLETED
    for e in rest:
        if e.type is step:
            run.status = Status.RUNNING
        else:
            APPLY[e.type](run, e)
    last = rest[-1]
    run._version = last.position
    run._modified_on = last.timestamp
    run.last_hash = last.hash
    return run


def follow(run: RunLog, e: Event) -> None:
    """Apply the next event to a folded run."""
    apply(run, e)
    run._version = e.position
    run._modified_on = e.timestamp


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
register_topic(RunLog.TOPIC, RunLog)

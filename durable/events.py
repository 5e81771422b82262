"""A run's events: typed, stored as msgpack, decoded in bulk and lazily. Pure: no I/O.

Each event type has a fixed topic (``durable:step_completed``, ...), so renaming a
class never orphans stored history, and a payload ``msgspec.Struct`` whose fields
are the payload's keys, written in this one place. An event is stored as an
envelope ``{timestamp, data, prev_hash, hash}`` whose ``data`` is the payload's
msgpack bytes, kept as they are (``msgspec.Raw``): the chain hash covers those
bytes, so an event is verified without decoding it again, and a step's result is
decoded only when the workflow asks for it. A batch of stored rows is decoded
with one ``msgspec`` call per batch, their payloads with one per event type
(:mod:`durable.bulk_decode`).
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from enum import StrEnum
from typing import Any

import msgspec
from msgspec import Raw

from durable.hashing import chain_hash

LEGACY_GENESIS = ""  # what the first event of a log written before issue 12 links to
TOPIC_PREFIX = "durable:"


class EventType(StrEnum):
    STARTED = "started"
    STEP_COMPLETED = "step_completed"
    STEP_FAILED = "step_failed"
    SUSPENDED = "suspended"
    WAITING = "waiting"
    RESUMED = "resumed"
    TIMER_FIRED = "timer_fired"
    EVENT_SENT = "event_sent"
    EVENT_RECEIVED = "event_received"
    CHILD_STARTED = "child_started"
    CHILD_SUSPENDED = "child_suspended"
    CHILD_ENDED = "child_ended"
    WITHDRAWN = "withdrawn"
    STATE_SET = "state_set"
    PAUSE_REQUESTED = "pause_requested"
    PAUSED = "paused"
    CONTINUED = "continued"
    RECOVERED = "recovered"
    CLAIMED = "claimed"
    FORKED = "forked"
    PATCHED = "patched"
    CANCELLED = "cancelled"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class Status(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    SUSPENDED = "suspended"
    PAUSED = "paused"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


class Kind(StrEnum):
    """What a suspension waits for."""

    INPUT = "input"
    APPROVAL = "approval"
    EVENT = "event"
    TIMER = "timer"


TERMINAL: frozenset[str] = frozenset({Status.SUCCEEDED, Status.FAILED, Status.CANCELLED})
# What ends an open suspension and hands the code its value: a resume, a fired timer,
# an event taken from the run's mailbox.
ANSWERS: frozenset[str] = frozenset(
    {EventType.RESUMED, EventType.TIMER_FIRED, EventType.EVENT_RECEIVED})
SETTLED: frozenset[str] = TERMINAL | {Status.SUSPENDED, Status.PAUSED}

Path = list[str | int]


# -- payloads: one struct per event type; the fields are the stored keys, in order ----------
class Payload(msgspec.Struct, kw_only=True, gc=False):
    pass


class Started(Payload):
    workflow: str
    version: str | None = None
    input: Any = None
    state: dict[str, Any] = msgspec.field(default_factory=dict)
    request_context: dict[str, Any] = msgspec.field(default_factory=dict)
    resource_id: str | None = None
    thread_id: str | None = None
    parent_run_id: str | None = None
    seed: int = 0
    continued_from: str | None = None  # the run this one continues (ctx.continue_as_new)
    parent_path: Path | None = None  # where a child run sits in its parent (ctx.child)
    queue: str | None = None  # engine.enqueue: pending until a worker claims it
    key: str | None = None  # the queue's per-key limit counts runs by this


class StepCompleted(Payload, omit_defaults=True, kw_only=True):
    """A step's result, inline (``result``) or stored apart by hash (``ref``, ``size``)."""

    path: Path
    result: Raw = Raw()
    ref: str | None = None
    size: int | None = None
    attempt: int
    what_if: bool = False  # given to engine.fork(results=): the step's code did not run


class StepFailed(Payload):
    path: Path
    error_type: str
    message: str
    attempt: int
    final: bool = True


class Suspended(Payload):
    path: Path
    kind: str = Kind.INPUT
    payload: Any = None
    due: float | None = None  # a timer's due time (epoch seconds)


class Waiting(Payload):
    paths: list[str] = msgspec.field(default_factory=list)


class Resumed(Payload):
    path: Path
    data: Raw = Raw(b"\xc0")  # nil


class TimerFired(Payload):
    path: Path


class EventSent(Payload):
    """``engine.send_event``: the event is kept in the run's mailbox until the code
    takes it (``event_received``)."""

    name: str
    data: Raw = Raw(b"\xc0")  # nil


class EventReceived(Payload):
    """A ``ctx.wait_for_event`` at ``path`` took the event sent at position ``sent``
    (a copy of its data, so a replay needs nothing else)."""

    path: Path
    name: str
    data: Raw = Raw(b"\xc0")  # nil
    sent: int | None = None


class ChildStarted(Payload):
    """``ctx.child`` at ``path`` started the run ``run_id`` (its id derived from the
    parent's id and the path, so a replay or a retry finds the same run)."""

    path: Path
    run_id: str
    workflow: str


class ChildSuspended(Payload):
    """The child at ``path`` settled waiting, at its log's ``position``: its open
    suspensions (paths relative to the child) surface in this run under ``path``."""

    path: Path
    run_id: str
    position: int
    suspensions: list[dict[str, Any]] = msgspec.field(default_factory=list)


class ChildEnded(Payload):
    """The child at ``path`` ended (``status``), at its log's ``position``: its output
    is what ``ctx.child`` returns, its error what it raises."""

    path: Path
    run_id: str
    position: int
    status: str
    output: Any = None
    error: str | None = None
    error_type: str | None = None


class Withdrawn(Payload):
    path: Path


class StateSet(Payload):
    state: dict[str, Any]


class Empty(Payload):
    """pause_requested, paused, continued: the event's type says it all."""


class Recovered(Payload):
    owner: str | None = None
    previous: str | None = None


class Claimed(Payload):
    """A worker took a pending run (``engine.enqueue``) from its queue."""

    owner: str | None = None
    queue: str | None = None


class Forked(Payload):
    """``engine.fork``: this run's log begins with events ``1..fork_position`` of run
    ``forked_from`` (read from there, not copied), and goes on from here. The run's
    own fields are repeated, so a reader of this event alone (the runs index) knows
    them; ``results`` are what-if step results by path key, recorded when the code
    reaches those steps instead of running them."""

    forked_from: str
    fork_position: int
    root: str  # the run whose chain this log began as (see durable.chain)
    status: str  # suspended where the original was, else paused
    workflow: str
    run_id: str = ""  # the fork's own id: its log cannot be moved to another run's
    version: str | None = None
    resource_id: str | None = None
    thread_id: str | None = None
    state: dict[str, Any] = msgspec.field(default_factory=dict)
    results: dict[str, Any] = msgspec.field(default_factory=dict)
class Patched(Payload):
    """``ctx.patched(patch_id)`` was first reached under code that has it: this run takes
    the changed code's path there, on every replay too."""

    patch_id: str


class Cancelled(Payload):
    reason: str | None = None


class Succeeded(Payload):
    output: Any = None


class Failed(Payload):
    error: str
    error_type: str = "WorkflowError"


PAYLOADS: dict[str, type[Payload]] = {
    EventType.STARTED: Started,
    EventType.STEP_COMPLETED: StepCompleted,
    EventType.STEP_FAILED: StepFailed,
    EventType.SUSPENDED: Suspended,
    EventType.WAITING: Waiting,
    EventType.RESUMED: Resumed,
    EventType.TIMER_FIRED: TimerFired,
    EventType.EVENT_SENT: EventSent,
    EventType.EVENT_RECEIVED: EventReceived,
    EventType.CHILD_STARTED: ChildStarted,
    EventType.CHILD_SUSPENDED: ChildSuspended,
    EventType.CHILD_ENDED: ChildEnded,
    EventType.WITHDRAWN: Withdrawn,
    EventType.STATE_SET: StateSet,
    EventType.PAUSE_REQUESTED: Empty,
    EventType.PAUSED: Empty,
    EventType.CONTINUED: Empty,
    EventType.RECOVERED: Recovered,
    EventType.CLAIMED: Claimed,
    EventType.FORKED: Forked,
    EventType.PATCHED: Patched,
    EventType.CANCELLED: Cancelled,
    EventType.SUCCEEDED: Succeeded,
    EventType.FAILED: Failed,
}
TOPICS: dict[str, str] = {t: TOPIC_PREFIX + t for t in EventType}
TYPES_BY_TOPIC: dict[str, EventType] = {TOPIC_PREFIX + t: t for t in EventType}

_encode = msgspec.msgpack.Encoder().encode
_decode_any = msgspec.msgpack.Decoder().decode
_PAYLOAD_DECODERS = {t: msgspec.msgpack.Decoder(cls) for t, cls in PAYLOADS.items()}
_PAYLOAD_LISTS = {t: msgspec.msgpack.Decoder(list[cls]) for t, cls in PAYLOADS.items()}  # type: ignore[valid-type]


class Envelope(msgspec.Struct, omit_defaults=True):
    """How an event is stored (the row's ``state``); its run, position and topic are the
    row's other columns. ``originator_topic``: written into ``started`` events by the
    ``eventsourcing`` mapper before issue 8; read and ignored."""

    timestamp: datetime
    data: Raw
    prev_hash: str
    hash: str
    originator_topic: str | None = None
    # Set only on an event whose payload was erased (``engine.redact``): the hash the
    # chain covers, of the payload as it was.
    data_hash: str | None = None


class Event(msgspec.Struct, eq=False, gc=False):
    """One event of a run's log; ``payload`` is decoded on first use.

    Its first fields are the stored envelope's, so a batch of stored rows decodes
    straight into events (:func:`decode_rows`); the row's columns fill in the rest.
    """

    timestamp: datetime
    data: Raw  # the payload's msgpack bytes, as hashed and stored
    prev_hash: str
    hash: str
    originator_topic: str | None = None
    data_hash: str | None = None  # a redacted event's: the erased payload's hash
    run_id: str = ""
    position: int = 0
    type: EventType = EventType.STARTED
    _payload: Any = None

    @property
    def payload(self) -> Any:
        if self._payload is None:
            self._payload = _PAYLOAD_DECODERS[self.type].decode(self.data)
        return self._payload

    @property
    def topic(self) -> str:
        return TOPICS[self.type]

    def as_dict(self) -> dict[str, Any]:
        """The payload as plain data (the public ``Event.data``)."""
        return _decode_any(self.data)  # type: ignore[no-any-return]

    def stored(self) -> bytes:
        """The envelope bytes a store keeps for this event."""
        return _encode(Envelope(self.timestamp, self.data, self.prev_hash, self.hash,
                                data_hash=self.data_hash))

    def payload_hash(self) -> bytes:
        """What the chain covers of the payload: its hash, kept apart when it was erased."""
        if self.data_hash is not None:
            return bytes.fromhex(self.data_hash)
        return hashlib.sha256(self.data).digest()

    def __repr__(self) -> str:
        return f"Event({self.run_id!r}, {self.position}, {self.type.value!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Event) and (
            self.run_id, self.position, self.type, self.timestamp, bytes(self.data),
            self.prev_hash, self.hash, self.data_hash) == (
            other.run_id, other.position, other.type, other.timestamp, bytes(other.data),
            other.prev_hash, other.hash, other.data_hash)

    __hash__ = None  # type: ignore[assignment]


def new_event(
    run_id: str, position: int, type_: str, payload: Payload | dict[str, Any], prev_hash: str,
    timestamp: datetime,
) -> Event:
    """Build the next event of a run, linked to the one before it (the first to
    :func:`genesis_hash`). A ``dict`` payload (tests, tools) is checked against the
    type's struct."""
    kind = EventType(type_)
    data = Raw(_encode(payload))
    if isinstance(payload, dict):
        payload = _PAYLOAD_DECODERS[kind].decode(data)
    digest = chain_hash(prev_hash, TOPICS[kind], position, timestamp,
                        hashlib.sha256(data).digest())
    return Event(timestamp, data, prev_hash, digest, None, None, run_id, position, kind,
                 payload)


def encode_raw(value: Any) -> Raw:
    """A value as the log stores it, for a ``Raw`` field (a step's result, resume data)."""
    return Raw(_encode(value))


def provisional(type_: EventType, payload: Payload, timestamp: datetime) -> Event:
    """An event about to be appended, with the time it will be appended at: handed to
    the code before the append (see ``commands.take_over``); it has no place yet."""
    e = Event(timestamp=timestamp, data=Raw(b""), prev_hash="", hash="", type=type_)
    e._payload = payload
    return e


def decode_raw(raw: Raw) -> Any:
    return _decode_any(raw)

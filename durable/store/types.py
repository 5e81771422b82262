"""What crosses the store interface: rows, appends and filters. Pure data, no I/O.

The store adapters and the read models in ``projections`` both speak these
types; they live with the store, so ``projections`` depends on the store's
vocabulary and never the other way round.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec
from eventsourcing.persistence import StoredEvent

from durable.events import Event
from durable.fold import RunLog
from durable.paths import path_key

# -- the head row: where a run's log ends, and who executes it -----------------------------


class Head(msgspec.Struct, kw_only=True):
    """One row per run: where its log ends, its status, and who holds it.

    The owner columns name the engine executing the run (host, pid, process
    start time, lease). They are empty when nobody does: the run was released
    by a holder that stopped, or never claimed.
    """

    run_id: str
    workflow: str
    version: str | None = None
    status: str
    position: int
    resource_id: str | None = None
    thread_id: str | None = None
    parent_run_id: str | None = None
    created_at: float
    updated_at: float
    suspended_at: float | None = None
    owner_id: str | None = None
    owner_host: str | None = None
    owner_pid: int | None = None
    owner_start: int | None = None
    lease_until: float | None = None
    queue: str | None = None  # engine.enqueue: its queue, and its key there
    queue_key: str | None = None
    forked_from: str | None = None  # engine.fork: the original, and the position forked at
    fork_position: int | None = None
    # Today's code could not replay the run where the engine's own background work
    # met it (Store.block): the error, and since when. Every write of the row clears
    # them, and only an append writes it: the one that continues the run does.
    blocked: str | None = None
    blocked_since: float | None = None
    # engine.redact erased the run's payloads, for this reason (a finished run's row is
    # never written again by an append, so the mark stays).
    redacted: str | None = None


HEAD_COLUMNS = tuple(Head.__struct_fields__)
OWNER_COLUMNS = ("owner_id", "owner_host", "owner_pid", "owner_start", "lease_until")


def head_params(h: Head) -> tuple[Any, ...]:
    return tuple(getattr(h, c) for c in HEAD_COLUMNS)


def head_from_row(row: Any) -> Head:
    return Head(**{c: row[c] for c in HEAD_COLUMNS})


# -- the suspended-runs listing's rows ------------------------------------------------------


class WaitingRun(msgspec.Struct, kw_only=True):
    run_id: str
    workflow: str
    resource_id: str | None
    thread_id: str | None
    suspended_at: float  # the latest open suspension's


class OpenSuspension(msgspec.Struct, kw_only=True):
    run_id: str
    path_key: str
    path: list[str | int]
    kind: str
    payload: Any
    requires_approval: bool
    suspended_at: float
    due_at: float | None = None  # a timer's due time


class DueTimer(msgspec.Struct, frozen=True):
    """A timer of a waiting run that has fallen due (or will: see ``Store.due_timers``)."""

    run_id: str
    path_key: str
    due_at: float


def open_rows(run: RunLog) -> list[OpenSuspension]:
    """The open suspensions of a folded run, as listing rows."""
    return [
        OpenSuspension(
            run_id=run.id, path_key=path_key(tuple(s["path"])), path=list(s["path"]),
            kind=s["kind"], payload=s["payload"], requires_approval=s["kind"] == "approval",
            suspended_at=s["suspended_at"].timestamp(), due_at=s.get("due"),
        )
        for s in run.suspensions.values()
    ]


# -- the runs index's rows ------------------------------------------------------------------


class IndexRow(msgspec.Struct, kw_only=True):
    """One run in the runs index."""

    run_id: str
    workflow: str
    version: str | None
    status: str
    resource_id: str | None
    thread_id: str | None
    parent_run_id: str | None
    created_at: float
    updated_at: float
    position: int
    output: bytes | None
    error: str | None
    state: bytes | None
    seq: int  # the notification id of `started`: creation order, stable across rebuilds
    continued_from: str | None = None  # the run this one continues (ctx.continue_as_new)
    forked_from: str | None = None  # engine.fork: the original, and the position forked at
    fork_position: int | None = None


INDEX_COLUMNS = tuple(IndexRow.__struct_fields__)


class ViewStatus(msgspec.Struct, frozen=True):
    """Where a view stands: the notification it has read up to, and how far behind it is."""

    name: str
    position: int
    head: int
    lag: int
    rows: int
    consistency: str  # "inline" (same transaction as the events) or "tracking"


@dataclass
class ListingFilter:
    status: str | None = None
    workflow: str | None = None
    resource_id: str | None = None
    thread_id: str | None = None
    from_date: float | None = None
    to_date: float | None = None
    page: int = 0
    per_page: int = 50
    blocked: bool | None = None  # runs-index listing: only blocked runs, or only others

    def where(self, *, date_column: str, ph: str = "?", status: bool = True, prefix: str = ""
              ) -> tuple[str, list[Any]]:
        """The WHERE clause for this filter, and its parameters (columns after ``prefix``)."""
        clauses: list[str] = []
        params: list[Any] = []
        pairs = [("workflow", self.workflow), ("resource_id", self.resource_id),
                 ("thread_id", self.thread_id)]
        if status:
            pairs.insert(0, ("status", self.status))
        for column, value in pairs:
            if value is not None:
                clauses.append(f"{prefix}{column} = {ph}")
                params.append(value)
        if self.from_date is not None:
            clauses.append(f"{date_column} >= {ph}")
            params.append(self.from_date)
        if self.to_date is not None:
            clauses.append(f"{date_column} <= {ph}")
            params.append(self.to_date)
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", params

    def matches(self, row: Any, date: float | None, *, status: bool = True) -> bool:
        return (
            (not status or self.status is None or row.status == self.status)
            and (self.workflow is None or row.workflow == self.workflow)
            and (self.resource_id is None or row.resource_id == self.resource_id)
            and (self.thread_id is None or row.thread_id == self.thread_id)
            and (self.from_date is None or (date is not None and date >= self.from_date))
            and (self.to_date is None or (date is not None and date <= self.to_date))
        )


# What a list call returns: the rows of a page, the total before paging, and
# the open suspensions (or heads) of the runs on the page; for the runs index also
# the blocked runs of the page, with their errors.
RunsPage = tuple[list[IndexRow], int, dict[str, list[OpenSuspension]], dict[str, str]]
WaitingPage = tuple[list[tuple[WaitingRun, list[OpenSuspension]]], int, dict[str, Head]]


# -- an append --------------------------------------------------------------------------------


@dataclass(frozen=True)
class QueueGuard:
    """A claim of a pending run (``engine.work``): written only while its queue has room,
    checked in the claim's own transaction (the write lock serialises the checks)."""

    queue: str
    concurrency: int | None = None
    key: str | None = None
    per_key: int | None = None

    def limits(self) -> list[tuple[str | None, int]]:
        """(key or None for the whole queue, how many may run) for each limit it has."""
        out: list[tuple[str | None, int]] = []
        if self.concurrency is not None:
            out.append((None, self.concurrency))
        if self.per_key is not None and self.key is not None:
            out.append((self.key, self.per_key))
        return out


def limit_checks(appends: Sequence[Append]) -> Iterator[tuple[str, str | None, int, int]]:
    """What the guarded claims in ``appends`` need: for each limit of each claim, its
    ``(queue, key or None for the whole queue, limit, claims of it ahead in the batch)``.
    A claim fits if the runs executing plus those ahead stay under the limit."""
    taken: dict[tuple[str, str | None], int] = {}
    for a in appends:
        g = a.guard
        if g is None:
            continue
        for key, limit in g.limits():
            yield g.queue, key, limit, taken.get((g.queue, key), 0)
        for key in {None, g.key}:
            taken[(g.queue, key)] = taken.get((g.queue, key), 0) + 1


def guards_admit(appends: Sequence[Append], running: Callable[[str, str | None], int]) -> bool:
    """Do the queues of the guarded claims in ``appends`` have room for them all, given
    ``running(queue, key)``: the runs executing now (key None: the whole queue)?"""
    return all(running(queue, key) + ahead < limit
               for queue, key, limit, ahead in limit_checks(appends))


@dataclass
class Append:
    """Events for one run, to be written after ``expected`` (the position seen last).

    Built only by :mod:`durable.writer`; the store writes it in one transaction
    with the run's head row and listing rows, or raises ``PositionConflict``.
    """

    run_id: str
    expected: int
    events: Sequence[Event]
    # The run's head row after this append; None when its status and owner are as this
    # writer last wrote them: then the row is not written, and its position lags the log
    # until the next change (a step writes its event and nothing else).
    head: Head | None
    # The run's open suspensions after this append; None leaves them as they are.
    suspensions: list[OpenSuspension] | None = None
    # Large step results, stored once by content hash (sha256 hex -> msgpack bytes).
    blobs: dict[str, bytes] = field(default_factory=dict)
    # An append by an engine that does not hold the run (a resume, cancel or pause
    # request for a run executing elsewhere): the head's owner columns are kept.
    keep_owner: bool = False
    # Tell other engines at once (PostgreSQL NOTIFY): the run's status changed, or
    # someone who does not hold it appended.
    notify: bool = False
    # The writer's hint: nothing else of this engine is committing, so the store may
    # commit on the caller's thread if it can do so without waiting for a lock.
    inline: bool = False
    stored: list[StoredEvent] = field(default_factory=list)
    # A worker's claim of a pending run: refused (as a conflict) if its queue is full.
    guard: QueueGuard | None = None


def to_stored(e: Event) -> StoredEvent:
    """An event as the ``eventsourcing`` recorders store it: run, position, topic, state."""
    return StoredEvent(e.run_id, e.position, e.topic, e.stored())


def listing_changes(appends: Sequence[Append]) -> list[tuple[Head, list[OpenSuspension]]]:
    """The suspended-listing changes a batch of appends makes, in order."""
    return [(a.head, a.suspensions) for a in appends
            if a.suspensions is not None and a.head is not None]


def blob_rows(appends: Sequence[Append]) -> list[tuple[str, bytes]]:
    return [(h, data) for a in appends for h, data in a.blobs.items()]


def printable(text: str | None) -> str | None:
    """Free text (an error, a reason) as every database can hold it in a TEXT column.

    PostgreSQL refuses NUL characters and neither database can store lone
    surrogates; both are written as visible escapes, so a projection never
    breaks on what a user's exception said. The log keeps the original.
    """
    if text is None:
        return None
    if "\x00" in text:
        text = text.replace("\x00", "\\x00")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text

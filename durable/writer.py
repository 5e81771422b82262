"""The log's one writer: the only code that appends to a run's log.

Everything that changes a run goes through :class:`Writer`: the workflow's own
driver, and every command from outside it (resume, cancel, pause, recovery;
later timers and events). The writer builds the events and their hash chain,
the run's head row (status, owner, lease) and its open-suspension rows, stores
large results apart, schedules snapshots, chooses between committing inline
and in a group, and on a conflict restores what it had applied and says so
(:class:`PositionConflict`): the caller re-reads the log and decides.

An append names the position it expects. Two writers racing for a position
produce one winner; that is the only lock the design needs.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from msgspec import Raw

from durable.errors import PositionConflict
from durable.events import (
    Event,
    EventType,
    Payload,
    Started,
    Status,
    StepCompleted,
    new_event,
)
from durable.fold import RunLog, RunSnapshot, fold, follow
from durable.hashing import genesis_hash
from durable.logs import get_logger
from durable.owner import Owner
from durable.paths import Path, path_key
from durable.store.base import Store
from durable.store.types import Append, Head, QueueGuard, open_rows

log = get_logger("durable")
_stdlib_log = logging.getLogger("durable")

Item = tuple[EventType, Payload]  # an event to append: its type and payload

# One info line each, so a host's logs tell every run's story.
LIFECYCLE = frozenset({
    EventType.STARTED, EventType.SUSPENDED, EventType.RESUMED, EventType.TIMER_FIRED,
    EventType.EVENT_SENT, EventType.EVENT_RECEIVED, EventType.CHILD_STARTED,
    EventType.CHILD_ENDED, EventType.RECOVERED, EventType.CLAIMED, EventType.PAUSED,
    EventType.CONTINUED, EventType.WITHDRAWN, EventType.FORKED,
    EventType.SUCCEEDED, EventType.FAILED, EventType.CANCELLED})
# Appends of these change the open suspensions (the listing's rows).
_TOUCH = frozenset({EventType.SUSPENDED, EventType.FORKED, EventType.RESUMED, EventType.TIMER_FIRED,
                    EventType.EVENT_RECEIVED, EventType.CHILD_SUSPENDED,
                    EventType.CHILD_ENDED,
                    EventType.WITHDRAWN, EventType.SUCCEEDED, EventType.FAILED,
                    EventType.CANCELLED})


@dataclass
class Tail:
    """A run as its writer last saw it: the fold of its log, and the head as written."""

    run: RunLog
    # (status, owner) of the head row this writer wrote last; None when unknown (after
    # a conflict, or an append by someone else): the next append writes the full row.
    head_key: tuple[str, str | None] | None = None
    # Someone else appended while this engine held the run (a resume from elsewhere):
    # they may be waiting for it to settle, so say when it does.
    waited_on: bool = False

    @property
    def run_id(self) -> str:
        return self.run.id

    @property
    def position(self) -> int:
        return self.run.version


class Writer:
    """Appends to run logs on one store, on behalf of one engine (its ``owner``)."""

    def __init__(
        self,
        store: Store,
        owner: Callable[[], Owner],
        *,
        lease_seconds: float,
        snapshot_every: int,
        blob_threshold: int,
        alone: Callable[[], bool],
        spawn: Callable[[Coroutine[Any, Any, None]], None],
    ) -> None:
        self.store = store
        self.owner = owner
        self.lease_seconds = lease_seconds
        self.snapshot_every = snapshot_every
        self.blob_threshold = blob_threshold
        self.alone = alone  # true while at most one run executes in this engine
        self.spawn = spawn  # runs a background task of the engine's
        # Told the due time of each timer this writer records (the engine's timers).
        self.on_due: Callable[[float], None] | None = None
        # How a run's child (ctx.child) is brought to a settled state: set by the engine
        # when it opens (durable.children.run_child), since every execution has a writer.
        self.run_child: Callable[[Any, Any], Awaitable[None]] | None = None

    # -- appending -----------------------------------------------------------------------
    async def start(self, run_id: str, data: Started, *, hold: bool = True
                    ) -> tuple[Tail, Event]:
        """Write a run's first event, ``started``, holding the run (``hold=False``: a run
        enqueued for a worker, held by nobody).

        Raises :class:`PositionConflict` if the run exists already.
        """
        event = new_event(run_id, 1, EventType.STARTED, data, genesis_hash(run_id),
                          datetime.now(UTC))
        run = RunLog.begin(event)
        tail = Tail(run)
        head = self._head(run, hold=hold)
        await self.store.append(Append(
            run_id=run_id, expected=0, events=[event], head=head, suspensions=[],
            inline=self.alone(),
        ))
        tail.head_key = (head.status, self.owner().id) if hold else None
        self._log([event], run)
        return tail, event

    async def append(
        self, tail: Tail, items: list[Item], *, blobs: dict[str, bytes] | None = None,
        hold: bool = True, ts: datetime | None = None, guard: QueueGuard | None = None,
    ) -> list[Event]:
        """Append ``items`` after ``tail.position``; on success ``tail`` folds them in.

        ``hold``: this engine holds the run (it executes it, or claims it with this
        append) and the head names it as owner. ``hold=False`` is an append by an
        engine that does not execute the run (a resume, cancel or pause request for
        a run held elsewhere): the head keeps its owner, and the holder is told.

        On :class:`PositionConflict` (someone else appended first) ``tail`` is as it
        was, and nothing was written.
        """
        run = tail.run
        saved = _save(run)
        before, status = run.version, run.status
        had_open = bool(run.suspensions)
        ts = ts or datetime.now(UTC)
        events: list[Event] = []
        prev, pos = run.last_hash, before
        touched = False
        for type_, payload in items:
            pos += 1
            e = new_event(run.id, pos, type_, payload, prev, ts)
            prev = e.hash
            events.append(e)
            follow(run, e)
            touched = touched or type_ in _TOUCH
        # The listing holds rows only for runs with open suspensions: none before and
        # none after (a run that ends after its timer fired) leaves it as it is.
        touched = touched and (had_open or bool(run.suspensions))
        key = (run.status, self.owner().id) if hold else None
        # A step that changes neither status nor owner writes its event and nothing else:
        # the head row's position lags the log until the next change. (Not for a run
        # with open suspensions: the waiting-runs listing shows its head's position.)
        unchanged = hold and key == tail.head_key and not touched and not run.suspensions
        append = Append(
            run_id=run.id,
            expected=before,
            events=events,
            head=None if unchanged else self._head(run, hold=hold),
            suspensions=open_rows(run) if touched else None,
            blobs=blobs or {},
            keep_owner=not hold,
            # The holder hears what others appended; whoever appended for it, or enqueued
            # it, hears when the run settles. Nothing else is told (NOTIFY serialises
            # commits).
            notify=not hold or ((tail.waited_on or run.queue is not None)
                                and run.status != status and run.status != Status.RUNNING),
            inline=self.alone() and guard is None,
            guard=guard,
        )
        try:
            await self.store.append(append)
        except BaseException:
            _restore(run, saved)
            tail.head_key = None
            raise
        tail.head_key = key
        if append.notify and hold:
            tail.waited_on = False
        if touched and self.on_due is not None:
            for e in events:
                if e.type is EventType.SUSPENDED and e.payload.due is not None:
                    self.on_due(e.payload.due)
        every = self.snapshot_every
        if every and pos // every > before // every:
            self._snapshot_later(run)
        self._log(events, run)
        return events

    def follow(self, tail: Tail, event: Event) -> None:
        """Fold in an event someone else appended (the holder taking in a resume)."""
        if event.position != tail.position + 1:
            raise PositionConflict(tail.run_id, tail.position)
        follow(tail.run, event)
        tail.head_key = None  # the head row is as the other writer left it
        tail.waited_on = True

    async def newer(self, tail: Tail) -> list[Event]:
        """What others appended after ``tail``."""
        return await self.store.read_events(tail.run_id, after=tail.position)

    async def load(self, run_id: str, events: list[Event], blobs: dict[str, bytes]) -> None:
        """Write a whole log brought from another store (``engine.import_run``), its events
        as they were stored there; nobody holds the run. :class:`PositionConflict` if the
        run exists."""
        run = fold(events)
        await self.store.append(Append(
            run_id=run_id, expected=0, events=events, head=self._head(run, hold=False),
            suspensions=open_rows(run), blobs=blobs))
        self._log(events[-1:], run)

    async def rewrite(self, run_id: str, rewritten: dict[int, bytes], blobs: list[str],
                      index: tuple[bytes | None, bytes | None], reason: str) -> None:
        """Store a finished run's events with their payloads erased (``engine.redact``:
        the one change to a stored event; its links and hashes stay as they were)."""
        await self.store.redact(run_id, rewritten, blobs, index, reason)
        log.info("run_redacted", run_id=run_id, events=len(rewritten))

    async def release(self, run_id: str) -> bool:
        """Say that this engine no longer executes the run: any engine may claim it now."""
        released = await self.store.release(run_id, self.owner().id)
        if released:
            log.info("run_released", run_id=run_id, owner=self.owner().id)
        return released

    # -- what an append carries ------------------------------------------------------------
    def step_result(
        self, path: Path, raw: bytes, attempt: int
    ) -> tuple[StepCompleted, dict[str, bytes]]:
        """A ``step_completed`` payload, and the large result to store apart (if any).

        ``raw`` is the result as the step encoded it: stored as it is, never encoded
        again. Past ``blob_threshold`` bytes it is stored once by content hash and the
        event refers to it, so replay does not re-read it with every event.
        """
        if len(raw) > self.blob_threshold:
            digest = hashlib.sha256(raw).hexdigest()
            return (StepCompleted(path=list(path), ref=digest, size=len(raw), attempt=attempt),
                    {digest: raw})
        return StepCompleted(path=list(path), result=Raw(raw), attempt=attempt), {}

    def _head(self, run: RunLog, *, hold: bool) -> Head:
        return head_row(run, self.owner() if hold else None, self.lease_seconds)

    def _snapshot_later(self, run: RunLog) -> None:
        """Snapshot a run off the request path: the caller does not wait for it."""
        snapshot = RunSnapshot.of(run, datetime.now(UTC))

        async def save() -> None:
            try:
                await self.store.save_snapshot(snapshot)
            except Exception:
                log.warning("snapshot_failed", run_id=run.id, exc_info=True)

        self.spawn(save())

    def _log(self, events: list[Event], run: RunLog) -> None:
        if not _stdlib_log.isEnabledFor(logging.INFO):  # the common case: cost nothing
            return
        for e in events:
            if e.type not in LIFECYCLE:
                continue
            fields: dict[str, Any] = {"run_id": run.id, "workflow": run.workflow,
                                      "position": e.position}
            p = e.payload
            if hasattr(p, "path"):
                fields["step_id"] = path_key(p.path)
            if e.type is EventType.FAILED:
                fields["error"] = p.error
            elif e.type is EventType.CANCELLED:
                fields["reason"] = p.reason
            log.info(f"run_{e.type.value}", **fields)


def head_row(run: RunLog, owner: Owner | None, lease_seconds: float) -> Head:
    """The head row of a folded run, naming ``owner`` as its holder (None: nobody)."""
    return Head(
        run_id=run.id,
        workflow=run.workflow,
        version=run.workflow_version,
        status=run.status,
        position=run.version,
        resource_id=run.resource_id,
        thread_id=run.thread_id,
        parent_run_id=run.parent_run_id,
        created_at=run.created_on.timestamp(),
        updated_at=run.modified_on.timestamp(),
        suspended_at=run.suspended_at.timestamp() if run.suspended_at else None,
        owner_id=owner.id if owner else None,
        owner_host=owner.host if owner else None,
        owner_pid=owner.pid if owner else None,
        owner_start=owner.start if owner else None,
        lease_until=time.time() + lease_seconds if owner else None,
        queue=run.queue,
        queue_key=run.queue_key,
        forked_from=run.forked_from,
        fork_position=run.fork_position,
    )


def _save(run: RunLog) -> dict[str, Any]:
    saved = dict(vars(run))
    saved["suspensions"] = dict(run.suspensions)
    return saved


def _restore(run: RunLog, saved: dict[str, Any]) -> None:
    vars(run).clear()
    vars(run).update(saved)

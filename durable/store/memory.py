"""``memory://``: the library's in-memory recorder, for tests and experiments."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Sequence
from typing import Any

import msgspec
from eventsourcing.persistence import IntegrityError, StoredEvent
from eventsourcing.popo import POPOAggregateRecorder, POPOApplicationRecorder

from durable.bulk_decode import decode_rows
from durable.events import TERMINAL, Event
from durable.fold import fold
from durable.store.base import ChangeFeed
from durable.store.recorder import RecorderStore
from durable.store.types import (
    OWNER_COLUMNS,
    Append,
    DueTimer,
    Head,
    ListingFilter,
    RunsPage,
    ViewStatus,
    WaitingPage,
    guards_admit,
    listing_changes,
    open_rows,
)
from projections.memory import MemoryViews


class _Recorder(POPOApplicationRecorder):
    """Writes heads and the suspended listing under the recorder's own lock, with the events."""

    def __init__(self, store: MemoryStore) -> None:
        super().__init__()
        self.store = store

    def _running(self, queue: str, key: str | None) -> int:
        return sum(1 for h in self.store.heads.values()
                   if h.queue == queue and h.status == "running"
                   and (key is None or h.queue_key == key))

    def _update_table(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        appends: Sequence[Append] = kwargs.get("appends", ())
        if not guards_admit(appends, self._running):
            raise IntegrityError("a claimed run's queue has no room")
        if any(a.expected == 0 and a.run_id in self.store.heads for a in appends):
            raise IntegrityError("a run with this id exists")  # (a fork: no own position 1)
        ids = super()._update_table(stored_events, **kwargs)
        for a in appends:
            self.store.blobs.update(a.blobs)
            if a.head is None:  # status and owner unchanged: the row is not written
                continue
            old = self.store.heads.get(a.run_id)
            head = msgspec.structs.replace(a.head)  # our copy: never change the caller's
            if old is not None:
                head.created_at = old.created_at
                if a.keep_owner:
                    for column in OWNER_COLUMNS:
                        setattr(head, column, getattr(old, column))
            self.store.heads[a.run_id] = head
        self.store.views.write_listing(listing_changes(appends))
        return ids


class MemoryStore(RecorderStore):
    def __init__(self, url: str = "memory://") -> None:
        super().__init__(url)
        self.heads: dict[str, Head] = {}
        self.views = MemoryViews()
        self.blobs: dict[str, bytes] = {}
        self.recorder = _Recorder(self)
        self.snapshots = POPOAggregateRecorder()
        self._feeds: list[_LocalFeed] = []
        self._feeds_lock = threading.Lock()

    def changes(self) -> ChangeFeed:
        feed = _LocalFeed(self)
        with self._feeds_lock:
            self._feeds.append(feed)
        return feed

    def _committed(self, appends: Sequence[Append]) -> None:
        with self._feeds_lock:
            feeds = list(self._feeds)
        for feed in feeds:
            feed.poke({a.run_id for a in appends})

    def _open_sync(self) -> None:
        pass

    def _close_sync(self) -> None:
        pass

    def _prune_snapshots_sync(self, run_id: str, since: int, below: int) -> None:
        rec = self.snapshots
        with rec._database_lock:
            index = rec._stored_events_index.get(run_id, {})
            for version in [v for v in index if since <= v < below]:
                rec._stored_events[index.pop(version)] = None  # lookups go by the index

    def _log_ends_sync(self) -> dict[str, tuple[int, str]]:
        rec = self.recorder
        with rec._database_lock:
            last = [rec._stored_events[max(index.items())[1]]
                    for index in rec._stored_events_index.values() if index]
        events = self._to_events(last)
        return {e.run_id: (e.position, e.hash) for e in events}

    def _redact_sync(self, run_id: str, rewritten: dict[int, bytes], blobs: list[str],
                     index: tuple[bytes | None, bytes | None], reason: str) -> None:
        rec = self.recorder
        with rec._database_lock:
            where = rec._stored_events_index.get(run_id, {})
            for at, state in rewritten.items():
                old = rec._stored_events[where[at]]
                rec._stored_events[where[at]] = StoredEvent(
                    originator_id=old.originator_id, originator_version=old.originator_version,
                    topic=old.topic, state=state)
            self._prune_snapshots_sync(run_id, 0, 2**62)
            if run_id in self.heads:
                self.heads[run_id].redacted = reason
            row = self.views.index.get(run_id)
            if row is not None:
                row.output, row.state = index
            for h in blobs:
                token = h.encode()
                if not any(s is not None and s.originator_id != run_id and token in s.state
                           for s in rec._stored_events):
                    self.blobs.pop(h, None)

    def _blobs_sync(self, hashes: list[str]) -> dict[str, bytes]:
        with self.recorder._database_lock:
            return {h: self.blobs[h] for h in hashes if h in self.blobs}

    def _heads_sync(self, run_ids: list[str]) -> dict[str, Head]:
        with self.recorder._database_lock:
            return {r: msgspec.structs.replace(self.heads[r]) for r in run_ids if r in self.heads}

    def _forks_sync(self, run_id: str) -> list[Head]:
        with self.recorder._database_lock:
            return [msgspec.structs.replace(h) for h in self.heads.values()
                    if h.forked_from == run_id]

    def _children_sync(self, run_id: str) -> list[Head]:
        with self.recorder._database_lock:
            return sorted((msgspec.structs.replace(h) for h in self.heads.values()
                           if h.parent_run_id == run_id), key=lambda h: h.created_at)

    def _running_sync(self) -> list[Head]:
        with self.recorder._database_lock:
            return [msgspec.structs.replace(h) for h in self.heads.values()
                    if h.status == "running"]

    def _pending_sync(self, queue: str, limit: int) -> list[Head]:
        with self.recorder._database_lock:
            pending = [h for h in self.heads.values()
                       if h.queue == queue and h.status == "pending"]
        pending.sort(key=lambda h: (h.created_at, h.run_id))
        return [msgspec.structs.replace(h) for h in pending[:limit]]

    def _unsettled_children_sync(self) -> list[Head]:
        ended = ("succeeded", "failed", "cancelled")
        with self.recorder._database_lock:
            out = []
            for c in self.heads.values():
                p = self.heads.get(c.parent_run_id or "")
                if p is None:
                    continue
                if (c.status != "running" and p.status not in ended
                        and c.updated_at >= p.updated_at) or (
                        c.status not in ended and p.status in ended):
                    out.append(msgspec.structs.replace(c))
            return out

    def _renew_sync(self, owner_id: str, run_ids: list[str], until: float) -> None:
        with self.recorder._database_lock:
            for run_id in run_ids:
                h = self.heads.get(run_id)
                if h is not None and h.owner_id == owner_id:
                    h.lease_until = until

    def _release_sync(self, run_id: str, owner_id: str) -> bool:
        with self.recorder._database_lock:
            h = self.heads.get(run_id)
            if h is None or h.owner_id != owner_id:
                return False
            for column in OWNER_COLUMNS:
                setattr(h, column, None)
            return True

    @staticmethod
    def _to_events(notes: Sequence[Any]) -> list[Event]:
        return decode_rows([(n.originator_id, n.originator_version, n.topic, n.state)
                            for n in notes])

    def _catch_up_sync(self, wait: bool = True) -> int:
        done = 0
        while True:
            with self.recorder._database_lock:
                notes = self.recorder.select_notifications(
                    self.views.position, 1000, inclusive_of_start=False
                )
                n = self.views.catch_up(notes, self._to_events)
            done += n
            if n == 0:
                return done

    def _list_runs_sync(self, f: ListingFilter) -> RunsPage:
        with self.recorder._database_lock:
            blocked = {r: h.blocked for r, h in self.heads.items() if h.blocked is not None}
            rows, total = self.views.query_index(f, blocked)
            return (rows, total, self.views.open_suspensions([r.run_id for r in rows]),
                    {r.run_id: blocked[r.run_id] for r in rows if r.run_id in blocked})

    def _block_sync(self, run_id: str, error: str, length: int | None, since: float) -> bool:
        with self.recorder._database_lock:
            head = self.heads.get(run_id)
            if head is None or (length is not None and self.recorder.select_events(
                    run_id, gt=length, limit=1)):
                return False  # the log moved: whoever appended decides
            was = head.blocked
            head.blocked = error
            head.blocked_since = head.blocked_since if was is not None else since
            return was is None

    def _list_suspended_sync(self, f: ListingFilter) -> WaitingPage:
        with self.recorder._database_lock:
            page, total = self.views.query_listing(f)
            return page, total, {w.run_id: self.heads[w.run_id] for w, _ in page}

    def _due_sync(self, until: float, workflows: list[str], limit: int) -> list[DueTimer]:
        with self.recorder._database_lock:
            return self.views.due(until, workflows, limit)

    def _view_status_sync(self) -> list[ViewStatus]:
        with self.recorder._database_lock:
            head = self.recorder.max_notification_id() or 0
            return [
                ViewStatus(name="suspended_runs", position=head, head=head, lag=0,
                           rows=sum(len(r) for _, r in self.views.waiting.values()),
                           consistency="inline"),
                ViewStatus(name="runs_index", position=self.views.position, head=head,
                           lag=head - self.views.position, rows=len(self.views.index),
                           consistency="tracking"),
            ]

    def _rebuild_sync(self) -> None:
        with self.recorder._database_lock:
            self.views.clear()
            for run_id, head in self.heads.items():
                if head.status in TERMINAL:
                    continue
                run = fold(self._read_events_sync(run_id, 0))
                self.views.write_listing([(head, open_rows(run))])
        self._catch_up_sync()


class _LocalFeed(ChangeFeed):
    """``memory://`` is one process's: its own commits are all there is to hear."""

    def __init__(self, store: MemoryStore) -> None:
        self.store = store
        try:
            self.loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            self.loop = None
        self.thread = threading.get_ident()
        self.waiter: asyncio.Future[None] | None = None
        self.ids: set[str] = set()

    def poke(self, run_ids: set[str]) -> None:
        loop = self.loop
        if loop is None:
            return
        if threading.get_ident() == self.thread:  # an inline commit: no hand-off needed
            self._set(run_ids)
            return
        with contextlib.suppress(RuntimeError):  # the loop has closed
            loop.call_soon_threadsafe(self._set, run_ids)

    def _set(self, run_ids: set[str]) -> None:
        self.ids |= run_ids
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    async def wait(self, timeout: float) -> set[str] | None:
        loop = self.loop = asyncio.get_running_loop()
        self.thread = threading.get_ident()
        if not self.ids:
            waiter = self.waiter = loop.create_future()
            timer = loop.call_later(timeout, _wake, waiter)
            try:
                await waiter
            finally:
                timer.cancel()
                self.waiter = None
        ids, self.ids = self.ids, set()
        return ids or None  # none: a timeout

    async def close(self) -> None:
        with self.store._feeds_lock:
            if self in self.store._feeds:
                self.store._feeds.remove(self)


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)

"""``memory://``: the library's in-memory recorder, for tests and experiments."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec
from eventsourcing.persistence import StoredEvent
from eventsourcing.popo import POPOAggregateRecorder, POPOApplicationRecorder

from durable.events import TERMINAL, RunLog, fold
from durable.store.base import (
    Append,
    Head,
    RecorderStore,
    RunsPage,
    WaitingPage,
    listing_changes,
)
from projections import ListingFilter, ViewStatus
from projections.memory import MemoryViews
from projections.suspended import open_rows


class _Recorder(POPOApplicationRecorder):
    """Writes heads and the suspended listing under the recorder's own lock, with the events."""

    def __init__(self, store: MemoryStore) -> None:
        super().__init__()
        self.store = store

    def _update_table(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        ids = super()._update_table(stored_events, **kwargs)
        appends: Sequence[Append] = kwargs.get("appends", ())
        for a in appends:
            old = self.store.heads.get(a.run_id)
            head = msgspec.structs.replace(a.head)  # our copy: never change the caller's
            if old is not None:
                head.created_at = old.created_at
            self.store.heads[a.run_id] = head
            self.store.blobs.update(a.blobs)
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

    def _open_sync(self) -> None:
        pass

    def _close_sync(self) -> None:
        pass

    def _prune_snapshots_sync(self, run_id: str, below: int) -> None:
        rec = self.snapshots
        with rec._database_lock:
            index = rec._stored_events_index.get(run_id, {})
            for version in [v for v in index if v < below]:
                rec._stored_events[index.pop(version)] = None  # lookups go by the index

    def _blobs_sync(self, hashes: list[str]) -> dict[str, bytes]:
        with self.recorder._database_lock:
            return {h: self.blobs[h] for h in hashes if h in self.blobs}

    def _head_sync(self, run_id: str) -> Head | None:
        with self.recorder._database_lock:
            return self.heads.get(run_id)

    def _running_sync(self) -> list[Head]:
        with self.recorder._database_lock:
            return [h for h in self.heads.values() if h.status == "running"]

    def _renew_sync(self, owner_id: str, until: float) -> None:
        with self.recorder._database_lock:
            for h in self.heads.values():
                if h.owner_id == owner_id and h.status == "running":
                    h.lease_until = until

    def _to_event(self, note: Any) -> RunLog.Event:
        return self.mapper.to_domain_event(note)  # type: ignore[return-value]

    def _catch_up_sync(self) -> int:
        done = 0
        while True:
            with self.recorder._database_lock:
                notes = self.recorder.select_notifications(
                    self.views.position, 1000, inclusive_of_start=False
                )
                n = self.views.catch_up(notes, self._to_event)
            done += n
            if n == 0:
                return done

    def _list_runs_sync(self, f: ListingFilter) -> RunsPage:
        with self.recorder._database_lock:
            rows, total = self.views.query_index(f)
            return rows, total, self.views.open_suspensions([r.run_id for r in rows])

    def _list_suspended_sync(self, f: ListingFilter) -> WaitingPage:
        with self.recorder._database_lock:
            page, total = self.views.query_listing(f)
            return page, total, {w.run_id: self.heads[w.run_id] for w, _ in page}

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
                events = [self._to_event(s) for s in self.recorder.select_events(run_id)]
                run = fold(events)
                self.views.write_listing([(head, open_rows(run))])
        self._catch_up_sync()

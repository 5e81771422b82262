"""``memory://``: the library's in-memory recorder, for tests and experiments."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec
from eventsourcing.persistence import StoredEvent
from eventsourcing.popo import POPOApplicationRecorder

from durable.store.base import (
    Append,
    Head,
    RecorderStore,
    RunFilter,
    SuspensionRow,
)


class _Recorder(POPOApplicationRecorder):
    def __init__(self, store: MemoryStore) -> None:
        super().__init__()
        self.store = store

    def _update_table(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        ids = super()._update_table(stored_events, **kwargs)
        for a in kwargs.get("appends", ()):
            old = self.store.heads.get(a.run_id)
            head = msgspec.structs.replace(a.head)  # our copy: never change the caller's
            if old is not None:
                head.created_at = old.created_at
            else:
                self.store.order[a.run_id] = len(self.store.order)
            self.store.heads[a.run_id] = head
            if a.suspensions is not None:
                # the order SQL adapters give: by suspended_at, then path
                self.store.suspensions[a.run_id] = sorted(
                    a.suspensions, key=lambda r: (r.suspended_at, r.path_key)
                )
        return ids


class MemoryStore(RecorderStore):
    def __init__(self, url: str = "memory://") -> None:
        super().__init__(url)
        self.heads: dict[str, Head] = {}
        self.order: dict[str, int] = {}
        self.suspensions: dict[str, list[SuspensionRow]] = {}
        self.recorder = _Recorder(self)

    def _open_sync(self) -> None:
        pass

    def _close_sync(self) -> None:
        pass

    def _insert_sync(self, appends: Sequence[Append]) -> None:
        self.recorder.insert_events([s for a in appends for s in a.stored], appends=appends)

    def _select_events_sync(self, run_id: str, after: int) -> Sequence[StoredEvent]:
        return self.recorder.select_events(run_id, gt=after or None)

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

    def _match(self, h: Head, f: RunFilter, date: float | None) -> bool:
        return (
            (f.status is None or h.status == f.status)
            and (f.workflow is None or h.workflow == f.workflow)
            and (f.resource_id is None or h.resource_id == f.resource_id)
            and (f.thread_id is None or h.thread_id == f.thread_id)
            and (f.from_date is None or (date is not None and date >= f.from_date))
            and (f.to_date is None or (date is not None and date <= f.to_date))
        )

    def _list_runs_sync(self, f: RunFilter) -> tuple[list[Head], int]:
        with self.recorder._database_lock:
            rows = [h for h in self.heads.values() if self._match(h, f, h.created_at)]
        rows.sort(key=lambda h: (h.created_at, self.order[h.run_id]), reverse=True)
        start = f.page * f.per_page
        return rows[start : start + f.per_page], len(rows)

    def _list_suspended_sync(
        self, f: RunFilter
    ) -> tuple[list[tuple[Head, list[SuspensionRow]]], int]:
        with self.recorder._database_lock:
            rows = [
                (h, list(self.suspensions[h.run_id]))
                for h in self.heads.values()
                if self.suspensions.get(h.run_id)
                and h.status in ("suspended", "running")
                and self._match(h, f, h.suspended_at)
            ]
        rows.sort(key=lambda r: (r[0].suspended_at or 0, self.order[r[0].run_id]), reverse=True)
        start = f.page * f.per_page
        return rows[start : start + f.per_page], len(rows)

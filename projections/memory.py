"""The same two views for ``memory://``, in dicts, with the same semantics as the SQL."""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from typing import Any

import msgspec

from durable.events import Event
from durable.store.types import DueTimer, IndexRow, ListingFilter, OpenSuspension, WaitingRun
from projections.rows import fold_row


class MemoryViews:
    def __init__(self) -> None:
        self.waiting: dict[str, tuple[WaitingRun, list[OpenSuspension]]] = {}
        self.index: dict[str, IndexRow] = {}
        self.position = 0

    # -- the suspended listing (inline) ----------------------------------------------
    def write_listing(self, changes: Sequence[tuple[Any, list[OpenSuspension]]]) -> None:
        for head, rows in changes:
            if not rows:
                self.waiting.pop(head.run_id, None)
                continue
            ordered = sorted(rows, key=lambda r: (r.suspended_at, r.path_key))
            self.waiting[head.run_id] = (
                WaitingRun(run_id=head.run_id, workflow=head.workflow,
                           resource_id=head.resource_id, thread_id=head.thread_id,
                           suspended_at=max(r.suspended_at for r in rows)),
                ordered,
            )

    def query_listing(
        self, f: ListingFilter
    ) -> tuple[list[tuple[WaitingRun, list[OpenSuspension]]], int]:
        hits = [w for w in self.waiting.values()
                if f.matches(w[0], w[0].suspended_at, status=False)]
        hits.sort(key=lambda w: w[0].run_id)
        hits.sort(key=lambda w: w[0].suspended_at, reverse=True)
        start = f.page * f.per_page
        return [(w, list(rows)) for w, rows in hits[start : start + f.per_page]], len(hits)

    def due(self, until: float, workflows: Sequence[str], limit: int) -> list[DueTimer]:
        wanted = set(workflows)
        hits = [DueTimer(r.run_id, r.path_key, r.due_at)
                for w, rows in self.waiting.values() if w.workflow in wanted
                for r in rows if r.due_at is not None and r.due_at <= until]
        hits.sort(key=lambda t: (t.due_at, t.run_id, t.path_key))
        return hits[:limit]

    def open_suspensions(self, run_ids: list[str]) -> dict[str, list[OpenSuspension]]:
        return {r: list(self.waiting[r][1]) for r in run_ids if r in self.waiting}

    # -- the runs index (tracking) ---------------------------------------------------
    def catch_up(self, notes: Sequence[Any],
                 to_events: Callable[[Sequence[Any]], list[Event]]) -> int:
        for n, event in zip(notes, to_events(notes), strict=True):
            if n.id <= self.position:
                continue
            row = self.index.get(event.run_id)
            self.index[event.run_id] = fold_row(
                msgspec.structs.replace(row) if row is not None else None, event, n.id
            )
            self.position = n.id
        return len(notes)

    def query_index(self, f: ListingFilter, blocked: Collection[str] = ()
                    ) -> tuple[list[IndexRow], int]:
        """``blocked``: the runs that are (``f.blocked`` keeps them, or the others)."""
        hits = [r for r in self.index.values() if f.matches(r, r.created_at)
                and (f.blocked is None or (r.run_id in blocked) == f.blocked)]
        hits.sort(key=lambda r: r.seq)
        hits.sort(key=lambda r: r.created_at, reverse=True)
        start = f.page * f.per_page
        return hits[start : start + f.per_page], len(hits)

    def clear(self) -> None:
        self.waiting.clear()
        self.index.clear()
        self.position = 0

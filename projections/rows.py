"""The views' rows, and how one event changes them. Pure: no I/O.

A runs-index row is folded with the run aggregate's own ``apply`` methods, so
the index can never disagree with :func:`durable.events.fold` about a status.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, cast

import msgspec

from durable.codec import decode, encode
from durable.events import RunLog


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


class ViewStatus(msgspec.Struct, frozen=True):
    """Where a view stands: the notification it has read up to, and how far behind it is."""

    name: str
    position: int
    head: int
    lag: int
    rows: int
    consistency: str  # "inline" (same transaction as the events) or "tracking"


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


INDEX_COLUMNS = tuple(IndexRow.__struct_fields__)


def fold_row(row: IndexRow | None, event: RunLog.Event, notification_id: int) -> IndexRow:
    """The row after ``event``; ``row`` is None before a run's ``started``."""
    ts = event.timestamp.timestamp()
    if row is None:
        if not isinstance(event, RunLog.Started):
            raise ValueError(
                f"run {event.originator_id!r}: the index met {event.type} before started"
            )
        shell: Any = SimpleNamespace()
        event.apply(shell)
        return IndexRow(
            run_id=event.originator_id, workflow=shell.workflow, version=shell.workflow_version,
            status=shell.status, resource_id=shell.resource_id, thread_id=shell.thread_id,
            parent_run_id=shell.parent_run_id, created_at=ts, updated_at=ts,
            position=event.originator_version, output=None, error=None,
            state=encode(shell.state), seq=notification_id,
        )
    shell = SimpleNamespace(
        status=row.status, output=None, error=row.error, suspensions={}, suspended_at=None,
        state=None, last_hash="",
    )
    event.apply(cast(Any, shell))
    row.status = shell.status
    row.error = shell.error
    if shell.output is not None or event.type == "succeeded":
        row.output = encode(shell.output)
    if shell.state is not None:
        row.state = encode(shell.state)
    row.updated_at = ts
    row.position = event.originator_version
    return row


def row_values(row: IndexRow) -> dict[str, Any]:
    """Decoded output and state, for building a RunInfo."""
    return {
        "output": decode(row.output) if row.output is not None else None,
        "state": decode(row.state) if row.state is not None else {},
    }

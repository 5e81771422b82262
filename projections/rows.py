"""How one event changes a runs-index row. Pure: no I/O.

A runs-index row is folded with the run aggregate's own ``apply`` methods, so
the index can never disagree with :func:`durable.events.fold` about a status.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

from durable.codec import encode
from durable.events import Event, EventType, Status
from durable.fold import apply
from durable.store.types import IndexRow, printable


def fold_row(row: IndexRow | None, event: Event, notification_id: int) -> IndexRow:
    """The row after ``event``; ``row`` is None before a run's ``started``."""
    ts = event.timestamp.timestamp()
    if row is None and event.type is EventType.FORKED:  # a fork's own first event
        p = event.payload
        return IndexRow(
            run_id=event.run_id, workflow=p.workflow, version=p.version, status=p.status,
            resource_id=p.resource_id, thread_id=p.thread_id, parent_run_id=None,
            created_at=ts, updated_at=ts, position=event.position, output=None, error=None,
            state=encode(p.state), seq=notification_id, forked_from=p.forked_from,
            fork_position=p.fork_position,
        )
    if row is None:
        if event.type is not EventType.STARTED:
            raise ValueError(f"run {event.run_id!r}: the index met {event.type} before started")
        shell: Any = SimpleNamespace()
        apply(shell, event)
        return IndexRow(
            run_id=event.run_id, workflow=shell.workflow, version=shell.workflow_version,
            status=shell.status, resource_id=shell.resource_id, thread_id=shell.thread_id,
            parent_run_id=shell.parent_run_id, created_at=ts, updated_at=ts,
            position=event.position, output=None, error=None,
            state=encode(shell.state), seq=notification_id,
            continued_from=shell.continued_from,
        )
    if event.type is EventType.FORKED:  # (an imported fork: its log is all its own)
        p = event.payload
        row.status, row.forked_from, row.fork_position = p.status, p.forked_from, p.fork_position
        row.updated_at, row.position = ts, event.position
        return row
    if event.type not in _CHANGES_ROW:  # a step, a suspension: only time and position move
        row.status = _STATUS_AFTER.get(event.type, row.status)
        row.updated_at = ts
        row.position = event.position
        return row
    shell = SimpleNamespace(
        status=row.status, output=None, error=row.error, suspensions={}, suspended_at=None,
        state=None, last_hash="",
    )
    apply(cast(Any, shell), event)
    row.status = shell.status
    row.error = printable(shell.error)
    if shell.output is not None or event.type is EventType.SUCCEEDED:
        row.output = encode(shell.output)
    if shell.state is not None:
        row.state = encode(shell.state)
    row.updated_at = ts
    row.position = event.position
    return row


# Events whose payload the index needs; the others only move its status (or not at all).
_CHANGES_ROW = frozenset({EventType.STATE_SET, EventType.CANCELLED, EventType.SUCCEEDED,
                          EventType.FAILED})
_STATUS_AFTER = {
    EventType.STEP_COMPLETED: Status.RUNNING, EventType.STEP_FAILED: Status.RUNNING,
    EventType.SUSPENDED: Status.SUSPENDED, EventType.WAITING: Status.SUSPENDED,
    EventType.RESUMED: Status.RUNNING, EventType.TIMER_FIRED: Status.RUNNING,
    EventType.PAUSED: Status.PAUSED,
    EventType.CONTINUED: Status.RUNNING, EventType.RECOVERED: Status.RUNNING,
}

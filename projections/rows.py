"""How one event changes a runs-index row. Pure: no I/O.

A runs-index row is folded with the run aggregate's own ``apply`` methods, so
the index can never disagree with :func:`durable.events.fold` about a status.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

from durable.codec import encode
from durable.events import RunLog
from durable.store.types import IndexRow, printable


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
    row.error = printable(shell.error)
    if shell.output is not None or event.type == "succeeded":
        row.output = encode(shell.output)
    if shell.state is not None:
        row.state = encode(shell.state)
    row.updated_at = ts
    row.position = event.originator_version
    return row

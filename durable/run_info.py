"""What a run shows (``RunInfo``, ``RunResult``), built from a fold of its log, a
runs-index row or a listing row. Values are copies: a cached fold must never
change because a caller changed what it was handed."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TypeVar

from durable.codec import canonical, decode
from durable.events import Event as LogEvent
from durable.events import EventType
from durable.fold import RunLog
from durable.paths import path_key
from durable.results import Event, RunInfo, Suspension
from durable.store.types import Head, IndexRow, OpenSuspension, WaitingRun

Info = TypeVar("Info", bound=RunInfo)


def to_public(e: LogEvent, blobs: dict[str, bytes] | None = None) -> Event:
    """A log event as the public ``Event``; a result stored apart is put back inline."""
    data = e.as_dict()
    if e.type is EventType.STEP_COMPLETED and "ref" in data and blobs is not None:
        data["result"] = decode(blobs[data["ref"]])
    return Event(position=e.position, type=e.type.value, timestamp=e.timestamp, data=data)


def info_from(run: RunLog, cls: type[Info]) -> Info:
    """A folded run as ``cls`` (RunInfo or RunResult)."""
    suspensions = [
        Suspension(tuple(s["path"]), s["kind"], canonical(s["payload"]), s["suspended_at"])
        for s in run.suspensions.values()
    ]
    return cls(
        run_id=run.id,
        workflow=run.workflow,
        status=run.status,
        output=canonical(run.output),
        error=run.error,
        suspended=[s.path for s in suspensions],
        suspend_payloads={path_key(s.path): canonical(s.payload) for s in suspensions},
        suspensions=suspensions,
        state=canonical(run.state),
        resource_id=run.resource_id,
        thread_id=run.thread_id,
        parent_run_id=run.parent_run_id,
        continued_from=run.continued_from,
        forked_from=run.forked_from,
        fork_position=run.fork_position,
        created_at=run.created_on,
        updated_at=run.modified_on,
        suspended_at=run.suspended_at,
        version=run.workflow_version,
        position=run.version,
    )


def _dt(ts: float | None) -> datetime | None:
    return datetime.fromtimestamp(ts, UTC) if ts is not None else None


def _suspensions(rows: list[OpenSuspension]) -> list[Suspension]:
    return [Suspension(tuple(r.path), r.kind, r.payload, _dt(r.suspended_at))  # type: ignore[arg-type]
            for r in rows]


def info_from_index(row: IndexRow, rows: list[OpenSuspension], blocked: str | None = None
                    ) -> RunInfo:
    """A runs-index row (its open suspensions, and why it is blocked) as the public RunInfo."""
    suspensions = _suspensions(rows)
    return RunInfo(
        run_id=row.run_id,
        workflow=row.workflow,
        status=row.status,
        output=decode(row.output) if row.output is not None else None,
        error=row.error,
        suspended=[s.path for s in suspensions],
        suspend_payloads={path_key(s.path): s.payload for s in suspensions},
        suspensions=suspensions,
        state=decode(row.state) if row.state is not None else {},
        resource_id=row.resource_id,
        thread_id=row.thread_id,
        parent_run_id=row.parent_run_id,
        continued_from=row.continued_from,
        forked_from=row.forked_from,
        fork_position=row.fork_position,
        created_at=_dt(row.created_at),
        updated_at=_dt(row.updated_at),
        suspended_at=max((s.suspended_at for s in suspensions), default=None),
        version=row.version,
        position=row.position,
        blocked=blocked,
    )


def info_from_waiting(w: WaitingRun, rows: list[OpenSuspension], head: Head | None) -> RunInfo:
    """A listing row (one waiting run with its open suspensions) as the public RunInfo."""
    suspensions = _suspensions(rows)
    return RunInfo(
        run_id=w.run_id,
        workflow=w.workflow,
        status=head.status if head is not None else "suspended",
        suspended=[s.path for s in suspensions],
        suspend_payloads={path_key(s.path): s.payload for s in suspensions},
        suspensions=suspensions,
        resource_id=w.resource_id,
        thread_id=w.thread_id,
        parent_run_id=head.parent_run_id if head is not None else None,
        forked_from=head.forked_from if head is not None else None,
        fork_position=head.fork_position if head is not None else None,
        created_at=_dt(head.created_at) if head is not None else None,
        updated_at=_dt(head.updated_at) if head is not None else None,
        suspended_at=_dt(w.suspended_at),
        version=head.version if head is not None else None,
        position=head.position if head is not None else 0,
        blocked=head.blocked if head is not None else None,
    )

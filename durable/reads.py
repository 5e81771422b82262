"""The engine's reads: one run, its history, the listings, the audit checks.

No list call reads a run's log: the listings come from the read models. A
single run is read through a small cache of folds, each brought up to date
by reading only the events appended since (whoever appended them).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import OrderedDict
from datetime import UTC, datetime

from durable.codec import canonical
from durable.errors import RunNotFound
from durable.events import TERMINAL, Status, verify_chain
from durable.events import Event as LogEvent
from durable.fold import RunLog, RunSnapshot, fold, follow
from durable.logs import get_logger
from durable.paths import check_name
from durable.recorded import blob_refs
from durable.results import Event, Page, RunInfo
from durable.run_info import info_from, info_from_index, info_from_waiting, to_public
from durable.runtime import Runtime
from durable.store.base import Store
from durable.store.types import ListingFilter, ViewStatus

log = get_logger("durable")

STATUSES = tuple(Status)
MAX_OFFSET = 2**53  # runs skipped before a page: more than any store holds, less than int64


class Reads:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        # Folded runs, brought up to date on each hit; never handed out (results copy).
        self._runs: OrderedDict[str, RunLog] = OrderedDict()

    @property
    def cached(self) -> int:
        return len(self._runs)

    async def _current(self, run_id: str) -> RunLog:
        """The cached fold of a run, fast-forwarded over the events appended since."""
        run = self._runs.get(run_id)
        if run is None:
            run = await self.rt.load(run_id)
        else:
            for e in await self.rt.store.read_events(run_id, after=run.version):
                if e.position == run.version + 1:  # another reader may have applied it
                    follow(run, e)
        self._runs[run_id] = run  # (again: a concurrent read may have evicted it meanwhile)
        self._runs.move_to_end(run_id)
        while len(self._runs) > self.rt.options.max_cached_runs:
            self._runs.popitem(last=False)
        return run

    async def get_run(self, run_id: str) -> RunInfo:
        run = await self._current(run_id)
        info = info_from(run, RunInfo)
        if run.status not in TERMINAL:  # (the append that ended a run cleared its mark)
            head = await self.rt.store.read_head(run_id)
            info.blocked = head.blocked if head is not None else None
        return info

    async def history(self, run_id: str, after: int = 0, limit: int | None = None
                      ) -> list[Event]:
        """The run's log, oldest first; large results inline, as the run saw them."""
        for name, value in (("after", after), ("limit", limit)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                      or value < (0 if name == "after" else 1)):
                raise ValueError(f"{name} must be a whole number >= {0 if name == 'after' else 1}"
                                 f", not {value!r}")
        events = (await self.rt.events(run_id))[after:]
        if limit is not None:
            events = events[:limit]
        blobs = await self.rt.store.read_blobs(blob_refs(events))
        return [to_public(e, blobs) for e in events]

    async def state_at(self, run_id: str, position: int) -> RunInfo:
        if isinstance(position, bool) or not isinstance(position, int):
            raise ValueError(f"position must be an event number (an int), not {position!r}")
        events = await self.rt.events(run_id)
        if not 1 <= position <= len(events):
            raise ValueError(
                f"position {position} is outside run {run_id!r}'s log (1..{len(events)})"
            )
        return info_from(fold(events[:position]), RunInfo)

    async def verify(self, run_id: str) -> bool:
        """The run's tamper-evident chain holds, and so does everything read beside it.

        Each event holds the hash of the one before it; the head row, written with
        every change of status or holder, says where the log ended then; large
        results stored apart must match their hash; and the latest snapshot (which
        ``get_run`` reads instead of the events before it) must equal the fold of
        the events it stands for.
        """
        try:
            events = await self.rt.events(run_id)
        except RunNotFound:
            raise
        except Exception:  # an event that no longer decodes was altered too
            log.warning("verify_decode_failed", run_id=run_id, exc_info=True)
            return False
        head = await self.rt.store.read_head(run_id)
        # The head row is written when a run's status or holder changes (its position
        # may lag the log, never lead it): a log shorter than its head was cut short.
        if head is None or head.position > len(events) or not verify_chain(events):
            return False
        refs = blob_refs(events)
        blobs = await self.rt.store.read_blobs(refs)
        if any(hashlib.sha256(blobs.get(h, b"")).hexdigest() != h for h in refs):
            return False  # a large result stored apart was altered or lost
        try:
            snapshot = await self.rt.store.read_snapshot(run_id)
        except Exception:
            log.warning("verify_snapshot_decode_failed", run_id=run_id, exc_info=True)
            return False
        return snapshot is None or _snapshot_matches(snapshot, events)

    async def list_runs(self, f: ListingFilter) -> Page:
        await self.rt.store.catch_up()  # read your own writes: the index has seen them all
        rows, total, waiting, blocked = await self.rt.store.list_runs(f)
        return Page([info_from_index(r, waiting.get(r.run_id, []), blocked.get(r.run_id))
                     for r in rows], total)

    async def list_suspended(self, f: ListingFilter) -> Page:
        rows, total, heads = await self.rt.store.list_suspended(f)
        return Page([info_from_waiting(w, s, heads.get(w.run_id)) for w, s in rows], total)

    async def projections(self) -> list[ViewStatus]:
        return await self.rt.store.view_status()

    async def rebuild_projections(self) -> list[ViewStatus]:
        await self.rt.store.rebuild_views()
        return await self.rt.store.view_status()


def _snapshot_matches(snapshot: RunSnapshot, events: list[LogEvent]) -> bool:
    at = snapshot.originator_version
    if not 1 <= at <= len(events):
        return False
    expected = RunSnapshot.of(fold(events[:at]), snapshot.timestamp)
    # Compared as loaded: a snapshot taken before the run's state gained a field is
    # upcast first (RunLog.class_version), as every read of it is.
    stored = RunSnapshot.of(snapshot.load(), snapshot.timestamp)
    return bool(canonical(expected.state) == canonical(stored.state))


def _ts(d: datetime | None) -> float | None:
    if d is None:
        return None
    if not isinstance(d, datetime):
        raise ValueError(f"a date filter must be a datetime, not {d!r}")
    if d.tzinfo is None:
        d = d.replace(tzinfo=UTC)
    return d.timestamp()


def make_filter(
    status: str | None, workflow: str | None, resource_id: str | None, thread_id: str | None,
    from_date: datetime | None, to_date: datetime | None, page: int, per_page: int,
    blocked: bool | None = None,
) -> ListingFilter:
    for name, value in (("page", page), ("per_page", per_page)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{name} must be an int, not {value!r}")
    if page < 0 or per_page < 1:
        raise ValueError("page must be >= 0 and per_page >= 1")
    if page * per_page > MAX_OFFSET:
        raise ValueError(f"page * per_page may be at most {MAX_OFFSET}, not {page * per_page}")
    if status is not None and status not in STATUSES:
        raise ValueError(f"status must be one of {', '.join(STATUSES)}, not {status!r}")
    for name, text in (("workflow", workflow), ("resource_id", resource_id),
                       ("thread_id", thread_id)):
        check_name(name, text, optional=True)
    if blocked is not None and not isinstance(blocked, bool):
        raise ValueError(f"blocked must be True, False or None, not {blocked!r}")
    return ListingFilter(status, workflow, resource_id, thread_id, _ts(from_date), _ts(to_date),
                         page, per_page, blocked)


async def keep_projected(store: Store, every: float) -> None:
    """Keep the runs index caught up, off the request path (a background task)."""
    while True:
        await asyncio.sleep(every)
        try:
            await store.catch_up(wait=False)
        except Exception:
            log.warning("projection_catch_up_failed", exc_info=True)

"""The engine's reads: one run, its history, the listings, the audit checks.

No list call reads a run's log: the listings come from the read models. A
single run is read through a small cache of folds, each brought up to date
by reading only the events appended since (whoever appended them).
"""

from __future__ import annotations

import asyncio
import re
from collections import OrderedDict
from datetime import UTC, date, datetime

from durable.audit import audit_run
from durable.errors import RunNotFound
from durable.events import TERMINAL, Status
from durable.fold import RunLog, fold, follow
from durable.logs import get_logger
from durable.paths import check_name
from durable.recorded import blob_refs
from durable.results import Audit, Event, Page, RunInfo
from durable.run_info import info_from, info_from_index, info_from_waiting, to_public
from durable.runtime import Runtime
from durable.seal import Seal
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
        """The run's log, oldest first; large results inline, as the run saw them. Only
        the page asked for is read."""
        for name, value in (("after", after), ("limit", limit)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                      or value < (0 if name == "after" else 1)):
                raise ValueError(f"{name} must be a whole number >= {0 if name == 'after' else 1}"
                                 f", not {value!r}")
        if after >= MAX_OFFSET:  # past any log (and past what a store's integers hold)
            after, limit = MAX_OFFSET, 1
        events = await self.rt.store.read_events(
            run_id, after, None if limit is None else min(after + limit, MAX_OFFSET))
        if not events and (after == 0 or not await self.rt.store.read_events(run_id, 0, 1)):
            raise RunNotFound(run_id)
        blobs = await self.rt.store.read_blobs(blob_refs(events))
        return [to_public(e, blobs) for e in events]

    async def state_at(self, run_id: str, position: int) -> RunInfo:
        """The run after event ``position``: its nearest snapshot at or before it, and the
        events between (a few hundred at most, however long the log)."""
        if isinstance(position, bool) or not isinstance(position, int):
            raise ValueError(f"position must be an event number (an int), not {position!r}")
        snapshot, events = (await self.rt.store.read_run(run_id, position)
                            if 1 <= position <= MAX_OFFSET else (None, []))
        run = fold(events, snapshot.load() if snapshot is not None else None) if (
            snapshot is not None or events) else None
        if run is None or run.version != position:
            length = (await self._current(run_id)).version  # RunNotFound if there is none
            raise ValueError(f"position {position} is outside run {run_id!r}'s log "
                             f"(1..{length})")
        run._id = run_id  # (a fork read before its fork point folds its original's events)
        return info_from(run, RunInfo)

    async def audit(self, run_id: str, against: Seal | None = None) -> Audit:
        return await audit_run(self.rt, run_id, against)

    def forget(self, run_id: str) -> None:
        """Drop the cached fold of a run whose stored events were rewritten (redact)."""
        self._runs.pop(run_id, None)

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


def _ts(d: date | datetime | None, *, end: bool = False) -> float | None:
    """A date filter as a timestamp: a datetime as it is (UTC if naive); a date as its
    whole day in UTC (from its first moment, or to its last when ``end``)."""
    if d is None:
        return None
    if not isinstance(d, date):
        raise ValueError(f"a date filter must be a datetime or a date, not {d!r}")
    if not isinstance(d, datetime):
        start = datetime(d.year, d.month, d.day, tzinfo=UTC).timestamp()
        return start + 86_400 - 1e-6 if end else start  # (no date arithmetic: date.max)
    if d.tzinfo is None:
        d = d.replace(tzinfo=UTC)
    return d.timestamp()


_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")  # ASCII digits only


def when_from_text(text: str) -> date | datetime:
    """A date filter given as text (a query string): a date (``2026-12-01``: the whole
    day) or an ISO 8601 date-time (``2026-12-01T09:30:00Z``; UTC if naive). Other forms
    ISO 8601 allows (``20261201``, week dates) are refused rather than guessed at:
    Python reads some as a date-time at midnight, which would drop the day's runs."""
    try:
        if _DAY.fullmatch(text):
            return date.fromisoformat(text)
        if _DAY.match(text) and text[10:11] in ("T", " "):
            return datetime.fromisoformat(text)
    except ValueError:
        pass
    raise ValueError(f"{text!r} is not a date (2026-12-01) or an ISO 8601 date-time "
                     "(2026-12-01T09:30:00Z)")


def make_filter(
    status: str | None, workflow: str | None, resource_id: str | None, thread_id: str | None,
    from_date: date | datetime | None, to_date: date | datetime | None, page: int,
    per_page: int, blocked: bool | None = None,
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
    return ListingFilter(status, workflow, resource_id, thread_id, _ts(from_date),
                         _ts(to_date, end=True), page, per_page, blocked)


async def keep_projected(store: Store, every: float) -> None:
    """Keep the runs index caught up, off the request path (a background task)."""
    while True:
        await asyncio.sleep(every)
        try:
            await store.catch_up(wait=False)
        except Exception:
            log.warning("projection_catch_up_failed", exc_info=True)

"""The store interface, and the one implementation every adapter shares.

The ``eventsourcing`` library is synchronous. The engine gives it an async
face: one writer thread group-commits the appends of many runs in a single
transaction, and reads run on a small thread pool, off the event loop.

An append names the position it expects to write. The events table's primary
key ``(run, position)`` makes racing writers produce exactly one winner; the
loser gets :class:`PositionConflict` and nothing of its append is kept. The
run's head row (status, owner, lease) and its open suspensions are written in
the same transaction as its events, so they can never disagree with the log.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import msgspec
from eventsourcing.persistence import IntegrityError, Mapper, StoredEvent

from durable.codec import MsgpackTranscoder
from durable.errors import PositionConflict
from durable.events import RunLog, RunSnapshot
from durable.logs import get_logger
from projections.rows import IndexRow, ListingFilter, ViewStatus
from projections.suspended import OpenSuspension, WaitingRun

log = get_logger("durable.store")


class Head(msgspec.Struct, kw_only=True):
    """One row per run: where its log ends, its status, and who executes it."""

    run_id: str
    workflow: str
    version: str | None = None
    status: str
    position: int
    resource_id: str | None = None
    thread_id: str | None = None
    parent_run_id: str | None = None
    created_at: float
    updated_at: float
    suspended_at: float | None = None
    owner_id: str | None = None
    owner_host: str | None = None
    owner_pid: int | None = None
    owner_start: int | None = None
    lease_until: float | None = None


@dataclass
class Append:
    """Events for one run, to be written after ``expected`` (the position seen last)."""

    run_id: str
    expected: int
    events: Sequence[RunLog.Event]
    head: Head
    # The run's open suspensions after this append; None leaves them as they are.
    suspensions: list[OpenSuspension] | None = None
    # Large step results, stored once by content hash (sha256 hex -> msgpack bytes).
    blobs: dict[str, bytes] = field(default_factory=dict)
    # True when only the head's position, time and lease moved (status and owner as
    # last written by this writer): a two-column UPDATE instead of the full upsert.
    head_moved_only: bool = False
    stored: list[StoredEvent] = field(default_factory=list)


# What a list call returns: the rows of a page, the total before paging, and
# the open suspensions (or heads) of the runs on the page.
RunsPage = tuple[list[IndexRow], int, dict[str, list[OpenSuspension]]]
WaitingPage = tuple[list[tuple[WaitingRun, list[OpenSuspension]]], int, dict[str, Head]]


class Store(ABC):
    """What the engine needs of a database. Every adapter passes one test suite."""

    url: str
    # Set by the engine: true while a single run executes in it.
    alone: Callable[[], bool] | None = None

    @abstractmethod
    async def open(self) -> None: ...

    @abstractmethod
    async def close(self) -> None: ...

    @abstractmethod
    async def append(self, append: Append) -> None:
        """Write atomically, or raise :class:`PositionConflict` and write nothing."""

    @abstractmethod
    async def read_events(self, run_id: str, after: int = 0) -> list[RunLog.Event]: ...

    @abstractmethod
    async def read_head(self, run_id: str) -> Head | None: ...

    @abstractmethod
    async def read_run(self, run_id: str) -> tuple[RunSnapshot | None, list[RunLog.Event]]:
        """The run's latest snapshot (if any) and the events after it."""

    @abstractmethod
    async def save_snapshot(self, snapshot: RunSnapshot) -> None:
        """Store a snapshot and prune the older ones of that run."""

    @abstractmethod
    async def read_blobs(self, hashes: list[str]) -> dict[str, bytes]: ...

    @abstractmethod
    async def running_heads(self) -> list[Head]: ...

    @abstractmethod
    async def renew_leases(self, owner_id: str, until: float) -> None: ...

    @abstractmethod
    async def list_runs(self, f: ListingFilter) -> RunsPage:
        """From the runs index (as far as it has caught up)."""

    @abstractmethod
    async def list_suspended(self, f: ListingFilter) -> WaitingPage:
        """From the suspended-runs listing (always current: written with the events)."""

    @abstractmethod
    async def catch_up(self) -> int:
        """Bring the runs index up to the end of the log; return how many events it applied."""

    @abstractmethod
    async def view_status(self) -> list[ViewStatus]: ...

    @abstractmethod
    async def rebuild_views(self) -> None:
        """Drop both views and build them again from the logs."""


class _Stop:
    pass


@dataclass
class _Job:
    fn: Callable[[], Any]
    fut: asyncio.Future[Any]


class RecorderStore(Store):
    """A store on an ``eventsourcing`` application recorder, with group commit.

    Subclasses give the recorder and the SQL for heads and suspensions; this
    class owns the writer thread, the batching and the fallback on conflict.
    """

    max_batch = 256
    # Commit a lone run's appends on the caller's thread: only where a commit is
    # short enough to hold the event loop for (local SQLite, memory).
    inline_commits = True

    def __init__(self, url: str) -> None:
        self.url = url
        self.mapper: Mapper[str] = Mapper(transcoder=MsgpackTranscoder())  # type: ignore[arg-type]
        self._queue: queue.SimpleQueue[tuple[Append, asyncio.Future[None]] | _Job | _Stop] = (
            queue.SimpleQueue()
        )
        self._writer: threading.Thread | None = None
        self._readers: ThreadPoolExecutor | None = None
        self.recorder: Any = None  # the library's application recorder, set by the adapter
        self.snapshots: Any = None  # the library's aggregate recorder for snapshots
        self.batches = 0  # how many transactions the writer committed (for benchmarks)
        # _idle is clear while the writer thread holds a batch or a job.
        self._idle = threading.Event()
        self._idle.set()
        self.appends = 0

    # -- the synchronous core, one per adapter ---------------------------------
    @abstractmethod
    def _open_sync(self) -> None: ...

    @abstractmethod
    def _close_sync(self) -> None: ...

    def _insert_sync(self, appends: Sequence[Append]) -> None:
        """One transaction: all events, heads and listing rows of these appends (the
        adapter's recorder writes the rest from ``appends`` inside its own transaction)."""
        stored = [e for a in appends for e in a.stored]
        self.recorder.insert_events(stored, appends=appends)

    def _select_events_sync(self, run_id: str, after: int) -> Sequence[StoredEvent]:
        return self.recorder.select_events(run_id, gt=after or None)  # type: ignore[no-any-return]

    @abstractmethod
    def _head_sync(self, run_id: str) -> Head | None: ...

    @abstractmethod
    def _prune_snapshots_sync(self, run_id: str, below: int) -> None: ...

    @abstractmethod
    def _blobs_sync(self, hashes: list[str]) -> dict[str, bytes]: ...

    @abstractmethod
    def _running_sync(self) -> list[Head]: ...

    @abstractmethod
    def _renew_sync(self, owner_id: str, until: float) -> None: ...

    @abstractmethod
    def _list_runs_sync(self, f: ListingFilter) -> RunsPage: ...

    @abstractmethod
    def _list_suspended_sync(self, f: ListingFilter) -> WaitingPage: ...

    @abstractmethod
    def _catch_up_sync(self) -> int:
        """Run on the writer thread: one transaction per batch of events."""

    @abstractmethod
    def _view_status_sync(self) -> list[ViewStatus]: ...

    @abstractmethod
    def _rebuild_sync(self) -> None:
        """Run on the writer thread."""

    # -- lifecycle -------------------------------------------------------------
    async def open(self) -> None:
        self._readers = ThreadPoolExecutor(max_workers=4, thread_name_prefix="durable-read")
        await asyncio.get_running_loop().run_in_executor(self._readers, self._open_sync)
        self._writer = threading.Thread(
            target=self._write_loop, name="durable-writer", daemon=True
        )
        self._writer.start()

    async def close(self) -> None:
        if self._writer is not None:
            self._queue.put(_Stop())
            await asyncio.get_running_loop().run_in_executor(None, self._writer.join)
            self._writer = None
        if self._readers is not None:
            self._readers.shutdown(wait=True)
            self._readers = None
        self._close_sync()

    # -- writes ----------------------------------------------------------------
    async def append(self, append: Append) -> None:
        if self._writer is None:
            raise RuntimeError("the store is not open: use 'async with engine:' first")
        append.stored = [self.mapper.to_stored_event(e) for e in append.events]
        if (self.inline_commits and self.alone is not None and self.alone()
                and self._idle.is_set()):
            # One writer, nothing queued: committing here saves two thread hand-offs
            # (~50-150 µs); with company, the writer thread batches appends instead.
            self._commit_here(append)
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.put((append, fut))
        await fut

    def _commit_here(self, append: Append) -> None:
        try:
            self._insert_sync([append])
        except IntegrityError:
            raise PositionConflict(append.run_id, append.expected) from None
        self.batches += 1
        self.appends += 1

    def _write_loop(self) -> None:
        while True:
            item = self._queue.get()
            if isinstance(item, _Stop):
                return
            self._idle.clear()
            if isinstance(item, _Job):
                self._run_job(item)
                if self._queue.empty():
                    self._idle.set()
                continue
            batch = [item]
            later: _Job | _Stop | None = None
            while len(batch) < self.max_batch:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if isinstance(nxt, _Job | _Stop):
                    later = nxt
                    break
                batch.append(nxt)
            self._commit(batch)
            if isinstance(later, _Job):
                self._run_job(later)
            if self._queue.empty():
                self._idle.set()
            elif isinstance(later, _Stop):
                return

    def _run_job(self, job: _Job) -> None:
        try:
            result = job.fn()
        except BaseException as exc:
            _settle(job.fut, exc)
        else:
            _settle(job.fut, None, result)

    def _commit(self, batch: list[tuple[Append, asyncio.Future[None]]]) -> None:
        try:
            self._insert_sync([a for a, _ in batch])
            self.batches += 1
            self.appends += len(batch)
            for _, fut in batch:
                _settle(fut, None)
            return
        except IntegrityError:
            if len(batch) == 1:
                a, fut = batch[0]
                _settle(fut, PositionConflict(a.run_id, a.expected))
                return
        except Exception as exc:  # the database failed: tell every waiter
            if len(batch) == 1:
                _settle(batch[0][1], exc)
                return
        # One run's lost race must not fail the others: write them one by one.
        for one in batch:
            self._commit([one])

    # -- reads -----------------------------------------------------------------
    async def _read(self, fn: Any, *args: Any) -> Any:
        if self._readers is None:
            raise RuntimeError("the store is not open: use 'async with engine:' first")
        return await asyncio.get_running_loop().run_in_executor(self._readers, fn, *args)

    async def read_events(self, run_id: str, after: int = 0) -> list[RunLog.Event]:
        return await self._read(self._read_events_sync, run_id, after)  # type: ignore[no-any-return]

    def _read_events_sync(self, run_id: str, after: int) -> list[RunLog.Event]:
        to_event = self.mapper.to_domain_event
        return [to_event(s) for s in self._select_events_sync(run_id, after)]  # type: ignore[misc]

    async def read_head(self, run_id: str) -> Head | None:
        return await self._read(self._head_sync, run_id)  # type: ignore[no-any-return]

    async def read_run(self, run_id: str) -> tuple[RunSnapshot | None, list[RunLog.Event]]:
        return await self._read(self._read_run_sync, run_id)  # type: ignore[no-any-return]

    def _read_run_sync(self, run_id: str) -> tuple[RunSnapshot | None, list[RunLog.Event]]:
        # Events are never deleted, so a snapshot pruned between these two reads
        # still leaves every event after the one we read.
        found = self.snapshots.select_events(run_id, desc=True, limit=1)
        snapshot: RunSnapshot | None = self.mapper.to_domain_event(found[0]) if found else None  # type: ignore[assignment]
        after = snapshot.originator_version if snapshot is not None else 0
        return snapshot, self._read_events_sync(run_id, after)

    async def save_snapshot(self, snapshot: RunSnapshot) -> None:
        await self._on_writer(lambda: self._save_snapshot_sync(snapshot))

    def _save_snapshot_sync(self, snapshot: RunSnapshot) -> None:
        # IntegrityError: that position was snapshotted already (another engine, a retry)
        with contextlib.suppress(IntegrityError):
            self.snapshots.insert_events([self.mapper.to_stored_event(snapshot)])
        self._prune_snapshots_sync(snapshot.originator_id, snapshot.originator_version)

    async def read_blobs(self, hashes: list[str]) -> dict[str, bytes]:
        if not hashes:
            return {}
        return await self._read(self._blobs_sync, hashes)  # type: ignore[no-any-return]

    async def running_heads(self) -> list[Head]:
        return await self._read(self._running_sync)  # type: ignore[no-any-return]

    async def renew_leases(self, owner_id: str, until: float) -> None:
        await self._read(self._renew_sync, owner_id, until)

    async def list_runs(self, f: ListingFilter) -> RunsPage:
        return await self._read(self._list_runs_sync, f)  # type: ignore[no-any-return]

    async def list_suspended(self, f: ListingFilter) -> WaitingPage:
        return await self._read(self._list_suspended_sync, f)  # type: ignore[no-any-return]

    async def catch_up(self) -> int:
        return await self._on_writer(self._catch_up_sync)  # type: ignore[no-any-return]

    async def view_status(self) -> list[ViewStatus]:
        return await self._read(self._view_status_sync)  # type: ignore[no-any-return]

    async def rebuild_views(self) -> None:
        await self._on_writer(self._rebuild_sync)

    async def _on_writer(self, fn: Callable[[], Any]) -> Any:
        """Run ``fn`` on the writer thread, between two batches of appends."""
        if self._writer is None:
            raise RuntimeError("the store is not open: use 'async with engine:' first")
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._queue.put(_Job(fn, fut))
        return await fut


def _settle(fut: asyncio.Future[Any], exc: BaseException | None, result: Any = None) -> None:
    def set_() -> None:
        if fut.done():
            return
        if exc is None:
            fut.set_result(result)
        else:
            fut.set_exception(exc)

    fut.get_loop().call_soon_threadsafe(set_)


HEAD_COLUMNS = tuple(Head.__struct_fields__)


def head_params(h: Head) -> tuple[Any, ...]:
    return tuple(getattr(h, c) for c in HEAD_COLUMNS)


def head_from_row(row: Any) -> Head:
    return Head(**{c: row[c] for c in HEAD_COLUMNS})


# What a listing page shows of each run's head row: fetched by position, not by name.
PAGE_HEAD_COLUMNS = ("run_id", "workflow", "version", "status", "position", "parent_run_id",
                     "created_at", "updated_at")


def page_head(row: Sequence[Any]) -> Head:
    run_id, workflow, version, status, position, parent, created, updated = row
    return Head(run_id=run_id, workflow=workflow, version=version, status=status,
                position=position, parent_run_id=parent, created_at=created, updated_at=updated)


def listing_changes(appends: Sequence[Append]) -> list[tuple[Head, list[OpenSuspension]]]:
    """The suspended-listing changes a batch of appends makes, in order."""
    return [(a.head, a.suspensions) for a in appends if a.suspensions is not None]


BLOBS_DDL = "CREATE TABLE IF NOT EXISTS {t} (hash TEXT PRIMARY KEY, data {blob} NOT NULL)"


def blob_rows(appends: Sequence[Append]) -> list[tuple[str, bytes]]:
    return [(h, data) for a in appends for h, data in a.blobs.items()]

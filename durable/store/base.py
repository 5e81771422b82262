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
import queue
import threading
from abc import ABC, abstractmethod
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import msgspec
from eventsourcing.persistence import IntegrityError, Mapper, StoredEvent

from durable.codec import MsgpackTranscoder
from durable.errors import PositionConflict
from durable.events import RunLog
from durable.logs import get_logger

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


class SuspensionRow(msgspec.Struct, kw_only=True):
    """One open suspension, as the listing shows it."""

    run_id: str
    path_key: str
    path: list[str | int]
    kind: str
    payload: bytes  # msgpack
    suspended_at: float


@dataclass
class Append:
    """Events for one run, to be written after ``expected`` (the position seen last)."""

    run_id: str
    expected: int
    events: Sequence[RunLog.Event]
    head: Head
    # The run's open suspensions after this append; None leaves them as they are.
    suspensions: list[SuspensionRow] | None = None
    stored: list[StoredEvent] = field(default_factory=list)


@dataclass
class RunFilter:
    status: str | None = None
    workflow: str | None = None
    resource_id: str | None = None
    thread_id: str | None = None
    from_date: float | None = None
    to_date: float | None = None
    page: int = 0
    per_page: int = 50


class Store(ABC):
    """What the engine needs of a database. Every adapter passes one test suite."""

    url: str

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
    async def running_heads(self) -> list[Head]: ...

    @abstractmethod
    async def renew_leases(self, owner_id: str, until: float) -> None: ...

    @abstractmethod
    async def list_runs(self, f: RunFilter) -> tuple[list[Head], int]: ...

    @abstractmethod
    async def list_suspended(
        self, f: RunFilter
    ) -> tuple[list[tuple[Head, list[SuspensionRow]]], int]: ...


class _Stop:
    pass


class RecorderStore(Store):
    """A store on an ``eventsourcing`` application recorder, with group commit.

    Subclasses give the recorder and the SQL for heads and suspensions; this
    class owns the writer thread, the batching and the fallback on conflict.
    """

    max_batch = 256

    def __init__(self, url: str) -> None:
        self.url = url
        self.mapper: Mapper[str] = Mapper(transcoder=MsgpackTranscoder())  # type: ignore[arg-type]
        self._queue: queue.SimpleQueue[tuple[Append, asyncio.Future[None]] | _Stop] = (
            queue.SimpleQueue()
        )
        self._writer: threading.Thread | None = None
        self._readers: ThreadPoolExecutor | None = None
        self.batches = 0  # how many transactions the writer committed (for benchmarks)
        self.appends = 0

    # -- the synchronous core, one per adapter ---------------------------------
    @abstractmethod
    def _open_sync(self) -> None: ...

    @abstractmethod
    def _close_sync(self) -> None: ...

    @abstractmethod
    def _insert_sync(self, appends: Sequence[Append]) -> None:
        """One transaction: all events, heads and suspensions of these appends."""

    @abstractmethod
    def _select_events_sync(self, run_id: str, after: int) -> Sequence[StoredEvent]: ...

    @abstractmethod
    def _head_sync(self, run_id: str) -> Head | None: ...

    @abstractmethod
    def _running_sync(self) -> list[Head]: ...

    @abstractmethod
    def _renew_sync(self, owner_id: str, until: float) -> None: ...

    @abstractmethod
    def _list_runs_sync(self, f: RunFilter) -> tuple[list[Head], int]: ...

    @abstractmethod
    def _list_suspended_sync(
        self, f: RunFilter
    ) -> tuple[list[tuple[Head, list[SuspensionRow]]], int]: ...

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
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.put((append, fut))
        await fut

    def _write_loop(self) -> None:
        while True:
            item = self._queue.get()
            if isinstance(item, _Stop):
                return
            batch = [item]
            stop = False
            while len(batch) < self.max_batch:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if isinstance(nxt, _Stop):
                    stop = True
                    break
                batch.append(nxt)
            self._commit(batch)
            if stop:
                return

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

    async def running_heads(self) -> list[Head]:
        return await self._read(self._running_sync)  # type: ignore[no-any-return]

    async def renew_leases(self, owner_id: str, until: float) -> None:
        await self._read(self._renew_sync, owner_id, until)

    async def list_runs(self, f: RunFilter) -> tuple[list[Head], int]:
        return await self._read(self._list_runs_sync, f)  # type: ignore[no-any-return]

    async def list_suspended(
        self, f: RunFilter
    ) -> tuple[list[tuple[Head, list[SuspensionRow]]], int]:
        return await self._read(self._list_suspended_sync, f)  # type: ignore[no-any-return]


def _settle(fut: asyncio.Future[None], exc: BaseException | None) -> None:
    def set_() -> None:
        if fut.done():
            return
        if exc is None:
            fut.set_result(None)
        else:
            fut.set_exception(exc)

    fut.get_loop().call_soon_threadsafe(set_)


HEAD_COLUMNS = tuple(Head.__struct_fields__)
SUSPENSION_COLUMNS = ("run_id", "path_key", "path", "kind", "payload", "suspended_at")


def head_params(h: Head) -> tuple[Any, ...]:
    return tuple(getattr(h, c) for c in HEAD_COLUMNS)


def head_from_row(row: Any) -> Head:
    return Head(**{c: row[c] for c in HEAD_COLUMNS})


def where_clause(f: RunFilter, *, date_column: str, ph: str = "?") -> tuple[str, list[Any]]:
    """The WHERE for a listing filter; ``ph`` is the driver's placeholder."""
    clauses: list[str] = []
    params: list[Any] = []
    for column, value in (
        ("h.status", f.status),
        ("h.workflow", f.workflow),
        ("h.resource_id", f.resource_id),
        ("h.thread_id", f.thread_id),
    ):
        if value is not None:
            clauses.append(f"{column} = {ph}")
            params.append(value)
    if f.from_date is not None:
        clauses.append(f"{date_column} >= {ph}")
        params.append(f.from_date)
    if f.to_date is not None:
        clauses.append(f"{date_column} <= {ph}")
        params.append(f.to_date)
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", params

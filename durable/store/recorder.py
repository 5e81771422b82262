"""A store on an ``eventsourcing`` application recorder, with group commit.

The library is synchronous. This gives it an async face: one writer thread
group-commits the appends of many runs in a single transaction, and reads run
on a small thread pool, off the event loop. A lone run's append may instead
commit on the caller's thread, but only where that cannot wait for a lock
(:meth:`RecorderStore._insert_now`): a commit that would block the event loop
goes to the writer thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
import time
from abc import abstractmethod
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from eventsourcing.persistence import IntegrityError, Mapper

from durable.codec import MsgpackTranscoder
from durable.errors import PositionConflict
from durable.store.base import Store
from durable.store.log_reads import LogReads
from durable.store.types import (
    Append,
    DueTimer,
    Head,
    ListingFilter,
    RunsPage,
    ViewStatus,
    WaitingPage,
    to_stored,
)


class _Stop:
    pass


_Pending = tuple[Append, "asyncio.Future[None]"]


@dataclass
class _Job:
    fn: Callable[[], Any]
    fut: asyncio.Future[Any]


class RecorderStore(LogReads, Store):
    """Subclasses give the recorder and the SQL for heads and suspensions; this class
    owns the writer thread, the batching and the fallback on conflict."""

    max_batch = 256
    # May a lone run's append commit on the caller's thread? Only where a commit is
    # short (local SQLite, memory) and the adapter can refuse to wait for a lock.
    inline_commits = True

    def __init__(self, url: str) -> None:
        self.url = url
        # Snapshots go through the library's mapper; events are encoded by durable.events.
        self.mapper: Mapper[str] = Mapper(transcoder=MsgpackTranscoder())  # type: ignore[arg-type]
        self._queue: queue.SimpleQueue[list[_Pending] | _Job | _Stop] = queue.SimpleQueue()
        self._pending: list[_Pending] = []  # appends of this loop turn, not yet handed over
        self._loop: asyncio.AbstractEventLoop | None = None  # the loop the store was opened on
        self._writer: threading.Thread | None = None
        self._readers: ThreadPoolExecutor | None = None
        self.recorder: Any = None  # the library's application recorder, set by the adapter
        self.snapshots: Any = None  # the library's aggregate recorder for snapshots
        self.batches = 0  # how many transactions committed appends (for benchmarks)
        self.appends = 0
        # _idle is clear while the writer thread holds a batch or a job.
        self._idle = threading.Event()
        self._idle.set()

    # -- the synchronous core, one per adapter -------------------------------------------
    @abstractmethod
    def _open_sync(self) -> None: ...

    @abstractmethod
    def _close_sync(self) -> None: ...

    def _insert_sync(self, appends: Sequence[Append]) -> None:
        """One transaction: all events, heads and listing rows of these appends (the
        adapter's recorder writes the rest from ``appends`` inside its own transaction)."""
        stored = [e for a in appends for e in a.stored]
        self.recorder.insert_events(stored, appends=appends)

    def _insert_now(self, append: Append) -> bool:
        """Commit on this thread if no lock stands in the way; False if one would."""
        self._insert_sync([append])
        return True

    @abstractmethod
    def _heads_sync(self, run_ids: list[str]) -> dict[str, Head]: ...

    @abstractmethod
    def _prune_snapshots_sync(self, run_id: str, since: int, below: int) -> None:
        """Delete the run's snapshots at positions in ``[since, below)``."""

    @abstractmethod
    def _blobs_sync(self, hashes: list[str]) -> dict[str, bytes]: ...

    @abstractmethod
    def _running_sync(self) -> list[Head]: ...

    @abstractmethod
    def _unsettled_children_sync(self) -> list[Head]: ...

    @abstractmethod
    def _pending_sync(self, queue: str, limit: int) -> list[Head]: ...

    @abstractmethod
    def _renew_sync(self, owner_id: str, run_ids: list[str], until: float) -> None: ...

    @abstractmethod
    def _release_sync(self, run_id: str, owner_id: str) -> bool: ...

    @abstractmethod
    def _block_sync(self, run_id: str, error: str, length: int | None, since: float) -> bool:
        ...

    @abstractmethod
    def _list_runs_sync(self, f: ListingFilter) -> RunsPage: ...

    @abstractmethod
    def _list_suspended_sync(self, f: ListingFilter) -> WaitingPage: ...

    @abstractmethod
    def _due_sync(self, until: float, workflows: list[str], limit: int) -> list[DueTimer]: ...

    @abstractmethod
    def _catch_up_sync(self, wait: bool = True) -> int:
        """Run on the writer thread: one transaction per batch of events."""

    @abstractmethod
    def _view_status_sync(self) -> list[ViewStatus]: ...

    @abstractmethod
    def _rebuild_sync(self) -> None:
        """Run on the writer thread."""

    def _committed(self, appends: Sequence[Append]) -> None:
        """Called after each commit (on the committing thread); memory feeds listen here."""

    # -- lifecycle -------------------------------------------------------------------------
    async def open(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._readers = ThreadPoolExecutor(max_workers=4, thread_name_prefix="durable-read")
        await asyncio.get_running_loop().run_in_executor(self._readers, self._open_sync)
        self._writer = threading.Thread(
            target=self._write_loop, name="durable-writer", daemon=True
        )
        self._writer.start()

    async def close(self) -> None:
        if self._writer is not None:
            if self._pending:
                self._hand_over()
            self._queue.put(_Stop())
            await asyncio.get_running_loop().run_in_executor(None, self._writer.join)
            self._writer = None
        if self._readers is not None:
            self._readers.shutdown(wait=True)
            self._readers = None
        self._close_sync()

    # -- writes ------------------------------------------------------------------------------
    async def append(self, append: Append) -> None:
        if self._writer is None:
            raise RuntimeError("the store is not open: use 'async with engine:' first")
        append.stored = [to_stored(e) for e in append.events]
        if append.inline and self.inline_commits and self._idle.is_set() and not self._pending:
            # Nothing queued and nobody waiting: committing here saves two thread
            # hand-offs (~50-150 µs). If a lock is held, the writer thread waits instead.
            try:
                done = self._insert_now(append)
            except IntegrityError as e:  # the cause: a lost race, or a constraint of another
                raise PositionConflict(append.run_id, append.expected) from e
            if done:
                self.batches += 1
                self.appends += 1
                self._committed([append])
                return
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        if loop is self._loop:
            # Appends made in one turn of the loop reach the writer thread as one item:
            # one queue put and one wake-up of that thread for all of them.
            if not self._pending:
                loop.call_soon(self._hand_over)
            self._pending.append((append, fut))
        else:
            self._queue.put([(append, fut)])
        await fut

    def _hand_over(self) -> None:
        pending, self._pending = self._pending, []
        self._queue.put(pending)

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
            batch = list(item)
            later: _Job | _Stop | None = None
            while len(batch) < self.max_batch:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if isinstance(nxt, _Job | _Stop):
                    later = nxt
                    break
                batch.extend(nxt)
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

    def _commit(self, batch: list[_Pending]) -> None:
        try:
            self._insert_sync([a for a, _ in batch])
            self.batches += 1
            self.appends += len(batch)
            self._committed([a for a, _ in batch])
            _settle_all([fut for _, fut in batch])
            return
        except IntegrityError as e:
            if len(batch) == 1:
                a, fut = batch[0]
                conflict = PositionConflict(a.run_id, a.expected)
                conflict.__cause__ = e
                _settle(fut, conflict)
                return
        except Exception as exc:  # the database failed: tell every waiter
            if len(batch) == 1:
                _settle(batch[0][1], exc)
                return
        # One run's lost race must not fail the others: write them one by one.
        for one in batch:
            self._commit([one])

    # -- reads -------------------------------------------------------------------------------
    async def _read(self, fn: Any, *args: Any) -> Any:
        if self._readers is None:
            raise RuntimeError("the store is not open: use 'async with engine:' first")
        return await asyncio.get_running_loop().run_in_executor(self._readers, fn, *args)

    async def read_head(self, run_id: str) -> Head | None:
        return (await self.read_heads([run_id])).get(run_id)

    async def read_heads(self, run_ids: Iterable[str]) -> dict[str, Head]:
        ids = list(run_ids)
        if not ids:
            return {}
        return await self._read(self._heads_sync, ids)  # type: ignore[no-any-return]

    async def log_ends(self) -> dict[str, tuple[int, str]]:
        return await self._read(self._log_ends_sync)  # type: ignore[no-any-return]

    @abstractmethod
    def _log_ends_sync(self) -> dict[str, tuple[int, str]]: ...

    async def redact(self, run_id: str, rewritten: dict[int, bytes], blobs: list[str],
                     index: tuple[bytes | None, bytes | None], reason: str) -> None:
        await self._on_writer(lambda: self._redact_sync(run_id, rewritten, blobs, index,
                                                        reason))
        await self._read(self._after_redact)  # (off the writer: it may wait for readers)

    def _after_redact(self) -> None:
        """Overwrite what the database still keeps of the erased content (its WAL)."""

    @abstractmethod
    def _redact_sync(self, run_id: str, rewritten: dict[int, bytes], blobs: list[str],
                     index: tuple[bytes | None, bytes | None], reason: str) -> None: ...

    async def read_blobs(self, hashes: list[str]) -> dict[str, bytes]:
        if not hashes:
            return {}
        return await self._read(self._blobs_sync, hashes)  # type: ignore[no-any-return]

    async def forks_of(self, run_id: str) -> list[Head]:
        return await self._read(self._forks_sync, run_id)  # type: ignore[no-any-return]

    @abstractmethod
    def _forks_sync(self, run_id: str) -> list[Head]: ...

    async def children_of(self, run_id: str) -> list[Head]:
        return await self._read(self._children_sync, run_id)  # type: ignore[no-any-return]

    @abstractmethod
    def _children_sync(self, run_id: str) -> list[Head]: ...

    async def running_heads(self) -> list[Head]:
        return await self._read(self._running_sync)  # type: ignore[no-any-return]

    async def pending_heads(self, queue: str, limit: int) -> list[Head]:
        return await self._read(self._pending_sync, queue, limit)  # type: ignore[no-any-return]

    async def unsettled_children(self) -> list[Head]:
        return await self._read(self._unsettled_children_sync)  # type: ignore[no-any-return]

    async def renew_leases(self, owner_id: str, run_ids: list[str], until: float) -> None:
        if run_ids:
            await self._read(self._renew_sync, owner_id, run_ids, until)

    async def release(self, run_id: str, owner_id: str) -> bool:
        return await self._read(self._release_sync, run_id, owner_id)  # type: ignore[no-any-return]

    async def block(self, run_id: str, error: str, length: int | None) -> bool:
        return await self._read(  # type: ignore[no-any-return]
            self._block_sync, run_id, error, length, time.time())

    async def list_runs(self, f: ListingFilter) -> RunsPage:
        return await self._read(self._list_runs_sync, f)  # type: ignore[no-any-return]

    async def list_suspended(self, f: ListingFilter) -> WaitingPage:
        return await self._read(self._list_suspended_sync, f)  # type: ignore[no-any-return]

    async def catch_up(self, *, wait: bool = True) -> int:
        return await self._on_writer(lambda: self._catch_up_sync(wait))  # type: ignore[no-any-return]

    async def due_timers(self, until: float, workflows: Sequence[str], limit: int
                         ) -> list[DueTimer]:
        return await self._read(self._due_sync, until, list(workflows), limit)  # type: ignore[no-any-return]

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


def _settle_all(futs: list[asyncio.Future[None]]) -> None:
    """Resolve a committed batch's futures with one wake-up of each waiting loop (one
    self-pipe write, not one per append)."""
    by_loop: dict[asyncio.AbstractEventLoop, list[asyncio.Future[None]]] = {}
    for fut in futs:
        by_loop.setdefault(fut.get_loop(), []).append(fut)
    for loop, some in by_loop.items():
        with contextlib.suppress(RuntimeError):  # that loop has closed: nobody to tell
            loop.call_soon_threadsafe(_resolve, some)


def _resolve(futs: list[asyncio.Future[None]]) -> None:
    for fut in futs:
        if not fut.done():
            fut.set_result(None)


def _settle(fut: asyncio.Future[Any], exc: BaseException | None, result: Any = None) -> None:
    def set_() -> None:
        if fut.done():
            return
        if exc is None:
            fut.set_result(result)
        else:
            fut.set_exception(exc)

    with contextlib.suppress(RuntimeError):  # the waiter's loop has closed: nobody to tell
        fut.get_loop().call_soon_threadsafe(set_)

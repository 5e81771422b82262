"""Hearing about appends made elsewhere, without polling every run.

Two kinds of interest: runs executing here (their driver must take in what
another engine appended: a resume of another branch, a pause, a cancel), and
callers waiting for a run held elsewhere to settle. One task per engine waits
on the store's :class:`~durable.store.base.ChangeFeed`; when it reports a
commit, it reads the head rows of the runs of interest in one query and tells
whoever cares. It also looks every ``timeout`` seconds, so a lost notification
only delays, and a holder that died is noticed once its lease lapses.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from durable.errors import EngineClosed, RunNotFound
from durable.logs import get_logger
from durable.store.base import ChangeFeed, Store
from durable.store.types import Head

if TYPE_CHECKING:
    from durable.execution import Execution

log = get_logger("durable")

Predicate = Callable[[Head], bool]


class Watcher:
    def __init__(
        self, store: Store, active: Callable[[], Mapping[str, Execution]], *,
        timeout: float = 1.0, gap: float = 0.02,
    ) -> None:
        self.store = store
        self.active = active
        self.timeout = timeout
        self.gap = gap
        self._waiters: dict[str, list[tuple[Predicate, asyncio.Future[Head]]]] = {}
        self._kick = asyncio.Event()
        self._feed: ChangeFeed | None = None
        self._task: asyncio.Task[None] | None = None

    def open(self) -> None:
        self._feed = self.store.changes()
        self._task = asyncio.get_running_loop().create_task(self._run(), name="durable-watch")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._feed is not None:
            await self._feed.close()
            self._feed = None
        for run_id, waiters in self._waiters.items():
            for _, fut in waiters:
                if not fut.done():
                    fut.set_exception(EngineClosed(run_id))
        self._waiters.clear()

    def kick(self) -> None:
        """Something new to watch: look now rather than at the next commit."""
        self._kick.set()

    async def until(self, run_id: str, predicate: Predicate) -> Head:
        """The run's head row, once ``predicate`` holds for it (checked now, after every
        commit that may concern it, and every ``timeout`` seconds)."""
        fut: asyncio.Future[Head] = asyncio.get_running_loop().create_future()
        entry = (predicate, fut)
        self._waiters.setdefault(run_id, []).append(entry)
        try:
            head = await self.store.read_head(run_id)
            if head is None:
                raise RunNotFound(run_id)
            if predicate(head):
                return head
            self.kick()
            return await fut
        finally:
            waiters = self._waiters.get(run_id, [])
            if entry in waiters:
                waiters.remove(entry)
            if not waiters:
                self._waiters.pop(run_id, None)

    async def _run(self) -> None:
        assert self._feed is not None
        while True:
            if not self.active() and not self._waiters:
                self._kick.clear()
                await self._kick.wait()
                continue
            self._kick.clear()
            try:
                changed = await self._feed.wait(self.timeout)
                await self._look(changed)
                # Coalesce: under a stream of commits (this engine's own, mostly), look
                # at most every `gap` seconds; what changed meanwhile is seen next time.
                await asyncio.sleep(self.gap)
            except asyncio.CancelledError:
                raise
            except Exception:  # the database is unreachable: try again on the next round
                log.warning("watch_failed", exc_info=True)
                await asyncio.sleep(self.timeout)

    async def _look(self, changed: set[str] | None) -> None:
        active = self.active()
        if changed is None:  # a timeout, or the feed cannot say: look at everything
            interest = set(active) | set(self._waiters)
        else:
            # Runs executing here hear only of the appends that others make to them (the
            # feed names those); callers waiting for a run look on every commit, since a
            # run settling elsewhere is named only if someone appended for its holder.
            interest = (set(active) & changed) | set(self._waiters)
        if not interest:
            return
        heads = await self.store.read_heads(interest)
        for run_id, head in heads.items():
            ex = active.get(run_id)
            if ex is not None and head.position > ex.position:
                ex.moved()
            for predicate, fut in list(self._waiters.get(run_id, ())):
                if not fut.done() and predicate(head):
                    fut.set_result(head)

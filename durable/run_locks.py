"""One asyncio lock per run in use, forgotten as soon as nobody holds or awaits it.

Commands on one run (start, resume, recovery) take turns in this process;
between processes, the log's expected position decides.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class RunLocks:
    """Per-run locks of one engine (one event loop)."""

    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    def __len__(self) -> int:
        return len(self._locks)

    @asynccontextmanager
    async def hold(self, run_id: str) -> AsyncIterator[None]:
        await self.acquire(run_id)
        try:
            yield
        finally:
            self.release(run_id)

    async def acquire(self, run_id: str) -> None:
        lock, users = self._locks.get(run_id) or (asyncio.Lock(), 0)
        self._locks[run_id] = (lock, users + 1)
        try:
            await lock.acquire()
        except BaseException:
            self._forget(run_id)
            raise

    async def try_acquire(self, run_id: str) -> bool:
        """Take the run's lock if nobody in this engine holds or awaits it (then taking
        it does not wait); False otherwise."""
        if run_id in self._locks:
            return False
        await self.acquire(run_id)
        return True

    def release(self, run_id: str) -> None:
        self._locks[run_id][0].release()
        self._forget(run_id)

    async def wait_free(self, run_id: str) -> None:
        """Return once whoever holds the run's lock now has let go."""
        if run_id in self._locks:
            async with self.hold(run_id):
                pass

    def _forget(self, run_id: str) -> None:
        lock, users = self._locks[run_id]
        if users <= 1:
            del self._locks[run_id]
        else:
            self._locks[run_id] = (lock, users - 1)

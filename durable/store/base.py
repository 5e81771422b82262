"""The store interface: what the engine needs of a database.

Every adapter (SQLite, PostgreSQL, memory) implements it and passes one
shared test suite (``tests/test_store.py``). An append names the position it
expects to write; the events table's key ``(run, position)`` makes racing
writers produce exactly one winner, the loser gets ``PositionConflict`` and
nothing of its append is kept. The run's head row and its open suspensions
are written in the same transaction as its events, so they never disagree
with the log.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence

from durable.events import Event
from durable.fold import RunSnapshot
from durable.store.types import (
    Append,
    DueTimer,
    Head,
    ListingFilter,
    RunsPage,
    ViewStatus,
    WaitingPage,
)


class ChangeFeed(ABC):
    """Tells an engine that another writer committed, so it need not poll every run.

    PostgreSQL: LISTEN/NOTIFY naming the run. SQLite: the file's data version, a
    cheap check that changes whenever another connection commits. Memory: the
    store's own commits. A feed may report spuriously; it must not stay silent
    for long after a commit that it is meant to report (callers also look again
    on a timeout, so a lost notification only delays them).
    """

    @abstractmethod
    async def wait(self, timeout: float) -> set[str] | None:
        """Return after a commit (or after ``timeout`` seconds): the run ids it names
        (perhaps none: only appends by a run's non-holder, and a holder's settling append
        after it took one in, are named), or ``None`` on a timeout or when it cannot say
        which runs changed (the caller then looks at everything it watches)."""

    async def close(self) -> None:  # noqa: B027 - most feeds hold nothing
        """Let go of whatever the feed holds (a connection)."""


class Store(ABC):
    """What the engine needs of a database. Every adapter passes one test suite."""

    url: str

    @abstractmethod
    async def open(self) -> None: ...

    @abstractmethod
    async def close(self) -> None: ...

    # -- the log ----------------------------------------------------------------------
    @abstractmethod
    async def append(self, append: Append) -> None:
        """Write atomically, or raise ``PositionConflict`` and write nothing."""

    @abstractmethod
    async def read_events(self, run_id: str, after: int = 0, upto: int | None = None
                          ) -> list[Event]:
        """The run's events in ``(after, upto]`` (``upto`` None: to the end), in one query
        (two more for a fork read from before its fork point: its first events are its
        original's, read from there)."""

    async def read_logs(self, run_ids: Sequence[str]) -> dict[str, list[Event]]:
        """The whole logs of several runs (those that have one), read together where the
        store can (the engine's timers read the runs they are about to fire so)."""
        logs = await asyncio.gather(*(self.read_events(r) for r in run_ids))
        return {r: log for r, log in zip(run_ids, logs, strict=True) if log}

    @abstractmethod
    async def read_run(self, run_id: str, upto: int | None = None
                       ) -> tuple[RunSnapshot | None, list[Event]]:
        """The run's latest snapshot (if any; ``upto``: its nearest at or before that
        position) and the events after it (up to ``upto``)."""

    @abstractmethod
    async def read_snapshot(self, run_id: str) -> RunSnapshot | None:
        """The run's latest snapshot, or None."""

    async def read_snapshots(self, run_ids: Sequence[str]) -> dict[str, RunSnapshot]:
        """The latest snapshot of each of these runs (those that have one)."""
        found = await asyncio.gather(*(self.read_snapshot(r) for r in run_ids))
        return {r: s for r, s in zip(run_ids, found, strict=True) if s is not None}

    @abstractmethod
    async def save_snapshot(self, snapshot: RunSnapshot) -> None:
        """Store a snapshot and prune the older ones of that run, but for one in every
        ``KEPT_SNAPSHOT_EVERY`` positions (``engine.state_at`` starts from them)."""

    @abstractmethod
    async def read_blobs(self, hashes: list[str]) -> dict[str, bytes]: ...

    @abstractmethod
    async def log_ends(self) -> dict[str, tuple[int, str]]:
        """Every run's last stored position and the hash there, read at one moment."""

    @abstractmethod
    async def redact(self, run_id: str, rewritten: dict[int, bytes], blobs: list[str],
                     index: tuple[bytes | None, bytes | None], reason: str) -> None:
        """Erase a finished run's payloads, in one transaction: store the ``rewritten``
        event states by position, drop its snapshots, set its runs-index ``(output,
        state)``, and delete the ``blobs`` no other run's events refer to. Where the
        database keeps deleted content (SQLite's free pages, its WAL), overwrite it."""

    # -- heads: who holds a run ---------------------------------------------------------
    @abstractmethod
    async def read_head(self, run_id: str) -> Head | None: ...

    @abstractmethod
    async def read_heads(self, run_ids: Iterable[str]) -> dict[str, Head]:
        """The head rows of these runs (those that exist)."""

    @abstractmethod
    async def running_heads(self) -> list[Head]: ...

    @abstractmethod
    async def forks_of(self, run_id: str) -> list[Head]:
        """The head rows of the runs forked from ``run_id`` (not of their own forks)."""

    @abstractmethod
    async def children_of(self, run_id: str) -> list[Head]:
        """The head rows of the child runs ``run_id`` started (``ctx.child``)."""

    @abstractmethod
    async def pending_heads(self, queue: str, limit: int) -> list[Head]:
        """The oldest runs of ``queue`` waiting for a worker (``engine.enqueue``)."""

    async def pending_logs(self, queue: str, limit: int) -> list[tuple[str, list[Event]]]:
        """The oldest pending runs of ``queue`` with their logs (a worker claims them at
        the position read); a store may read them in one query."""
        heads = await self.pending_heads(queue, limit)
        logs = await self.read_logs([h.run_id for h in heads])
        return [(h.run_id, logs[h.run_id]) for h in heads if h.run_id in logs]

    @abstractmethod
    async def unsettled_children(self) -> list[Head]:
        """Child runs whose parent may not know how they stand: settled no earlier than
        their parent's last change (news a crash kept from the parent), or not ended
        while their parent has. Extra rows are harmless (telling is idempotent)."""

    @abstractmethod
    async def renew_leases(self, owner_id: str, run_ids: list[str], until: float) -> None:
        """Extend the leases of these runs, where ``owner_id`` still holds them."""

    @abstractmethod
    async def block(self, run_id: str, error: str, length: int | None) -> bool:
        """Mark the run blocked (today's code cannot replay it) with ``error`` on its
        head row, unless its log holds more than ``length`` events by now (someone
        continued it meanwhile; None: no such check). Appends nothing. The next write
        of the head row clears it. True if the run was not blocked before."""

    @abstractmethod
    async def release(self, run_id: str, owner_id: str) -> bool:
        """Clear the run's owner where ``owner_id`` holds it: nobody executes it any more,
        so any engine may claim it at once. True if it was released."""

    @abstractmethod
    def changes(self) -> ChangeFeed:
        """A new feed of commits by anyone (see :class:`ChangeFeed`)."""

    # -- the read models ----------------------------------------------------------------
    @abstractmethod
    async def list_runs(self, f: ListingFilter) -> RunsPage:
        """From the runs index (as far as it has caught up)."""

    @abstractmethod
    async def list_suspended(self, f: ListingFilter) -> WaitingPage:
        """From the suspended-runs listing (always current: written with the events)."""

    @abstractmethod
    async def due_timers(self, until: float, workflows: Sequence[str], limit: int
                         ) -> list[DueTimer]:
        """Open timers of runs of ``workflows`` due at or before ``until`` (epoch
        seconds), soonest first; from the suspended-runs listing."""

    @abstractmethod
    async def catch_up(self, *, wait: bool = True) -> int:
        """Bring the runs index up to the end of the log; return how many events it applied.
        ``wait=False`` (the background catch-up): none, at once, if another engine is at
        it (PostgreSQL), rather than waiting for it and finding nothing left."""

    @abstractmethod
    async def view_status(self) -> list[ViewStatus]: ...

    @abstractmethod
    async def rebuild_views(self) -> None:
        """Drop both views and build them again from the logs."""

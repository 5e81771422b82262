"""Reading logs and snapshots, for every adapter: a fork's log, its original's first
events followed by its own; a snapshot at or before a position.

A fork does not copy its original's events: its own first event (``forked``)
names the original and the position it was taken at, and a read of the fork
from before that position reads them from the original (recursively: a fork of
a fork). A run with no own snapshot yet loads from its original's nearest one.
Snapshots are pruned to one per ``KEPT_SNAPSHOT_EVERY`` positions (and the
newest), so ``engine.state_at`` folds a few hundred events at most.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

from eventsourcing.persistence import IntegrityError, Mapper

from durable.bulk_decode import decode_rows
from durable.events import Event, EventType, Forked
from durable.fold import RunSnapshot
from durable.store.types import Head

KEPT_SNAPSHOT_EVERY = 1000


class LogReads:
    """The log-reading half of :class:`durable.store.recorder.RecorderStore`."""

    recorder: Any  # the library's application recorder, set by the adapter
    snapshots: Any  # the library's aggregate recorder for snapshots
    mapper: Mapper[str]

    async def _read(self, fn: Any, *args: Any) -> Any:
        raise NotImplementedError  # the store: ``fn`` on a reader thread

    async def _on_writer(self, fn: Any) -> Any:
        raise NotImplementedError  # the store: ``fn`` on its writer thread

    def _heads_sync(self, run_ids: list[str]) -> dict[str, Head]:
        raise NotImplementedError  # the adapter

    def _prune_snapshots_sync(self, run_id: str, since: int, below: int) -> None:
        """Delete the run's snapshots at positions in ``[since, below)``."""
        raise NotImplementedError

    def _select_rows_sync(self, run_id: str, after: int, upto: int | None = None,
                          limit: int | None = None) -> list[tuple[str, int, str, bytes]]:
        """The run's stored rows in ``(after, upto]``, as ``(run, position, topic, state)``."""
        return [(s.originator_id, s.originator_version, s.topic, s.state)
                for s in self.recorder.select_events(run_id, gt=after or None, lte=upto,
                                                     limit=limit)]

    async def read_events(self, run_id: str, after: int = 0, upto: int | None = None
                          ) -> list[Event]:
        return await self._read(self._read_events_sync, run_id, after, upto)  # type: ignore[no-any-return]

    def _own_events_sync(self, run_id: str, after: int, upto: int | None = None,
                         limit: int | None = None) -> list[Event]:
        """The events stored under the run's own id in ``(after, upto]`` (a fork's first
        events are its original's: see :meth:`_read_events_sync`)."""
        return decode_rows(self._select_rows_sync(run_id, after, upto, limit))

    def _read_events_sync(self, run_id: str, after: int, upto: int | None = None
                          ) -> list[Event]:
        return self._with_prefix(run_id, self._own_events_sync(run_id, after, upto), after,
                                 upto)

    def _with_prefix(self, run_id: str, own: list[Event], after: int, upto: int | None
                     ) -> list[Event]:
        """``own`` preceded by what the run's log shares with its original, if it is a
        fork whose log (in ``(after, upto]``) begins before its own first event."""
        if own and own[0].position == after + 1:
            return own  # (every run but a fork, and a fork read past its fork point)
        fork = _fork_of(own) or _fork_of(self._own_events_sync(run_id, 0, None, 1))
        if fork is None:
            return own
        limit = fork.fork_position if upto is None else min(upto, fork.fork_position)
        prefix = self._read_events_sync(fork.forked_from, after, limit) if after < limit else []
        for e in prefix:
            e.run_id = run_id
        return prefix + own

    async def read_logs(self, run_ids: Sequence[str]) -> dict[str, list[Event]]:
        if not run_ids:
            return {}
        return await self._read(self._read_logs_sync, list(run_ids))  # type: ignore[no-any-return]

    def _read_logs_sync(self, run_ids: list[str]) -> dict[str, list[Event]]:
        """One reader-thread hop for all; a store may read them in one query."""
        return {r: log for r in run_ids if (log := self._read_events_sync(r, 0))}

    async def read_run(self, run_id: str, upto: int | None = None
                       ) -> tuple[RunSnapshot | None, list[Event]]:
        return await self._read(self._read_run_sync, run_id, upto)  # type: ignore[no-any-return]

    def _read_snapshot_sync(self, run_id: str, upto: int | None = None) -> RunSnapshot | None:
        found = self.snapshots.select_events(run_id, lte=upto, desc=True, limit=1)
        return self.mapper.to_domain_event(found[0]) if found else None  # type: ignore[return-value]

    def _read_run_sync(self, run_id: str, upto: int | None = None
                       ) -> tuple[RunSnapshot | None, list[Event]]:
        # Events are never deleted, so a snapshot pruned between these two reads
        # still leaves every event after the one we read.
        snapshot = self._read_snapshot_sync(run_id, upto)
        after = snapshot.originator_version if snapshot is not None else 0
        own = self._own_events_sync(run_id, after, upto)
        if (own and own[0].position == after + 1) or (snapshot is not None and not own):
            return snapshot, own
        fork = _fork_of(own) or _fork_of(self._own_events_sync(run_id, 0, None, 1))
        if fork is None:
            return snapshot, own
        # A fork with no snapshot of its own yet: its original's nearest one, and the
        # original's events after it up to the fork point.
        limit = fork.fork_position if upto is None else min(upto, fork.fork_position)
        snapshot, prefix = self._read_run_sync(fork.forked_from, limit)
        for e in prefix:
            e.run_id = run_id
        return snapshot, prefix + own

    async def read_snapshots(self, run_ids: Sequence[str]) -> dict[str, RunSnapshot]:
        if not run_ids:
            return {}
        return await self._read(self._read_snapshots_sync, list(run_ids))  # type: ignore[no-any-return]

    def _read_snapshots_sync(self, run_ids: list[str]) -> dict[str, RunSnapshot]:
        """One reader-thread hop for all; a store may read them in one query."""
        return {r: s for r in run_ids if (s := self._read_snapshot_sync(r)) is not None}

    async def read_snapshot(self, run_id: str) -> RunSnapshot | None:
        return await self._read(self._read_snapshot_sync, run_id)  # type: ignore[no-any-return]

    async def save_snapshot(self, snapshot: RunSnapshot) -> None:
        await self._on_writer(lambda: self._save_snapshot_sync(snapshot))

    def _save_snapshot_sync(self, snapshot: RunSnapshot) -> None:
        # IntegrityError: that position was snapshotted already (another engine, a retry)
        with contextlib.suppress(IntegrityError):
            self.snapshots.insert_events([self.mapper.to_stored_event(snapshot)])
        # The newest snapshot of each stretch of KEPT_SNAPSHOT_EVERY positions is kept:
        # the older ones of the stretch this one is in go.
        at = snapshot.originator_version
        self._prune_snapshots_sync(snapshot.originator_id,
                                   at // KEPT_SNAPSHOT_EVERY * KEPT_SNAPSHOT_EVERY, at)
        # A snapshot folded before the run was redacted (another engine's, landing late)
        # would bring the erased payloads back: looked for after it is stored, so either
        # this sees the redaction, or the redaction (which drops every snapshot) follows.
        head = self._heads_sync([snapshot.originator_id]).get(snapshot.originator_id)
        if head is not None and head.redacted is not None:
            self._prune_snapshots_sync(snapshot.originator_id, at, at + 1)


def _fork_of(own: list[Event]) -> Forked | None:
    """The ``forked`` event a fork's own events begin with (None: not a fork)."""
    if own and own[0].type is EventType.FORKED:
        return own[0].payload  # type: ignore[no-any-return]
    return None

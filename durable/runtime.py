"""What an open engine holds, shared by its commands, its reads and its recovery.

The engine builds one :class:`Runtime` when it opens; the modules that do the
engine's jobs (``commands``, ``recovery``, ``reads``) take it, and none of them
imports the engine.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from durable.bulk import without_gc
from durable.codec import decode
from durable.errors import RunNotFound
from durable.events import Event
from durable.execution import Execution
from durable.fold import RunLog, fold
from durable.holding import Holding
from durable.options import Options
from durable.owner import Owner, holder_gone
from durable.recorded import blob_refs
from durable.registry import Registry
from durable.store.base import Store
from durable.store.types import Head
from durable.watch import Watcher
from durable.writer import Writer


@dataclass
class Runtime:
    store: Store
    writer: Writer
    registry: Registry
    holding: Holding
    watcher: Watcher
    options: Options
    owner: Callable[[], Owner]
    spawn: Callable[..., None]  # spawn(coro, name=...): a background task of the engine

    async def events(self, run_id: str) -> list[Event]:
        """The run's whole log; :class:`RunNotFound` if it has none."""
        events = await self.store.read_events(run_id)
        if not events:
            raise RunNotFound(run_id)
        return events

    async def load(self, run_id: str) -> RunLog:
        """The run folded from its latest snapshot and the events after it (fresh copy)."""
        snapshot, tail = await self.store.read_run(run_id)
        if snapshot is None and not tail:
            raise RunNotFound(run_id)
        return fold(tail, snapshot.load() if snapshot is not None else None)

    async def execution(self, run: RunLog, events: list[Event]) -> Execution:
        """An execution of a stored run, with the large results its log refers to."""
        wf = self.registry.get(run.workflow)
        refs = blob_refs(events)
        blobs: dict[str, Any] = {}
        if refs:
            stored = await self.store.read_blobs(refs)
            missing = [h for h in refs if h not in stored]
            if missing:
                raise RuntimeError(f"run {run.id!r}: stored results {missing} are missing")
            blobs = {h: decode(raw) for h, raw in stored.items()}
        with without_gc():
            return Execution(self.writer, wf, run, events, blobs)

    async def replayed(self, events: list[Event], run: RunLog | None = None
                       ) -> Execution:
        """The run replayed read-only to where its log ends (checks determinism)."""
        ex = await self.execution(run if run is not None else fold(events), events)
        try:
            with without_gc():  # a long log: many objects, no cycles (see durable.bulk)
                ex.replay()
        except BaseException:
            ex.close()
            raise
        return ex

    def holder_gone(self, head: Head) -> bool:
        """Nobody executes this run any more (see :func:`durable.owner.holder_gone`)."""
        return holder_gone(head, me=self.owner(), now=time.time(),
                           executing_here=head.run_id in self.holding.active)

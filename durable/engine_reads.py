"""The engine's calls about what runs did: one run, its history, the listings, and the
checks of a log (its chain, a replay against today's code).

A base of :class:`durable.engine.Engine`, kept apart from its lifecycle and its
commands; every call here goes to :class:`durable.reads.Reads`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from durable import replay_check
from durable.audit import audit_all
from durable.audit import seal as audit_seal
from durable.in_use import in_use as _in_use
from durable.paths import check_name
from durable.reads import Reads, make_filter
from durable.results import Audit, Event, Page, ReplayCheck, RunInfo
from durable.seal import Seal
from durable.store.types import ViewStatus


class RunReads:
    """The read calls of :class:`durable.engine.Engine`."""

    _calls: int
    _quiet: asyncio.Event

    def _runtime(self) -> Any:
        raise NotImplementedError  # the engine: its runtime, once open

    def _read(self) -> Reads:
        raise NotImplementedError  # the engine: its reads, once open

    @_in_use
    async def get_run(self, run_id: str) -> RunInfo:
        """The run as its log says now; :class:`RunNotFound` if there is none."""
        return await self._read().get_run(run_id)

    @_in_use
    async def history(self, run_id: str, *, after: int = 0, limit: int | None = None
                      ) -> list[Event]:
        """The run's log, oldest first: what follows position ``after``, at most ``limit``."""
        return await self._read().history(run_id, after, limit)

    @_in_use
    async def state_at(self, run_id: str, position: int) -> RunInfo:
        """The run as it stood after event number ``position`` (1-based)."""
        return await self._read().state_at(run_id, position)

    @_in_use
    async def verify(self, run_id: str) -> bool:
        """Check the run's tamper-evident chain: False if anything stored was altered
        (:meth:`audit` says where and why)."""
        return (await self._read().audit(run_id)).ok

    @_in_use
    async def audit(self, run_id: str, *, against: Seal | None = None) -> Audit:
        """Check the run's log: its hash chain, its head row, its large results and its
        snapshot, and (``against``) the length and head hash a seal recorded. ``first_bad``
        is the first altered, missing or reordered position, ``reason`` says why."""
        if against is not None and not isinstance(against, Seal):
            raise TypeError(f"against must be a Seal (engine.seal(), Seal.from_json()), "
                            f"not {type(against).__name__}")
        return await self._read().audit(run_id, against)

    @_in_use
    async def related_runs(self, run_id: str) -> dict[str, list[str]]:
        """The runs made from this one: ``{"children": [...], "forks": [...]}`` (ids,
        oldest first), for an inspector's links; the other direction is in ``RunInfo``
        (``parent_run_id``, ``forked_from``, ``continued_from``)."""
        store = self._runtime().store
        forks = sorted(await store.forks_of(run_id), key=lambda h: h.created_at)
        return {"children": [h.run_id for h in await store.children_of(run_id)],
                "forks": [h.run_id for h in forks]}

    @_in_use
    async def audit_all(self, *, against: Seal | None = None) -> list[Audit]:
        """:meth:`audit` of every run in the store, read many runs at a time (what
        ``durable runs verify --all`` does); with ``against``, a sealed run that is gone
        is not listed here: compare ``against.runs`` with the result."""
        return await audit_all(self._runtime(), against)

    @_in_use
    async def seal(self) -> Seal:
        """Every run's length and head hash now. Keep it outside the database: audited
        against it, a log cut short or rewritten together with its head is caught."""
        return await audit_seal(self._runtime())

    @_in_use
    async def check_replay(self, run_id: str) -> ReplayCheck:
        """Replay the run's whole log against today's code, read-only: calls no step and
        writes nothing; ``ok=False`` where the code would not reproduce the history, with
        the first diverging ``position`` and the ``logged`` and ``requested`` step ids."""
        return (await replay_check.check_runs(self._runtime(), [run_id]))[0]

    @_in_use
    async def check_replays(self, run_ids: Sequence[str] | None = None, *,
                            workflow: str | None = None) -> list[ReplayCheck]:
        """:meth:`check_replay` for many runs, their logs read in batches: the runs
        named, else every run of ``workflow``, else every run in the store (oldest
        first). Suspended, paused and unfinished runs are checked too."""
        rt = self._runtime()
        if run_ids is None:
            check_name("workflow", workflow, optional=True)
            run_ids = await replay_check.stored_runs(rt, workflow)
        return await replay_check.check_runs(rt, run_ids)

    @_in_use
    async def list_runs(
        self, *, status: str | None = None, workflow: str | None = None,
        resource_id: str | None = None, thread_id: str | None = None,
        from_date: date | datetime | None = None, to_date: date | datetime | None = None,
        blocked: bool | None = None, page: int = 0, per_page: int = 50,
    ) -> Page:
        """Runs, newest ``created_at`` first, from the runs index. ``from_date`` and
        ``to_date`` are inclusive: a datetime (UTC if naive), or a date for its whole
        day in UTC. ``blocked=True``: only the runs today's code could not replay in the
        background (``RunInfo.blocked``); ``False``: only the others."""
        f = make_filter(status, workflow, resource_id, thread_id, from_date, to_date, page,
                        per_page, blocked)
        return await self._read().list_runs(f)

    @_in_use
    async def list_suspended_runs(
        self, *, workflow: str | None = None, resource_id: str | None = None,
        thread_id: str | None = None, from_date: date | datetime | None = None,
        to_date: date | datetime | None = None, page: int = 0, per_page: int = 50,
    ) -> Page:
        """Runs with open suspensions, newest ``suspended_at`` first (from the listing);
        dates as in :meth:`list_runs`, on ``suspended_at``."""
        f = make_filter(None, workflow, resource_id, thread_id, from_date, to_date, page, per_page)
        return await self._read().list_suspended(f)

    @_in_use
    async def projections(self) -> list[ViewStatus]:
        """Where each read model stands: its position in the log, and its lag."""
        return await self._read().projections()

    @_in_use
    async def rebuild_projections(self) -> list[ViewStatus]:
        """Drop the read models and build them again from the logs, while runs go on."""
        return await self._read().rebuild_projections()

"""Runs whose holder stopped: claiming them, and keeping this engine's own claims fresh.

A run left ``running`` by a holder that stopped (its process died, or it
released the run) is claimed with a ``recovered`` event appended at the
position its log ends: of several engines racing to recover it, one wins, and
a slow old holder that still lives loses its next append (it is fenced by the
log, not trusted to stop). The run is replayed read-only before the claim, so
a run that today's code cannot replay is left untouched, marked blocked
(:mod:`durable.blocking`) until code that replays it claims it.
"""

from __future__ import annotations

import asyncio
import time

from durable.blocking import block
from durable.errors import NonDeterminismError, PositionConflict
from durable.events import EventType, Recovered, Status
from durable.execution import Execution
from durable.fold import fold
from durable.logs import get_logger
from durable.runtime import Runtime
from durable.store.types import Head

log = get_logger("durable")


async def recover(rt: Runtime, limit: int | None = None) -> list[str]:
    """Claim runs that nobody executes (at most ``limit``: a worker takes no more than
    it has room for) and continue them as background tasks."""
    claimed: list[str] = []
    await rt.holding.releases_done()  # runs this engine just stopped executing count too
    for head in await rt.store.running_heads():
        if limit is not None and len(claimed) >= limit:
            break
        if head.run_id in rt.holding.active or not rt.holder_gone(head):
            continue
        if head.workflow not in rt.registry:
            log.warning("recover_skipped_unknown_workflow", run_id=head.run_id,
                        workflow=head.workflow)
            continue
        ex = await claim(rt, head)
        if ex is None:
            continue
        claimed.append(head.run_id)
        rt.holding.drive_later(ex, "durable-recovered")
    return claimed


async def claim(rt: Runtime, head: Head) -> Execution | None:
    """Replay the run read-only, then claim it with a ``recovered`` event.

    On success the caller holds the run's lock in this engine and must release
    it. None: a command of this engine is at work on the run, the run settled since
    ``head`` was read (its holder lives), another engine claimed it first, or
    today's code cannot replay it (logged).
    """
    run_id = head.run_id
    if not await rt.holding.locks.try_acquire(run_id):
        return None  # a command of this engine is at work on it
    ex: Execution | None = None
    try:
        if run_id in rt.holding.active:
            raise _Moved
        events = await rt.events(run_id)
        run = fold(events)
        if run.status != Status.RUNNING:  # it settled meanwhile: its holder lives
            raise _Moved
        ex = await rt.replayed(events, run)
        await ex.claim([(EventType.RECOVERED,
                         Recovered(owner=rt.owner().id, previous=head.owner_id))])
        ex.recorded.interrupted += 1
    except BaseException as e:
        rt.holding.locks.release(run_id)
        if ex is not None:
            ex.close()
        if isinstance(e, _Moved | PositionConflict):
            return None
        if isinstance(e, NonDeterminismError):  # marked blocked; tried again next time
            await block(rt, e, "recover")
            return None
        if isinstance(e, Exception):
            log.error("recover_failed", run_id=run_id, exc_info=True)
            return None
        raise
    log.info("run_claimed", run_id=run_id, previous=head.owner_id)
    return ex


class _Moved(Exception):
    pass


async def keep_leases(rt: Runtime) -> None:
    """While the engine is open: extend the leases of the runs it executes, and release
    any run whose head still names it but that it no longer executes (a release that
    failed when the database was unreachable, say)."""
    lease = rt.options.lease_seconds
    while True:
        await asyncio.sleep(lease / 3)
        me = rt.owner().id
        try:
            await rt.store.renew_leases(me, list(rt.holding.active), time.time() + lease)
            for head in await rt.store.running_heads():
                if head.owner_id == me and head.run_id not in rt.holding.active:
                    await rt.holding.release(head.run_id)
        except Exception:
            log.warning("lease_renewal_failed", exc_info=True)

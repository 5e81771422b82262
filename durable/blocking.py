"""Blocked runs: what the engine's own background work does with a run today's code
cannot replay (decision 0013).

A recovery, a timer falling due, a worker's claim and a child's news for its parent
all replay the run read-only before they append. When that replay raises
:class:`NonDeterminismError`, the run is not failed (the code is wrong, not the run)
and nothing is appended to its log: it is marked blocked on its head row, with the
error, and listed as such (``RunInfo.blocked``, ``list_runs(blocked=True)``). The
background work keeps trying it (a worker's next pass, the next ``recover()``, a
timer a minute later, any engine that opens); once code that replays it is
deployed, one of them continues it, and the append that does so rewrites the head
row, which clears the mark.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from durable.errors import NonDeterminismError
from durable.logs import get_logger

if TYPE_CHECKING:
    from durable.runtime import Runtime

log = get_logger("durable")


async def block(rt: Runtime, error: NonDeterminismError, by: str) -> None:
    """Mark ``error.run_id`` blocked (``by``: the background work that met it), unless
    its log moved past what the replay read. Never raises: the run is left as it was."""
    try:
        newly = await rt.store.block(error.run_id, str(error), error.length)
    except Exception:  # the database is down: the next attempt marks it
        log.warning("run_block_not_recorded", run_id=error.run_id, exc_info=True)
        return
    if newly:
        log.error("run_blocked", run_id=error.run_id, by=by, position=error.position,
                  logged=error.logged, requested=error.requested, error=str(error))
    else:
        log.debug("run_still_blocked", run_id=error.run_id, by=by)

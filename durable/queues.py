"""Queues and workers: runs submitted without executing them, claimed by workers.

``engine.enqueue`` writes a run's ``started`` event with its queue (and key): the
run is ``pending`` and held by nobody. A worker (``engine.work``) claims the
oldest pending runs of its queues by appending ``claimed`` at the position it
read, in a transaction that also checks the queue's limits (``concurrency``
runs executing at once across all workers, ``per_key`` per key): two workers
cannot both claim a run (one append wins), and a full queue refuses the claim
(as a conflict, written nowhere). The claimed run then executes like any other:
its holder renews its lease, and a holder that dies leaves it for ``recover()``.

Limits live in the code: every process declares its queues the same way
(``engine.queue(name, concurrency=, per_key=)``), and a claim is checked against
the claiming worker's declaration.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from typing import Any

from durable.blocking import block
from durable.errors import NonDeterminismError, PositionConflict, RunAlreadyStarted
from durable.events import Claimed, Event, EventType, Status
from durable.execution import Execution
from durable.fold import fold
from durable.logs import get_logger
from durable.paths import check_name
from durable.runtime import Runtime
from durable.starts import started_data
from durable.store.types import Head, QueueGuard

log = get_logger("durable")
worker_log = get_logger("durable.worker")  # one line per run taken (API.md)

DEFAULT = "default"
RECOVER_EVERY = 5.0  # most seconds between a worker's recovery passes (see work())
# A worker reads twice the oldest runs it has room for: one taken by another worker
# meanwhile leaves it the next ones in the same pass.
SPREAD, MAX_CANDIDATES = 2, 64


@dataclass(frozen=True)
class Queue:
    """A declared queue: ``concurrency`` caps its runs executing at once across all
    workers, ``per_key`` caps those sharing a ``key``; None: no cap."""

    name: str
    concurrency: int | None = None
    per_key: int | None = None

    def guard(self, key: str | None) -> QueueGuard:
        return QueueGuard(self.name, self.concurrency, key, self.per_key)


class Queues:
    """The queues an engine declared (``"default"`` exists unconfigured)."""

    def __init__(self) -> None:
        self._queues: dict[str, Queue] = {DEFAULT: Queue(DEFAULT)}

    def declare(self, name: str, concurrency: int | None, per_key: int | None) -> Queue:
        check_name("a queue name", name)
        for what, value in (("concurrency", concurrency), ("per_key", per_key)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                      or value < 1):
                raise ValueError(f"a queue's {what} is a positive whole number or None, "
                                 f"not {value!r}")
        queue = Queue(name, concurrency, per_key)
        self._queues[name] = queue
        return queue

    def get(self, name: str) -> Queue:
        return self._queues.get(name) or Queue(name)

    def names(self) -> list[str]:
        return list(self._queues)


async def enqueue(
    rt: Runtime, workflow: str, input: Any, *, queue: str, key: str | None, run_id: str,
    resource_id: str | None, thread_id: str | None, initial_state: dict[str, Any] | None,
    request_context: dict[str, Any] | None,
) -> None:
    """Write the run's ``started`` event, pending in ``queue``. A run id that exists
    already is left as it is (an idempotent submit), unless it is another workflow's."""
    wf = rt.registry.get(workflow)
    check_name("a queue name", queue)
    check_name("a queue key", key, optional=True)
    data = started_data(wf.name, wf.version, input, initial_state, request_context,
                        resource_id, thread_id, queue=queue, key=key)
    try:
        await rt.writer.start(run_id, data, hold=False)
    except PositionConflict:
        head = await rt.store.read_head(run_id)
        if head is not None and head.workflow != wf.name:
            raise ValueError(f"run {run_id!r} exists and belongs to workflow "
                             f"{head.workflow!r}, not {wf.name!r}") from None


async def claim(rt: Runtime, head: Head | str, queue: Queue,
                events: list[Event] | None = None) -> Execution | None:
    """Claim a pending run for this engine within its queue's limits: replayed, with
    ``claimed`` in its log (at the end of ``events`` if given: its log as read, else
    read now). None: taken by another worker, no longer pending, or no room in its
    queue. On success the caller holds the run's lock."""
    run_id = head if isinstance(head, str) else head.run_id
    if not await rt.holding.locks.try_acquire(run_id):
        return None
    ex: Execution | None = None
    try:
        if events is None:
            events = await rt.store.read_events(run_id)
        run = fold(events)
        if run.status != Status.PENDING or run.workflow not in rt.registry:
            raise RunAlreadyStarted(run_id, run.status)
        ex = await rt.replayed(events, run)
        await ex.claim([(EventType.CLAIMED, Claimed(owner=rt.owner().id, queue=queue.name))],
                       guard=queue.guard(run.queue_key))
    except (PositionConflict, RunAlreadyStarted, NonDeterminismError) as e:
        if ex is not None:
            ex.close()
        rt.holding.locks.release(run_id)
        if isinstance(e, NonDeterminismError):  # marked blocked; claimed once it replays
            await block(rt, e, f"queue {queue.name}")
        return None
    except BaseException:
        if ex is not None:
            ex.close()
        rt.holding.locks.release(run_id)
        raise
    worker_log.info("run_taken", run_id=run_id, workflow=run.workflow, queue=queue.name)
    return ex


async def work(rt: Runtime, queues: Queues, names: list[str] | None, concurrency: int,
               poll: float, recover: Any, grace: float = 0.0) -> None:
    """Be a worker until cancelled: claim pending runs of ``names`` (all declared queues
    if None) while fewer than ``concurrency`` of them execute here, recover runs whose
    holder died every few seconds, and (as every open engine does) fire due timers.

    Cancelled, it stops claiming, gives the runs executing here ``grace`` seconds to
    settle, and releases the others where they stand (any engine claims them)."""
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise ValueError(f"a worker's concurrency is a positive whole number, not {concurrency!r}")
    mine: set[asyncio.Task[None]] = set()
    recovered: set[str] = set()  # runs this worker recovered (they count as its own)
    loop = asyncio.get_running_loop()
    next_recovery = 0.0
    look = asyncio.Event()  # set when a run of this worker settles, or a poll is due
    try:
        while True:
            recovered.intersection_update(rt.holding.active)  # those still executing here
            if loop.time() >= next_recovery:
                free = concurrency - len(mine) - len(recovered)
                with contextlib.suppress(Exception):
                    if free > 0:
                        recovered.update(await recover(limit=free))
                # A holder on another host is dead once its lease lapsed: look at least
                # twice a lease, so its runs are taken over soon after.
                next_recovery = loop.time() + min(RECOVER_EVERY, rt.options.lease_seconds / 2)
            try:
                took = await _take(rt, queues, names, concurrency - len(recovered), mine, look)
            except Exception:  # the database is down, say: look again in a moment
                worker_log.warning("worker_claim_failed", exc_info=True)
                took = False
            if not took:  # until a slot frees here, or the next poll (work enqueued elsewhere)
                alarm = loop.call_later(poll, look.set)
                try:
                    await look.wait()
                finally:
                    alarm.cancel()
                look.clear()
    except asyncio.CancelledError:
        if grace > 0 and mine:
            await asyncio.wait(mine, timeout=grace)
        raise
    finally:
        for task in mine:
            task.cancel()
        await asyncio.gather(*mine, return_exceptions=True)


async def _take(rt: Runtime, queues: Queues, names: list[str] | None, concurrency: int,
                mine: set[asyncio.Task[None]], look: asyncio.Event) -> bool:
    """One pass over the queues: claim what fits. True if anything was taken."""
    loop = asyncio.get_running_loop()
    took = False
    for name in names if names is not None else queues.names():
        free = concurrency - len(mine)
        if free <= 0:
            break
        queue = queues.get(name)
        # Each run with its log, read in one query: the claim is appended at the
        # position read, so a run claimed or changed since loses the race (a conflict).
        # Oldest first. A refused claim of a limited queue ends the pass for the queue
        # (or for the key): it is full, or another worker is at it; a younger run must
        # not go first, and each refusal is a transaction under the write lock.
        found = await rt.store.pending_logs(name, min(free * SPREAD, MAX_CANDIDATES))
        full: set[str | None] = set()
        for run_id, events in found:
            if len(mine) >= concurrency:
                break
            key = getattr(events[0].payload, "key", None) if events else None
            if key in full:
                continue
            ex = await claim(rt, run_id, queue, events)
            if ex is None:
                if queue.concurrency is not None:
                    break
                if queue.per_key is not None:
                    full.add(key)
                continue
            took = True
            task = loop.create_task(_execute(rt, ex), name=f"durable-work:{ex.run_id}")
            mine.add(task)
            task.add_done_callback(mine.discard)
            task.add_done_callback(lambda _: look.set())
    return took


async def _execute(rt: Runtime, ex: Execution) -> None:
    """Drive a claimed run until it settles (the claim took its lock)."""
    try:
        outcome = await rt.holding.drive(ex)
        # One line per run taken (API.md); how it settled is in its log, and is news
        # here only when another engine took the run over (this one was fenced).
        (worker_log.debug if outcome else worker_log.warning)(
            "run_settled", run_id=ex.run_id, status=outcome or "taken elsewhere")
    except Exception:
        log.error("worker_run_failed", run_id=ex.run_id, exc_info=True)
    finally:
        rt.holding.locks.release(ex.run_id)

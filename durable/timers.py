"""Durable timers: every open engine fires the due timers of its workflows' runs.

A timer is an open suspension of kind ``timer`` whose ``suspended`` event
records its due time; the suspended-runs listing keeps one row per open timer,
by due time, in the transaction that appends the event, and drops it in the one
that fires, cancels or finishes the run. No task or coroutine waits for a timer.
Each engine looks for due timers of the workflows it has registered when it
opens, whenever a timer it wrote falls due, and every ``timer_poll`` seconds
(timers written by other engines), and fires each one as a resume would: the
run is replayed read-only first (a ``NonDeterminismError`` appends nothing and
marks the run blocked: :mod:`durable.blocking`),
then ``timer_fired`` is appended at the position the engine read. Two engines
firing one timer race on that position; the log lets one win, and the other
finds the suspension closed and lets it be.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from durable import deliveries
from durable.blocking import block
from durable.errors import EngineClosed, NonDeterminismError, NotSuspended, RunNotFound
from durable.events import Event
from durable.logs import get_logger

if TYPE_CHECKING:
    from durable.runtime import Runtime

log = get_logger("durable")

BATCH = 1000  # due timers read per look
IN_FLIGHT = 512  # timers being replayed and claimed at once by one engine
BLOCKED_RETRY = 60.0  # seconds before a timer whose run would not replay is tried again
PAUSED_RETRY = 5.0  # seconds before a timer of a paused run is looked at again


class Timers:
    def __init__(self, rt: Runtime, poll: float) -> None:
        self.rt = rt
        self.poll = poll
        self._wake = asyncio.Event()
        self._soon: list[float] = []  # due times of timers written here (a heap)
        self._firing: dict[tuple[str, str], asyncio.Task[None]] = {}
        self._blocked: dict[tuple[str, str], float] = {}  # -> when to try again
        self._slots = asyncio.Semaphore(IN_FLIGHT)
        self._task: asyncio.Task[None] | None = None

    def open(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="durable-timers")

    async def stop(self) -> None:
        """Look no more (the engine is closing); timers being fired go on."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def close(self) -> None:
        """Once the engine's runs have stopped: wait for the firings to end."""
        await self.stop()
        await asyncio.gather(*self._firing.values(), return_exceptions=True)

    @property
    def firing(self) -> int:
        """Timers being fired right now (their runs' appends share commits)."""
        return len(self._firing)

    def due_at(self, due: float) -> None:
        """A timer due at ``due`` was written here: look for it then, not a poll later."""
        if not self._soon or due < self._soon[0]:
            self._wake.set()
        heapq.heappush(self._soon, due)

    async def _run(self) -> None:
        while True:
            try:
                more = await self._look()
            except asyncio.CancelledError:
                raise
            except Exception:  # the database is unreachable: try again next time
                log.warning("timers_look_failed", exc_info=True)
                more = False
            if more:  # a full batch: there may be more due right now
                await asyncio.sleep(0)
                continue
            await self._sleep()

    async def _sleep(self) -> None:
        """Until the next poll, or until a timer written here falls due."""
        now = time.time()
        while self._soon and self._soon[0] <= now:  # looked at already
            heapq.heappop(self._soon)
        timeout = self.poll
        if self._soon:
            timeout = min(timeout, self._soon[0] - now)
        self._wake.clear()
        # Not asyncio.wait_for: on 3.11 it can swallow the task's own cancellation.
        alarm = asyncio.get_running_loop().call_later(timeout, self._wake.set)
        try:
            await self._wake.wait()
        finally:
            alarm.cancel()

    async def _look(self) -> bool:
        workflows = [w.name for w in self.rt.registry.all()]
        if not workflows:
            return False
        now = time.time()
        if self._blocked:
            self._blocked = {k: t for k, t in self._blocked.items() if t > now}
        # Past the ones being fired (their rows go once they have fired).
        limit = BATCH + len(self._firing)
        due = await self.rt.store.due_timers(now, workflows, limit)
        # The logs of the runs to fire that are not in memory here, read together.
        holding = self.rt.holding
        logs = await self.rt.store.read_logs(list({
            t.run_id for t in due if t.run_id not in holding.parked
            and t.run_id not in holding.active and (t.run_id, t.path_key) not in self._firing}))
        started = 0
        for t in due:
            key = (t.run_id, t.path_key)
            if key in self._firing or self._blocked.get(key, 0.0) > now:
                continue
            await self._slots.acquire()
            task = asyncio.get_running_loop().create_task(
                self._fire(t.run_id, t.path_key, logs.pop(t.run_id, None)),
                name=f"durable-timer:{t.run_id}")
            self._firing[key] = task
            task.add_done_callback(self._forget(key))
            started += 1
        return len(due) == limit and started > 0

    def _forget(self, key: tuple[str, str]) -> Callable[[asyncio.Task[None]], None]:
        def forget(_: asyncio.Task[None]) -> None:
            self._firing.pop(key, None)
        return forget

    async def _fire(self, run_id: str, key: str, events: list[Event] | None) -> None:
        """Fire one timer. Its slot is given back once ``timer_fired`` is in the log: the
        run may then execute on here for as long as it likes."""
        slot = [True]

        def fired() -> None:
            if slot:
                slot.clear()
                self._slots.release()

        try:
            await deliveries.fire_timer(self.rt, run_id, key, fired, events)
        except (RunNotFound, EngineClosed):
            pass  # the run is gone, or this engine is closing
        except NotSuspended:
            # Fired by another engine or the run moved on (its row is gone), or the run is
            # paused: its timer fires once it is continued and waits there again.
            self._blocked[(run_id, key)] = time.time() + PAUSED_RETRY
        except NonDeterminismError as e:  # marked blocked; the timer is tried again later
            self._blocked[(run_id, key)] = time.time() + BLOCKED_RETRY
            await block(self.rt, e, f"timer {key}")
        except Exception:
            self._blocked[(run_id, key)] = time.time() + BLOCKED_RETRY
            log.warning("timer_failed", run_id=run_id, step_id=key, exc_info=True)
        finally:
            fired()

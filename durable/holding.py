"""The runs this engine holds: executing now, or parked for a hot resume.

Driving a run is the only way one executes here, and it always ends in one of
two ways: the run settled (succeeded, failed, cancelled, suspended, paused)
and the log says so, or the driver stopped for another reason (its caller was
cancelled, the engine closed, the database failed, another engine took the
run) and the run is released: the head row stops naming this engine, so any
engine may claim it at once. This engine never leaves a run ``running`` with
nobody executing it.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Callable

import structlog

from durable.errors import EngineClosed, PositionConflict
from durable.events import Status
from durable.execution import Execution
from durable.logs import get_logger
from durable.run_locks import RunLocks
from durable.writer import Writer

log = get_logger("durable")


class Holding:
    def __init__(
        self, writer: Writer, *, max_parked: int,
        spawn: Callable[..., None],  # spawn(coro, name): a background task of the engine
        busy: Callable[[], None] = lambda: None,
    ) -> None:
        self.writer = writer
        self.max_parked = max_parked
        self.spawn = spawn
        self.busy = busy  # called when a run starts executing here (the watcher looks)
        self.locks = RunLocks()  # commands on one run take turns in this engine
        self.active: dict[str, Execution] = {}
        self.parked: OrderedDict[str, Execution] = OrderedDict()
        self._idle = asyncio.Event()
        self._idle.set()
        self.closing = False  # stop_all() began: no run starts executing here any more
        self._releasing: set[str] = set()
        self._released = asyncio.Event()
        # Told each run with a parent or children that settled here (its parent hears of
        # it; see durable.children): it starts a background task, never awaited here.
        self.settled: Callable[[str], None] | None = None

    async def drive(self, ex: Execution) -> str | None:
        """Execute ``ex`` until the run settles; the caller holds the run's lock.

        Returns the outcome (``"suspended"``, ``"succeeded"`` ...), or None when
        another engine took the run (the log says what became of it). Any other
        way out raises, after the run was released.
        """
        run_id = ex.run_id
        if self.closing:  # claimed as the engine closes: hand it back at once
            self.active.pop(run_id, None)
            if not self.active:
                self._idle.set()
            ex.close()
            self._release_soon(run_id)
            raise EngineClosed(run_id)
        self.active[run_id] = ex
        self._idle.clear()
        self.busy()
        try:
            with structlog.contextvars.bound_contextvars(run_id=run_id, workflow=ex.wf.name):
                outcome = await ex.advance()
        except PositionConflict:
            ex.close()
            log.info("run_lost_to_another_engine", run_id=run_id)
            self._release_soon(run_id)  # a no-op unless the head still names us
            return None
        except BaseException:
            ex.close()
            self._release_soon(run_id)
            raise
        finally:
            del self.active[run_id]
            if not self.active:
                self._idle.set()
        self.ended(ex)
        if outcome in (Status.SUSPENDED, Status.PAUSED):
            self.park(ex)
        elif ex.continued is not None and ex.continued[0].run.status != Status.PENDING:
            # ctx.continue_as_new: the new run executes here (an enqueued one: a worker's)
            tail, started = ex.continued
            new = Execution(self.writer, ex.wf, tail.run, [started])
            if await self.locks.try_acquire(new.run_id):
                try:
                    new.replay()  # nothing recorded yet: runs the workflow to its first requests
                except Exception:  # left running unheld here: the lease sweep releases it
                    self.locks.release(new.run_id)
                    log.error("continued_run_failed", run_id=new.run_id, exc_info=True)
                else:
                    self.drive_later(new, "durable-continued")
        return outcome

    def ended(self, ex: Execution) -> None:
        """The run ended here without being driven (the answer that claimed it ended it:
        see ``commands.take_over``): its parent and children hear of it."""
        if self.settled is not None and (ex.run.parent_run_id or ex.run.children):
            self.settled(ex.run_id)

    def drive_later(self, ex: Execution, name: str) -> None:
        """Drive ``ex`` in a background task; the caller took its lock, which the task
        lets go of. It counts as executing here from now on."""
        self.reserve(ex)
        self.spawn(self._drive_then_release(ex), name)

    async def _drive_then_release(self, ex: Execution) -> None:
        try:
            await self.drive(ex)
        except EngineClosed:
            pass  # released: any engine may continue it
        except Exception:
            log.error("background_run_failed", run_id=ex.run_id, exc_info=True)
        finally:
            self.locks.release(ex.run_id)

    def let_go(self, run_id: str) -> None:
        """This engine claimed the run and will not execute it (its caller gave up while
        the claim was written): release it, so that any engine may claim it at once."""
        self._release_soon(run_id)

    def _release_soon(self, run_id: str) -> None:
        """Release off the driver's path: its caller may be cancelled, and it holds the
        run's lock until it unwinds."""
        self._releasing.add(run_id)
        self._released.clear()

        async def release() -> None:
            try:
                await self.release(run_id)
            finally:
                self._releasing.discard(run_id)
                if not self._releasing:
                    self._released.set()

        self.spawn(release())

    async def releases_done(self) -> None:
        """Return once the releases this engine has begun are written."""
        if self._releasing:
            await self._released.wait()

    def reserve(self, ex: Execution) -> None:
        """A run claimed here, to be driven by a task about to start: it counts as
        executing here from now on."""
        self.active[ex.run_id] = ex
        self._idle.clear()

    async def release(self, run_id: str) -> None:
        """Tell every engine that this one no longer executes the run."""
        async with self.locks.hold(run_id):  # a new driver of the run here goes first
            if run_id in self.active:
                return
            try:
                await self.writer.release(run_id)
            except Exception:  # the database is down: the lease sweep tries again
                log.warning("release_failed", run_id=run_id, exc_info=True)

    def park(self, ex: Execution) -> None:
        if self.max_parked <= 0:
            ex.close()
            return
        ex.park()
        self.parked[ex.run_id] = ex
        self.parked.move_to_end(ex.run_id)
        while len(self.parked) > self.max_parked:
            _, old = self.parked.popitem(last=False)
            old.close()

    def unpark(self, run_id: str) -> Execution | None:
        ex = self.parked.pop(run_id, None)
        if ex is not None and ex.dead:
            ex.close()
            return None
        return ex

    def forget(self, run_id: str) -> None:
        """Whatever this engine keeps of the run may be stale."""
        ex = self.parked.pop(run_id, None)
        if ex is not None:
            ex.close()

    async def stop_all(self) -> None:
        """The engine closes: every run executing here stops where it stands, and none
        starts from now on."""
        self.closing = True
        for ex in list(self.active.values()):
            ex.stop()
        await self._idle.wait()
        for ex in self.parked.values():
            ex.close()
        self.parked.clear()

"""The engine: registered workflows on one store, and the runs it executes.

This module is the public face and the lifecycle (open, close, the background
tasks). The jobs live in modules named after them: :mod:`durable.commands`
(start, resume, cancel, pause), :mod:`durable.reads` (runs, history, listings,
verify), :mod:`durable.recovery` (claiming runs whose holder stopped), over
one :class:`~durable.writer.Writer`, the only code that appends to a log.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Coroutine
from types import TracebackType
from typing import Any

from durable import children, commands, deliveries, recovery
from durable import queues as queueing
from durable.engine_history import RunHistory
from durable.errors import StoreUnavailable
from durable.holding import Holding
from durable.in_use import in_use as _in_use
from durable.logs import get_logger
from durable.options import Options
from durable.owner import Owner
from durable.paths import Path, check_name
from durable.reads import Reads, keep_projected
from durable.registry import Registry, WorkflowDef, WorkflowFn
from durable.results import (
    EngineStats,
    RunInfo,
    RunResult,
    WorkflowInfo,
)
from durable.run import Run
from durable.runtime import Runtime
from durable.store import Store, open_store, resolve_url
from durable.timers import Timers
from durable.watch import Watcher
from durable.writer import Writer

log = get_logger("durable")

__all__ = ["Engine", "Run", "WorkflowDef"]


class Engine(RunHistory):
    """An event-sourced durable execution engine on one store.

    >>> engine = Engine("sqlite:///orders.db")
    >>> @engine.workflow("approve-order")
    ... async def approve(ctx, order): ...

    Options (see :class:`durable.options.Options`): ``lease_seconds``,
    ``max_parked``, ``max_cached_runs``, ``snapshot_every``, ``blob_threshold``,
    ``synchronous`` (SQLite), ``project_every``, ``pool_size`` (PostgreSQL). An
    unknown option is a ``TypeError`` naming the valid ones.

    Making an engine does no I/O and takes no identity: it opens its store and
    takes its owner identity (host, pid, process start time) in :meth:`open`,
    so an engine made at import and then forked is a new owner in each child.
    """

    def __init__(self, url: str | None = None, **options: Any) -> None:
        self.url = resolve_url(url)
        self.options = Options.from_kwargs(options)
        self.store: Store = open_store(self.url, synchronous=self.options.synchronous,
                                       pool_size=self.options.pool_size)
        self._registry = Registry()
        self._queues = queueing.Queues()
        self._owner: Owner | None = None
        self._rt: Runtime | None = None
        self._reads: Reads | None = None
        self._timers: Timers | None = None
        self._background: set[asyncio.Task[Any]] = set()
        self._working: set[asyncio.Task[None]] = set()  # the loops of work() calls
        self._loops: list[asyncio.Task[None]] = []
        self._closing = False
        self._calls = 0  # calls in progress (see _in_use)
        self._quiet = asyncio.Event()
        self._quiet.set()

    # -- lifecycle ---------------------------------------------------------------------
    @property
    def is_open(self) -> bool:
        return self._rt is not None

    @property
    def owner(self) -> Owner:
        """This engine's identity while it is open (what head rows name as holder)."""
        if self._owner is None:
            raise RuntimeError("the engine is not open: it takes its identity when it opens")
        return self._owner

    async def open(self) -> Engine:
        if self._rt is not None:
            return self
        try:
            await self.store.open()
        except Exception as e:
            await self.store.close()
            raise StoreUnavailable(self.url, e) from e
        self._owner = Owner.this_process()
        o = self.options
        holding: Holding
        writer = Writer(self.store, lambda: self.owner, lease_seconds=o.lease_seconds,
                        snapshot_every=o.snapshot_every, blob_threshold=o.blob_threshold,
                        alone=lambda: len(holding.active) + self._firing() <= 1,
                        spawn=self._spawn)
        watcher = Watcher(self.store, lambda: holding.active)
        holding = Holding(writer, max_parked=o.max_parked, spawn=self._spawn,
                          busy=watcher.kick)
        self._rt = Runtime(self.store, writer, self._registry, holding, watcher, o,
                           lambda: self.owner, self._spawn)
        self._reads = Reads(self._rt)
        self._timers = Timers(self._rt, o.timer_poll)
        writer.on_due = self._timers.due_at
        rt = self._rt
        writer.run_child = lambda parent, req: children.run_child(rt, parent, req)
        holding.settled = lambda run_id: self._spawn(children.settled(rt, run_id),
                                                     name="durable-child-news")
        watcher.open()
        self._timers.open()
        loop = asyncio.get_running_loop()
        self._loops = [loop.create_task(recovery.keep_leases(self._rt), name="durable-leases"),
                       loop.create_task(keep_projected(self.store, o.project_every),
                                        name="durable-projector")]
        return self

    async def close(self) -> None:
        """Stop every run executing here (each is left for any engine to continue), let
        the calls in progress end, then close the store."""
        rt = self._rt
        if rt is None or self._closing:
            return
        self._closing = True
        try:
            for task in self._working:  # workers stop claiming; their work() calls return
                task.cancel()
            await asyncio.gather(*self._working, return_exceptions=True)
            if self._timers is not None:
                await self._timers.stop()  # no timer fires from here on
            await rt.holding.stop_all()  # drivers stop; none may start from here on
            await rt.watcher.close()  # callers waiting for runs elsewhere stop waiting
            await self._quiet.wait()  # calls in progress end (their runs released)
            while self._background:  # releases, snapshots, recovered runs winding down
                await asyncio.gather(*self._background, return_exceptions=True)
            if self._timers is not None:
                await self._timers.close()
                self._timers = None
            for task in self._loops:
                task.cancel()
            await asyncio.gather(*self._loops, return_exceptions=True)
            self._rt = self._reads = None
            await self.store.close()
        finally:
            self._closing = False

    async def __aenter__(self) -> Engine:
        return await self.open()

    async def __aexit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    def stats(self) -> EngineStats:
        """How many runs this engine executes, keeps parked and caches, right now."""
        rt = self._runtime()
        assert self._reads is not None
        return EngineStats(executing=len(rt.holding.active), parked=len(rt.holding.parked),
                           cached_runs=self._reads.cached, background=len(self._background))

    def executing(self) -> list[str]:
        """The ids of the runs executing in this engine right now."""
        return list(self._runtime().holding.active)

    @_in_use
    async def flush(self) -> None:
        """Wait for the work this engine does off the request path (snapshots, releases)
        to finish; runs it continues in the background (recovered ones) are not waited for."""
        while pending := [t for t in self._background if not t.done()
                          and t.get_name() not in ("durable-recovered", "durable-continued")]:
            await asyncio.gather(*pending, return_exceptions=True)

    def _firing(self) -> int:
        return self._timers.firing if self._timers is not None else 0

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str = "durable-background") -> None:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _runtime(self) -> Runtime:
        if self._rt is None or self._closing:
            raise RuntimeError(
                "the engine is not open: use 'async with engine:' or 'await engine.open()'"
            )
        if self._rt.owner().pid != os.getpid():
            raise RuntimeError(
                f"this engine was opened in process {self._rt.owner().pid} and this is process "
                f"{os.getpid()} (a fork): open engines cannot cross a fork. Make the engine "
                "before forking if you like, but open it in each process"
            )
        return self._rt

    def _read(self) -> Reads:
        self._runtime()
        assert self._reads is not None
        return self._reads

    # -- workflows ----------------------------------------------------------------------
    def workflow(
        self, name: str, *, version: str | None = None, webhook_secret: str | None = None
    ) -> Callable[[WorkflowFn], WorkflowFn]:
        """Register ``async def fn(ctx, input)`` under ``name``."""

        def register(fn: WorkflowFn) -> WorkflowFn:
            self._registry.register(name, fn, version=version, webhook_secret=webhook_secret)
            return fn

        return register

    def workflows(self) -> list[WorkflowInfo]:
        """The registered workflows: name, version and description (the docstring)."""
        return self._registry.infos()

    def definitions(self) -> list[WorkflowDef]:
        """The registered workflows with their functions (to register them elsewhere)."""
        return self._registry.all()

    # -- runs ---------------------------------------------------------------------------
    @_in_use
    async def create_run(
        self, name: str, *, run_id: str | None = None, resource_id: str | None = None,
        thread_id: str | None = None,
    ) -> Run:
        """A handle on a run of workflow ``name``; writes nothing."""
        rt = self._runtime()
        rt.registry.get(name)
        check_name("run_id", run_id, optional=True)
        check_name("resource_id", resource_id, optional=True)
        check_name("thread_id", thread_id, optional=True)
        if run_id is not None:
            head = await rt.store.read_head(run_id)
            if head is not None and head.workflow != name:
                raise ValueError(
                    f"run {run_id!r} belongs to workflow {head.workflow!r}, not {name!r}"
                )
        return Run(self, run_id, name, resource_id, thread_id)

    # -- commands -------------------------------------------------------------------------
    @_in_use
    async def start_run(self, handle: Run, input: Any, initial_state: dict[str, Any] | None,
                        request_context: dict[str, Any] | None) -> RunResult:
        return await commands.start(
            self._runtime(), handle.run_id, handle.workflow, input,
            resource_id=handle.resource_id, thread_id=handle.thread_id,
            initial_state=initial_state, request_context=request_context)

    @_in_use
    async def resume_run(self, run_id: str, data: Any, step: str | Path | list[str | int] | None,
                         kind: str | None = None) -> RunResult:
        return await children.resume(self._runtime(), run_id, data, step, kind)

    @_in_use
    async def cancel_run(self, run_id: str, reason: str | None) -> RunResult:
        return await children.cancel(self._runtime(), run_id, reason)

    @_in_use
    async def pause_run(self, run_id: str) -> RunResult:
        return await commands.pause(self._runtime(), run_id)

    @_in_use
    async def send_event(self, run_id: str, name: str, data: Any = None) -> None:
        """Deliver ``data`` to the run's ``ctx.wait_for_event(..., name)``. An event sent
        before the run waits is kept in its mailbox and taken once, when it does; a
        suspended run waiting for it is continued before this returns. Raises
        :class:`RunNotFound`, or :class:`RunEnded` for a run that has ended."""
        await deliveries.send_event(self._runtime(), run_id, name, data)

    async def approve(self, run_id: str, *, step: str | Path | None = None) -> RunResult:
        """Answer a ``ctx.request_approval`` suspension with yes."""
        return await self.resume_run(run_id, {"approved": True, "reason": None}, step,
                                     kind="approval")

    async def decline(
        self, run_id: str, *, step: str | Path | None = None, reason: str | None = None
    ) -> RunResult:
        """Answer a ``ctx.request_approval`` suspension with no."""
        return await self.resume_run(run_id, {"approved": False, "reason": reason}, step,
                                     kind="approval")

    @_in_use
    async def recover(self, *, limit: int | None = None) -> list[str]:
        """Claim the runs left ``running`` with nobody executing them (at most ``limit``),
        continue them in the background here (until :meth:`close`); return their ids.
        A run today's code cannot replay is not claimed: it is marked blocked
        (``RunInfo.blocked``), and claimed by a later call once the code replays it."""
        rt = self._runtime()
        await children.sweep(rt)  # what a crash kept from parents, before running anything
        return await recovery.recover(rt, limit)

    @_in_use
    async def wait(self, run_id: str, timeout: float | None = None) -> RunInfo:
        """The run once it settles (not ``running``, not ``pending``) wherever it
        executes; ``TimeoutError`` after ``timeout`` seconds."""
        await asyncio.wait_for(self._runtime().watcher.until(
            run_id, lambda h: h.status not in ("running", "pending")), timeout)
        return await self.get_run(run_id)

    # -- queues and workers ------------------------------------------------------------------
    def queue(self, name: str, *, concurrency: int | None = None,
              per_key: int | None = None) -> queueing.Queue:
        """Declare a queue (alike in every process): ``concurrency`` caps its runs executing
        at once across all workers, ``per_key`` those sharing a ``key``."""
        return self._queues.declare(name, concurrency, per_key)

    @_in_use
    async def enqueue(
        self, workflow: str, input: Any = None, *, queue: str = "default",
        key: str | None = None, run_id: str | None = None, resource_id: str | None = None,
        thread_id: str | None = None, initial_state: dict[str, Any] | None = None,
        request_context: dict[str, Any] | None = None,
    ) -> Run:
        """Submit a run, ``pending`` until a worker claims it (an existing ``run_id``: its
        handle, and nothing enqueued)."""
        handle = Run(self, run_id, workflow, resource_id, thread_id)
        check_name("a run id", handle.run_id)
        await queueing.enqueue(
            self._runtime(), workflow, input, queue=queue, key=key, run_id=handle.run_id,
            resource_id=resource_id, thread_id=thread_id, initial_state=initial_state,
            request_context=request_context)
        return handle

    @_in_use
    async def work(self, *, queues: list[str] | None = None, concurrency: int = 10,
                   grace: float = 0.0) -> None:
        """Be a worker until cancelled or closed (see :func:`durable.queues.work`): claim
        pending runs of ``queues`` within their limits, ``concurrency`` at once here.
        Cancelled, it raises ``CancelledError``; the engine closed, it returns."""
        loop = asyncio.get_running_loop()
        working = loop.create_task(queueing.work(
            self._runtime(), self._queues, queues, concurrency, grace=grace,
            poll=min(0.05, self.options.timer_poll), recover=self.recover), name="durable-work")
        self._working.add(working)
        try:
            await working  # (cancelling this call cancels the loop, and waits for it)
        except asyncio.CancelledError:
            this = asyncio.current_task()
            if this is not None and this.cancelling():
                raise  # the caller cancelled work()
            # close() stopped the loop: the worker is done
        finally:
            self._working.discard(working)

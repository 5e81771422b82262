"""The engine: registered workflows, a store, and the runs executing in this process."""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import random
import time
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, TypeVar

from durable.codec import canonical, decode
from durable.errors import (
    AmbiguousResume,
    NonDeterminismError,
    NotSuspended,
    PositionConflict,
    RunAlreadyStarted,
    RunNotFound,
    StoreUnavailable,
    WorkflowNotFound,
)
from durable.events import TERMINAL, RunLog, RunSnapshot, fold, new_event, verify_chain
from durable.execution import Execution, Request, blob_refs, validate_resume
from durable.logs import get_logger
from durable.owner import Owner, owner_is_dead
from durable.paths import Path, parse_path, path_key
from durable.results import (
    Event,
    Page,
    ReplayCheck,
    RunInfo,
    RunResult,
    Suspension,
    WorkflowInfo,
)
from durable.run_locks import RunLocks
from durable.store import Store, open_store, resolve_url
from durable.store.base import Append, Head
from projections.rows import IndexRow, ListingFilter, ViewStatus, row_values
from projections.suspended import OpenSuspension, WaitingRun

log = get_logger("durable")

WorkflowFn = Callable[..., Awaitable[Any]]


@dataclass(frozen=True)
class WorkflowDef:
    name: str
    fn: WorkflowFn
    version: str | None
    description: str | None
    webhook_secret: str | None = None


class Engine:
    """An event-sourced durable execution engine on one store.

    >>> engine = Engine("sqlite:///orders.db")
    >>> @engine.workflow("approve-order")
    ... async def approve(ctx, order): ...

    Options: ``synchronous`` ("FULL" or "NORMAL", SQLite), ``lease_seconds``
    (how long another host waits before recovering this one's runs),
    ``max_parked`` (suspended runs kept alive in memory for a hot resume).
    """

    def __init__(self, url: str | None = None, **options: Any) -> None:
        self.url = resolve_url(url)
        self.lease_seconds: float = float(options.pop("lease_seconds", 30.0))
        self.max_parked: int = int(options.pop("max_parked", 10_000))
        self.project_every: float = float(options.pop("project_every", 1.0))
        self.snapshot_every: int = int(options.pop("snapshot_every", 100))
        self.max_cached_runs: int = int(options.pop("max_cached_runs", 10_000))
        self.blob_threshold: int = int(options.pop("blob_threshold", 16 * 1024))
        self.store: Store = open_store(self.url, **options)
        self.store.alone = lambda: len(self._active) <= 1
        self.owner = Owner.this_process()
        self._workflows: dict[str, WorkflowDef] = {}
        self._locks = RunLocks()
        self._active: dict[str, Execution] = {}
        self._parked: OrderedDict[str, Execution] = OrderedDict()
        # Folded runs for reads, brought up to date on each hit by reading only the
        # newer events; never handed out (results copy what they show).
        self._runs: OrderedDict[str, RunLog] = OrderedDict()
        self._background: set[asyncio.Task[Any]] = set()
        self._lease_task: asyncio.Task[None] | None = None
        self._projector: asyncio.Task[None] | None = None
        self._open = False

    # -- lifecycle ------------------------------------------------------------
    async def open(self) -> Engine:
        if not self._open:
            try:
                await self.store.open()
            except Exception as e:
                await self.store.close()
                raise StoreUnavailable(self.url, e) from e
            self._open = True
            loop = asyncio.get_running_loop()
            self._lease_task = loop.create_task(self._renew_leases())
            self._projector = loop.create_task(self._project())
        return self

    async def close(self) -> None:
        if not self._open:
            return
        for task in (self._lease_task, self._projector):
            if task is not None:
                task.cancel()
        for t in list(self._background):
            t.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        for ex in [*self._parked.values(), *self._active.values()]:
            ex.close()
        self._parked.clear()
        self._active.clear()
        await self.store.close()
        self._open = False

    async def __aenter__(self) -> Engine:
        return await self.open()

    async def __aexit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def _project(self) -> None:
        """Keep the runs index caught up, off the request path."""
        while True:
            await asyncio.sleep(self.project_every)
            try:
                await self.store.catch_up()
            except Exception:
                log.warning("projection_catch_up_failed", exc_info=True)

    async def _renew_leases(self) -> None:
        while True:
            await asyncio.sleep(self.lease_seconds / 3)
            try:
                await self.store.renew_leases(self.owner.id, time.time() + self.lease_seconds)
            except Exception:
                log.warning("lease_renewal_failed", exc_info=True)

    # -- workflows ------------------------------------------------------------
    def workflow(
        self, name: str, *, version: str | None = None, webhook_secret: str | None = None
    ) -> Callable[[WorkflowFn], WorkflowFn]:
        """Register ``async def fn(ctx, input)`` under ``name``."""

        def register(fn: WorkflowFn) -> WorkflowFn:
            if name in self._workflows:
                raise ValueError(f"a workflow named {name!r} is already registered in this engine")
            if not inspect.iscoroutinefunction(fn):
                raise TypeError(f"workflow {name!r} must be an 'async def' function")
            doc = inspect.getdoc(fn)
            self._workflows[name] = WorkflowDef(name, fn, version, doc, webhook_secret)
            return fn

        return register

    def workflows(self) -> list[WorkflowInfo]:
        return [WorkflowInfo(w.name, w.version, w.description) for w in self._workflows.values()]

    def _workflow(self, name: str) -> WorkflowDef:
        try:
            return self._workflows[name]
        except KeyError:
            raise WorkflowNotFound(name, list(self._workflows)) from None

    def _require_open(self) -> None:
        if not self._open:
            raise RuntimeError(
                "the engine is not open: use 'async with engine:' or 'await engine.open()'"
            )

    # -- runs -------------------------------------------------------------------
    async def create_run(
        self,
        name: str,
        *,
        run_id: str | None = None,
        resource_id: str | None = None,
        thread_id: str | None = None,
    ) -> Run:
        """A handle on a run of workflow ``name``; writes nothing."""
        self._require_open()
        self._workflow(name)
        if run_id is not None:
            if not isinstance(run_id, str) or not run_id:
                raise ValueError("run_id must be a non-empty string")
            head = await self.store.read_head(run_id)
            if head is not None and head.workflow != name:
                raise ValueError(
                    f"run {run_id!r} belongs to workflow {head.workflow!r}, not {name!r}"
                )
        return Run(self, run_id or str(uuid.uuid4()), name, resource_id, thread_id)

    async def _events(self, run_id: str) -> list[RunLog.Event]:
        self._require_open()
        events = await self.store.read_events(run_id)
        if not events:
            raise RunNotFound(run_id)
        return events

    async def _load(self, run_id: str) -> RunLog:
        """The run folded from its latest snapshot and the events after it (fresh copy)."""
        self._require_open()
        snapshot, tail = await self.store.read_run(run_id)
        if snapshot is None and not tail:
            raise RunNotFound(run_id)
        return fold(tail, snapshot.load() if snapshot is not None else None)

    async def _current(self, run_id: str) -> RunLog:
        """The cached fold of a run, fast-forwarded over the events appended since."""
        run = self._runs.get(run_id)
        if run is None:
            run = await self._load(run_id)
            self._runs[run_id] = run
            while len(self._runs) > self.max_cached_runs:
                self._runs.popitem(last=False)
            return run
        for e in await self.store.read_events(run_id, after=run.version):
            if e.originator_version == run.version + 1:  # another reader may have applied it
                e.mutate(run)
        self._runs.move_to_end(run_id)
        return run

    def _forget(self, run_id: str) -> None:
        """After a failed write: whatever this engine holds of the run may be stale."""
        self._runs.pop(run_id, None)
        ex = self._parked.pop(run_id, None)
        if ex is not None:
            ex.close()

    async def get_run(self, run_id: str) -> RunInfo:
        return info_from(await self._current(run_id), RunInfo)

    async def history(self, run_id: str) -> list[Event]:
        return [to_public(e) for e in await self._events(run_id)]

    async def state_at(self, run_id: str, position: int) -> RunInfo:
        events = await self._events(run_id)
        if not 1 <= position <= len(events):
            raise ValueError(
                f"position {position} is outside run {run_id!r}'s log (1..{len(events)})"
            )
        return info_from(fold(events[:position]), RunInfo)

    async def verify(self, run_id: str) -> bool:
        """Check the run's tamper-evident chain: False if a stored event was altered.

        Each event holds the hash of the one before it; the run's head row, written
        in the same transaction as every append, says where the log ends, so
        dropping events from its end shows too.
        """
        try:
            events = await self._events(run_id)
        except RunNotFound:
            raise
        except Exception:  # an event that no longer decodes was altered too
            log.warning("verify_decode_failed", run_id=run_id, exc_info=True)
            return False
        head = await self.store.read_head(run_id)
        if head is None or head.position != len(events):
            return False
        refs = blob_refs(events)
        blobs = await self.store.read_blobs(refs)
        if any(hashlib.sha256(blobs.get(h, b"")).hexdigest() != h for h in refs):
            return False  # a large result stored apart was altered or lost
        return verify_chain(events)

    async def check_replay(self, run_id: str) -> ReplayCheck:
        """Replay the run's whole log against today's code, read-only.

        Calls no step and writes nothing. Fails (``ok=False``) where the code
        would not reproduce the recorded history: run it before a deploy.
        """
        events = await self._events(run_id)
        run = fold(events)
        try:
            ex = await self._execution(self._workflow(run.workflow), run_id, events)
        except WorkflowNotFound as e:
            return ReplayCheck(run_id, run.status, False, str(e))
        try:
            ex.replay()
            main = ex.main
            if run.status == "succeeded":
                if main is None or not main.done() or main.cancelled() or main.exception():
                    return ReplayCheck(run_id, run.status, False,
                                       "the log says succeeded, the code does not finish")
                if canonical(main.result()) != run.output:
                    return ReplayCheck(run_id, run.status, False,
                                       "the code now returns another output than the log holds")
            elif run.status == "failed" and main is not None and main.done() and not (
                main.cancelled() or main.exception()
            ):
                return ReplayCheck(run_id, run.status, False,
                                   "the log says failed, the code now succeeds")
        except (NonDeterminismError, ValueError) as e:
            return ReplayCheck(run_id, run.status, False, str(e))
        finally:
            ex.close()
        return ReplayCheck(run_id, run.status, True, None)

    async def list_runs(
        self,
        *,
        status: str | None = None,
        workflow: str | None = None,
        resource_id: str | None = None,
        thread_id: str | None = None,
        from_date: datetime | None = None,
        to_date: datetime | None = None,
        page: int = 0,
        per_page: int = 50,
    ) -> Page:
        self._require_open()
        f = make_filter(status, workflow, resource_id, thread_id, from_date, to_date, page,
                        per_page)
        await self.store.catch_up()  # read your own writes: the index has seen them all
        rows, total, waiting = await self.store.list_runs(f)
        return Page([info_from_index(r, waiting.get(r.run_id, [])) for r in rows], total)

    async def list_suspended_runs(
        self,
        *,
        workflow: str | None = None,
        resource_id: str | None = None,
        thread_id: str | None = None,
        from_date: datetime | None = None,
        to_date: datetime | None = None,
        page: int = 0,
        per_page: int = 50,
    ) -> Page:
        """Runs with open suspensions, newest ``suspended_at`` first (from the listing table)."""
        self._require_open()
        f = make_filter(None, workflow, resource_id, thread_id, from_date, to_date, page, per_page)
        rows, total, heads = await self.store.list_suspended(f)
        return Page([info_from_waiting(w, s, heads.get(w.run_id)) for w, s in rows], total)

    async def projections(self) -> list[ViewStatus]:
        """Where each read model stands: its position in the log, and its lag."""
        self._require_open()
        return await self.store.view_status()

    async def rebuild_projections(self) -> list[ViewStatus]:
        """Drop the read models and build them again from the logs, while runs go on."""
        self._require_open()
        await self.store.rebuild_views()
        return await self.store.view_status()

    # -- execution ------------------------------------------------------------
    async def _drive(self, ex: Execution) -> RunResult:
        """Run an execution live until it settles; park it if it suspends."""
        self._active[ex.run_id] = ex
        try:
            outcome = await ex.advance()
        except PositionConflict:
            ex.close()
            log.info("lost_run_to_another_writer", run_id=ex.run_id)
            self._active.pop(ex.run_id, None)
            self._forget(ex.run_id)
            return info_from(await self._load(ex.run_id), RunResult)
        except BaseException:
            ex.close()
            self._active.pop(ex.run_id, None)
            raise
        self._active.pop(ex.run_id, None)
        if outcome in ("suspended", "paused"):
            self._park(ex)
        return info_from(ex.run, RunResult)

    def _park(self, ex: Execution) -> None:
        ex.park()
        self._parked[ex.run_id] = ex
        self._parked.move_to_end(ex.run_id)
        while len(self._parked) > self.max_parked:
            _, old = self._parked.popitem(last=False)
            old.close()

    def _unpark(self, run_id: str) -> Execution | None:
        ex = self._parked.pop(run_id, None)
        if ex is not None and ex.dead:
            ex.close()
            return None
        return ex

    async def _execution(
        self, wf: WorkflowDef, run_id: str, events: list[RunLog.Event], run: RunLog | None = None
    ) -> Execution:
        """An execution of a stored run, with the large results its log refers to."""
        refs = blob_refs(events)
        blobs: dict[str, Any] = {}
        if refs:
            stored = await self.store.read_blobs(refs)
            missing = [h for h in refs if h not in stored]
            if missing:
                raise RuntimeError(f"run {run_id!r}: stored results {missing} are missing")
            blobs = {h: decode(raw) for h, raw in stored.items()}
        return Execution(self, wf, run_id, events, blobs, run)

    def snapshot_later(self, run: RunLog) -> None:
        """Snapshot a run off the request path: the caller does not wait for it."""
        snapshot = RunSnapshot.of(run, datetime.now(UTC))

        async def save() -> None:
            try:
                await self.store.save_snapshot(snapshot)
            except Exception:
                log.warning("snapshot_failed", run_id=run.id, exc_info=True)

        task = asyncio.get_running_loop().create_task(save())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _replayed(
        self, run_id: str, events: list[RunLog.Event], run: RunLog | None = None
    ) -> Execution:
        run = run if run is not None else fold(events)
        ex = await self._execution(self._workflow(run.workflow), run_id, events, run)
        try:
            ex.replay()
        except BaseException:
            ex.close()
            raise
        return ex

    async def start_run(self, handle: Run, input: Any, initial_state: dict[str, Any] | None,
                        request_context: dict[str, Any] | None) -> RunResult:
        self._require_open()
        wf = self._workflow(handle.workflow)
        async with self._locks.hold(handle.run_id):
            head = await self.store.read_head(handle.run_id)
            if head is not None or handle.run_id in self._active:
                raise RunAlreadyStarted(handle.run_id, head.status if head else "running")
            try:
                data = {
                    "workflow": wf.name,
                    "version": wf.version,
                    "input": canonical(input),
                    "state": canonical(initial_state or {}),
                    "request_context": canonical(request_context or {}),
                    "resource_id": handle.resource_id,
                    "thread_id": handle.thread_id,
                    "parent_run_id": None,
                    "seed": random.getrandbits(63),
                }
            except TypeError as e:
                raise ValueError(f"the run's input cannot be stored: {e}") from None
            started = new_event(handle.run_id, 1, "started", data, "", datetime.now(UTC))
            ex = Execution(self, wf, handle.run_id, [started])
            try:
                await self.store.append(
                    Append(handle.run_id, 0, [started], ex.head(), suspensions=[])
                )
            except PositionConflict:
                raise RunAlreadyStarted(handle.run_id, "running") from None
            ex.replay()  # nothing recorded yet: runs the workflow to its first requests
            return await self._drive(ex)

    async def resume_run(
        self, run_id: str, data: Any, step: str | Path | list[str | int] | None,
        kind: str | None = None,
    ) -> RunResult:
        self._require_open()
        for _ in range(3):  # a lost race is looked at again, from the log
            async with self._locks.hold(run_id):
                ex = self._unpark(run_id)
                if ex is None:
                    events = await self.store.read_events(run_id)
                    if not events:
                        raise NotSuspended(run_id, "pending", step)
                    run = fold(events)
                    if run.status not in ("suspended", "paused"):
                        raise NotSuspended(run_id, run.status, step)
                    ex = await self._replayed(run_id, events, run)
                try:
                    if ex.run.status == "paused" and data is None and step is None:
                        await ex.append([("continued", {})])
                        ex.pause_requested = False
                    else:
                        req = self._target(ex, step, kind)
                        value = validate_resume(run_id, req, data)
                        event = await ex.append(
                            [("resumed", {"path": list(req.path), "data": value})]
                        )
                        ex._deliver(req, event[-1])
                except PositionConflict:
                    ex.close()
                    self._forget(run_id)
                    continue  # another writer moved the run: look again from the log
                except BaseException:
                    if not ex.dead:
                        self._park(ex)
                    else:
                        ex.close()
                    raise
                return await self._drive(ex)
        raise NotSuspended(run_id, "running", step)

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

    def _target(
        self, ex: Execution, step: str | Path | list[str | int] | None, kind: str | None = None
    ) -> Request:
        open_reqs = [r for r in ex.open_suspensions() if kind is None or r.suspend_kind == kind]
        status = ex.run.status
        if step is None:
            if not open_reqs:
                raise NotSuspended(ex.run_id, status)
            if len(open_reqs) > 1:
                raise AmbiguousResume(ex.run_id, [r.path for r in open_reqs])
            return open_reqs[0]
        path = parse_path(step)
        key = path_key(path)
        for r in open_reqs:
            if path_key(r.path) == key:
                return r
        raise NotSuspended(ex.run_id, status, key)

    async def cancel_run(self, run_id: str, reason: str | None) -> RunResult:
        self._require_open()
        ex = self._active.get(run_id)
        if ex is not None:
            ex.request_cancel(reason)
            await self._locks.wait_free(run_id)  # the driver holds it until it has stopped
            return info_from(await self._load(run_id), RunResult)
        async with self._locks.hold(run_id):
            parked = self._unpark(run_id)
            if parked is not None:
                parked.close()
            for _ in range(10):
                run = await self._load(run_id)
                if run.status in TERMINAL:
                    return info_from(run, RunResult)
                position = run.version
                e = new_event(run_id, position + 1, "cancelled",
                              {"reason": reason or "cancelled"}, run.last_hash, datetime.now(UTC))
                e.mutate(run)
                head = head_of(run, self.owner, self.lease_seconds)
                try:
                    await self.store.append(Append(run_id, position, [e], head, suspensions=[]))
                except PositionConflict:
                    self._forget(run_id)
                    continue
                return info_from(run, RunResult)
        raise RuntimeError(f"could not cancel run {run_id!r}: it kept changing; try again")

    async def pause_run(self, run_id: str) -> RunResult:
        self._require_open()
        ex = self._active.get(run_id)
        if ex is not None:  # executing here: stop at the next step boundary, then return
            ex.request_pause()
            await self._locks.wait_free(run_id)
            return info_from(await self._load(run_id), RunResult)
        for _ in range(10):  # executing elsewhere (or owner dead): leave a request in its log
            run = await self._load(run_id)
            if run.status != "running" or run.pause_pending:
                return info_from(run, RunResult)
            position = run.version
            e = new_event(run_id, position + 1, "pause_requested", {}, run.last_hash,
                          datetime.now(UTC))
            e.mutate(run)
            head = head_of(run, self.owner, self.lease_seconds)
            stored = await self.store.read_head(run_id)
            if stored is not None:  # the run's executor stays its owner: we only leave a note
                for f in ("owner_id", "owner_host", "owner_pid", "owner_start", "lease_until"):
                    setattr(head, f, getattr(stored, f))
            try:
                await self.store.append(Append(run_id, position, [e], head))
            except PositionConflict:
                self._forget(run_id)
                continue
            return info_from(run, RunResult)
        raise RuntimeError(f"could not ask run {run_id!r} to pause: it kept changing; try again")

    async def recover(self) -> list[str]:
        """Claim runs left ``running`` by a dead owner and continue them in the background."""
        self._require_open()
        claimed: list[str] = []
        now = time.time()
        for head in await self.store.running_heads():
            if head.run_id in self._active or head.owner_id == self.owner.id:
                continue
            if not owner_is_dead(head.owner_host, head.owner_pid, head.owner_start,
                                 head.lease_until, here=self.owner, now=now):
                continue
            if head.workflow not in self._workflows:
                log.warning("recover_skipped_unknown_workflow", run_id=head.run_id,
                            workflow=head.workflow)
                continue
            ex = await self._claim(head)
            if ex is None:
                continue
            claimed.append(head.run_id)
            task = asyncio.get_running_loop().create_task(self._continue(ex))
            self._background.add(task)
            task.add_done_callback(self._background.discard)
        return claimed

    async def _claim(self, head: Head) -> Execution | None:
        """Replay the run read-only, then claim it with a ``recovered`` event.

        Replay comes first so that a run today's code cannot replay is left
        untouched (logged, not written to). The claim is an append at the
        expected position: of several recoverers one wins, and the old owner,
        should it still be alive, loses its next append.
        """
        await self._locks.acquire(head.run_id)
        ex: Execution | None = None
        try:
            events = await self._events(head.run_id)
            if events[-1].originator_version != head.position:
                self._locks.release(head.run_id)
                return None  # it moved since we looked: its owner is not dead after all
            ex = await self._execution(self._workflow(head.workflow), head.run_id, events)
            ex.replay()
            await ex.append([("recovered", {"owner": self.owner.id, "previous": head.owner_id})])
            ex.recorded.interrupted += 1
        except BaseException as e:
            self._locks.release(head.run_id)
            if ex is not None:
                ex.close()
            if not isinstance(e, PositionConflict):
                log.error("recover_failed", run_id=head.run_id, exc_info=True)
            if not isinstance(e, Exception):
                raise
            return None
        self._active[head.run_id] = ex
        return ex

    async def _continue(self, ex: Execution) -> None:
        """Drive a claimed run; ``_claim`` took its lock, this lets go of it."""
        try:
            await self._drive(ex)
        except Exception:
            log.error("recovered_run_failed", run_id=ex.run_id, exc_info=True)
        finally:
            self._locks.release(ex.run_id)

    async def wait(self, run_id: str, timeout: float | None = None) -> RunInfo:
        """Wait until no execution of this run is in progress in this engine."""
        async def settled() -> None:
            while run_id in self._active:
                async with self._locks.hold(run_id):
                    pass
                await asyncio.sleep(0)

        await asyncio.wait_for(settled(), timeout)
        return await self.get_run(run_id)


class Run:
    """A handle on one run. ``engine.create_run`` makes one; it writes nothing."""

    def __init__(
        self, engine: Engine, run_id: str, workflow: str,
        resource_id: str | None = None, thread_id: str | None = None,
    ) -> None:
        self.engine = engine
        self.run_id = run_id
        self.workflow = workflow
        self.resource_id = resource_id
        self.thread_id = thread_id

    def __repr__(self) -> str:
        return f"Run(run_id={self.run_id!r}, workflow={self.workflow!r})"

    async def start(
        self,
        input: Any = None,
        *,
        initial_state: dict[str, Any] | None = None,
        request_context: dict[str, Any] | None = None,
    ) -> RunResult:
        """Execute until the run succeeds, fails, is cancelled, or every branch waits."""
        return await self.engine.start_run(self, input, initial_state, request_context)

    async def resume(self, data: Any = None, *, step: str | Path | list[str | int] | None = None
                     ) -> RunResult:
        """Answer an open suspension (or continue a paused run) and execute on."""
        return await self.engine.resume_run(self.run_id, data, step)

    async def cancel(self, reason: str | None = None) -> RunResult:
        return await self.engine.cancel_run(self.run_id, reason)

    async def pause(self) -> RunResult:
        return await self.engine.pause_run(self.run_id)


# -- building results ---------------------------------------------------------
def to_public(e: RunLog.Event) -> Event:
    return Event(position=e.originator_version, type=e.type, timestamp=e.timestamp, data=e.data)


Info = TypeVar("Info", bound=RunInfo)


def info_from(run: RunLog, cls: type[Info]) -> Info:
    """What a run shows. Values are copies: the fold may be cached and must not change."""
    suspensions = [
        Suspension(tuple(s["path"]), s["kind"], canonical(s["payload"]), s["suspended_at"])
        for s in run.suspensions.values()
    ]
    return cls(
        run_id=run.id,
        workflow=run.workflow,
        status=run.status,
        output=canonical(run.output),
        error=run.error,
        suspended=[s.path for s in suspensions],
        suspend_payloads={path_key(s.path): canonical(s.payload) for s in suspensions},
        suspensions=suspensions,
        state=canonical(run.state),
        resource_id=run.resource_id,
        thread_id=run.thread_id,
        parent_run_id=run.parent_run_id,
        created_at=run.created_on,
        updated_at=run.modified_on,
        suspended_at=run.suspended_at,
        version=run.workflow_version,
        position=run.version,
    )


def _dt(ts: float | None) -> datetime | None:
    return datetime.fromtimestamp(ts, UTC) if ts is not None else None


def _suspensions(rows: list[OpenSuspension]) -> list[Suspension]:
    return [Suspension(tuple(r.path), r.kind, r.payload, _dt(r.suspended_at))  # type: ignore[arg-type]
            for r in rows]


def info_from_index(row: IndexRow, rows: list[OpenSuspension]) -> RunInfo:
    """A runs-index row (and its open suspensions) as the public RunInfo."""
    suspensions = _suspensions(rows)
    return RunInfo(
        run_id=row.run_id,
        workflow=row.workflow,
        status=row.status,
        error=row.error,
        suspended=[s.path for s in suspensions],
        suspend_payloads={path_key(s.path): s.payload for s in suspensions},
        suspensions=suspensions,
        resource_id=row.resource_id,
        thread_id=row.thread_id,
        parent_run_id=row.parent_run_id,
        created_at=_dt(row.created_at),
        updated_at=_dt(row.updated_at),
        suspended_at=max((s.suspended_at for s in suspensions), default=None),
        version=row.version,
        position=row.position,
        **row_values(row),
    )


def info_from_waiting(w: WaitingRun, rows: list[OpenSuspension], head: Head | None) -> RunInfo:
    """A listing row (one waiting run with its open suspensions) as the public RunInfo."""
    suspensions = _suspensions(rows)
    return RunInfo(
        run_id=w.run_id,
        workflow=w.workflow,
        status=head.status if head is not None else "suspended",
        suspended=[s.path for s in suspensions],
        suspend_payloads={path_key(s.path): s.payload for s in suspensions},
        suspensions=suspensions,
        resource_id=w.resource_id,
        thread_id=w.thread_id,
        parent_run_id=head.parent_run_id if head is not None else None,
        created_at=_dt(head.created_at) if head is not None else None,
        updated_at=_dt(head.updated_at) if head is not None else None,
        suspended_at=_dt(w.suspended_at),
        version=head.version if head is not None else None,
        position=head.position if head is not None else 0,
    )


def head_of(run: RunLog, owner: Owner, lease: float) -> Head:
    return Head(
        run_id=run.id,
        workflow=run.workflow,
        version=run.workflow_version,
        status=run.status,
        position=run.version,
        resource_id=run.resource_id,
        thread_id=run.thread_id,
        parent_run_id=run.parent_run_id,
        created_at=run.created_on.timestamp(),
        updated_at=run.modified_on.timestamp(),
        suspended_at=run.suspended_at.timestamp() if run.suspended_at else None,
        owner_id=owner.id,
        owner_host=owner.host,
        owner_pid=owner.pid,
        owner_start=owner.start,
        lease_until=time.time() + lease,
    )


def _ts(d: datetime | None) -> float | None:
    if d is None:
        return None
    if d.tzinfo is None:
        d = d.replace(tzinfo=UTC)
    return d.timestamp()


def make_filter(
    status: str | None, workflow: str | None, resource_id: str | None, thread_id: str | None,
    from_date: datetime | None, to_date: datetime | None, page: int, per_page: int,
) -> ListingFilter:
    if page < 0 or per_page < 1:
        raise ValueError("page must be >= 0 and per_page >= 1")
    return ListingFilter(status, workflow, resource_id, thread_id, _ts(from_date), _ts(to_date),
                         page, per_page)

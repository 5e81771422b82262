"""One driver for live execution and replay.

The workflow coroutine runs on a :class:`WorkflowLoop`. Step bodies run on the
host loop and report into an inbox. The driver takes one entry at a time,
appends it to the log (persist before deliver), hands the result to the
workflow, and runs the workflow loop until it is idle; then the next.

Replay feeds the same driver from the log: each recorded delivery is matched
*by path* and delivered in the order the log recorded it. Requests for paths
the log does not hold are held until the recorded stream is drained, so no
side effect runs before determinism is checked. A hot resume (a parked run)
and a cold one (replayed from the log) are therefore one code path.

Non-determinism is raised, with nothing appended, exactly when
1. the code requests a path the log holds with another kind;
2. at an idle point of replay the next recorded delivery was not requested;
3. once drained, a suspension the log holds open is no longer requested.
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import msgspec

from durable.codec import canonical, decode, encode
from durable.context import Context, current_attempt
from durable.errors import NonDeterminismError, PositionConflict, StepFailed
from durable.events import TERMINAL, RunLog, fold, new_event
from durable.logs import get_logger
from durable.loop import WorkflowLoop
from durable.paths import Path, path_key
from durable.store.base import Append, Head
from projections.suspended import OpenSuspension, open_rows

if TYPE_CHECKING:
    from durable.engine import Engine, WorkflowDef

log = get_logger("durable")

DELIVERY_TYPES = frozenset({"step_completed", "resumed"})


@dataclass
class Request:
    """Something the workflow awaits: a step's result or a resume."""

    path: Path
    kind: str  # "step" | "suspend"
    future: asyncio.Future[Any]
    fn: Callable[..., Any] | None = None
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    retries: int = 0
    backoff: float = 1.0
    suspend_kind: str = "input"
    payload: Any = None
    schema: type[Any] | None = None
    started: bool = False


@dataclass
class _Recorded:
    """What the log says, indexed for the driver."""

    deliveries: list[tuple[str, RunLog.Event]]  # (path key, event), in log order
    kinds: dict[str, str]
    failures: dict[str, int]
    suspended: set[str]
    state_sets: int
    interrupted: int  # `recovered` events after the last delivery
    pause_pending: bool = False  # a pause was requested and not yet honoured


def index_log(events: list[RunLog.Event]) -> _Recorded:
    rec = _Recorded([], {}, {}, set(), 0, 0)
    for e in events:
        t = e.type
        if t in DELIVERY_TYPES or (t == "step_failed" and e.data.get("final")):
            key = path_key(e.data["path"])
            rec.deliveries.append((key, e))
            rec.interrupted = 0
            if t != "resumed":
                rec.kinds[key] = "step"
        elif t == "step_failed":
            key = path_key(e.data["path"])
            rec.kinds[key] = "step"
            rec.failures[key] = rec.failures.get(key, 0) + 1
        elif t == "suspended":
            key = path_key(e.data["path"])
            rec.kinds[key] = "suspend"
            rec.suspended.add(key)
        elif t == "state_set":
            rec.state_sets += 1
        elif t == "recovered":
            rec.interrupted += 1
        elif t == "pause_requested":
            rec.pause_pending = True
        elif t in ("paused", "continued"):
            rec.pause_pending = False
    return rec


def blob_refs(events: list[RunLog.Event]) -> list[str]:
    """The content hashes of the large results a log refers to."""
    return [e.data["ref"] for e in events if e.type == "step_completed" and "ref" in e.data]


class Execution:
    """A run being executed (or parked, waiting) in this process."""

    def __init__(
        self, engine: Engine, wf: WorkflowDef, run_id: str, events: list[RunLog.Event],
        blobs: dict[str, Any] | None = None, run: RunLog | None = None,
    ) -> None:
        self.engine = engine
        self.wf = wf
        self.run_id = run_id
        self.run: RunLog = run if run is not None else fold(events)  # run: already folded
        self.position = events[-1].originator_version
        self.last_hash = events[-1].hash
        self.recorded = index_log(events)
        self.blobs = blobs or {}  # large recorded results, by content hash
        self.cursor = 0
        self.loop = WorkflowLoop()  # type: ignore[abstract]  # I/O methods are never called
        self.requests: dict[str, Request] = {}
        self.tasks: dict[str, asyncio.Task[None]] = {}
        # Made when steps run; a parked execution drops it (memory: many runs wait at once).
        self._inbox: asyncio.Queue[tuple[Any, ...]] | None = None
        self.pending: list[tuple[str, dict[str, Any]]] = []
        self.counters: dict[tuple[Path, str], int] = {}
        self.state: dict[str, Any] = dict(events[0].data.get("state") or {})
        self.state_seq = 0
        self.now: datetime = events[0].timestamp
        self._rng: random.Random | None = None
        self._head_key: tuple[str, str | None] | None = None  # status, owner last written
        self.nde: NonDeterminismError | None = None
        self.cancel_reason: str | None = None
        self.pause_requested = self.recorded.pause_pending
        self.dead = False
        self.main: asyncio.Task[Any] | None = None
        self.bind = log.bind(run_id=run_id, workflow=wf.name)

    @property
    def inbox(self) -> asyncio.Queue[tuple[Any, ...]]:
        if self._inbox is None:
            self._inbox = asyncio.Queue()
        return self._inbox

    @property
    def rng(self) -> random.Random:
        """Seeded in ``started``, so draws replay; made on first use."""
        if self._rng is None:
            self._rng = random.Random(self.run.seed)
        return self._rng

    # -- requests from workflow code (on the workflow loop) ---------------------
    def _check_kind(self, path: Path, kind: str) -> str:
        key = path_key(path)
        if key in self.requests:
            raise ValueError(f"path {key!r} is requested twice in one execution of this run")
        logged = self.recorded.kinds.get(key)
        if logged is not None and logged != kind and self.nde is None:
            self.nde = NonDeterminismError(
                self.run_id, (key, logged), (key, kind),
                f"the log holds {key!r} as a {logged}, the code now asks for a {kind}",
            )
        return key

    def request_step(
        self,
        path: Path,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        retries: int,
        backoff: float,
    ) -> asyncio.Future[Any]:
        key = self._check_kind(path, "step")
        req = Request(path, "step", self.loop.create_future(), fn, args, kwargs, retries, backoff)
        self.requests[key] = req
        return req.future

    def request_suspend(
        self, path: Path, kind: str, payload: Any, schema: type[Any] | None
    ) -> asyncio.Future[Any]:
        key = self._check_kind(path, "suspend")
        payload = canonical(payload)
        req = Request(path, "suspend", self.loop.create_future(), suspend_kind=kind,
                      payload=payload, schema=schema)
        self.requests[key] = req
        if key not in self.recorded.suspended:
            self.pending.append(
                ("suspended", {"path": list(path), "kind": kind, "payload": payload})
            )
        return req.future

    def set_state(self, state: dict[str, Any]) -> None:
        state = canonical(state)
        if not isinstance(state, dict):
            raise TypeError("ctx.set_state takes a dict")
        self.state = state
        self.state_seq += 1
        if self.state_seq > self.recorded.state_sets:
            self.pending.append(("state_set", {"state": state}))

    # -- the log -----------------------------------------------------------------
    def open_suspensions(self) -> list[Request]:
        return [r for r in self.requests.values() if r.kind == "suspend"]

    async def append(
        self, items: list[tuple[str, dict[str, Any]]], blobs: dict[str, bytes] | None = None
    ) -> list[RunLog.Event]:
        """Append at the expected position.

        A lost race kills this execution, unless all that came in between are
        requests to pause: those it takes in (and will honour) and appends after.
        """
        while True:
            if self.dead:
                raise PositionConflict(self.run_id, self.position)
            saved = self._save_run()
            events, append = self._prepare(items)
            append.blobs = blobs or {}
            before = self.position
            try:
                await self.engine.store.append(append)
            except PositionConflict:
                self._restore_run(saved)
                self._head_key = None
                if await self._take_in_requests():
                    continue
                self.dead = True
                raise
            except BaseException:
                self._restore_run(saved)
                self._head_key = None
                self.dead = True
                raise
            self.position, self.last_hash = events[-1].originator_version, events[-1].hash
            every = self.engine.snapshot_every
            if every and self.position // every > before // every:
                self.engine.snapshot_later(self.run)
            return events

    def _prepare(
        self, items: list[tuple[str, dict[str, Any]]]
    ) -> tuple[list[RunLog.Event], Append]:
        ts = datetime.now(UTC)
        events = []
        prev, pos = self.last_hash, self.position
        for type_, data in items:
            pos += 1
            e = new_event(self.run_id, pos, type_, data, prev, ts)
            prev = e.hash
            events.append(e)
        touched = False
        for e in events:
            e.mutate(self.run)
            touched = touched or e.type in ("suspended", "resumed") or e.type in TERMINAL
        head = self.head()
        key = (head.status, head.owner_id)
        moved_only = key == self._head_key
        self._head_key = key
        return events, Append(
            run_id=self.run_id,
            expected=self.position,
            events=events,
            head=head,
            suspensions=self.suspension_rows() if touched else None,
            head_moved_only=moved_only,
        )

    def _save_run(self) -> dict[str, Any]:
        saved = dict(vars(self.run))
        saved["suspensions"] = dict(self.run.suspensions)
        return saved

    def _restore_run(self, saved: dict[str, Any]) -> None:
        vars(self.run).clear()
        vars(self.run).update(saved)

    async def _take_in_requests(self) -> bool:
        newer = await self.engine.store.read_events(self.run_id, after=self.position)
        if not newer or any(e.type != "pause_requested" for e in newer):
            return False
        for e in newer:
            e.mutate(self.run)
            self.position, self.last_hash = e.originator_version, e.hash
        self.pause_requested = True
        return True

    def head(self) -> Head:
        from durable.engine import head_of

        return head_of(self.run, self.engine.owner, self.engine.lease_seconds)

    def suspension_rows(self) -> list[OpenSuspension]:
        return open_rows(self.run)

    # -- delivery -------------------------------------------------------------------
    def _deliver(self, req: Request, event: RunLog.Event, key: str | None = None) -> None:
        del self.requests[key if key is not None else path_key(req.path)]
        self.now = event.timestamp
        if req.future.done():
            return
        d = event.data
        if event.type == "step_completed":
            req.future.set_result(self.blobs[d["ref"]] if "ref" in d else d["result"])
        elif event.type == "step_failed":
            req.future.set_exception(
                StepFailed(path_key(req.path), d["error_type"], d["message"], d["attempt"] + 1)
            )
        elif event.type == "resumed":
            req.future.set_result(convert_resume(d.get("data"), req.schema))

    def start_main(self) -> None:
        ctx = Context(self)
        self.main = self.loop.create_task(self.wf.fn(ctx, self.run.input))  # type: ignore[arg-type]

    def _raise_if_nde(self) -> None:
        if self.nde is not None:
            self.dead = True
            raise self.nde

    def replay(self) -> None:
        """Replay to the point where the recorded stream is drained. Writes nothing."""
        if self.main is None:
            self.start_main()
        deliveries = self.recorded.deliveries
        while True:
            self.loop.run_until_idle()
            self._raise_if_nde()
            if self.cursor >= len(deliveries):
                break
            key, event = deliveries[self.cursor]
            req = self.requests.get(key)
            if req is None or (event.type == "resumed") != (req.kind == "suspend"):
                self.dead = True
                raise NonDeterminismError(
                    self.run_id, key, sorted(self.requests),
                    f"the log's next entry is {event.type} {key!r}, but the code, replayed to "
                    "this point, does not ask for it",
                )
            self.cursor += 1
            self._deliver(req, event, key)
        # Drained: what replay needed of the log is spent; keep only what live code reads.
        self.recorded.deliveries = []
        self.recorded.kinds = {}
        self.cursor = 0
        open_now = set(self.run.suspensions)
        missing = [k for k in open_now if k not in self.requests]
        if missing and not (self.main is not None and self.main.done()):
            self.dead = True
            raise NonDeterminismError(
                self.run_id, missing, sorted(self.requests),
                f"the log holds {missing!r} open, but the code no longer suspends there",
            )

    # -- live execution -------------------------------------------------------------
    def _start_step(self, req: Request) -> None:
        req.started = True
        key = path_key(req.path)
        first = self.recorded.failures.get(key, 0)
        bump = self.recorded.interrupted
        task = asyncio.get_running_loop().create_task(
            self._run_step(req, first, bump), name=f"durable-step:{self.run_id}:{key}"
        )
        self.tasks[key] = task

    async def _run_step(self, req: Request, failures: int, bump: int) -> None:
        assert req.fn is not None
        attempt = failures + bump
        while True:
            current_attempt.set(attempt)
            try:
                value = req.fn(*req.args, **req.kwargs)
                if inspect.isawaitable(value):
                    value = await value
                raw = encode(value)  # the stored form; the workflow gets it back decoded
                self.inbox.put_nowait(("done", req, decode(raw), attempt, raw))
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the step failed: record, maybe retry
                failures += 1
                final = failures > req.retries
                self.inbox.put_nowait(("failed", req, exc, attempt, final))
                if final:
                    return
                await asyncio.sleep(min(req.backoff * 2 ** (failures - 1), 60.0))
                attempt += 1

    def request_cancel(self, reason: str | None) -> None:
        self.cancel_reason = reason or "cancelled"
        for t in self.tasks.values():
            t.cancel()
        self.inbox.put_nowait(("wake",))

    def request_pause(self) -> None:
        self.pause_requested = True
        self.inbox.put_nowait(("wake",))

    def park(self) -> None:
        """Idle until a resume: let go of what only a running execution needs."""
        if not self.tasks and (self._inbox is None or self._inbox.empty()):
            self._inbox = None

    async def advance(self) -> str:
        """Run live until the run succeeds, fails, is cancelled, paused or suspended."""
        while True:
            self.loop.run_until_idle()
            self._raise_if_nde()
            if self.cancel_reason is not None:
                return await self._cancel()
            if self.main is not None and self.main.done():
                return await self._finish()
            if not self.pause_requested:
                for req in list(self.requests.values()):
                    if req.kind == "step" and not req.started:
                        self._start_step(req)
                # Only the steps in flight when the previous owner died were interrupted,
                # and only held steps can have failed attempts in the log.
                self.recorded.interrupted = 0
                self.recorded.failures = {}
            if self.tasks or not self.inbox.empty():
                await self._handle(await self.inbox.get())
                continue
            if self.pause_requested:
                await self.append([*self._take_pending(), ("paused", {})])
                return "paused"
            if self.open_suspensions():
                items = self._take_pending()
                if not items and self.run.status != "suspended":
                    items = [("waiting", {"paths": sorted(self.run.suspensions)})]
                if items:
                    await self.append(items)
                return "suspended"
            return await self._fail(
                "the workflow awaits something that is not a durable step or suspension; "
                "every await in workflow code must go through ctx"
            )

    def _take_pending(self) -> list[tuple[str, dict[str, Any]]]:
        items, self.pending = self.pending, []
        return items

    async def _handle(self, item: tuple[Any, ...]) -> None:
        kind = item[0]
        if kind == "wake":
            return
        req: Request = item[1]
        key = path_key(req.path)
        if kind == "done":
            _, _, value, attempt, raw = item
            self.tasks.pop(key, None)
            blobs: dict[str, bytes] = {}
            if len(raw) > self.engine.blob_threshold:  # stored once, apart from the log
                digest = hashlib.sha256(raw).hexdigest()
                blobs[digest] = raw
                self.blobs[digest] = value
                data = {"path": list(req.path), "ref": digest, "size": len(raw),
                        "attempt": attempt}
            else:
                data = {"path": list(req.path), "result": value, "attempt": attempt}
            appended = await self.append([*self._take_pending(), ("step_completed", data)],
                                         blobs)
            self._deliver(req, appended[-1])
        elif kind == "failed":
            _, _, exc, attempt, final = item
            data = {
                "path": list(req.path),
                "error_type": type(exc).__name__,
                "message": str(exc),
                "attempt": attempt,
                "final": final,
            }
            self.bind.warning("step_failed", step_id=key, attempt=attempt, final=final,
                              error=f"{type(exc).__name__}: {exc}")
            if final:
                self.tasks.pop(key, None)
                appended = await self.append([*self._take_pending(), ("step_failed", data)])
                self._deliver(req, appended[-1])
            else:
                await self.append([("step_failed", data)])

    async def _finish(self) -> str:
        assert self.main is not None
        if self.main.cancelled():
            return await self._fail("the workflow was cancelled from inside")
        exc = self.main.exception()
        if exc is not None:
            if isinstance(exc, StepFailed):
                return await self._fail(str(exc), exc.error_type)
            return await self._fail(f"{type(exc).__name__}: {exc}", type(exc).__name__)
        try:
            output = canonical(self.main.result())
        except TypeError as e:
            return await self._fail(f"the workflow's output cannot be stored: {e}")
        await self.append([*self._take_pending(), ("succeeded", {"output": output})])
        self.close()
        return "succeeded"

    async def _fail(self, error: str, error_type: str = "WorkflowError") -> str:
        await self.append(
            [*self._take_pending(), ("failed", {"error": error, "error_type": error_type})]
        )
        self.close()
        return "failed"

    async def _cancel(self) -> str:
        for t in self.tasks.values():
            t.cancel()
        await asyncio.gather(*self.tasks.values(), return_exceptions=True)
        self.tasks.clear()
        await self.append([("cancelled", {"reason": self.cancel_reason})])
        self.close()
        return "cancelled"

    def close(self) -> None:
        """Stop the workflow coroutine and any step bodies still running."""
        for t in self.tasks.values():
            t.cancel()
        self.tasks.clear()
        if self.main is not None and not self.main.done():
            self.main.cancel()
            try:
                self.loop.run_until_idle()
            except Exception:  # a workflow's own cleanup failing must not stop ours
                self.bind.debug("workflow_cleanup_failed", exc_info=True)
        self.loop.close()


def convert_resume(data: Any, schema: type[Any] | None) -> Any:
    if schema is None:
        return canonical(data)
    return msgspec.convert(data, schema)


def validate_resume(run_id: str, req: Request, data: Any) -> Any:
    """Check resume data against the suspension's schema before anything is written."""
    from durable.errors import InvalidResumeData

    try:
        value = canonical(data)
    except TypeError as e:
        raise InvalidResumeData(run_id, req.path, str(e)) from None
    if req.schema is not None:
        try:
            msgspec.convert(value, req.schema)
        except (msgspec.ValidationError, TypeError) as e:
            raise InvalidResumeData(run_id, req.path, str(e)) from None
    return value

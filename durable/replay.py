"""A run's workflow code, replayed against its log.

The workflow coroutine runs on a :class:`WorkflowLoop`. Replay feeds it from
the log: each recorded delivery (a step's result, a resume) is matched *by
path* and delivered in the order the log recorded it. Requests for paths the
log does not hold are held until the recorded stream is drained, so no side
effect runs before determinism is checked. Live execution
(:class:`durable.execution.Execution`) continues from where replay stops, on
the same state: a hot resume (a parked run) and a cold one (replayed from the
log) are one code path.

Non-determinism is raised, with nothing appended, exactly when
1. the code requests a path the log holds with another kind;
2. at an idle point of replay the next recorded delivery was not requested;
3. once drained, a suspension the log holds open is no longer requested
   (the code returns, fails or waits elsewhere instead).
"""

from __future__ import annotations

import asyncio
import random
from datetime import datetime
from typing import Any

import msgspec

from durable import patching
from durable.codec import canonical
from durable.context import Context
from durable.divergence import instead, place
from durable.errors import InvalidResumeData, NonDeterminismError, StepFailed, WaitTimeout
from durable.events import (
    ANSWERS,
    TERMINAL,
    ChildStarted,
    Event,
    EventType,
    Kind,
    Resumed,
    StateSet,
    Status,
    Suspended,
    TimerFired,
    Withdrawn,
    decode_raw,
    encode_raw,
)
from durable.fold import RunLog
from durable.logs import get_logger
from durable.loop import WorkflowLoop
from durable.paths import Path, path_key
from durable.recorded import CHILD, STEP, SUSPEND, index_log
from durable.registry import WorkflowDef
from durable.starts import child_id
from durable.steps import Request
from durable.writer import Item, Tail, Writer

log = get_logger("durable")


class Replay:
    """A run's workflow code and what its log says; :meth:`replay` catches it up."""

    def __init__(
        self, writer: Writer, wf: WorkflowDef, run: RunLog, events: list[Event],
        blobs: dict[str, Any] | None = None,
    ) -> None:
        self.writer = writer
        self.wf = wf
        self.run_id = run.id
        self.tail = Tail(run)
        self.recorded = index_log(events)
        self.log: list[Event] | None = events  # until drained: to place a divergence
        self.blobs = blobs or {}  # large recorded results, by content hash
        self.cursor = 0
        self.loop = WorkflowLoop()  # type: ignore[abstract]  # I/O methods are never called
        self.requests: dict[str, Request] = {}
        self.withdrawn: set[str] = set()  # suspensions the code stopped waiting for
        self.pending: list[Item] = []
        self.counters: dict[tuple[Path, str], int] = {}
        self.state: dict[str, Any] = dict(events[0].payload.state)
        self.state_seq = 0
        self.now: datetime = events[0].timestamp
        self._rng: random.Random | None = None
        self.nde: NonDeterminismError | None = None
        self.cancel_reason: str | None = None
        self.pause_requested = self.recorded.pause_pending
        self.dead = False  # lost the run, or closed: never appends again
        self.main: asyncio.Task[Any] | None = None
        self.step_ids: set[str] = set()  # step ids already checked (ctx.step in a loop)
        self.patches: dict[str, bool] = {}  # ctx.patched: the run's answer per patch id
        self.unmarked = False  # a patch marker may wait in pending (see Intake.mark_first)

    @property
    def run(self) -> RunLog:
        return self.tail.run

    @property
    def position(self) -> int:
        return self.tail.position

    @property
    def rng(self) -> random.Random:
        """Seeded in ``started``, so draws replay; made on first use."""
        if self._rng is None:
            self._rng = random.Random(self.run.seed)
        return self._rng

    # -- requests from workflow code (on the workflow loop) ---------------------------
    def _check_kind(self, path: Path, kind: str) -> str:
        key = path[0] if len(path) == 1 and type(path[0]) is str else path_key(path)
        if key in self.requests:
            raise ValueError(f"path {key!r} is requested twice in one execution of this run")
        deliveries, cursor = self.recorded.deliveries, self.cursor
        if (kind is STEP and cursor < len(deliveries) and deliveries[cursor][0] == key
                and deliveries[cursor][1].type not in ANSWERS):
            return key  # the log's very next delivery is this step's: the kinds agree
        logged = self.recorded.kinds.get(key)
        if logged is not None and logged != kind and self.nde is None:
            self.nde = self.diverged(
                key, key, f"the log holds {key!r} as a {logged}, the code now asks for a {kind}",
                self._place(key))
        return key

    def diverged(self, logged: str | None, requested: str | None, detail: str,
                 position: int | None) -> NonDeterminismError:
        return NonDeterminismError(self.run_id, logged, requested, detail, position=position,
                                   length=self.position)

    def _place(self, key: str) -> int | None:
        return place(self.log or (), key)

    def instead(self) -> str | None:
        return instead(self.requests, self.recorded.kinds, self.run.suspensions)

    def request_step(
        self, path: Path, fn: Any, args: tuple[Any, ...], kwargs: dict[str, Any], retries: int,
        backoff: float,
    ) -> asyncio.Future[Any]:
        key = self._check_kind(path, STEP)
        future: asyncio.Future[Any]
        if self.cursor < len(self.recorded.deliveries):  # replaying: maybe no turn needed
            future = Recorded(loop=self.loop)
            future.replay, future.key = self, key
        else:
            future = self.loop.create_future()
        self.requests[key] = Request(path, STEP, future, fn, args, kwargs, retries, backoff)
        return future

    def deliver_on_await(self, key: str) -> bool:
        """The code awaits a step's future directly and nothing else is ready to run: if
        the log's next delivery is that step's completion, deliver it now (True). The
        idle-point algorithm of :meth:`replay` would do the same next (this task is all
        that runs until the loop idles), one loop turn later; a long replay of steps
        in sequence is this."""
        deliveries = self.recorded.deliveries
        cursor = self.cursor
        if (cursor >= len(deliveries) or self.nde is not None or self.loop.has_ready()
                or deliveries[cursor][0] != key):
            return False
        event = deliveries[cursor][1]
        if event.type is not EventType.STEP_COMPLETED:
            return False
        self.cursor = cursor + 1
        req = self.requests.pop(key)
        self.now = event.timestamp
        p = event.payload
        req.future.set_result(self.blobs[p.ref] if p.ref is not None else decode_raw(p.result))
        return True

    def request_suspend(
        self, path: Path, kind: str, payload: Any, schema: type[Any] | None,
        due: float | None = None,
    ) -> asyncio.Future[Any]:
        """Wait at ``path`` for an answer; ``due``: a timer's due time (the engine fires
        it then). Recorded in the log unless it is already."""
        key = self._check_kind(path, SUSPEND)
        payload = canonical(payload)
        req = Request(path, SUSPEND, self.loop.create_future(), suspend_kind=kind,
                      payload=payload, schema=schema, due=due)
        self.requests[key] = req
        req.future.add_done_callback(lambda fut: self._withdraw(key, req, fut))
        if key not in self.recorded.suspended:
            self.pending.append((EventType.SUSPENDED, _suspended(req)))
        return req.future

    def request_child(self, path: Path, workflow: str, input: Any) -> asyncio.Future[Any]:
        """Run ``workflow`` as a child run at ``path``; the future gets its output."""
        key = self._check_kind(path, CHILD)
        req = Request(path, CHILD, self.loop.create_future(),
                      payload={"workflow": workflow, "input": input})
        self.requests[key] = req
        req.future.add_done_callback(lambda fut: self._withdraw(key, req, fut))
        if key not in self.recorded.kinds and key not in self.run.children:
            self.pending.append((EventType.CHILD_STARTED, ChildStarted(
                path=list(path), run_id=child_id(self.run_id, key), workflow=workflow)))
        return req.future

    def _withdraw(self, key: str, req: Request, fut: asyncio.Future[Any]) -> None:
        """The code cancelled what awaited a suspension: it no longer waits there."""
        if not fut.cancelled() or self.dead or self.requests.get(key) is not req:
            return
        del self.requests[key]
        self.withdrawn.add(key)
        if req.kind == CHILD:  # the child run is cancelled once this run settles
            if key in self.run.children and key not in self.recorded.withdrawn:
                self.pending.append((EventType.WITHDRAWN, Withdrawn(path=list(req.path))))
            return
        suspended = (EventType.SUSPENDED, _suspended(req))
        if suspended in self.pending:  # never written: nothing to take back
            self.pending.remove(suspended)
        elif key not in self.recorded.withdrawn:
            self.pending.append((EventType.WITHDRAWN, Withdrawn(path=list(req.path))))

    def patched(self, patch_id: str) -> bool:
        return patching.patched(self, patch_id)

    def set_state(self, state: dict[str, Any]) -> None:
        state = canonical(state)
        if not isinstance(state, dict):
            raise TypeError("ctx.set_state takes a dict")
        self.state = state
        self.state_seq += 1
        if self.state_seq > self.recorded.state_sets:
            self.pending.append((EventType.STATE_SET, StateSet(state=state)))

    def waits(self) -> bool:
        """Does the code wait on a suspension (recorded or about to be)?"""
        return any(r.kind == SUSPEND or r.kind == CHILD for r in self.requests.values())

    def open_suspensions(self, *, unwritten: bool = False) -> list[Request]:
        """The suspensions the code waits on that the log holds open: what a resume
        may answer. ``unwritten``: also those whose ``suspended`` event is still to be
        appended (only the engine executing the run knows of them)."""
        held = self.run.suspensions
        return [r for k, r in self.requests.items()
                if r.kind == SUSPEND and (k in held or (unwritten and self._unwritten(r)))]

    def _unwritten(self, req: Request) -> bool:
        path = list(req.path)
        return any(t is EventType.SUSPENDED and p.path == path  # type: ignore[attr-defined]
                   for t, p in self.pending)

    # -- delivery --------------------------------------------------------------------------
    def deliver(self, req: Request, event: Event, key: str | None = None) -> None:
        """Hand a recorded (or just appended) result to what awaits it; results are
        decoded here, when the workflow asks for them, not when the log is read."""
        del self.requests[key if key is not None else path_key(req.path)]
        self.now = event.timestamp
        if req.future.done():
            return
        p = event.payload
        t = event.type
        if t is EventType.STEP_COMPLETED:
            req.future.set_result(self.blobs[p.ref] if p.ref is not None else decode_raw(p.result))
        elif t is EventType.STEP_FAILED:
            req.future.set_exception(
                StepFailed(path_key(req.path), p.error_type, p.message, p.attempt + 1))
        elif t is EventType.RESUMED:
            req.future.set_result(convert_resume(decode_raw(p.data), req.schema))
        elif t is EventType.CHILD_ENDED:
            if p.status == Status.SUCCEEDED:
                req.future.set_result(canonical(p.output))
            else:
                req.future.set_exception(StepFailed(
                    path_key(req.path), p.error_type or "RunCancelled",
                    p.error or f"child run {p.run_id} was {p.status}", 1))
        elif t is EventType.EVENT_RECEIVED:
            req.future.set_result(canonical(decode_raw(p.data)))
        elif t is EventType.TIMER_FIRED:
            if req.suspend_kind == Kind.EVENT:  # the wait for an event timed out
                req.future.set_exception(WaitTimeout(path_key(req.path), req.payload["timeout"]))
            else:
                req.future.set_result(None)

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
            resumed = event.type in ANSWERS
            if req is None and key in self.withdrawn and (
                    resumed or event.type is EventType.CHILD_ENDED):
                self.cursor += 1  # answered after the code stopped waiting there: no-op
                continue
            if req is None or resumed != (req.kind == SUSPEND):
                self.dead = True
                raise self.diverged(
                    key, key if req is not None else self.instead(),
                    f"the log's next entry is {event.type} {key!r}, but the code, replayed to "
                    "this point, does not ask for it", event.position)
            self.cursor += 1
            self.deliver(req, event, key)
        missing = [k for k, s in self.run.suspensions.items()
                   if k not in self.requests and k not in self.withdrawn and "child" not in s]
        missing += [k for k, c in self.run.children.items()
                    if c["status"] not in TERMINAL and not c.get("withdrawn")
                    and k not in self.requests and k not in self.withdrawn]
        if missing:
            self.dead = True
            raise self.diverged(
                missing[0], self.instead(),
                f"the log holds {', '.join(map(repr, missing))} open, but the code no longer "
                "waits there (it returns, fails or waits elsewhere instead)",
                self._place(missing[0]))
        # Drained: what replay needed of the log is spent; keep only what live code reads.
        self.recorded.deliveries = []
        self.recorded.kinds = {}
        self.cursor = 0
        self.log = None

    def close(self) -> None:
        """Stop the workflow coroutine; this execution never appends again."""
        self.dead = True
        if self.main is not None and not self.main.done():
            self.main.cancel()
            try:
                self.loop.run_until_idle()
            except Exception:  # a workflow's own cleanup failing must not stop ours
                log.debug("workflow_cleanup_failed", run_id=self.run_id, exc_info=True)
        self.loop.close()


class Recorded(asyncio.Future[Any]):
    """A step's future during replay: awaited directly while nothing else is ready,
    it takes its recorded result without a turn of the workflow loop."""

    replay: Replay
    key: str

    def __await__(self) -> Any:
        if not self.done() and not self.replay.deliver_on_await(self.key):
            self._asyncio_future_blocking = True
            yield self
        return self.result()

    __iter__ = __await__


def _suspended(req: Request) -> Suspended:
    return Suspended(path=list(req.path), kind=req.suspend_kind, payload=req.payload,
                     due=req.due)


def answer_item(req: Request, value: Any, *, fire: bool = False) -> Item:
    """The event that answers an open suspension with ``value``: a timer fires (so does
    a wait's timeout: ``fire``), anything else is resumed."""
    if fire or req.suspend_kind == Kind.TIMER:
        return EventType.TIMER_FIRED, TimerFired(path=list(req.path))
    return EventType.RESUMED, Resumed(path=list(req.path), data=encode_raw(value))


def convert_resume(data: Any, schema: type[Any] | None) -> Any:
    if schema is None:
        return canonical(data)
    return msgspec.convert(data, schema)


def validate_resume(run_id: str, req: Request, data: Any) -> Any:
    """Check resume data against the suspension's schema before anything is written."""
    try:
        value = canonical(data)
    except (TypeError, ValueError, OverflowError, UnicodeError) as e:
        raise InvalidResumeData(run_id, req.path, str(e)) from None
    if req.schema is not None:
        try:
            msgspec.convert(value, req.schema)
        except (msgspec.ValidationError, TypeError) as e:
            raise InvalidResumeData(run_id, req.path, str(e)) from None
    return value

"""Live execution: the driver that runs a replayed run on.

Step bodies run on the host loop and report into an inbox. The driver takes
one entry at a time, appends it to the log through the run's
:class:`~durable.writer.Writer` (persist before deliver), hands the result to
the workflow, and runs the workflow loop until it is idle; then the next.

A child run (``ctx.child``) is driven by a task of its own, like a step's
body; its news (it waits, it ended) reach this run as ``child_suspended`` and
``child_ended``, through the inbox when told here, else taken in like any other
append (:mod:`durable.intake`).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from durable.codec import decode, encode, storable_text
from durable.errors import EngineClosed, NotSuspended, PositionConflict
from durable.events import (
    Empty,
    Event,
    EventType,
    Status,
    StepFailed,
    Waiting,
)
from durable.fold import RunLog
from durable.intake import Intake
from durable.logs import get_logger
from durable.mailbox import first_take
from durable.paths import path_key
from durable.recorded import CHILD, STEP, SUSPEND
from durable.registry import WorkflowDef
from durable.replay import answer_item
from durable.steps import Request, driving, run_step
from durable.writer import Item, Tail, Writer

log = get_logger("durable")

MAX_BATCH = 256  # step results recorded in one append


class Execution(Intake):
    """A run being executed (or parked, waiting) in this process."""

    def __init__(
        self, writer: Writer, wf: WorkflowDef, run: RunLog, events: list[Event],
        blobs: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(writer, wf, run, events, blobs)
        self.tasks: dict[str, asyncio.Task[None]] = {}  # step bodies running
        # Made when steps run; a parked execution drops it (memory: many runs wait at once).
        self._inbox: asyncio.Queue[tuple[Any, ...]] | None = None
        self.stopped = False  # the engine is closing
        # Timers the code waits on while steps run: fired here when due (see _arm_timers).
        self._alarms: dict[str, asyncio.TimerHandle] = {}
        self._next: tuple[Any, ...] | None = None  # taken from the inbox, handled next
        self.continued: tuple[Tail, Event] | None = None  # the run this one continued as

    @property
    def inbox(self) -> asyncio.Queue[tuple[Any, ...]]:
        if self._inbox is None:
            self._inbox = asyncio.Queue()
        return self._inbox

    # -- live execution ------------------------------------------------------------------
    def _start_step(self, req: Request) -> None:
        req.started = True
        key = path_key(req.path)
        if key in self.run.what_if:  # engine.fork(results=): recorded, not run
            raw = encode(self.run.what_if[key])
            self.inbox.put_nowait(("done", req, decode(raw), 0, raw))
            return
        task = asyncio.get_running_loop().create_task(
            run_step(self.run_id, req, self.inbox, self.recorded.failures.get(key, 0),
                     self.recorded.interrupted),
            name=f"durable-step:{self.run_id}:{key}",
        )
        self.tasks[key] = task

    def _start_child(self, req: Request) -> None:
        """Have the engine bring the child run at ``req`` to a settled state (start it, or
        wait for it wherever it executes); its news come back through the inbox."""
        runner = self.writer.run_child
        if runner is None:
            raise RuntimeError("ctx.child needs an engine (Writer.run_child is not set)")
        req.started = True
        key = path_key(req.path)

        async def body() -> None:
            driving.set(driving.get() | {self.run_id})  # this task's context only
            try:
                await runner(self, req)
            finally:
                self.inbox.put_nowait(("child_done", key))

        self.tasks[key] = asyncio.get_running_loop().create_task(
            body(), name=f"durable-child:{self.run_id}:{key}")

    def request_child_news(self, item: Item) -> asyncio.Future[None]:
        """A child of this run waits or ended: record it (the future is done once it is
        in the log, or known already) and, if it ended, hand its outcome to the code."""
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.inbox.put_nowait(("child", item, fut))
        return fut

    def request_cancel(self, reason: str | None) -> None:
        self.cancel_reason = reason or "cancelled"
        for t in self.tasks.values():
            t.cancel()
        self.inbox.put_nowait(("wake",))

    def request_pause(self) -> None:
        self.pause_requested = True
        self.inbox.put_nowait(("wake",))

    def request_resume(self, key: str, value: Any, *, fire: bool = False
                       ) -> asyncio.Future[None]:
        """Answer an open suspension from this process while the run executes here
        (``fire``: its timer fell due); the future is done once the answer is in the log."""
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.inbox.put_nowait(("resume", key, value, fut, fire))
        return fut

    def request_send(self, name: str, value: Any) -> asyncio.Future[None]:
        """Put an event in the run's mailbox while it executes here; the future is done
        once ``event_sent`` is in the log (the code takes it when it waits for it)."""
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.inbox.put_nowait(("send", name, value, fut))
        return fut

    def moved(self) -> None:
        """The log moved past our position (told by the engine's watcher)."""
        self.inbox.put_nowait(("moved",))

    def stop(self) -> None:
        """The engine is closing: give up the run where it stands."""
        self.stopped = True
        self.inbox.put_nowait(("closed",))
        for t in self.tasks.values():
            t.cancel()

    def _arm_timers(self) -> None:
        """The driver is about to wait for steps: fire, from here, the timers the code
        waits on when they fall due. (A timer's ``suspended`` event is appended with the
        driver's next append, so the engine's timers task cannot see it before; once the
        run settles, that task fires what is left.)"""
        loop = asyncio.get_running_loop()
        for key, req in self.requests.items():
            if req.due is not None and key not in self._alarms:
                self._alarms[key] = loop.call_later(
                    max(0.0, req.due - time.time()), self.inbox.put_nowait, ("fire", key))

    def _disarm(self) -> None:
        for alarm in self._alarms.values():
            alarm.cancel()
        self._alarms.clear()

    def park(self) -> None:
        """Idle until a resume: let go of what only a running execution needs."""
        self._disarm()
        if not self.tasks and self._next is None and (self._inbox is None
                                                       or self._inbox.empty()):
            self._inbox = None

    async def advance(self) -> str:
        """Run live until the run succeeds, fails, is cancelled, paused or suspended."""
        while True:
            self.loop.run_until_idle()
            self._raise_if_nde()
            if self.cancel_reason is not None:
                return await self._cancel()
            if self.main is not None and self.main.done():
                outcome = await self._finish()
                if outcome is not None:
                    return outcome
                continue
            if not self.pause_requested:
                if self.unmarked and self.busy() and not await self.mark_first():
                    continue
                children = [r for r in self.requests.values()
                            if r.kind == CHILD and not r.started]
                # A child's start is recorded before it starts: a cancel of this run
                # then always knows to cancel it.
                starts = [i for i in self.pending if i[0] is EventType.CHILD_STARTED]
                if children and starts:
                    self.pending = [i for i in self.pending if i[0] is not EventType.CHILD_STARTED]
                    if await self._append(starts, with_pending=False) is None:
                        continue
                for req in list(self.requests.values()):
                    if req.kind == STEP and not req.started:
                        self._start_step(req)
                for req in children:
                    self._start_child(req)
                # Only the steps in flight when the previous owner died were interrupted,
                # and only held steps can have failed attempts in the log.
                self.recorded.interrupted = 0
                self.recorded.failures = {}
                if self.run.mailbox and await self._take_mail():
                    continue
            if self.tasks or self._next is not None or not self.inbox.empty():
                self._arm_timers()
                item, self._next = self._next or await self.inbox.get(), None
                await self._handle(item)
                continue
            if self.pause_requested:
                if await self._append([(EventType.PAUSED, Empty())]) is None:
                    continue
                self.pause_requested = False  # honoured: a resume continues the run
                if await self._paused_inbox():
                    continue
                return "paused"
            if self.waits():
                waits = self.run.status != Status.SUSPENDED and not any(
                    t is EventType.SUSPENDED for t, _ in self.pending)
                items: list[Item] = [(EventType.WAITING,
                                      Waiting(paths=sorted(self.run.suspensions)))]
                if (self.pending or waits) and await self._append(
                        items if waits else []) is None:
                    continue
                if (handed := self._handed_in()) is not None:
                    self._next = handed
                    continue
                return "suspended"
            outcome = await self._fail(
                "the workflow awaits something that is not a durable step or suspension; "
                "every await in workflow code must go through ctx"
            )
            if outcome is not None:
                return outcome

    async def _handle(self, item: tuple[Any, ...]) -> None:
        kind = item[0]
        if kind == "wake":
            return
        if kind == "closed":
            self.dead = True
            raise EngineClosed(self.run_id)
        if kind == "moved":
            if not await self.take_in():
                raise PositionConflict(self.run_id, self.position)
            return
        if kind == "resume":
            await self._resume_here(item[1], item[2], item[3], fire=item[4])
            return
        if kind == "send":
            await self.for_caller(item[3], self._send_here(item[1], item[2]))
            return
        if kind == "child":
            await self.for_caller(item[2], self._child_here(item[1]))
            return
        if kind == "child_done":  # the child's task ended: its news came before
            self.tasks.pop(item[1], None)
            return
        if kind == "fire":  # a timer fell due while steps ran (see _arm_timers)
            self._alarms.pop(item[1], None)
            fired: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            await self._resume_here(item[1], None, fired, fire=True)
            if not fired.cancelled():
                fired.exception()  # NotSuspended: withdrawn or fired meanwhile, let it be
            return
        req: Request = item[1]
        key = path_key(req.path)
        if kind == "done":
            await self._completed(self._more_done(item))
        elif kind == "failed":
            _, _, exc, attempt, final = item
            failure = StepFailed(path=list(req.path), error_type=type(exc).__name__,
                                 message=storable_text(str(exc)), attempt=attempt, final=final)
            log.warning("step_failed", run_id=self.run_id, workflow=self.wf.name, step_id=key,
                        attempt=attempt, final=final, error=f"{type(exc).__name__}: {exc}")
            if final:
                self.tasks.pop(key, None)
            while (appended := await self._append([(EventType.STEP_FAILED, failure)])) is None:
                pass
            if final:
                self.deliver(req, appended[-1])

    def busy(self) -> bool:
        """Will the driver act before the run waits: start a step or a child, or take an
        event from the mailbox?"""
        return any(r.kind in (STEP, CHILD) and not r.started for r in self.requests.values()
                   ) or (bool(self.run.mailbox)
                         and first_take(self.requests.values(), self.run.mailbox) is not None)

    def _handed_in(self) -> tuple[Any, ...] | None:
        """Work handed in (a resume, an event, a child's news) while the last append was
        being written: it is taken before the run parks, or nobody would."""
        inbox = self._inbox
        while inbox is not None and not inbox.empty():
            item = inbox.get_nowait()
            if item[0] != "wake":
                return item
        return None

    async def _paused_inbox(self) -> bool:
        """Just paused: record what was handed in meanwhile. True if it continues the run
        (an answer to an open suspension does); a due timer waits for the continue."""
        while (item := self._handed_in()) is not None:
            if item[0] == "resume":
                self._next = item
                return True
            if item[0] != "fire":
                await self._handle(item)
        return False

    def _more_done(self, first: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        """``first`` and the step completions queued right behind it (up to the first
        other entry, kept for next): branches that finished together commit together."""
        done = [first]
        while len(done) < MAX_BATCH and self._inbox is not None and not self._inbox.empty():
            nxt = self._inbox.get_nowait()
            if nxt[0] != "done":
                self._next = nxt
                break
            done.append(nxt)
        return done

    async def _completed(self, done: list[tuple[Any, ...]]) -> None:
        """Record step results in one append, then hand them to the workflow one at a
        time, running it until idle after each: what replay does with the same log."""
        items: list[Item] = []
        blobs: dict[str, bytes] = {}
        for _, req, value, attempt, raw in done:
            self.tasks.pop(path_key(req.path), None)
            data, blob = self.writer.step_result(req.path, raw, attempt)
            data.what_if = path_key(req.path) in self.run.what_if
            if data.ref is not None:
                self.blobs[data.ref] = value
            items.append((EventType.STEP_COMPLETED, data))
            blobs.update(blob)
        while (appended := await self._append(items, blobs)) is None:
            pass
        results = appended[len(appended) - len(done):]
        for i, ((_, req, *_), event) in enumerate(zip(done, results, strict=True)):
            if i:
                self.loop.run_until_idle()
                self._raise_if_nde()
            self.deliver(req, event)

    async def _resume_here(self, key: str, value: Any, fut: asyncio.Future[None], *,
                           fire: bool = False) -> None:
        async def answer() -> None:
            while (req := self._open(key)) is not None:
                appended = await self._append([answer_item(req, value, fire=fire)])
                if appended is not None:
                    self.deliver(req, appended[-1], key)
                    return
            if not fut.done():  # answered meanwhile, or withdrawn: the caller hears why
                fut.set_exception(NotSuspended(self.run_id, self.run.status, key))

        await self.for_caller(fut, answer())

    def _open(self, key: str) -> Request | None:
        """The suspension at ``key`` if the code waits there and it is open (or about to
        be recorded)."""
        req = self.requests.get(key)
        if req is None or req.kind != SUSPEND or (
                key not in self.run.suspensions and not self._unwritten(req)):
            return None
        return req

    def close(self) -> None:
        """Stop the workflow coroutine and any step bodies still running."""
        self._disarm()
        for t in self.tasks.values():
            t.cancel()
        self.tasks.clear()
        held, self._next = self._next, None
        while held is not None or (self._inbox is not None and not self._inbox.empty()):
            item, held = held or self._inbox.get_nowait(), None  # type: ignore[union-attr]
            fut = item[3] if item[0] in ("resume", "send") else (
                item[2] if item[0] == "child" else None)
            if fut is not None and not fut.done():  # never appended: say why
                fut.set_exception(EngineClosed(self.run_id) if self.stopped
                                      else PositionConflict(self.run_id, self.position))
        super().close()

"""The engine's commands on a run: start, resume, cancel, pause.

Whoever holds a run executes it; anyone may append to it at the position they
expect. So a command first looks at where the run stands:

- executing in this engine: the command is handed to its driver, which
  appends it in turn with its own events;
- parked here (suspended, hot): used only if the log has not moved since (the
  append names the parked position; a refusal is checked against the log);
- suspended or paused, or ``running`` with a holder that stopped: this engine
  claims it with the command's own append and executes it;
- ``running`` with a live holder elsewhere: the command is appended without
  taking the run over, the holder takes it in, and a resume waits for the run
  to settle wherever it executes (continuing it here if that holder stops).

Every check (determinism, the target, the data) happens before the append, so a
refused command writes nothing; a lost race is looked at again from the log."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Literal

from durable.codec import storable_text
from durable.errors import (
    AmbiguousResume,
    InvalidResumeData,
    NotSuspended,
    PositionConflict,
    RunAlreadyStarted,
    RunNotFound,
    WaitsOnTimer,
)
from durable.events import (
    TERMINAL,
    Cancelled,
    Empty,
    Event,
    EventType,
    Kind,
    Recovered,
    Status,
    provisional,
)
from durable.execution import Execution
from durable.fold import RunLog, fold
from durable.paths import parse_path, path_key
from durable.recovery import claim
from durable.replay import answer_item, validate_resume
from durable.results import RunResult
from durable.run_info import info_from
from durable.runtime import Runtime
from durable.starts import started_data
from durable.steps import Request, inside
from durable.surfaced import Nested, check_nested
from durable.writer import Item, Tail

ROUNDS = 20  # lost races looked at again before giving up
HELD_ELSEWHERE = object()


async def start(
    rt: Runtime, run_id: str, workflow: str, input: Any, *, resource_id: str | None,
    thread_id: str | None, initial_state: dict[str, Any] | None,
    request_context: dict[str, Any] | None,
    parent: tuple[str, list[str | int]] | None = None,
) -> RunResult:
    """``parent``: the run and path whose ``ctx.child`` this run is."""
    wf = rt.registry.get(workflow)
    data = started_data(wf.name, wf.version, input, initial_state, request_context,
                        resource_id, thread_id,
                        parent_run_id=parent[0] if parent else None,
                        parent_path=parent[1] if parent else None)
    # A run id this engine is busy with exists already (or is being started): refuse at
    # once rather than wait for it. Otherwise the log decides between starters.
    if not await rt.holding.locks.try_acquire(run_id):
        raise RunAlreadyStarted(run_id, await _status(rt, run_id))
    try:
        try:
            tail, started = await rt.writer.start(run_id, data)
        except PositionConflict:
            raise RunAlreadyStarted(run_id, await _status(rt, run_id)) from None
        ex = Execution(rt.writer, wf, tail.run, [started])
        ex.replay()  # nothing recorded yet: runs the workflow to its first requests
        return await drive(rt, ex)
    finally:
        rt.holding.locks.release(run_id)


ELSEWHERE: Literal["elsewhere"] = "elsewhere"


async def taking(rt: Runtime, run: RunLog) -> list[Item] | Literal["elsewhere"] | None:
    """How this engine takes a run it does not execute, as its log stands: with no claim
    of its own (``[]``: it waits, or is paused), with a ``recovered`` claim (its holder
    stopped), not at all (``ELSEWHERE``: its holder lives, or it is queued and the
    worker that claims it takes it in; append for it). None: no head row yet; look again."""
    if run.status == Status.PENDING:  # a worker's, within its queue's limits
        return ELSEWHERE
    if run.status != Status.RUNNING:
        return []
    head = await rt.store.read_head(run.id)  # who holds it (its position may lag)
    if head is None:
        return None
    if not rt.holder_gone(head):
        return ELSEWHERE
    return [(EventType.RECOVERED, Recovered(owner=rt.owner().id, previous=head.owner_id))]


async def _status(rt: Runtime, run_id: str) -> str:
    head = await rt.store.read_head(run_id)
    return head.status if head is not None else "running"


async def drive(rt: Runtime, ex: Execution) -> RunResult:
    """Execute here until the run settles (the caller holds its lock)."""
    if await rt.holding.drive(ex) is None:  # another engine took it: the log says how
        return info_from(await rt.load(ex.run_id), RunResult)
    return info_from(ex.run, RunResult)


# -- resume --------------------------------------------------------------------------------
async def resume(
    rt: Runtime, run_id: str, data: Any, step: Any, kind: str | None = None
) -> RunResult:
    key = path_key(parse_path(step)) if step is not None else None
    within = inside(run_id)  # from one of the run's own steps (or a child's): never wait
    for _ in range(ROUNDS):
        ex = rt.holding.active.get(run_id)
        if ex is not None:
            result = await resume_active(rt, ex, data, key, kind, wait=not within)
            if result is not None:
                return result
            continue
        async with rt.holding.locks.hold(run_id):
            if run_id in rt.holding.active:
                continue
            outcome = await resume_held(rt, run_id, data, key, kind)
        if outcome is HELD_ELSEWHERE:
            if within:
                return info_from(await rt.load(run_id), RunResult)
            return await settle(rt, run_id)
        if isinstance(outcome, RunResult):
            return outcome
    raise RuntimeError(f"could not resume run {run_id!r}: it kept changing; try again")


async def resume_active(
    rt: Runtime, ex: Execution, data: Any, key: str | None, kind: str | None, *, wait: bool
) -> RunResult | None:
    """The run executes here: its driver appends the answer between its own events."""
    req = _target(ex, key, kind, unwritten=True)
    value = validate_resume(ex.run_id, req, data)
    try:
        await ex.request_resume(path_key(req.path), value, fire=kind == Kind.TIMER)
    except PositionConflict:
        return None  # it lost the run meanwhile: look again
    if not wait:
        return info_from(ex.run, RunResult)
    await rt.holding.locks.wait_free(ex.run_id)  # its driver holds the lock until it settles
    return info_from(await rt.load(ex.run_id), RunResult)


async def resume_held(
    rt: Runtime, run_id: str, data: Any, key: str | None, kind: str | None,
    claimed: Callable[[], None] | None = None, events: list[Event] | None = None,
) -> RunResult | object | None:
    """With the run's lock: resume a parked copy, or claim the run, or append for its
    holder elsewhere (``HELD_ELSEWHERE``). None: a race was lost, look again.
    ``claimed`` is called once the answer is in the log, before the run executes on."""
    parked = rt.holding.unpark(run_id)
    if parked is not None:
        result = await _resume_parked(rt, parked, data, key, kind, claimed)
        if result is not None:
            return result
    if not events:  # (given: read a moment ago; a stale log loses the claim's race)
        events = await rt.store.read_events(run_id)
    if not events:
        raise RunNotFound(run_id)
    run = fold(events)
    if run.status not in (Status.SUSPENDED, Status.PAUSED, Status.RUNNING):
        raise NotSuspended(run_id, run.status, key)
    claiming = await taking(rt, run)
    if claiming is None:
        return None
    if isinstance(claiming, str):  # ELSEWHERE
        return await _append_for_holder(rt, events, run, data, key, kind)
    ex = await rt.replayed(events, run)  # NonDeterminismError here: nothing written
    try:
        item, req = _answer(ex, data, key, kind)
    except BaseException:
        ex.close()
        raise
    return await take_over(rt, ex, [*claiming, item], req, claimed)


async def _resume_parked(
    rt: Runtime, ex: Execution, data: Any, key: str | None, kind: str | None,
    claimed: Callable[[], None] | None = None,
) -> RunResult | None:
    """The hot path. None: the parked copy is stale (the log moved), go cold."""
    try:
        item, req = _answer(ex, data, key, kind)
    except Nested:
        rt.holding.park(ex)
        raise
    except (NotSuspended, AmbiguousResume, InvalidResumeData):
        head = await rt.store.read_head(ex.run_id)
        if head is not None and head.position == ex.position:  # current: the refusal stands
            rt.holding.park(ex)
            raise
        ex.close()
        return None
    return await take_over(rt, ex, [item], req, claimed)


async def take_over(rt: Runtime, ex: Execution, items: list[Item], req: Request | None,
                    claimed: Callable[[], None] | None = None) -> RunResult | None:
    """Append ``items`` (the answer to ``req`` last, after a ``recovered`` claim, if any)
    holding the run, and execute here. None: someone else appended first.

    The answer is handed to the code before the append, and the code runs until it
    next waits: nothing it does until then leaves this process (a step's body, a
    child, starts only once the claim is in the log; a conflict throws the execution
    away). If it then only waits, what it recorded meanwhile (new suspensions, its
    end) goes in the same append, stamped with the answer's time, which is what it
    saw as ``ctx.now()``. If it goes on (a step, a child, an event to take), that
    waits for its next append: a claim that said ``suspended`` while a step runs
    would let another engine take the run over."""
    if ex.run.status == Status.PAUSED:
        ex.pause_requested = False  # a paused run answered or continued goes on
    ts = datetime.now(UTC)
    after: list[Item] = []
    ending: Item | None = None
    if req is not None:
        ex.deliver(req, provisional(*items[-1], ts))
        held, ex.pending = ex.pending, []
        ex.loop.run_until_idle()
        after, ex.pending = ex.pending, held
        if ex.main is not None and ex.main.done():
            ending = ex.ending_item()
        if ending is None and ex.busy():
            ex.pending.extend(after)
            after = []
    claim = asyncio.ensure_future(
        ex.claim([*items, *after, *([ending] if ending is not None else [])], ts=ts))
    try:
        await asyncio.shield(claim)  # a caller that gives up must not skip what follows
    except PositionConflict:
        ex.close()
        return None
    except asyncio.CancelledError:
        claim.add_done_callback(lambda done: _given_up(rt, ex, done, ended=ending is not None))
        raise
    except BaseException:
        ex.close()
        raise
    if items[0][0] is EventType.RECOVERED:  # the step in flight when its holder stopped
        ex.recorded.interrupted += 1
    if claimed is not None:
        claimed()
    if ending is not None:  # the answer ended the run
        ex.close()
        rt.holding.ended(ex)
        return info_from(ex.run, RunResult)
    return await drive(rt, ex)


def _given_up(rt: Runtime, ex: Execution, claim: asyncio.Future[Any], *, ended: bool) -> None:
    """The caller of a claim gave up while it was being written: if it was, end the run's
    bookkeeping (an ended run's parent hears) or let the run go (any engine claims it)."""
    ex.close()
    if claim.cancelled() or claim.exception() is not None:
        return
    if ended:
        rt.holding.ended(ex)
    else:
        rt.holding.let_go(ex.run_id)


async def _append_for_holder(
    rt: Runtime, events: list[Any], run: Any, data: Any, key: str | None, kind: str | None
) -> object | None:
    """The run executes elsewhere: replay it to find the suspension and its schema,
    then append the answer for its holder, keeping it the holder."""
    ex = await rt.replayed(events, run)
    try:
        item, _ = _answer(ex, data, key, kind)
        await rt.writer.append(ex.tail, [item], hold=False)
    except PositionConflict:
        return None
    finally:
        ex.close()
    return HELD_ELSEWHERE


def _answer(ex: Execution, data: Any, key: str | None, kind: str | None
            ) -> tuple[Item, Request | None]:
    """The event that answers this resume, checked; raises what a refusal raises."""
    if ex.run.status == Status.PAUSED and data is None and key is None and kind is None:
        return (EventType.CONTINUED, Empty()), None
    if ex.run.status == Status.PAUSED and kind == Kind.TIMER:  # fires once continued
        raise NotSuspended(ex.run_id, ex.run.status, key)
    req = _target(ex, key, kind)
    value = validate_resume(ex.run_id, req, data)
    return answer_item(req, value, fire=kind == Kind.TIMER), req


def _target(ex: Execution, key: str | None, kind: str | None, *, unwritten: bool = False
            ) -> Request:
    check_nested(ex.run, key, kind)  # a child's suspension: resume the child instead
    # Timers are the engine's to fire (so are the timeouts of waits for an event):
    # a resume never answers one.
    every = ex.open_suspensions(unwritten=unwritten)
    if kind == Kind.TIMER:
        open_reqs = [r for r in every if r.due is not None]
    elif kind is not None:
        open_reqs = [r for r in every if r.suspend_kind == kind]
    else:
        open_reqs = [r for r in every if r.suspend_kind != Kind.TIMER]
    status = ex.run.status
    if key is None:
        if not open_reqs:
            raise NotSuspended(ex.run_id, status)
        if len(open_reqs) > 1:
            raise AmbiguousResume(ex.run_id, [r.path for r in open_reqs])
        return open_reqs[0]
    for r in open_reqs:
        if path_key(r.path) == key:
            return r
    for r in every:
        if path_key(r.path) == key and r.suspend_kind == Kind.TIMER:
            raise WaitsOnTimer(ex.run_id, status, key, r.payload["until"])
    raise NotSuspended(ex.run_id, status, key)


async def settle(rt: Runtime, run_id: str) -> RunResult:
    """Wait for a run held elsewhere to settle; continue it here if its holder stops."""
    while True:
        head = await rt.watcher.until(
            run_id, lambda h: h.status != "running" or rt.holder_gone(h))
        if head.status != "running":
            return info_from(await rt.load(run_id), RunResult)
        ex = await claim(rt, head)
        if ex is None:  # another engine got there first, or the run moved on
            await asyncio.sleep(rt.watcher.timeout)
            continue
        try:
            return await drive(rt, ex)
        finally:
            rt.holding.locks.release(run_id)


# -- cancel and pause ----------------------------------------------------------------------
async def cancel(rt: Runtime, run_id: str, reason: str | None) -> RunResult:
    if reason is not None and not isinstance(reason, str):
        raise ValueError(f"a cancel reason must be a string, not {reason!r}")
    ex = rt.holding.active.get(run_id)
    if ex is not None:
        ex.request_cancel(storable_text(reason) if reason else None)
        if not inside(run_id):
            await rt.holding.locks.wait_free(run_id)
        return info_from(await rt.load(run_id), RunResult)
    item = (EventType.CANCELLED, Cancelled(reason=storable_text(reason or "cancelled")))
    async with rt.holding.locks.hold(run_id):
        rt.holding.forget(run_id)
        result = await _append_request(rt, run_id, item, lambda run: run.status not in TERMINAL)
    return result


async def pause(rt: Runtime, run_id: str) -> RunResult:
    ex = rt.holding.active.get(run_id)
    if ex is not None:  # executing here: stop at the next step boundary, then return
        ex.request_pause()
        if inside(run_id):  # from its own step: the boundary comes after it
            return info_from(ex.run, RunResult)
        await rt.holding.locks.wait_free(run_id)
        return info_from(await rt.load(run_id), RunResult)
    # executing elsewhere (or its holder stopped): leave a request in its log
    return await _append_request(
        rt, run_id, (EventType.PAUSE_REQUESTED, Empty()),
        lambda run: run.status == Status.RUNNING and not run.pause_pending)


async def _append_request(rt: Runtime, run_id: str, item: Item, applies: Any) -> RunResult:
    """Append ``item`` for whoever holds the run, if ``applies`` to the run as it stands."""
    for _ in range(ROUNDS):
        run = await rt.load(run_id)
        if not applies(run):
            return info_from(run, RunResult)
        tail = Tail(run)
        try:
            await rt.writer.append(tail, [item], hold=False)
        except PositionConflict:
            continue
        return info_from(tail.run, RunResult)
    raise RuntimeError(f"could not change run {run_id!r}: it kept changing; try again")

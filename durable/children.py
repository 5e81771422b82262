"""Child runs (``ctx.child``): nested workflows with their own logs and ids.

A child is started, and brought to a settled state, by a task of its parent's
driver, like a step's body (:func:`run_child`). Whenever a child settles,
wherever it executes and whatever moved it (its start, a resume, a timer, an
event, a recovery, a cancel), its parent is told (:func:`report`): the
parent's log records ``child_suspended`` (the child's open suspensions then
surface in the parent under the child's path) or ``child_ended`` (the answer
``ctx.child`` was waiting for, and the parent continues). News is recorded only
if the child's log moved past what the parent knows, so telling twice is
harmless, and a parent that missed the news (a crash in between) learns it
when its driver looks at the child again.

A resume through the parent by a path under a child is forwarded to the child
(:func:`resume`), to any depth. When a run ends, its children still going are
cancelled, and so are children the code stopped waiting for (:func:`settled`).
"""

from __future__ import annotations

from typing import Any

from durable import commands
from durable.blocking import block
from durable.errors import (
    NonDeterminismError,
    PositionConflict,
    RunAlreadyStarted,
    WorkflowNotFound,
)
from durable.events import TERMINAL, ChildEnded, ChildSuspended, EventType, Status
from durable.execution import Execution
from durable.fold import RunLog, fold
from durable.logs import get_logger
from durable.paths import path_key
from durable.results import RunResult
from durable.run_info import info_from
from durable.runtime import Runtime
from durable.starts import child_id, continued_id
from durable.steps import Request, inside
from durable.surfaced import Nested, is_news
from durable.writer import Item, Tail

log = get_logger("durable")


# -- the parent's driver starts a child ------------------------------------------------
async def run_child(rt: Runtime, parent: Execution, req: Request) -> None:
    """Start the child at ``req`` (or find it started), and stay until it settles."""
    key = path_key(req.path)
    cid = child_id(parent.run_id, key)
    run = parent.run
    try:
        await commands.start(
            rt, cid, req.payload["workflow"], req.payload["input"],
            resource_id=run.resource_id, thread_id=run.thread_id, initial_state=None,
            request_context=run.request_context, parent=(parent.run_id, list(req.path)))
    except RunAlreadyStarted:
        pass  # a replay or a recovery of the parent: the child exists
    except WorkflowNotFound as e:  # nothing was started: the code's ctx.child fails
        await parent.request_child_news((EventType.CHILD_ENDED, ChildEnded(
            path=list(req.path), run_id=cid, position=1, status=Status.FAILED,  # past 0
            error=str(e), error_type="WorkflowNotFound")))
        return
    while True:
        while (head := await rt.store.read_head(cid)) is not None and head.status == "running":
            await commands.settle(rt, cid)  # executing elsewhere: wait (or take it over)
        child = await rt.load(cid)
        if news(child) is not None or child.status != Status.SUCCEEDED:
            break
        cid = continued_id(cid)  # it continued as a new run: that one is the child now
    await report(rt, child)


# -- a child tells its parent -----------------------------------------------------------
def news(child: RunLog) -> Item | None:
    """What the parent records of its child as the child's log stands; None while the
    child runs."""
    path = list(child.parent_path or ())
    if child.status == Status.SUCCEEDED and child.output == {
            "continued_as": continued_id(child.id)}:
        return None  # continued as a new run (same parent and path): that one reports
    if child.status in TERMINAL:
        return EventType.CHILD_ENDED, ChildEnded(
            path=path, run_id=child.id, position=child.version, status=child.status,
            output=child.output if child.status == Status.SUCCEEDED else None,
            error=child.error, error_type=None if child.status == Status.SUCCEEDED else (
                "RunCancelled" if child.status == Status.CANCELLED else "ChildFailed"))
    if child.status in (Status.SUSPENDED, Status.PAUSED):
        return EventType.CHILD_SUSPENDED, ChildSuspended(
            path=path, run_id=child.id, position=child.version,
            suspensions=[{"path": list(s["path"]), "kind": s["kind"], "payload": s["payload"]}
                         for s in child.suspensions.values()])
    return None


async def report(rt: Runtime, child: RunLog) -> None:
    """Tell the child's parent how the child stands (a no-op if it knows already)."""
    parent_id = child.parent_run_id
    item = news(child) if parent_id is not None and child.parent_path is not None else None
    if item is None or parent_id is None:
        return
    for _ in range(commands.ROUNDS):
        ex = rt.holding.active.get(parent_id)
        if ex is not None:  # executing here: its driver records it between its own events
            try:
                await ex.request_child_news(item)
            except Exception:  # it lost the run meanwhile: look again
                continue
            return
        async with rt.holding.locks.hold(parent_id):
            if parent_id in rt.holding.active:
                continue
            try:
                told = await _tell_held(rt, parent_id, item)
            except NonDeterminismError as e:  # the parent is marked blocked; the sweep
                await block(rt, e, f"child {child.id}")  # of recover() tells it again
                return
        if told is ORPHAN and item[0] is not EventType.CHILD_ENDED:
            await cancel(rt, child.id, f"its parent run {parent_id} has ended")
        if told:
            return
    log.warning("child_news_not_recorded", run_id=child.id, parent_run_id=parent_id)


ORPHAN: Any = object()  # true: the parent has ended, and the child is to be cancelled


async def _tell_held(rt: Runtime, parent_id: str, item: Item) -> Any:
    """With the parent's lock. False: a race was lost, look again."""
    parked = rt.holding.unpark(parent_id)
    if parked is not None:
        if not parked.child_news(item):
            rt.holding.park(parked)
            return True
        if item[0] is EventType.CHILD_ENDED and parked.run.status == Status.SUSPENDED:
            return await _continue(rt, parked, [], item)
        parked.close()
    events = await rt.store.read_events(parent_id)
    if not events:
        return True  # no parent (it was never started): nobody to tell
    run = fold(events)
    if run.status in TERMINAL:  # a child it started as it ended: it outlives no parent
        return ORPHAN
    if not is_news(run, item):
        return True
    claiming = await commands.taking(rt, run)
    if claiming is None:
        return False
    if item[0] is EventType.CHILD_SUSPENDED or run.status == Status.PAUSED or (
            isinstance(claiming, str)):  # ELSEWHERE: its holder takes it in
        try:  # nothing for the code yet, or the run executes elsewhere: its holder takes it in
            await rt.writer.append(Tail(run), [item], hold=False)
        except PositionConflict:
            return False
        return True
    return await _continue(rt, await rt.replayed(events, run), claiming, item)


async def _continue(rt: Runtime, ex: Execution, claiming: list[Item], item: Item) -> bool:
    """The child ended: claim the waiting parent with the news and execute it here."""
    req = ex.requests.get(path_key(item[1].path))  # type: ignore[attr-defined]
    if req is not None and req.kind != "child":
        req = None
    return await commands.take_over(rt, ex, [*claiming, item], req) is not None


# -- after a run settles -----------------------------------------------------------------
async def settled(rt: Runtime, run_id: str) -> None:
    """The run settled here: tell its parent, and cancel the children it no longer
    waits for (all of them once it ended). In the background, never under a run's
    lock: a child's parent (and a parent's children) take theirs."""
    try:
        run = await rt.load(run_id)
        await report(rt, run)
        for c in list(run.children.values()):
            if c["status"] not in TERMINAL and (run.status in TERMINAL or c.get("withdrawn")):
                await cancel(rt, await _latest(rt, c["run_id"]), f"its parent run {run.id} "
                             + ("ended" if run.status in TERMINAL else "stopped waiting"))
    except Exception:  # the run's own outcome stands; a recovery of the parent retries
        log.warning("child_bookkeeping_failed", run_id=run_id, exc_info=True)


async def _latest(rt: Runtime, run_id: str) -> str:
    """The run that ``run_id`` continued as (to any generation), or itself."""
    while (head := await rt.store.read_head(run_id)) is not None and head.status == "succeeded":
        if news(await rt.load(run_id)) is not None:
            break
        run_id = continued_id(run_id)
    return run_id


async def sweep(rt: Runtime) -> None:
    """Tell parents what a crash kept from them, and cancel children whose parent has
    ended: for runs that settled while the engine telling their parent stopped."""
    for head in await rt.store.unsettled_children():
        try:
            child = await rt.load(head.run_id)
            if child.status in TERMINAL or child.parent_run_id is None:
                await report(rt, child)
                continue
            parent = await rt.store.read_head(child.parent_run_id)
            if parent is not None and parent.status in TERMINAL:
                await cancel(rt, child.id, f"its parent run {parent.run_id} has ended")
            else:
                await report(rt, child)
        except Exception:
            log.warning("child_sweep_failed", run_id=head.run_id, exc_info=True)


async def cancel(rt: Runtime, run_id: str, reason: str | None) -> RunResult:
    """Cancel the run, then its children still going (to any depth), and tell its parent."""
    result = await commands.cancel(rt, run_id, reason)
    if result.status == Status.CANCELLED:
        await settled(rt, run_id)
    return result


# -- a resume through the parent ------------------------------------------------------------
async def resume(rt: Runtime, run_id: str, data: Any, step: Any, kind: str | None = None
                 ) -> RunResult:
    """Resume the run; a path under one of its children is forwarded to that child."""
    try:
        return await commands.resume(rt, run_id, data, step, kind)
    except Nested as nested:  # nothing was written: answer the child, to any depth
        child = nested.run_id
        try:
            await resume(rt, child, data, nested.path, kind)
        finally:  # its settling tells this run too (once counts); and if the child was
            # not waiting there after all, this run missed its news: tell it now
            await report(rt, await rt.load(child))
    if not inside(run_id):
        await rt.holding.locks.wait_free(run_id)
    return info_from(await rt.load(run_id), RunResult)

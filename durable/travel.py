"""Forking a run: a new run whose log begins with a prefix of another's.

The fork's own first event, ``forked``, names the original and the position
it was taken at; the events before it are read from the original, never copied
(:mod:`durable.store.log_reads`), so a fork costs the same whether the original
holds ten events or a hundred thousand. The original is only read. Taken
where the original was suspended, the fork is suspended at the same places;
anywhere else it is paused, and ``resume()`` continues it under today's code.
What-if ``results`` are recorded as those steps' results when the fork's code
reaches them, instead of running the steps.
"""

from __future__ import annotations

import uuid
from typing import Any

from durable.codec import encode
from durable.errors import RunNotFound
from durable.events import TERMINAL, Event, EventType, Forked, Status
from durable.fold import RunLog, fold
from durable.paths import Path, parse_path, path_key
from durable.runtime import Runtime
from durable.writer import Tail

At = int | str | Path | list[str | int]
MAX_POSITION = 2**53  # past any log, and within every store's integers


async def fork(rt: Runtime, run_id: str, at: At, results: dict[Any, Any] | None) -> RunLog:
    """Write the fork's ``forked`` event; return the fork as folded."""
    what_if = _what_if(results)
    position = await _position(rt, run_id, at) if not isinstance(at, int) or isinstance(
        at, bool) else at
    if not 1 <= position <= MAX_POSITION:
        raise ValueError(f"at must be a position of run {run_id!r}'s log (1 or more), "
                         f"not {position}")
    snapshot, events = await rt.store.read_run(run_id, position)
    if snapshot is None and not events:
        raise RunNotFound(run_id)
    run = fold(events, snapshot.load() if snapshot is not None else None)
    after = await rt.store.read_events(run_id, position, position + 1)
    if run.version != position or (not after and run.status in TERMINAL):
        end = run.version - 1 if run.status in TERMINAL else run.version
        raise ValueError(f"at must be a position of run {run_id!r}'s log before its "
                         f"terminal event (1..{end}), not {position}")
    in_flight = [c for c in run.children.values() if c["status"] not in TERMINAL]
    if in_flight:
        step = path_key(in_flight[0]["path"])
        raise ValueError(
            f"at {position} run {run_id!r} waits for its child run at step {step!r}: a fork "
            "cannot share that child. Fork before the child started, or after it ended")
    if what_if:
        await _check_not_recorded(rt, run_id, position, what_if)
    payload = Forked(
        forked_from=run_id, fork_position=position, root=await _root(rt, run_id),
        status=Status.SUSPENDED if run.status == Status.SUSPENDED else Status.PAUSED,
        workflow=run.workflow, version=run.workflow_version, resource_id=run.resource_id,
        thread_id=run.thread_id, state=run.state, results=what_if)
    run._id = payload.run_id = str(uuid.uuid4())
    await rt.writer.append(Tail(run), [(EventType.FORKED, payload)], hold=False)
    return run


def _what_if(results: dict[Any, Any] | None) -> dict[str, Any]:
    if results is None:
        return {}
    if not isinstance(results, dict):
        raise ValueError("results must map step paths (a step id, a tuple, or a path joined "
                         f"with '.') to the results to record, not {type(results).__name__}")
    out: dict[str, Any] = {}
    for step, value in results.items():
        key = path_key(parse_path(step))
        try:
            encode(value)
        except (TypeError, ValueError, OverflowError) as e:
            raise ValueError(f"the what-if result for step {key!r} cannot be stored ({e}): "
                             "give dicts, lists, scalars or msgspec.Struct values") from None
        out[key] = value
    return out


async def _position(rt: Runtime, run_id: str, at: Any) -> int:
    """``at`` a step path: the position just before the first event of that step."""
    target = parse_path(at)
    for e in await rt.events(run_id):
        if _path_of(e) == target:
            return e.position - 1
    raise ValueError(f"run {run_id!r}'s log holds no step {path_key(target)!r}: give a step "
                     "path it reached, or a position")


def _path_of(e: Event) -> tuple[str | int, ...] | None:
    if e.type in (EventType.STEP_COMPLETED, EventType.STEP_FAILED, EventType.SUSPENDED,
                  EventType.CHILD_STARTED):
        return tuple(e.payload.path)
    return None


async def _check_not_recorded(rt: Runtime, run_id: str, position: int,
                              what_if: dict[str, Any]) -> None:
    """A what-if result for a step the fork's log already holds would never be used."""
    for e in await rt.store.read_events(run_id, 0, position):
        if e.type is EventType.STEP_COMPLETED and path_key(e.payload.path) in what_if:
            raise ValueError(
                f"step {path_key(e.payload.path)!r} completed at event {e.position}, before "
                f"the fork point {position}: its what-if result would never be used. Fork "
                "before it (at a position, or at the step's path)")


async def _root(rt: Runtime, run_id: str) -> str:
    """The run whose chain the original's log began as: itself, or (the original being a
    fork, wherever this fork is taken) the root its own ``forked`` event names."""
    head = await rt.store.read_head(run_id)
    if head is None or head.forked_from is None or head.fork_position is None:
        return run_id
    own = await rt.store.read_events(run_id, head.fork_position, head.fork_position + 1)
    return str(own[0].payload.root)

"""What reaches a run from outside its code, besides a resume: events sent to its
mailbox (``engine.send_event``) and its timers falling due (the engine's timers
task). Both go through the same paths as a resume (:mod:`durable.commands`): to the
driver when the run executes here, a parked or replayed copy claimed with the
append when nobody executes it, an append for the holder when it executes
elsewhere."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from durable.codec import canonical
from durable.commands import (
    ROUNDS,
    resume_active,
    resume_held,
    take_over,
    taking,
)
from durable.errors import PositionConflict, RunEnded, RunNotFound
from durable.events import TERMINAL, Event, Kind, Status
from durable.execution import Execution
from durable.fold import fold
from durable.mailbox import first_take, sent
from durable.paths import check_name
from durable.runtime import Runtime
from durable.writer import Item, Tail


# -- events ---------------------------------------------------------------------------------
async def send_event(rt: Runtime, run_id: str, name: str, data: Any) -> None:
    """Put an event in the run's mailbox; a wait for ``name`` takes it (now, if the run
    waits for it: a suspended run is continued here before this returns)."""
    check_name("an event name", name)
    try:
        value = canonical(data)
    except (TypeError, ValueError, OverflowError, UnicodeError) as e:
        raise ValueError(f"the event's data cannot be stored: {e}") from None
    for _ in range(ROUNDS):
        ex = rt.holding.active.get(run_id)
        if ex is not None:  # executing here: its driver appends it between its own events
            try:
                await ex.request_send(name, value)
            except PositionConflict:
                continue  # it lost the run meanwhile: look again
            return
        async with rt.holding.locks.hold(run_id):
            if run_id in rt.holding.active:
                continue
            if await _send_held(rt, run_id, name, value):
                return
    raise RuntimeError(f"could not send {name!r} to run {run_id!r}: it kept changing; try again")


async def _send_held(rt: Runtime, run_id: str, name: str, value: Any) -> bool:
    """With the run's lock. False: a race was lost, look again."""
    parked = rt.holding.unpark(run_id)
    if parked is not None:
        if parked.run.status == Status.PAUSED:  # kept for when it continues: not claimed
            rt.holding.park(parked)
        elif await _deliver(rt, parked, name, value, []):
            return True
    events = await rt.store.read_events(run_id)
    if not events:
        raise RunNotFound(run_id)
    run = fold(events)
    if run.status in TERMINAL:
        raise RunEnded(run_id, run.status, f"event {name!r}")
    claiming = await taking(rt, run)
    if claiming is None:
        return False
    if run.status == Status.PAUSED or isinstance(claiming, str):  # ELSEWHERE
        # Paused (taken when it continues), or executing elsewhere (its holder takes it in)
        try:
            await rt.writer.append(Tail(run), [sent(name, value)], hold=False)
        except PositionConflict:
            return False
        return True
    return await _deliver(rt, await rt.replayed(events, run), name, value, claiming)


async def _deliver(rt: Runtime, ex: Execution, name: str, value: Any, claiming: list[Item]
                   ) -> bool:
    """Claim the run with the event (and, if the code waits for one of its name, the
    event that takes it), then execute it here until it settles."""
    at = ex.position + len(claiming) + len(ex.pending) + 1  # (see Intake.claim's order)
    take = first_take(ex.open_suspensions(),
                      [*ex.run.mailbox, {"position": at, "name": name, "data": value}])
    items = [*claiming, sent(name, value)]
    if take is not None:
        items.append(take[1])
    return await take_over(rt, ex, items, take[0] if take else None) is not None


# -- timers ---------------------------------------------------------------------------------
async def fire_timer(rt: Runtime, run_id: str, key: str,
                     fired: Callable[[], None] | None = None,
                     events: list[Event] | None = None) -> None:
    """Fire the run's due timer at ``key`` (or a wait's timeout): append ``timer_fired``
    and continue the run, here if nobody executes it (then ``fired`` is called once
    the event is in the log, before the run executes on), or for its holder
    elsewhere. Raises :class:`NotSuspended` when the timer is no longer open (another
    engine fired it, the event came, or the run was cancelled),
    :class:`NonDeterminismError` when today's code cannot replay the run (nothing is
    written). ``events``: the run's log, read a moment ago with others' (used once)."""
    for _ in range(ROUNDS):
        ex = rt.holding.active.get(run_id)
        if ex is not None:  # executing here: its driver appends the firing in turn
            if await resume_active(rt, ex, None, key, Kind.TIMER, wait=False) is not None:
                return
            continue
        async with rt.holding.locks.hold(run_id):
            if run_id in rt.holding.active:
                continue
            outcome = await resume_held(rt, run_id, None, key, Kind.TIMER, fired, events)
            events = None
        if outcome is not None:
            return
    raise RuntimeError(f"could not fire timer {key!r} of run {run_id!r}: it kept changing")

"""Events: ``ctx.wait_for_event`` and ``engine.send_event``, on every store.

A run has a mailbox: an event sent before the code waits for it is kept and taken
once, when it does; the log records both the sending (``event_sent``) and the
taking (``event_received``, at the point the code took it), so a cold replay does
what the live run did. A wait's ``timeout`` raises ``WaitTimeout`` in the workflow.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

import durable
from durable.errors import NotSuspended, RunEnded, RunNotFound, WaitTimeout
from tests.test_timers import settled


def mail(engine: durable.Engine) -> None:
    @engine.workflow("wait")
    async def wait(ctx: durable.Context, _: Any) -> Any:
        got = await ctx.wait_for_event("paid", "payment")
        return {"got": got, "then": await ctx.step("ship", lambda: "shipped")}

    @engine.workflow("later")
    async def later(ctx: durable.Context, _: Any) -> Any:
        first = await ctx.suspend("first")  # events may arrive while it waits here
        ticks = [await ctx.wait_for_event("tick", "tick") for _ in range(3)]
        return {"first": first, "ticks": ticks}

    @engine.workflow("deadline")
    async def deadline(ctx: durable.Context, seconds: float) -> Any:
        try:
            return await ctx.wait_for_event("paid", "payment", timeout=seconds)
        except WaitTimeout as e:
            return f"timed out: {e.step}"

    @engine.workflow("uncaught")
    async def uncaught(ctx: durable.Context, seconds: float) -> Any:
        return await ctx.wait_for_event("paid", "payment", timeout=seconds)


def gated(engine: durable.Engine, gate: asyncio.Event) -> None:
    @engine.workflow("busy")
    async def busy(ctx: durable.Context, _: Any) -> Any:
        async def slow() -> str:
            await gate.wait()
            return "done"
        first = await ctx.step("slow", slow)
        return {"first": first, "got": await ctx.wait_for_event("go", "go")}


def types(events: list[durable.Event]) -> list[str]:
    return [e.type for e in events]


async def test_a_waiting_run_is_continued_by_the_event_before_send_returns(
    store_url: str, open_engine: Any
) -> None:
    engine = await open_engine(store_url, mail)
    run = await engine.create_run("wait")
    started = await run.start()
    assert started.status == "suspended"
    [s] = started.suspensions
    assert (s.path, s.kind, s.payload) == (("paid",), "event", {"name": "payment"})
    listed = await engine.list_suspended_runs(workflow="wait")
    assert [r.suspensions[0].kind for r in listed.runs] == ["event"]
    await engine.send_event(run.run_id, "payment", {"amount": 12})
    info = await engine.get_run(run.run_id)
    assert (info.status, info.output) == ("succeeded", {"got": {"amount": 12},
                                                        "then": "shipped"})
    history = await engine.history(run.run_id)
    assert types(history) == ["started", "suspended", "event_sent", "event_received",
                              "step_completed", "succeeded"]
    sent = next(e for e in history if e.type == "event_sent")
    received = next(e for e in history if e.type == "event_received")
    assert received.data["sent"] == sent.position and received.data["path"] == ["paid"]
    assert (await engine.list_suspended_runs(workflow="wait")).total == 0
    assert (await engine.check_replay(run.run_id)).ok
    assert await engine.verify(run.run_id)


async def test_events_sent_before_the_run_waits_are_kept_and_taken_in_order(
    store_url: str, open_engine: Any
) -> None:
    engine = await open_engine(store_url, mail)
    run = await engine.create_run("later")
    assert (await run.start()).status == "suspended"
    for i in range(3):
        await engine.send_event(run.run_id, "tick", i)
        assert (await engine.get_run(run.run_id)).status == "suspended"  # waits on "first"
    done = await run.resume("go")
    assert (done.status, done.output) == ("succeeded", {"first": "go", "ticks": [0, 1, 2]})
    history = await engine.history(run.run_id)
    assert types(history).count("event_sent") == 3
    assert types(history).count("event_received") == 3  # each taken once
    assert (await engine.check_replay(run.run_id)).ok


async def test_an_event_sent_cold_from_another_engine(shared_url: str, open_engine: Any
                                                      ) -> None:
    first = await open_engine(shared_url, mail)
    run = await first.create_run("wait")
    await run.start()
    other = await open_engine(shared_url, mail)  # nothing parked there: replays the run
    await other.send_event(run.run_id, "payment", "cash")
    info = await other.get_run(run.run_id)
    assert (info.status, info.output["got"]) == ("succeeded", "cash")
    # the first engine's parked copy is stale: it is not used, and nothing is written twice
    with pytest.raises(RunEnded):
        await first.send_event(run.run_id, "payment", "again")
    assert types(await first.history(run.run_id)).count("event_received") == 1


async def test_an_event_sent_while_the_run_executes_its_previous_step(
    store_url: str, open_engine: Any
) -> None:
    gate = asyncio.Event()
    engine = await open_engine(store_url, lambda e: gated(e, gate))
    run = await engine.create_run("busy")
    task = asyncio.create_task(run.start())
    await asyncio.sleep(0.1)  # the step runs
    await engine.send_event(run.run_id, "go", "early")  # returns once it is in the log
    assert (await engine.get_run(run.run_id)).status == "running"
    gate.set()
    done = await task
    assert (done.status, done.output) == ("succeeded", {"first": "done", "got": "early"})
    t = types(await engine.history(run.run_id))
    # sent before the code waited, taken where the code asked for it
    assert t.index("event_sent") < t.index("step_completed") < t.index("event_received")
    assert (await engine.check_replay(run.run_id)).ok


async def test_an_event_sent_from_another_engine_while_the_run_executes(
    shared_url: str, open_engine: Any
) -> None:
    gate = asyncio.Event()
    holder = await open_engine(shared_url, lambda e: gated(e, gate))
    sender = await open_engine(shared_url, lambda e: gated(e, asyncio.Event()))
    run = await holder.create_run("busy")
    task = asyncio.create_task(run.start())
    await asyncio.sleep(0.2)
    await sender.send_event(run.run_id, "go", "from afar")  # appended for the holder
    gate.set()
    done = await task
    assert (done.status, done.output) == ("succeeded", {"first": "done", "got": "from afar"})
    t = types(await holder.history(run.run_id))
    assert t.count("event_sent") == 1 and t.count("event_received") == 1
    assert "recovered" not in t  # the holder kept the run
    assert (await sender.check_replay(run.run_id)).ok


async def test_a_timeout_raises_wait_timeout_in_the_workflow(store_url: str,
                                                             open_engine: Any) -> None:
    engine = await open_engine(store_url, mail, timer_poll=0.05)
    run = await engine.create_run("deadline")
    started = await run.start(0.2)
    [s] = started.suspensions
    assert s.kind == "event" and s.payload["timeout"] == 0.2 and "until" in s.payload
    done = await settled(engine, run.run_id)
    assert (done.status, done.output) == ("succeeded", "timed out: paid")
    assert "timer_fired" in types(await engine.history(run.run_id))
    assert (await engine.check_replay(run.run_id)).ok
    with pytest.raises(RunEnded):  # the run has ended: the late event is refused
        await engine.send_event(run.run_id, "payment", 1)

    failing = await engine.create_run("uncaught")
    await failing.start(0.1)
    failed = await settled(engine, failing.run_id)
    assert failed.status == "failed" and "no event arrived" in (failed.error or "")


async def test_an_event_in_time_drops_the_timeout(store_url: str, open_engine: Any) -> None:
    engine = await open_engine(store_url, mail, timer_poll=0.05)
    run = await engine.create_run("deadline")
    await run.start(30)
    await engine.send_event(run.run_id, "payment", "in time")
    assert (await engine.get_run(run.run_id)).output == "in time"
    assert "timer_fired" not in types(await engine.history(run.run_id))
    # the timeout's timer is gone: nothing is left that could fire, whenever it falls due
    assert await engine.store.due_timers(time.time() + 60, ["deadline"], 10) == []


async def test_refused_sends_write_nothing(store_url: str, open_engine: Any) -> None:
    engine = await open_engine(store_url, mail)
    with pytest.raises(RunNotFound):
        await engine.send_event("no-such-run", "payment")
    run = await engine.create_run("wait")
    await run.start()
    before = len(await engine.history(run.run_id))
    with pytest.raises(ValueError, match="cannot be stored"):
        await engine.send_event(run.run_id, "payment", object())
    with pytest.raises(ValueError, match="event name"):
        await engine.send_event(run.run_id, "", 1)
    assert len(await engine.history(run.run_id)) == before
    await engine.send_event(run.run_id, "payment", 1)
    after = len(await engine.history(run.run_id))
    with pytest.raises(RunEnded, match="has ended") as refused:
        await engine.send_event(run.run_id, "payment", 2)
    assert isinstance(refused.value, NotSuspended)
    assert len(await engine.history(run.run_id)) == after


async def test_bad_wait_arguments_fail_the_run_with_what_to_do(open_engine: Any) -> None:
    def bad(engine: durable.Engine) -> None:
        @engine.workflow("bad")
        async def wf(ctx: durable.Context, timeout: Any) -> Any:
            return await ctx.wait_for_event("e", "name", timeout=timeout)

    engine = await open_engine("memory://", bad)
    for timeout in (0, -1, float("nan"), "soon"):
        run = await engine.create_run("bad")
        result = await run.start(timeout)
        assert result.status == "failed" and "positive number" in (result.error or "")

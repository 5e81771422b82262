"""Durable timers: ``ctx.sleep`` and ``ctx.sleep_until`` on every store.

A timer is a suspension of kind ``timer`` whose due time is in the log; any open
engine with the workflow registered fires it (``timer_fired``) and continues
the run, once, whoever else is open, and also after every engine was down when
it fell due.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

import durable
from durable.errors import NotSuspended


async def settled(engine: durable.Engine, run_id: str, timeout: float = 10.0,
                  status: tuple[str, ...] = ("succeeded", "failed", "cancelled")
                  ) -> durable.RunInfo:
    """The run once its status is one of ``status`` (polled: a timer's run is
    ``suspended`` in between, which ``engine.wait`` counts as settled)."""
    deadline = time.monotonic() + timeout
    while True:
        info = await engine.get_run(run_id)
        if info.status in status:
            return info
        if time.monotonic() > deadline:
            raise TimeoutError(f"run {run_id} is still {info.status}")
        await asyncio.sleep(0.02)


def naps(engine: durable.Engine) -> None:
    @engine.workflow("nap")
    async def nap(ctx: durable.Context, seconds: float) -> dict[str, Any]:
        before = await ctx.step("before", lambda: "b")
        await ctx.sleep("nap", seconds)
        after = await ctx.step("after", lambda: "a")
        return {"before": before, "after": after, "woke": ctx.now().isoformat()}

    @engine.workflow("until")
    async def until(ctx: durable.Context, when: float) -> str:
        await ctx.sleep_until("alarm", datetime.fromtimestamp(when, UTC))
        return "rang"

    @engine.workflow("nap-or-answer")
    async def nap_or_answer(ctx: durable.Context, seconds: float) -> list[Any]:
        return list(await asyncio.gather(ctx.sleep("nap", seconds), ctx.suspend("answer")))

    @engine.workflow("nap-during-step")
    async def nap_during_step(ctx: durable.Context, seconds: float) -> list[Any]:
        async def slow() -> str:
            await asyncio.sleep(seconds * 5)
            return "slow"
        return list(await asyncio.gather(ctx.step("slow", slow), ctx.sleep("nap", seconds)))

    @engine.workflow("no-wait")
    async def no_wait(ctx: durable.Context, _: Any) -> str:
        await ctx.sleep("zero", 0)
        await ctx.sleep("negative", -5)
        await ctx.sleep_until("past", ctx.now() - timedelta(days=1))
        return "done"

    @engine.workflow("deadline")
    async def deadline(ctx: durable.Context, seconds: float) -> str:
        answer = asyncio.ensure_future(ctx.suspend("approve"))
        timer = asyncio.ensure_future(ctx.sleep("deadline", seconds))
        done, pending = await asyncio.wait({answer, timer},
                                           return_when=asyncio.FIRST_COMPLETED)
        for loser in pending:
            loser.cancel()
        return f"answered {answer.result()}" if answer in done else "too late"

    @engine.workflow("bad-sleep")
    async def bad_sleep(ctx: durable.Context, how: str) -> None:
        if how == "naive":
            await ctx.sleep_until("x", datetime(2030, 1, 1))
        else:
            await ctx.sleep("x", float("nan"))


async def test_a_timer_suspends_the_run_and_fires_when_due(store_url: str, open_engine: Any
                                                           ) -> None:
    engine = await open_engine(store_url, naps)
    run = await engine.create_run("nap")
    t0 = time.time()
    result = await run.start(0.3)
    assert (result.status, result.suspended) == ("suspended", [("nap",)])
    [waiting] = (await engine.list_suspended_runs()).runs
    [(kind, until)] = [(s.kind, s.payload["until"]) for s in waiting.suspensions]
    assert kind == "timer" and datetime.fromisoformat(until).timestamp() >= t0 + 0.3

    done = await settled(engine, run.run_id)
    assert done.status == "succeeded"
    assert done.output["before"] == "b" and done.output["after"] == "a"
    # the time the workflow sees after the timer is the firing's, not before the due time
    assert datetime.fromisoformat(done.output["woke"]) >= datetime.fromisoformat(until)
    types = [e.type for e in await engine.history(run.run_id)]
    assert types == ["started", "step_completed", "suspended", "timer_fired",
                     "step_completed", "succeeded"]
    assert (await engine.list_suspended_runs()).total == 0
    assert await engine.verify(run.run_id)
    assert (await engine.check_replay(run.run_id)).ok


async def test_sleep_until_and_a_cold_replay_of_a_fired_timer(store_url: str, open_engine: Any
                                                              ) -> None:
    engine = await open_engine(store_url, naps, max_parked=0)  # every resume replays
    run = await engine.create_run("until")
    assert (await run.start(time.time() + 0.2)).suspended == [("alarm",)]
    done = await settled(engine, run.run_id)
    assert (done.status, done.output) == ("succeeded", "rang")
    assert (await engine.check_replay(run.run_id)).ok


async def test_a_timer_that_is_already_due_when_asked_records_nothing(
    store_url: str, open_engine: Any
) -> None:
    engine = await open_engine(store_url, naps)
    result = await (await engine.create_run("no-wait")).start(None)
    assert (result.status, result.output) == ("succeeded", "done")
    assert [e.type for e in await engine.history(result.run_id)] == ["started", "succeeded"]


async def test_bad_timer_arguments_fail_the_run_with_what_to_do(open_engine: Any) -> None:
    engine = await open_engine("memory://", naps)
    naive = await (await engine.create_run("bad-sleep")).start("naive")
    assert naive.status == "failed" and "timezone-aware" in (naive.error or "")
    nan = await (await engine.create_run("bad-sleep")).start("nan")
    assert nan.status == "failed" and "finite number of seconds" in (nan.error or "")


async def test_a_resume_never_answers_a_timer(store_url: str, open_engine: Any) -> None:
    engine = await open_engine(store_url, naps)
    run = await engine.create_run("nap-or-answer")
    result = await run.start(60)
    assert sorted(result.suspended) == [("answer",), ("nap",)]
    with pytest.raises(durable.WaitsOnTimer, match="waits on a timer") as refused:
        await run.resume("x", step="nap")
    assert isinstance(refused.value, NotSuspended)  # a DurableError, as API.md lists
    assert "Status." not in str(refused.value)
    # with no step named, the one suspension a resume can answer is the input
    answered = await run.resume("hi")
    assert (answered.status, answered.suspended) == ("suspended", [("nap",)])
    logged = [e.type for e in await engine.history(run.run_id)]
    assert logged[-2:] == ["resumed", "waiting"]
    with pytest.raises(NotSuspended):
        await run.resume("again")
    assert len(await engine.history(run.run_id)) == len(logged)  # refused: nothing written


async def test_a_timer_falls_due_while_a_step_of_the_run_executes(
    store_url: str, open_engine: Any
) -> None:
    engine = await open_engine(store_url, naps)
    result = await (await engine.create_run("nap-during-step")).start(0.1)
    assert (result.status, result.output) == ("succeeded", ["slow", None])
    types = [e.type for e in await engine.history(result.run_id)]
    # the driver appended the firing between its own events, before the step completed
    assert types.index("timer_fired") < types.index("step_completed")


async def test_cancel_drops_the_timer(store_url: str, open_engine: Any) -> None:
    engine = await open_engine(store_url, naps)
    run = await engine.create_run("nap")
    await run.start(30)
    assert (await run.cancel("no nap")).status == "cancelled"
    # the timer is gone: nothing is left that could fire, whenever it falls due
    assert await engine.store.due_timers(time.time() + 60, ["nap"], 10) == []
    assert [e.type for e in await engine.history(run.run_id)][-1] == "cancelled"


async def test_a_timer_due_while_every_engine_was_down_fires_on_the_next_open(
    shared_url: str, open_engine: Any
) -> None:
    first = durable.Engine(shared_url)
    naps(first)
    async with first:
        run = await first.create_run("nap")
        assert (await run.start(3.0)).status == "suspended"
    await asyncio.sleep(3.2)  # it falls due while no engine is open
    opened = time.monotonic()
    second = await open_engine(shared_url, naps)
    done = await settled(second, run.run_id)
    took = time.monotonic() - opened
    assert done.status == "succeeded"
    # fired on opening (about 0.1 s), not after a second wait of the whole 3 s
    assert took < 3.0, took


async def test_two_engines_fire_a_timer_once(shared_url: str, open_engine: Any) -> None:
    a = await open_engine(shared_url, naps, timer_poll=0.05)
    b = await open_engine(shared_url, naps, timer_poll=0.05)
    runs = [await a.create_run("nap") for _ in range(10)]
    for run in runs:
        await run.start(0.3)
    for run in runs:
        assert (await settled(b, run.run_id)).status == "succeeded"
        types = [e.type for e in await b.history(run.run_id)]
        assert types.count("timer_fired") == 1 and types.count("succeeded") == 1
        assert await b.verify(run.run_id)


async def test_an_engine_fires_only_timers_of_workflows_it_has(shared_url: str,
                                                               open_engine: Any) -> None:
    other = await open_engine(shared_url, timer_poll=0.05)  # registers nothing
    first = durable.Engine(shared_url)
    naps(first)
    async with first:
        run = await first.create_run("nap")
        await run.start(2.0)  # first closes long before the timer is due
    await asyncio.sleep(2.5)  # due, and other looked several times
    assert (await other.get_run(run.run_id)).status == "suspended"
    later = await open_engine(shared_url, naps)
    assert (await settled(later, run.run_id)).status == "succeeded"


async def test_a_deadline_timer_wins_and_the_suspension_is_withdrawn(
    store_url: str, open_engine: Any
) -> None:
    engine = await open_engine(store_url, naps, max_parked=0)
    run = await engine.create_run("deadline")
    assert sorted((await run.start(0.2)).suspended) == [("approve",), ("deadline",)]
    done = await settled(engine, run.run_id)
    assert (done.status, done.output) == ("succeeded", "too late")
    types = [e.type for e in await engine.history(run.run_id)]
    assert types[-3:] == ["timer_fired", "withdrawn", "succeeded"]
    with pytest.raises(NotSuspended):
        await run.resume("yes")
    assert (await engine.check_replay(run.run_id)).ok


async def test_an_answer_beats_the_deadline_and_the_timer_never_fires(
    store_url: str, open_engine: Any
) -> None:
    engine = await open_engine(store_url, naps, timer_poll=0.05)
    run = await engine.create_run("deadline")
    await run.start(30)
    done = await run.resume("yes")
    assert (done.status, done.output) == ("succeeded", "answered yes")
    types = [e.type for e in await engine.history(run.run_id)]
    assert "timer_fired" not in types and types[-2:] == ["withdrawn", "succeeded"]
    # the withdrawn timer is gone: nothing is left that could fire
    assert await engine.store.due_timers(time.time() + 60, ["deadline"], 10) == []

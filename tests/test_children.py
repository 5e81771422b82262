"""Child runs: ``ctx.child`` on every store.

A child is its own run (own log, own id, ``parent_run_id`` set); its suspensions
surface in the parent under the child's path, to any depth, and a resume
through the parent by that path reaches it, also cold from another engine;
its output returns to the parent, its failure raises there; cancelling the
parent cancels its children and theirs.
"""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import pytest

import durable
from durable.errors import NotSuspended
from tests.test_timers import settled


def family(engine: durable.Engine) -> None:
    @engine.workflow("approve")
    async def approve(ctx: durable.Context, x: int) -> Any:
        doubled = await ctx.step("prep", lambda: x * 2)
        answer = await ctx.suspend("approval", {"x": doubled})
        return {"x": doubled, "answer": answer}

    @engine.workflow("legal")
    async def legal(ctx: durable.Context, x: int) -> Any:
        return {"legal": await ctx.child("legal", "approve", x)}

    @engine.workflow("parent")
    async def parent(ctx: durable.Context, x: int) -> Any:
        review = await ctx.child("review", "legal", x)
        return {"review": review, "after": await ctx.step("after", lambda: "after")}

    @engine.workflow("fails")
    async def fails(ctx: durable.Context, _: Any) -> Any:
        def boom() -> None:
            raise ValueError("card declined")
        return await ctx.step("charge", boom)

    @engine.workflow("catches")
    async def catches(ctx: durable.Context, _: Any) -> Any:
        try:
            return await ctx.child("pay", "fails", None)
        except durable.StepFailed as e:
            return f"caught: {e}"

    @engine.workflow("fan")
    async def fan(ctx: durable.Context, xs: list[int]) -> Any:
        return await ctx.map("each", lambda c, x: c.child("one", "approve", x), xs)

    @engine.workflow("napper")
    async def napper(ctx: durable.Context, seconds: float) -> Any:
        await ctx.sleep("nap", seconds)
        return "rested"

    @engine.workflow("naps")
    async def naps(ctx: durable.Context, seconds: float) -> Any:
        return await ctx.child("kid", "napper", seconds)

    @engine.workflow("unknown")
    async def unknown(ctx: durable.Context, _: Any) -> Any:
        return await ctx.child("kid", "no-such-workflow", None)

    @engine.workflow("rounds")
    async def rounds(ctx: durable.Context, n: int) -> Any:
        flaky = {"left": 1}

        def once_flaky() -> int:
            if flaky["left"]:
                flaky["left"] -= 1
                raise ConnectionError("try again")
            return ctx.attempt
        attempt = await ctx.step("call", once_flaky, retries=2, backoff=0.01)
        if n > 0:
            await ctx.continue_as_new(n - 1)
        return {"answer": await ctx.suspend("last"), "attempt": attempt}

    @engine.workflow("loops")
    async def loops(ctx: durable.Context, n: int) -> Any:
        return await ctx.child("kid", "rounds", n)

    @engine.workflow("race")
    async def race(ctx: durable.Context, _: Any) -> Any:
        def boom() -> None:
            raise RuntimeError("branch failed")
        return await asyncio.gather(ctx.child("kid", "approve", 1), ctx.step("bad", boom))


async def test_a_child_two_deep_surfaces_its_path_and_is_resumed_cold(
    shared_url: str, open_engine: Any
) -> None:
    first = await open_engine(shared_url, family)
    run = await first.create_run("parent")
    started = await run.start(3)
    assert (started.status, started.suspended) == ("suspended", [("review", "legal", "approval")])
    assert started.suspend_payloads == {"review.legal.approval": {"x": 6}}
    assert [s.kind for s in started.suspensions] == ["input"]
    runs = {r.workflow: r for r in (await first.list_runs()).runs}
    assert runs["legal"].parent_run_id == run.run_id
    assert runs["approve"].parent_run_id == runs["legal"].run_id
    assert {r.status for r in runs.values()} == {"suspended"}
    listed = await first.list_suspended_runs(workflow="parent")
    assert listed.runs[0].suspended == [("review", "legal", "approval")]

    fresh = await open_engine(shared_url, family)  # another engine: nothing parked there
    again = await fresh.create_run("parent", run_id=run.run_id)
    done = await again.resume("yes", step=("review", "legal", "approval"))
    assert done.status == "succeeded"
    assert done.output == {"review": {"legal": {"x": 6, "answer": "yes"}}, "after": "after"}
    for r in runs.values():
        assert (await fresh.get_run(r.run_id)).status == "succeeded"
        assert (await fresh.check_replay(r.run_id)).ok
        assert await fresh.verify(r.run_id)
    types = [e.type for e in await fresh.history(run.run_id)]
    assert types == ["started", "child_started", "child_suspended", "waiting", "child_ended",
                     "step_completed", "succeeded"]
    with pytest.raises(NotSuspended):  # a late duplicate through the parent
        await again.resume("again", step=("review", "legal", "approval"))


async def test_resuming_the_child_directly_continues_the_parent(store_url: str,
                                                                 open_engine: Any) -> None:
    engine = await open_engine(store_url, family)
    run = await engine.create_run("legal")
    await run.start(1)
    [child] = [r for r in (await engine.list_runs(workflow="approve")).runs]
    await (await engine.create_run("approve", run_id=child.run_id)).resume("direct")
    info = await settled(engine, run.run_id)  # told in the background
    assert (info.status, info.output) == ("succeeded",
                                          {"legal": {"x": 2, "answer": "direct"}})


async def test_a_failing_child_raises_step_failed_in_the_parent(store_url: str,
                                                                open_engine: Any) -> None:
    engine = await open_engine(store_url, family)
    result = await (await engine.create_run("catches")).start()
    assert result.status == "succeeded"
    assert "card declined" in result.output and result.output.startswith("caught:")
    missing = await (await engine.create_run("unknown")).start()
    assert missing.status == "failed" and "no-such-workflow" in (missing.error or "")


async def test_cancel_of_a_parent_with_a_waiting_grandchild(store_url: str,
                                                             open_engine: Any) -> None:
    engine = await open_engine(store_url, family)
    run = await engine.create_run("parent")
    await run.start(1)
    everyone = (await engine.list_runs()).runs
    assert len(everyone) == 3
    cancelled = await run.cancel("no longer needed")
    assert cancelled.status == "cancelled"
    for r in everyone:
        info = await engine.get_run(r.run_id)
        assert info.status == "cancelled", (r.workflow, info.status)
        assert info.suspensions == []
    assert (await engine.list_suspended_runs()).total == 0
    with pytest.raises(NotSuspended):
        await run.resume("late", step=("review", "legal", "approval"))


async def test_children_in_a_for_each_resumed_in_every_order(store_url: str,
                                                              open_engine: Any) -> None:
    engine = await open_engine(store_url, family)
    for order in itertools.permutations(range(3)):
        run = await engine.create_run("fan")
        started = await run.start([1, 2, 3])
        assert sorted(started.suspended) == [("each", i, "one", "approval") for i in range(3)]
        for n, i in enumerate(order):
            result = await run.resume(f"ok{i}", step=("each", i, "one", "approval"))
            assert result.status == ("succeeded" if n == 2 else "suspended")
        assert result.output == [{"x": 2 * (i + 1), "answer": f"ok{i}"} for i in range(3)]
        assert (await engine.check_replay(run.run_id)).ok


async def test_a_timer_in_a_child_fires_and_the_parent_goes_on(store_url: str,
                                                               open_engine: Any) -> None:
    engine = await open_engine(store_url, family, timer_poll=0.05)
    run = await engine.create_run("naps")
    started = await run.start(0.2)
    assert started.suspensions[0].kind == "timer"
    done = await settled(engine, run.run_id)
    assert (done.status, done.output) == ("succeeded", "rested")


async def test_a_failing_branch_cancels_a_child_and_the_run_fails(store_url: str,
                                                                  open_engine: Any) -> None:
    engine = await open_engine(store_url, family)
    result = await (await engine.create_run("race")).start()
    assert result.status == "failed" and "branch failed" in (result.error or "")
    [child] = (await engine.list_runs(workflow="approve")).runs
    # cancelled as soon as its parent ended (in the background: the parent's caller
    # does not wait for it)
    assert (await settled(engine, child.run_id, status=("cancelled",))).status == "cancelled"


async def test_a_child_that_continues_as_new_and_retries(store_url: str,
                                                         open_engine: Any) -> None:
    engine = await open_engine(store_url, family)
    run = await engine.create_run("loops")
    started = await run.start(2)  # the child continues twice, then waits
    assert (started.status, started.suspended) == ("suspended", [("kid", "last")])
    done = await run.resume("bye", step=("kid", "last"))
    assert (done.status, done.output) == ("succeeded", {"answer": "bye", "attempt": 1})
    kids = (await engine.list_runs(workflow="rounds")).runs
    assert len(kids) == 3 and {k.parent_run_id for k in kids} == {run.run_id}
    for k in kids:
        history = [e.type for e in await engine.history(k.run_id)]
        assert history.count("step_failed") == 1  # one failed attempt, then the retry

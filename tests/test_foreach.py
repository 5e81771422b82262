"""For-each (``ctx.map``) and branches that finish together, on every store."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import pytest

import durable
from durable.errors import NotSuspended

CALLS: list[tuple[str, int]] = []  # (run input tag, item) each time a step body runs


def register(engine: durable.Engine) -> None:
    @engine.workflow("many")
    async def many(ctx: durable.Context, n: int) -> list[int]:
        async def one(sub: durable.Context, i: int) -> int:
            return await sub.step("square", lambda: i * i)
        return await ctx.map("items", one, list(range(n)))

    @engine.workflow("three-waits")
    async def three_waits(ctx: durable.Context, tag: str) -> list[str]:
        async def one(sub: durable.Context, i: int) -> str:
            def work() -> int:
                CALLS.append((tag, i))
                return i
            await sub.step("work", work)
            answer = await sub.suspend("ok", {"item": i})
            return f"{i}:{answer}"
        return await ctx.map("each", one, [0, 1, 2])

    @engine.workflow("race")
    async def race(ctx: durable.Context, _: Any) -> str:
        a = asyncio.ensure_future(ctx.step("a", lambda: "a"))
        b = asyncio.ensure_future(ctx.step("b", lambda: "b"))
        done, _pending = await asyncio.wait({a, b}, return_when=asyncio.FIRST_COMPLETED)
        first = sorted(f.result() for f in done)
        return "+".join(first) + "|" + await ctx.step("after", lambda: "c")


async def test_branches_that_finish_together_commit_together(store_url: str, open_engine: Any
                                                            ) -> None:
    engine = await open_engine(store_url, register, max_parked=0)
    result = await (await engine.create_run("many")).start(40)
    assert result.output == [i * i for i in range(40)]
    events = await engine.history(result.run_id)
    completed = [e for e in events if e.type == "step_completed"]
    assert len(completed) == 40
    # the 40 results were recorded in far fewer appends than 40 (an append's events share
    # its timestamp), and the log replays to the same run
    assert len({e.timestamp for e in completed}) < 10
    assert (await engine.check_replay(result.run_id)).ok


async def test_a_race_between_steps_that_finish_together_replays(store_url: str,
                                                                 open_engine: Any) -> None:
    engine = await open_engine(store_url, register)
    result = await (await engine.create_run("race")).start(None)
    assert result.status == "succeeded"
    assert result.output in ("a|c", "b|c", "a+b|c")
    assert (await engine.check_replay(result.run_id)).ok


async def test_three_iterations_wait_at_once_and_any_order_of_answers_gives_one_result(
    store_url: str, open_engine: Any
) -> None:
    engine = await open_engine(store_url, register, max_parked=0)  # every resume replays
    CALLS.clear()
    outputs = []
    for order in itertools.permutations(range(3)):
        tag = "".join(map(str, order))
        run = await engine.create_run("three-waits")
        first = await run.start(tag)
        assert sorted(first.suspended) == [("each", 0, "ok"), ("each", 1, "ok"),
                                           ("each", 2, "ok")]
        for k, i in enumerate(order):
            res = await run.resume(f"yes{i}", step=("each", i, "ok"))
            assert res.status == ("succeeded" if k == 2 else "suspended")
            assert len(res.suspended) == 2 - k
        outputs.append(res.output)
        # each iteration's step ran once, however the answers came
        assert sorted(i for t, i in CALLS if t == tag) == [0, 1, 2]
        assert (await engine.check_replay(run.run_id)).ok
    assert all(o == ["0:yes0", "1:yes1", "2:yes2"] for o in outputs)


async def test_a_stale_resume_aimed_at_an_answered_suspension_in_a_loop_is_refused(
    store_url: str, open_engine: Any
) -> None:
    def loop(engine: durable.Engine) -> None:
        @engine.workflow("ask-thrice")
        async def ask_thrice(ctx: durable.Context, _: Any) -> list[Any]:
            return [await ctx.suspend("ok", {"round": i}) for i in range(3)]  # ok, ok#2, ok#3

    engine = await open_engine(store_url, loop, max_parked=0)
    run = await engine.create_run("ask-thrice")
    assert (await run.start(None)).suspended == [("ok",)]
    assert (await run.resume("first", step="ok")).suspended == [("ok#2",)]
    before = len(await engine.history(run.run_id))
    # a retry of the first answer (a webhook delivered twice) must not answer round two
    with pytest.raises(NotSuspended):
        await run.resume("first again", step="ok")
    assert len(await engine.history(run.run_id)) == before  # nothing written
    assert (await run.resume("second", step="ok#2")).suspended == [("ok#3",)]
    done = await run.resume("third")
    assert done.output == ["first", "second", "third"]

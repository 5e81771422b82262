"""``ctx.continue_as_new``: a run ends naming its continuation, which executes at once."""

from __future__ import annotations

import asyncio
import itertools
import time
from typing import Any

import durable


def register(engine: durable.Engine) -> None:
    @engine.workflow("counter", version="1")
    async def counter(ctx: durable.Context, state: dict[str, int]) -> dict[str, int]:
        n = state["n"]
        total = state["total"]
        for i in range(3):  # a slice of an endless loop
            total += await ctx.step("add", lambda i=i: n * 3 + i)
        if n + 1 < state["until"]:
            try:
                await ctx.continue_as_new({"n": n + 1, "total": total, "until": state["until"]})
            except Exception:  # workflow code catching errors does not swallow it
                return {"swallowed": 1}
        return {"n": n, "total": total}

    @engine.workflow("wait-then-continue")
    async def wait_then_continue(ctx: durable.Context, round_: int) -> Any:
        if round_ == 0:
            answer = await ctx.suspend("go")
            await ctx.continue_as_new(round_ + 1 + int(answer))
        return {"round": round_}

    @engine.workflow("bad-continue")
    async def bad_continue(ctx: durable.Context, _: Any) -> None:
        await ctx.continue_as_new(object())  # cannot be stored


async def _chain(engine: durable.Engine, run_id: str, timeout: float = 10.0
                 ) -> list[durable.RunInfo]:
    """The run and every run it continued as, once the last one settled."""
    deadline = time.monotonic() + timeout
    chain = []
    while True:
        info = await engine.get_run(run_id)
        if info.status == "running":
            if time.monotonic() > deadline:
                raise TimeoutError(run_id)
            await asyncio.sleep(0.02)
            continue
        chain.append(info)
        if info.status != "succeeded" or "continued_as" not in (info.output or {}):
            return chain
        run_id = info.output["continued_as"]


async def test_a_run_continues_as_new_runs_each_with_a_short_history(
    store_url: str, open_engine: Any
) -> None:
    engine = await open_engine(store_url, register)
    first = await (await engine.create_run("counter", resource_id="acct-1")).start(
        {"n": 0, "total": 0, "until": 4})
    assert first.status == "succeeded" and set(first.output) == {"continued_as"}
    chain = await _chain(engine, first.run_id)
    assert len(chain) == 4
    assert chain[-1].output == {"n": 3, "total": sum(range(12))}  # every step once, in order
    for before, after in itertools.pairwise(chain):
        assert after.continued_from == before.run_id
        assert after.run_id == before.output["continued_as"]
        assert after.resource_id == "acct-1" and after.workflow == "counter"
        assert len(await engine.history(after.run_id)) == 5  # started, 3 steps, succeeded
        assert await engine.verify(after.run_id)
        assert (await engine.check_replay(after.run_id)).ok
    assert chain[0].continued_from is None
    listed = {r.run_id: r.continued_from for r in (await engine.list_runs()).runs}
    assert listed == {c.run_id: c.continued_from for c in chain}  # the runs index has it too
    assert (await engine.check_replay(first.run_id)).ok


async def test_continuing_after_a_cold_resume_names_the_same_new_run(
    store_url: str, open_engine: Any
) -> None:
    engine = await open_engine(store_url, register, max_parked=0)  # the resume replays
    run = await engine.create_run("wait-then-continue")
    assert (await run.start(0)).status == "suspended"
    done = await run.resume(5)
    new_id = done.output["continued_as"]
    chain = await _chain(engine, run.run_id)
    assert chain[-1].output == {"round": 6} and chain[-1].run_id == new_id
    assert (await engine.check_replay(run.run_id)).ok


async def test_an_input_that_cannot_be_stored_fails_the_run_and_starts_nothing(
    open_engine: Any
) -> None:
    engine = await open_engine("memory://", register)
    result = await (await engine.create_run("bad-continue")).start(None)
    assert result.status == "failed" and "cannot be stored" in (result.error or "")
    assert (await engine.list_runs()).total == 1

"""Properties of replay, for randomly generated workflows.

A generated program mixes steps, failing steps caught by the workflow,
suspensions, state changes, recorded randomness, ``ctx.patched`` branches and
parallel branches under ``asyncio.gather`` (nested), with step ids reused across
loops and branches.
Branches append to one shared list, so the output depends on the interleaving.

1. Hot = cold: executing a program with every resume handled by the engine that
   parked it gives the same output and the same events as executing it with
   every resume handled by a fresh engine that must replay the log.
2. Replay = live: replaying the finished log in a fresh engine reproduces the
   output, and calls no step.
3. No step runs twice, and no false non-determinism alarm is ever raised.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import durable

IDS = st.sampled_from(["a", "b", "c"])
LEAF = st.one_of(
    st.tuples(st.just("step"), IDS),
    st.tuples(st.just("suspend"), IDS),
    st.tuples(st.just("fail"), IDS),
    st.tuples(st.just("state"), st.integers(0, 9)),
    st.tuples(st.just("rand")),
    st.tuples(st.just("patch"), st.sampled_from(["p", "q"])),
)
PROGRAMS = st.recursive(
    st.lists(LEAF, min_size=1, max_size=4),
    lambda inner: st.lists(
        st.one_of(LEAF, st.tuples(st.just("gather"), st.lists(inner, min_size=2, max_size=3))),
        min_size=1,
        max_size=4,
    ),
    max_leaves=10,
)


class World:
    """The outside world of one execution: counts every step call."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.clock = itertools.count()

    def register(self, engine: durable.Engine, program: list[Any]) -> None:
        world = self

        def effect(step_id: str) -> str:
            world.calls[step_id] += 1
            return f"{step_id}@{next(world.clock)}"

        def failing(step_id: str) -> None:
            world.calls[step_id] += 1
            raise LookupError(f"{step_id} failed")

        async def run_ops(ctx: durable.Context, ops: list[Any], out: list[Any]) -> None:
            for op in ops:
                kind = op[0]
                if kind == "step":
                    out.append(await ctx.step(op[1], effect, op[1]))
                elif kind == "suspend":
                    out.append(await ctx.suspend(op[1], {"seen": len(out)}))
                elif kind == "fail":
                    try:
                        await ctx.step(op[1], failing, op[1])
                    except durable.StepFailed as e:
                        out.append(f"caught {e.error_type}")
                elif kind == "state":
                    ctx.set_state({"v": op[1], "seen": len(out)})
                elif kind == "rand":
                    out.append(["rand", int(ctx.random() * 1_000_000)])
                elif kind == "patch":
                    if ctx.patched(op[1]):
                        out.append(await ctx.step(f"{op[1]}-new", effect, f"{op[1]}-new"))
                else:
                    await asyncio.gather(*(run_ops(ctx, branch, out) for branch in op[1]))

        @engine.workflow("generated")
        async def generated(ctx: durable.Context, _: Any) -> dict[str, Any]:
            out: list[Any] = []
            await run_ops(ctx, program, out)
            return {"out": out, "state": ctx.state}


def masked(output: Any) -> Any:
    """Two runs draw different random numbers (each has its own seed): hide the draws."""
    if not isinstance(output, dict):
        return output
    out = [["rand", "*"] if isinstance(x, list) and x[:1] == ["rand"] else x
           for x in output["out"]]
    return {**output, "out": out}


def comparable(events: list[durable.Event]) -> list[tuple[Any, ...]]:
    """Events without what differs between two runs by nature: times, ids, seeds."""
    rows = []
    for e in events:
        data = {k: v for k, v in e.data.items() if k not in ("seed", "owner", "previous")}
        if e.type == "succeeded":
            data["output"] = masked(data["output"])
        rows.append((e.position, e.type, repr(sorted(data.items()))))
    return rows


async def execute(
    url: str, program: list[Any], choices: list[int], cold: bool, draw: Any
) -> tuple[durable.RunResult, list[durable.Event], World]:
    world = World()

    def fresh() -> durable.Engine:
        engine = durable.Engine(url, synchronous="NORMAL")
        world.register(engine, program)
        return engine

    engine = await fresh().open()
    try:
        run = await engine.create_run("generated", run_id="r")
        result = await run.start()
        k = 0
        while result.status == "suspended":
            if k >= len(choices):
                choices.append(draw(st.integers(0, len(result.suspended) - 1)))
            path = result.suspended[choices[k] % len(result.suspended)]
            if cold:
                await engine.close()
                engine = await fresh().open()
                run = await engine.create_run("generated", run_id="r")
            result = await run.resume(f"answer-{k}", step=path)
            k += 1
        return result, await engine.history("r"), world
    finally:
        await engine.close()


@settings(
    max_examples=int(__import__("os").environ.get("DURABLE_PROPERTY_EXAMPLES", "60")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(program=PROGRAMS, data=st.data())
def test_hot_equals_cold_and_replay_equals_live(
    tmp_path_factory: Any, program: list[Any], data: st.DataObject
) -> None:
    base: Path = tmp_path_factory.mktemp("prop")
    choices: list[int] = []

    async def check() -> None:
        hot, hot_log, hot_world = await execute(
            f"sqlite:///{base / 'hot.db'}", program, choices, False, data.draw
        )
        cold, cold_log, cold_world = await execute(
            f"sqlite:///{base / 'cold.db'}", program, choices, True, data.draw
        )
        assert hot.status == cold.status
        assert masked(hot.output) == masked(cold.output)
        assert comparable(hot_log) == comparable(cold_log)
        assert hot_world.calls == cold_world.calls
        # each step path ran once (a failing step once: it has no retries)
        completed = [tuple(e.data["path"]) for e in hot_log
                     if e.type in ("step_completed", "step_failed")]
        assert len(completed) == len(set(completed))

        # Replay the finished log in a fresh engine: same output, no step called.
        replay_world = World()
        engine = durable.Engine(f"sqlite:///{base / 'hot.db'}")
        replay_world.register(engine, program)
        async with engine:
            verdict = await engine.check_replay("r")
            assert verdict.ok, verdict.error
            assert await engine.verify("r")
        assert replay_world.calls == Counter()

    asyncio.run(check())

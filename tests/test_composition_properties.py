"""A property of composition: random workflows mixing steps, child runs (nested),
for-each, ``asyncio.gather``, durable timers, events and suspensions.

Whatever order the outside world answers in (resumes of whatever is open, in
any order; events sent at any moment, before or after the code waits for them;
timers fired early, which is how a test skips the clock), the run ends with
the output the program's structure gives (what resuming in path order gives),
no step runs twice, and a cold replay of every run in the family (the root and
each child) reproduces its recorded output.

The spec is the workflow's input: one interpreter workflow runs it, and a child
is the same interpreter on a sub-spec. Events and timers live in the root run
(a child's mailbox has its own run id); children hold steps, suspensions,
for-each, gathers and children of their own.
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
from durable import deliveries
from durable.paths import path_key


def specs(in_child: bool) -> st.SearchStrategy[Any]:
    leaves = ["step", "suspend"] if in_child else ["step", "suspend", "event", "timer"]
    leaf = st.sampled_from(leaves).map(lambda k: [k])

    def extend(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
        return st.one_of(
            st.lists(inner, min_size=2, max_size=3).map(lambda xs: ["gather", xs]),
            st.lists(inner, min_size=1, max_size=3).map(lambda xs: ["map", xs]),
            st.lists(inner, min_size=1, max_size=3).map(lambda xs: ["seq", xs]),
        )

    return st.recursive(leaf, extend, max_leaves=7)


@st.composite
def programs(draw: Any) -> Any:
    """A root spec with children in it; every node gets a unique id."""
    root = draw(specs(in_child=False))
    kids = draw(st.lists(specs(in_child=True), min_size=1, max_size=2))
    # a child nests a child of its own sometimes
    kids = [["child", ["seq", [k, ["child", draw(specs(in_child=True))]]]]
            if draw(st.booleans()) else ["child", k] for k in kids]
    spec = ["seq", [root, *kids]] if draw(st.booleans()) else ["gather", [root, *kids]]
    counter = itertools.count()

    def number(node: list[Any]) -> list[Any]:
        kind = node[0]
        n = f"n{next(counter)}"
        if kind in ("gather", "map", "seq"):
            return [kind, n, [number(x) for x in node[1]]]
        if kind == "child":
            return [kind, n, number(node[1])]
        return [kind, n]

    return number(spec)


def expected(node: list[Any], scope: tuple[Any, ...]) -> Any:
    """The output of ``node`` at ``scope``: what the program's structure gives."""
    kind, n = node[0], node[1]
    if kind == "step":
        return f"s:{n}"
    if kind == "suspend":
        return f"r:{path_key((*scope, n))}"
    if kind == "event":
        return f"e:{n}"
    if kind == "timer":
        return None
    if kind == "child":
        return expected(node[2], (*scope, n))
    if kind == "map":
        return [expected(x, (*scope, n, i)) for i, x in enumerate(node[2])]
    return [expected(x, scope) for x in node[2]]  # seq, gather: same scope


def events_of(node: list[Any]) -> list[str]:
    if node[0] == "event":
        return [node[1]]
    if node[0] in ("gather", "map", "seq"):
        return [e for x in node[2] for e in events_of(x)]
    return []  # children hold no events


class World:
    def __init__(self) -> None:
        self.calls: Counter[tuple[str, str]] = Counter()

    def register(self, engine: durable.Engine) -> None:
        world = self

        async def run(ctx: durable.Context, node: list[Any]) -> Any:
            kind, n = node[0], node[1]
            if kind == "step":
                def effect() -> str:
                    world.calls[(ctx.run_id, n)] += 1
                    return f"s:{n}"
                return await ctx.step(n, effect)
            if kind == "suspend":
                return await ctx.suspend(n)
            if kind == "event":
                return await ctx.wait_for_event(n, f"ev-{n}")
            if kind == "timer":
                return await ctx.sleep(n, 3600)
            if kind == "child":
                return await ctx.child(n, "tree", node[2])
            if kind == "map":
                return await ctx.map(n, lambda c, x: run(c, x), node[2])
            if kind == "gather":
                return list(await asyncio.gather(*(run(ctx, x) for x in node[2])))
            return [await run(ctx, x) for x in node[2]]

        @engine.workflow("tree")
        async def tree(ctx: durable.Context, spec: list[Any]) -> Any:
            return await run(ctx, spec)


async def settle(engine: durable.Engine, run_id: str) -> durable.RunInfo:
    for _ in range(500):
        info = await engine.get_run(run_id)
        if info.status != "running":
            return info
        await asyncio.sleep(0.01)
    raise AssertionError(f"run {run_id} stays running")


async def play(url: str, spec: Any, data: Any, max_parked: int) -> None:
    world = World()
    engine = durable.Engine(url, max_parked=max_parked, timer_poll=3600)
    world.register(engine)
    async with engine:
        run = await engine.create_run("tree")
        info = await run.start(spec)
        unsent = events_of(spec)
        while info.status not in ("succeeded", "failed", "cancelled"):
            options: list[tuple[str, Any]] = [("send", e) for e in unsent]
            for s in info.suspensions:  # a wait for an event is answered by sending it
                if s.kind != "event":
                    options.append(("fire" if s.kind == "timer" else "resume", s.path))
            assert options, f"stuck: {info.status} with nothing to answer"
            action, what = options[data.draw(st.integers(0, len(options) - 1))]
            if action == "send":
                unsent.remove(what)
                await engine.send_event(run.run_id, f"ev-{what}", f"e:{what}")
            elif action == "fire":  # skip the clock: fire it now
                await deliveries.fire_timer(engine._runtime(), run.run_id, path_key(what))
            else:
                await run.resume(f"r:{path_key(what)}", step=what)
            info = await settle(engine, run.run_id)
        assert info.status == "succeeded", info.error
        assert info.output == expected(spec, ())
        assert all(n == 1 for n in world.calls.values()), world.calls
        family = [r for r in (await engine.list_runs(per_page=500)).runs
                  if r.run_id == run.run_id or r.parent_run_id is not None]
        for r in family:
            assert r.status == "succeeded"
            check = await engine.check_replay(r.run_id)
            assert check.ok, check.error


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(spec=programs(), data=st.data(), max_parked=st.sampled_from([0, 10_000]))
def test_any_answer_order_gives_the_structural_output(spec: Any, data: Any, max_parked: int,
                                                      tmp_path: Path) -> None:
    db = tmp_path / f"p{abs(hash(repr(spec))) % 10**9}.db"
    try:
        asyncio.run(play(f"sqlite:///{db}", spec, data, max_parked))
    finally:
        for f in tmp_path.glob(db.name + "*"):
            f.unlink()


@settings(max_examples=8, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(spec=programs(), data=st.data(), max_parked=st.sampled_from([0, 10_000]))
def test_any_answer_order_gives_the_structural_output_on_postgres(
    spec: Any, data: Any, max_parked: int, postgres_url: str
) -> None:
    """The same on PostgreSQL, fewer examples (one schema: earlier examples' runs stay)."""
    asyncio.run(play(postgres_url, spec, data, max_parked))

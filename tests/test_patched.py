"""``ctx.patched(patch_id)``: a changed workflow deployed while runs are in flight.

A run reaching the call for the first time under code that has it takes the new
path and records a ``patched`` marker; a run that passed the point under older
code keeps the old path on every replay; both replay cleanly, under concurrency
(``asyncio.gather``, ``ctx.map``) too. A deploy is simulated by a second engine
with the changed code on the same store (``max_parked=0``: every resume replays).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import pytest

import durable

calls: Counter[str] = Counter()


def effect(name: str, value: Any) -> Any:
    calls[name] += 1
    return value


def tax_workflow(*, patched: bool, wait_first: bool = False
                 ) -> Any:
    """Old code (``patched=False``): price, tax at 10 %, approval. New code: the tax
    step became VAT at 20 % behind ``ctx.patched("v2-tax")``. ``wait_first``: the
    approval comes before the tax (a run waiting there has not reached the change)."""

    def register(engine: durable.Engine) -> None:
        @engine.workflow("order", version="2" if patched else "1")
        async def order(ctx: durable.Context, _: Any) -> dict[str, Any]:
            price = await ctx.step("price", effect, "price", 100)
            answer = await ctx.suspend("approval") if wait_first else None
            if patched and ctx.patched("v2-tax"):
                tax = await ctx.step("vat", effect, "vat", price // 5)
            else:
                tax = await ctx.step("tax", effect, "tax", price // 10)
            if not wait_first:
                answer = await ctx.suspend("approval")
            return {"tax": tax, "answer": answer}

    return register


def types(events: list[durable.Event]) -> list[str]:
    return [e.type for e in events]


@pytest.fixture(autouse=True)
def _fresh_calls() -> None:
    calls.clear()


async def test_a_new_run_takes_the_new_path_and_records_the_marker(
    store_url: str, open_engine: Any
) -> None:
    engine = await open_engine(store_url, tax_workflow(patched=True))
    run = await engine.create_run("order")
    assert (await run.start()).status == "suspended"
    history = await engine.history(run.run_id)
    assert types(history) == ["started", "step_completed", "patched", "step_completed",
                              "suspended"]
    assert history[2].data == {"patch_id": "v2-tax"}
    assert history[3].data["path"] == ["vat"]
    assert (await engine.check_replay(run.run_id)).ok
    result = await run.resume("yes")
    assert result.output == {"tax": 20, "answer": "yes"}
    assert calls == Counter(price=1, vat=1)


async def test_a_run_past_the_change_keeps_the_old_path_when_replayed_by_new_code(
    shared_url: str, open_engine: Any
) -> None:
    old = await open_engine(shared_url, tax_workflow(patched=False))
    run = await old.create_run("order")
    await run.start()  # price, tax: suspended after the change's point
    before = await old.history(run.run_id)
    new = await open_engine(shared_url, tax_workflow(patched=True), max_parked=0)
    assert (await new.check_replay(run.run_id)).ok
    assert await new.history(run.run_id) == before  # the check wrote nothing
    result = await (await new.create_run("order", run_id=run.run_id)).resume("yes")
    assert result.status == "succeeded" and result.output == {"tax": 10, "answer": "yes"}
    assert "patched" not in types(await new.history(run.run_id))
    assert calls == Counter(price=1, tax=1)  # no step ran again, the new one never
    assert (await new.check_replay(run.run_id)).ok


async def test_a_run_reaching_the_change_after_the_deploy_takes_the_new_path(
    shared_url: str, open_engine: Any
) -> None:
    old = await open_engine(shared_url, tax_workflow(patched=False, wait_first=True))
    run = await old.create_run("order")
    await run.start()  # suspended before the change's point
    new = await open_engine(shared_url, tax_workflow(patched=True, wait_first=True),
                            max_parked=0)
    result = await (await new.create_run("order", run_id=run.run_id)).resume("yes")
    assert result.output == {"tax": 20, "answer": "yes"}
    assert calls == Counter(price=1, vat=1)
    log = await new.history(run.run_id)
    marker = types(log).index("patched")  # (written with the answer that led to it)
    assert types(log)[marker - 1:marker + 2] == ["suspended", "patched", "resumed"]
    assert [e.data["path"] for e in log[marker:] if e.type == "step_completed"] == [["vat"]]
    assert (await new.check_replay(run.run_id)).ok
    # The old code cannot replay what the new path did: the marker is what tells them apart.
    check = await old.check_replay(run.run_id)
    assert (check.ok, check.logged, check.requested) == (False, "vat", "tax")


async def test_a_run_waiting_right_after_the_change_counts_as_past_it(
    shared_url: str, open_engine: Any
) -> None:
    """Nothing but the suspension follows the change's point in the old log: the open
    suspension the log holds ahead is what says the run went past it."""

    def register(patched: bool) -> Any:
        def reg(engine: durable.Engine) -> None:
            @engine.workflow("waits")
            async def waits(ctx: durable.Context, _: Any) -> Any:
                await ctx.step("price", effect, "price", 1)
                if patched and ctx.patched("fraud-check"):
                    await ctx.step("fraud", effect, "fraud", True)
                return await ctx.suspend("approval")
        return reg

    old = await open_engine(shared_url, register(False))
    run = await old.create_run("waits")
    await run.start()
    new = await open_engine(shared_url, register(True), max_parked=0)
    assert (await new.check_replay(run.run_id)).ok
    result = await (await new.create_run("waits", run_id=run.run_id)).resume("ok")
    assert result.output == "ok" and calls == Counter(price=1)
    fresh = await (await new.create_run("waits")).start()
    assert fresh.status == "suspended" and calls == Counter(price=2, fraud=1)


async def test_the_marker_is_in_the_log_before_the_new_path_runs(
    store_url: str, open_engine: Any
) -> None:
    seen: list[list[str]] = []
    engine: durable.Engine

    async def look() -> None:
        seen.append(types(await engine.history("r")))

    def register(e: durable.Engine) -> None:
        @e.workflow("marks")
        async def marks(ctx: durable.Context, _: Any) -> Any:
            if ctx.patched("p"):
                await ctx.step("new", look)
            return "done"

    engine = await open_engine(store_url, register)
    assert (await (await engine.create_run("marks", run_id="r")).start()).output == "done"
    assert seen == [["started", "patched"]]


async def test_one_answer_per_run_and_patch_id(store_url: str, open_engine: Any) -> None:
    def register(engine: durable.Engine) -> None:
        @engine.workflow("loop")
        async def loop(ctx: durable.Context, _: Any) -> Any:
            answers = []
            for i in range(3):
                answers.append(ctx.patched("p"))
                answers.append(ctx.patched("q"))
                await ctx.step("s", effect, "s", i)
            return answers

        @engine.workflow("bad")
        async def bad(ctx: durable.Context, patch_id: Any) -> Any:
            return ctx.patched(patch_id)

    engine = await open_engine(store_url, register)
    run = await engine.create_run("loop")
    assert (await run.start()).output == [True] * 6
    history = await engine.history(run.run_id)
    assert [e.data for e in history if e.type == "patched"] == [
        {"patch_id": "p"}, {"patch_id": "q"}]
    assert (await engine.check_replay(run.run_id)).ok
    for patch_id in ("", 7, "x" * 600):
        failed = await (await engine.create_run("bad")).start(patch_id)
        assert failed.status == "failed" and "a patch id" in (failed.error or "")


async def test_the_version_a_run_started_under_is_recorded_and_shown(
    shared_url: str, open_engine: Any
) -> None:
    old = await open_engine(shared_url, tax_workflow(patched=False))
    run = await old.create_run("order")
    await run.start()
    new = await open_engine(shared_url, tax_workflow(patched=True), max_parked=0)
    assert [w.version for w in new.workflows()] == ["2"]
    fresh = await new.create_run("order")
    await fresh.start()
    started = (await new.history(run.run_id))[0]
    assert started.type == "started" and started.data["version"] == "1"
    assert (await new.get_run(run.run_id)).version == "1"
    listed = {r.run_id: r.version for r in (await new.list_runs()).runs}
    assert listed == {run.run_id: "1", fresh.run_id: "2"}
    waiting = {r.run_id: r.version for r in (await new.list_suspended_runs()).runs}
    assert waiting == listed
    done = await new.resume_run(run.run_id, "yes", None)  # continued under version 2's code
    assert done.status == "succeeded" and done.version == "1"  # started under 1: stays so


# -- concurrency: gather and ctx.map ----------------------------------------------------
def mapped(*, patched: bool, gate: str) -> Any:
    """A for-each of three items. ``gate="before"``: each item waits for an answer
    before the changed step; ``"after"``: after it."""

    def register(engine: durable.Engine) -> None:
        @engine.workflow("each")
        async def each(ctx: durable.Context, items: list[int]) -> Any:
            async def one(sub: durable.Context, item: int) -> Any:
                answer = await sub.suspend("ok") if gate == "before" else None
                if patched and sub.patched("double"):
                    value = await sub.step("double", effect, "double", item * 2)
                else:
                    value = await sub.step("same", effect, "same", item)
                if gate == "after":
                    answer = await sub.suspend("ok")
                return [value, answer]

            _, out = await asyncio.gather(ctx.step("side", effect, "side", 0),
                                             ctx.map("items", one, items))
            return out

    return register


async def test_under_map_a_new_run_takes_the_new_path_everywhere(
    shared_url: str, open_engine: Any
) -> None:
    engine = await open_engine(shared_url, mapped(patched=True, gate="after"))
    run = await engine.create_run("each")
    result = await run.start([1, 2, 3])
    assert sorted(result.suspended) == [("items", i, "ok") for i in range(3)]
    cold = await open_engine(shared_url, mapped(patched=True, gate="after"), max_parked=0)
    for i in (2, 0, 1):  # answered out of order, each by a replay
        result = await cold.resume_run(run.run_id, f"a{i}", ("items", i, "ok"))
    assert result.output == [[2, "a0"], [4, "a1"], [6, "a2"]]
    assert [e.type for e in await cold.history(run.run_id)].count("patched") == 1
    assert calls == Counter(side=1, double=3)
    assert (await cold.check_replay(run.run_id)).ok


async def test_under_map_runs_past_the_change_keep_the_old_path(
    shared_url: str, open_engine: Any
) -> None:
    old = await open_engine(shared_url, mapped(patched=False, gate="after"))
    run = await old.create_run("each")
    await run.start([1, 2, 3])
    new = await open_engine(shared_url, mapped(patched=True, gate="after"), max_parked=0)
    assert (await new.check_replay(run.run_id)).ok
    for i in (1, 2, 0):
        result = await new.resume_run(run.run_id, f"a{i}", ("items", i, "ok"))
    assert result.output == [[1, "a0"], [2, "a1"], [3, "a2"]]
    assert calls == Counter(side=1, same=3)
    assert "patched" not in types(await new.history(run.run_id))


async def test_under_map_runs_waiting_before_the_change_take_the_new_path(
    shared_url: str, open_engine: Any
) -> None:
    old = await open_engine(shared_url, mapped(patched=False, gate="before"))
    run = await old.create_run("each")
    await run.start([1, 2, 3])
    new = await open_engine(shared_url, mapped(patched=True, gate="before"), max_parked=0)
    for i in (1, 2, 0):
        result = await new.resume_run(run.run_id, f"a{i}", ("items", i, "ok"))
        assert (await new.check_replay(run.run_id)).ok
    assert result.output == [[2, "a0"], [4, "a1"], [6, "a2"]]
    assert calls == Counter(side=1, double=3)
    assert types(await new.history(run.run_id)).count("patched") == 1


# -- a property: any program, the change inserted anywhere, deployed at any suspension ---
def deployable(program: list[Any], *, patched: bool, world: Counter[str]) -> Any:
    """Old code does the step ``p-old`` at each ``("patch",)`` op; new code asks
    ``ctx.patched("p")`` there and does ``p-new`` instead when it says so."""

    def effect_of(step_id: str) -> str:
        world[step_id] += 1
        return step_id

    async def run_ops(ctx: durable.Context, ops: list[Any], out: list[Any]) -> None:
        for op in ops:
            if op[0] == "step":
                out.append(await ctx.step(op[1], effect_of, op[1]))
            elif op[0] == "suspend":
                out.append(await ctx.suspend(op[1]))
            elif op[0] == "patch":
                new = patched and ctx.patched("p")
                out.append(await ctx.step("p-new" if new else "p-old", effect_of,
                                          "p-new" if new else "p-old"))
            elif op[0] == "gather":
                await asyncio.gather(*(run_ops(ctx, branch, out) for branch in op[1]))

    def register(engine: durable.Engine) -> None:
        @engine.workflow("deployed")
        async def deployed(ctx: durable.Context, _: Any) -> list[Any]:
            out: list[Any] = []
            await run_ops(ctx, program, out)
            return out

    return register


def _programs() -> Any:
    from hypothesis import strategies as st

    ids = st.sampled_from(["a", "b", "c"])
    leaf = st.one_of(st.tuples(st.just("step"), ids), st.tuples(st.just("suspend"), ids),
                     st.just(("patch",)))
    return st.recursive(
        st.lists(leaf, min_size=1, max_size=4),
        lambda inner: st.lists(st.one_of(leaf, st.tuples(
            st.just("gather"), st.lists(inner, min_size=2, max_size=3))), min_size=1, max_size=4),
        max_leaves=10).filter(lambda p: "patch" in repr(p))


def test_a_deploy_at_any_suspension_replays_and_takes_one_path(tmp_path_factory: Any) -> None:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    @settings(max_examples=int(__import__("os").environ.get("DURABLE_PROPERTY_EXAMPLES", "40")),
              deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                    HealthCheck.too_slow])
    @given(program=_programs(), data=st.data())
    def prop(program: list[Any], data: st.DataObject) -> None:
        url = f"sqlite:///{tmp_path_factory.mktemp('deploy') / 'd.db'}"
        world: Counter[str] = Counter()

        async def check() -> None:
            old = durable.Engine(url, max_parked=0)
            deployable(program, patched=False, world=world)(old)
            async with old:
                result = await (await old.create_run("deployed", run_id="r")).start()
                # The old code answers some suspensions, then the new code is deployed.
                for _ in range(data.draw(st.integers(0, 3))):
                    if result.status != "suspended":
                        break
                    path = data.draw(st.sampled_from(result.suspended))
                    result = await old.resume_run("r", "old", path)
            new = durable.Engine(url, max_parked=0)
            deployable(program, patched=True, world=world)(new)
            async with new:
                while result.status == "suspended":
                    assert (await new.check_replay("r")).ok
                    path = data.draw(st.sampled_from(result.suspended))
                    result = await new.resume_run("r", "new", path)
                assert result.status == "succeeded", result.error
                log = await new.history("r")
                assert (await new.check_replay("r")).ok
            steps = [tuple(e.data["path"]) for e in log if e.type == "step_completed"]
            assert len(steps) == len(set(steps))  # no step ran twice
            assert sum(world.values()) == len(steps)
            took = {p[-1].split("#")[0] for p in steps} & {"p-new", "p-old"}
            marked = [e for e in log if e.type == "patched"]
            assert len(took) == 1  # one path per run, wherever its patch points stand
            assert len(marked) <= 1 and (bool(marked) == ("p-new" in took))

        asyncio.run(check())

    prop()

"""Cancel, pause, retries, state, ids, errors and determinism, on every store."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import pytest

import durable


async def test_cancel_while_running_stops_the_step_and_the_next_never_starts(
    store_url: str, open_engine: Any
) -> None:
    seen: Counter[str] = Counter()

    async def slow() -> None:
        seen["slow-started"] += 1
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            seen["slow-cancelled"] += 1
            raise

    def never() -> None:
        seen["next"] += 1

    def register(engine: durable.Engine) -> None:
        @engine.workflow("slow")
        async def wf(ctx: durable.Context, _: Any) -> None:
            await ctx.step("slow", slow)
            await ctx.step("next", never)

    engine = await open_engine(store_url, register)
    run = await engine.create_run("slow")
    task = asyncio.create_task(run.start())
    while not seen["slow-started"]:
        await asyncio.sleep(0.01)
    result = await asyncio.wait_for(run.cancel("user gave up"), 1.0)
    assert result.status == "cancelled"
    assert (await task).status == "cancelled"
    assert seen == Counter({"slow-started": 1, "slow-cancelled": 1})
    history = await engine.history(run.run_id)
    assert [e.type for e in history] == ["started", "cancelled"]
    assert history[-1].data["reason"] == "user gave up"
    await asyncio.sleep(0.05)
    assert (await engine.get_run(run.run_id)).status == "cancelled"


async def test_cancel_of_a_suspended_run_leaves_the_listing_and_a_second_cancel_is_a_no_op(
    store_url: str, open_engine: Any
) -> None:
    def register(engine: durable.Engine) -> None:
        @engine.workflow("waits")
        async def wf(ctx: durable.Context, _: Any) -> Any:
            return await ctx.suspend("approval")

    engine = await open_engine(store_url, register)
    run = await engine.create_run("waits")
    await run.start()
    assert (await engine.list_suspended_runs()).total == 1
    assert (await run.cancel("no longer needed")).status == "cancelled"
    assert (await engine.list_suspended_runs()).total == 0
    n = len(await engine.history(run.run_id))
    assert (await run.cancel()).status == "cancelled"
    assert len(await engine.history(run.run_id)) == n


async def test_cancel_of_a_finished_run_changes_nothing(store_url: str, open_engine: Any) -> None:
    def boom() -> None:
        raise ValueError("bad")

    def register(engine: durable.Engine) -> None:
        @engine.workflow("ok")
        async def ok(ctx: durable.Context, _: Any) -> int:
            return 1

        @engine.workflow("bad")
        async def bad(ctx: durable.Context, _: Any) -> None:
            await ctx.step("boom", boom)

    engine = await open_engine(store_url, register)
    for name, status in (("ok", "succeeded"), ("bad", "failed")):
        run = await engine.create_run(name)
        assert (await run.start()).status == status
        n = len(await engine.history(run.run_id))
        assert (await run.cancel()).status == status
        assert len(await engine.history(run.run_id)) == n


async def test_retries_show_the_attempt_number_and_record_each_failure(
    store_url: str, open_engine: Any
) -> None:
    attempts: list[int] = []

    def register(engine: durable.Engine) -> None:
        def flaky() -> str:
            attempts.append(ctx_ref[0].attempt)
            if len(attempts) < 3:
                raise ConnectionError(f"try {len(attempts)}")
            return "ok"

        ctx_ref: list[durable.Context] = []

        @engine.workflow("flaky")
        async def wf(ctx: durable.Context, retries: int) -> str:
            ctx_ref.append(ctx)
            return await ctx.step("flaky", flaky, retries=retries, backoff=0.001)

    engine = await open_engine(store_url, register)
    run = await engine.create_run("flaky")
    result = await run.start(2)
    assert result.status == "succeeded" and result.output == "ok"
    assert attempts == [0, 1, 2]
    types = [e.type for e in await engine.history(run.run_id)]
    assert types == ["started", "step_failed", "step_failed", "step_completed", "succeeded"]

    attempts.clear()
    run = await engine.create_run("flaky")
    result = await run.start(1)
    assert result.status == "failed"
    assert result.error is not None
    assert "ConnectionError" in result.error and "try 2" in result.error
    assert attempts == [0, 1]


async def test_a_caught_step_failure_is_replayed_the_same_way(
    shared_url: str, open_engine: Any
) -> None:
    calls: Counter[str] = Counter()

    def boom() -> None:
        calls["boom"] += 1
        raise KeyError("missing")

    def register(engine: durable.Engine) -> None:
        @engine.workflow("catches")
        async def wf(ctx: durable.Context, _: Any) -> str:
            try:
                await ctx.step("boom", boom)
            except durable.StepFailed as e:
                caught = f"{e.error_type}"
            answer = await ctx.suspend("ask")
            return f"{caught}/{answer}"

    first = await open_engine(shared_url, register)
    run = await first.create_run("catches")
    assert (await run.start()).status == "suspended"
    await first.close()
    second = await open_engine(shared_url, register)
    result = await (await second.create_run("catches", run_id=run.run_id)).resume("yes")
    assert result.output == "KeyError/yes"
    assert calls["boom"] == 1


async def test_state_is_recorded_and_readable_at_any_position(
    store_url: str, open_engine: Any
) -> None:
    def register(engine: durable.Engine) -> None:
        @engine.workflow("stateful")
        async def wf(ctx: durable.Context, _: Any) -> dict[str, Any]:
            ctx.set_state({"n": 1})
            await ctx.suspend("wait")
            ctx.set_state({"n": ctx.state["n"] + 1})
            return ctx.state

    engine = await open_engine(store_url, register)
    run = await engine.create_run("stateful")
    suspended = await run.start(None, initial_state={"n": 0})
    assert suspended.state == {"n": 1}
    result = await run.resume()
    assert result.output == {"n": 2}
    assert (await engine.get_run(run.run_id)).state == {"n": 2}
    history = await engine.history(run.run_id)
    at = next(e.position for e in history if e.type == "suspended")
    then = await engine.state_at(run.run_id, at)
    assert then.state == {"n": 1} and then.status == "suspended"
    assert (await engine.state_at(run.run_id, 1)).state == {"n": 0}
    with pytest.raises(ValueError, match="outside"):
        await engine.state_at(run.run_id, len(history) + 1)


async def test_repeated_ids_are_numbered_and_reserved_characters_are_refused(
    store_url: str, open_engine: Any
) -> None:
    def register(engine: durable.Engine) -> None:
        @engine.workflow("loop")
        async def loop(ctx: durable.Context, n: int) -> list[int]:
            return [await ctx.step("item", lambda i=i: i * i) for i in range(n)]

        @engine.workflow("dotted")
        async def dotted(ctx: durable.Context, _: Any) -> None:
            await ctx.step("a.b", lambda: 1)

    engine = await open_engine(store_url, register)
    run = await engine.create_run("loop")
    assert (await run.start(3)).output == [0, 1, 4]
    paths = [e.data["path"] for e in await engine.history(run.run_id)
             if e.type == "step_completed"]
    assert paths == [["item"], ["item#2"], ["item#3"]]

    bad = await engine.create_run("dotted")
    result = await bad.start()
    assert result.status == "failed"
    assert result.error is not None and "ValueError" in result.error


async def test_start_twice_unknown_names_and_mismatched_run_ids(
    store_url: str, open_engine: Any
) -> None:
    def register(engine: durable.Engine) -> None:
        @engine.workflow("one")
        async def one(ctx: durable.Context, _: Any) -> int:
            return 1

        @engine.workflow("two")
        async def two(ctx: durable.Context, _: Any) -> int:
            return 2

    engine = await open_engine(store_url, register)
    with pytest.raises(durable.WorkflowNotFound, match="nope"):
        await engine.create_run("nope")
    with pytest.raises(durable.RunNotFound):
        await engine.get_run("missing")
    run = await engine.create_run("one", run_id="order-1")
    await run.start()
    with pytest.raises(durable.RunAlreadyStarted):
        await run.start()
    with pytest.raises(ValueError, match="belongs to workflow 'one'"):
        await engine.create_run("two", run_id="order-1")
    with pytest.raises(ValueError, match="already registered"):
        engine.workflow("one")(lambda ctx, i: None)
    assert {w.name for w in engine.workflows()} == {"one", "two"}


async def test_recorded_time_randomness_and_ids_replay_identically(
    shared_url: str, open_engine: Any
) -> None:
    def register(engine: durable.Engine) -> None:
        @engine.workflow("values")
        async def wf(ctx: durable.Context, _: Any) -> list[str]:
            before = [str(ctx.uuid()), str(ctx.random()), ctx.now().isoformat()]
            await ctx.suspend("wait")
            return [*before, str(ctx.uuid())]

    first = await open_engine(shared_url, register)
    run = await first.create_run("values")
    await run.start()
    hot = await run.resume()
    second = await open_engine(shared_url, register)
    other = await second.create_run("values")
    await other.start()
    await second.close()
    third = await open_engine(shared_url, register)
    cold = await (await third.create_run("values", run_id=other.run_id)).resume()
    assert hot.output != cold.output  # different runs draw different values
    events = await third.history(other.run_id)
    assert cold.output[2] == events[0].timestamp.isoformat()  # now() = latest delivery


async def test_pause_stops_at_the_next_step_boundary_and_resume_continues(
    store_url: str, open_engine: Any
) -> None:
    gate = asyncio.Event()
    calls: Counter[str] = Counter()

    async def first() -> int:
        calls["first"] += 1
        await gate.wait()
        return 1

    def second() -> int:
        calls["second"] += 1
        return 2

    def register(engine: durable.Engine) -> None:
        @engine.workflow("pausable")
        async def wf(ctx: durable.Context, _: Any) -> int:
            return await ctx.step("first", first) + await ctx.step("second", second)

    engine = await open_engine(store_url, register)
    run = await engine.create_run("pausable")
    task = asyncio.create_task(run.start())
    while not calls["first"]:
        await asyncio.sleep(0.01)
    pausing = asyncio.create_task(run.pause())
    await asyncio.sleep(0.02)
    gate.set()
    assert (await pausing).status == "paused"
    assert (await task).status == "paused"
    assert calls["second"] == 0
    result = await run.resume()
    assert result.status == "succeeded" and result.output == 3
    assert calls == Counter(first=1, second=1)


async def test_request_approval_is_answered_by_approve_and_decline(
    store_url: str, open_engine: Any
) -> None:
    def register(engine: durable.Engine) -> None:
        @engine.workflow("refund")
        async def wf(ctx: durable.Context, amount: int) -> str:
            answer = await ctx.request_approval("refund", action="refund", args={"amount": amount})
            return "refunded" if answer.approved else f"declined: {answer.reason}"

    engine = await open_engine(store_url, register)
    yes = await engine.create_run("refund")
    waiting = await yes.start(30)
    assert waiting.suspensions[0].kind == "approval"
    assert waiting.suspend_payloads["refund"]["requires_approval"] is True
    assert (await engine.approve(yes.run_id)).output == "refunded"

    no = await engine.create_run("refund")
    await no.start(5000)
    result = await engine.decline(no.run_id, reason="too much")
    assert result.output == "declined: too much"
    with pytest.raises(durable.NotSuspended):
        await engine.approve(no.run_id)


async def test_a_pause_asked_of_another_engine_is_honoured_at_its_next_boundary(
    shared_url: str, open_engine: Any
) -> None:
    gate = asyncio.Event()
    calls: Counter[str] = Counter()

    async def first() -> int:
        calls["first"] += 1
        await gate.wait()
        return 1

    def second() -> int:
        calls["second"] += 1
        return 2

    def register(engine: durable.Engine) -> None:
        @engine.workflow("pausable")
        async def wf(ctx: durable.Context, _: Any) -> int:
            return await ctx.step("first", first) + await ctx.step("second", second)

    a = await open_engine(shared_url, register)
    b = await open_engine(shared_url, register)
    run = await a.create_run("pausable")
    running = asyncio.create_task(run.start())
    while not calls["first"]:
        await asyncio.sleep(0.01)
    asked = await (await b.create_run("pausable", run_id=run.run_id)).pause()
    assert asked.status == "running"  # A will stop at its next step boundary
    gate.set()
    assert (await running).status == "paused"
    assert calls == Counter(first=1)
    types = [e.type for e in await b.history(run.run_id)]
    assert types == ["started", "pause_requested", "step_completed", "paused"]

    result = await (await b.create_run("pausable", run_id=run.run_id)).resume()
    assert result.status == "succeeded" and result.output == 3
    assert calls == Counter(first=1, second=1)

"""Suspend and resume, on every store: the contract of API.md, scenario by scenario."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import msgspec
import pytest

import durable


class Decision(msgspec.Struct):
    approved: bool
    reason: str | None = None


def order_workflow(calls: Counter[str]) -> Any:
    def compute_price(order: dict[str, Any]) -> int:
        calls["price"] += 1
        return int(order["qty"]) * 10

    async def ship(order: dict[str, Any]) -> str:
        calls["ship"] += 1
        return f"shipped {order['sku']}"

    def register(engine: durable.Engine) -> None:
        @engine.workflow("approve-order", version="1")
        async def approve_order(ctx: durable.Context, order: dict[str, Any]) -> dict[str, Any]:
            price = await ctx.step("price", compute_price, order)
            decision = await ctx.suspend("approval", {"price": price}, schema=Decision)
            if not decision.approved:
                return {"status": "rejected", "reason": decision.reason}
            await ctx.step("ship", ship, order)
            return {"status": "shipped", "price": price}

    return register


async def test_suspend_then_resume_succeeds(store_url: str, open_engine: Any) -> None:
    calls: Counter[str] = Counter()
    engine = await open_engine(store_url, order_workflow(calls))
    run = await engine.create_run("approve-order", resource_id="user-1")

    result = await run.start({"sku": "A-1", "qty": 2})
    assert result.status == "suspended"
    assert result.suspended == [("approval",)]
    assert result.suspend_payloads == {"approval": {"price": 20}}
    assert result.suspensions[0].kind == "input"

    result = await run.resume({"approved": True})
    assert result.status == "succeeded"
    assert result.output == {"status": "shipped", "price": 20}
    assert calls == Counter(price=1, ship=1)
    types = [e.type for e in await engine.history(run.run_id)]
    assert types == ["started", "step_completed", "suspended", "resumed", "step_completed",
                     "succeeded"]
    assert [e.position for e in await engine.history(run.run_id)] == [1, 2, 3, 4, 5, 6]
    assert await engine.verify(run.run_id)


async def test_the_listing_shows_a_waiting_run_until_it_is_answered(
    store_url: str, open_engine: Any
) -> None:
    engine = await open_engine(store_url, order_workflow(Counter()))
    run = await engine.create_run("approve-order", resource_id="user-7")
    await run.start({"sku": "A-1", "qty": 1})

    page = await engine.list_suspended_runs(resource_id="user-7")
    assert page.total == 1
    assert page.runs[0].run_id == run.run_id
    assert page.runs[0].suspend_payloads == {"approval": {"price": 10}}
    assert (await engine.list_suspended_runs(resource_id="someone-else")).total == 0

    await run.resume({"approved": False, "reason": "too dear"})
    assert (await engine.list_suspended_runs()).total == 0
    info = await engine.get_run(run.run_id)
    assert info.status == "succeeded"
    assert info.output == {"status": "rejected", "reason": "too dear"}


async def test_resume_after_restart_replays_without_calling_steps(
    shared_url: str, open_engine: Any
) -> None:
    calls: Counter[str] = Counter()
    first = await open_engine(shared_url, order_workflow(calls))
    run = await first.create_run("approve-order")
    await run.start({"sku": "A-1", "qty": 3})
    created = (await first.get_run(run.run_id)).created_at
    await first.close()

    second = await open_engine(shared_url, order_workflow(calls))
    handle = await second.create_run("approve-order", run_id=run.run_id)
    result = await handle.resume({"approved": True})
    assert result.status == "succeeded"
    assert result.output == {"status": "shipped", "price": 30}
    assert calls == Counter(price=1, ship=1)
    assert (await second.get_run(run.run_id)).created_at == created
    assert (await second.list_suspended_runs()).total == 0


async def test_invalid_resume_data_writes_nothing(store_url: str, open_engine: Any) -> None:
    engine = await open_engine(store_url, order_workflow(Counter()))
    run = await engine.create_run("approve-order")
    await run.start({"sku": "A-1", "qty": 1})
    before = await engine.history(run.run_id)

    with pytest.raises(durable.InvalidResumeData, match="approved"):
        await run.resume({"approved": "yes"})

    assert await engine.history(run.run_id) == before
    assert (await engine.get_run(run.run_id)).status == "suspended"
    assert (await engine.list_suspended_runs()).total == 1
    assert (await run.resume({"approved": True})).status == "succeeded"


async def test_resume_of_a_run_that_is_not_waiting_raises_and_writes_nothing(
    store_url: str, open_engine: Any
) -> None:
    engine = await open_engine(store_url, order_workflow(Counter()))

    never_started = await engine.create_run("approve-order")
    with pytest.raises(durable.RunNotFound):  # not "not waiting": there is no such run yet
        await never_started.resume({"approved": True})
    assert (await engine.list_runs()).total == 0

    done = await engine.create_run("approve-order")
    await done.start({"sku": "A", "qty": 1})
    await done.resume({"approved": True})
    n = len(await engine.history(done.run_id))
    with pytest.raises(durable.NotSuspended):
        await done.resume({"approved": True})
    assert len(await engine.history(done.run_id)) == n

    cancelled = await engine.create_run("approve-order")
    await cancelled.start({"sku": "A", "qty": 1})
    assert (await cancelled.cancel("user gave up")).status == "cancelled"
    n = len(await engine.history(cancelled.run_id))
    with pytest.raises(durable.NotSuspended):
        await cancelled.resume({"approved": True})
    assert len(await engine.history(cancelled.run_id)) == n


async def test_twenty_concurrent_resumes_have_one_winner(store_url: str, open_engine: Any) -> None:
    calls: Counter[str] = Counter()
    engine = await open_engine(store_url, order_workflow(calls))
    run = await engine.create_run("approve-order")
    await run.start({"sku": "A-1", "qty": 1})

    outcomes = await asyncio.gather(
        *(run.resume({"approved": True}) for _ in range(20)), return_exceptions=True
    )
    winners = [o for o in outcomes if isinstance(o, durable.RunResult)]
    losers = [o for o in outcomes if isinstance(o, durable.NotSuspended)]
    assert len(winners) == 1 and len(losers) == 19
    assert winners[0].status == "succeeded"
    assert calls["ship"] == 1
    types = [e.type for e in await engine.history(run.run_id)]
    assert types.count("resumed") == 1


async def test_resumes_from_two_engines_have_one_winner(
    shared_url: str, open_engine: Any
) -> None:
    calls: Counter[str] = Counter()
    a = await open_engine(shared_url, order_workflow(calls))
    b = await open_engine(shared_url, order_workflow(calls))
    for _ in range(5):
        run = await a.create_run("approve-order")
        await run.start({"sku": "A-1", "qty": 1})
        on_b = await b.create_run("approve-order", run_id=run.run_id)
        before = calls["ship"]
        outcomes = await asyncio.gather(
            run.resume({"approved": True}), on_b.resume({"approved": True}),
            return_exceptions=True,
        )
        results = [o for o in outcomes if isinstance(o, durable.RunResult)]
        assert all(isinstance(o, durable.RunResult | durable.NotSuspended) for o in outcomes), (
            outcomes
        )
        assert calls["ship"] == before + 1
        assert any(r.status == "succeeded" for r in results)
        types = [e.type for e in await a.history(run.run_id)]
        assert types.count("resumed") == 1 and types.count("succeeded") == 1


async def test_a_stale_resume_never_answers_a_newer_suspension(
    store_url: str, open_engine: Any
) -> None:
    def register(engine: durable.Engine) -> None:
        @engine.workflow("ask-thrice")
        async def ask(ctx: durable.Context, _: Any) -> list[Any]:
            answers = []
            for i in range(3):
                answers.append(await ctx.suspend("q", {"i": i}))
            return answers

    engine = await open_engine(store_url, register)
    run = await engine.create_run("ask-thrice")
    first = await run.start()
    assert first.suspended == [("q",)]
    second = await run.resume("one", step="q")
    assert second.suspended == [("q#2",)]
    with pytest.raises(durable.NotSuspended):
        await run.resume("one again", step="q")  # a retried webhook for the first question
    await run.resume("two", step="q#2")
    done = await run.resume("three", step=("q#3",))
    assert done.output == ["one", "two", "three"]


async def test_parallel_suspensions_are_all_listed_and_answered_one_by_one(
    store_url: str, open_engine: Any
) -> None:
    def register(engine: durable.Engine) -> None:
        @engine.workflow("two-approvals")
        async def two(ctx: durable.Context, _: Any) -> dict[str, Any]:
            a, b = await asyncio.gather(ctx.suspend("a", {"who": "alice"}),
                                        ctx.suspend("b", {"who": "bob"}))
            return {"a": a, "b": b}

    engine = await open_engine(store_url, register)
    run = await engine.create_run("two-approvals")
    result = await run.start()
    assert result.status == "suspended"
    assert result.suspended == [("a",), ("b",)]
    assert result.suspend_payloads == {"a": {"who": "alice"}, "b": {"who": "bob"}}

    with pytest.raises(durable.AmbiguousResume, match="'a'"):
        await run.resume("x")
    result = await run.resume("x", step="a")
    assert result.status == "suspended"
    assert result.suspended == [("b",)]
    listed = await engine.list_suspended_runs()
    assert listed.total == 1 and listed.runs[0].suspended == [("b",)]
    result = await run.resume("y", step="b")
    assert result.status == "succeeded"
    assert result.output == {"a": "x", "b": "y"}


async def test_a_failing_branch_beats_a_suspended_one(store_url: str, open_engine: Any) -> None:
    def boom() -> None:
        raise RuntimeError("warehouse is on fire")

    def register(engine: durable.Engine) -> None:
        @engine.workflow("fail-beats-suspend")
        async def wf(ctx: durable.Context, _: Any) -> Any:
            return await asyncio.gather(ctx.suspend("a"), ctx.step("b", boom))

    engine = await open_engine(store_url, register)
    run = await engine.create_run("fail-beats-suspend")
    result = await run.start()
    assert result.status == "failed"
    assert result.error is not None and "warehouse is on fire" in result.error
    assert result.suspended == []
    with pytest.raises(durable.NotSuspended):
        await run.resume("x", step="a")
    assert (await engine.list_suspended_runs()).total == 0

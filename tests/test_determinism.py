"""Replay returns recorded results; changed code is caught before anything is written."""

from __future__ import annotations

import sqlite3
from collections import Counter
from pathlib import Path
from typing import Any

import msgspec
import pytest

import durable


def two_steps(order: tuple[str, str], calls: Counter[str]) -> Any:
    def register(engine: durable.Engine) -> None:
        @engine.workflow("ordered")
        async def wf(ctx: durable.Context, _: Any) -> list[Any]:
            out = [await ctx.step(order[0], lambda: calls.update([order[0]]) or order[0])]
            out.append(await ctx.suspend("approval"))
            out.append(await ctx.step("after", lambda: calls.update(["after"]) or "after"))
            return out

    return register


async def test_changed_step_order_raises_naming_both_and_writes_nothing(
    shared_url: str, open_engine: Any
) -> None:
    calls: Counter[str] = Counter()
    first = await open_engine(shared_url, two_steps(("price", "x"), calls))
    run = await first.create_run("ordered")
    await run.start()
    before = await first.history(run.run_id)
    await first.close()

    changed = await open_engine(shared_url, two_steps(("tax", "x"), calls))
    handle = await changed.create_run("ordered", run_id=run.run_id)
    with pytest.raises(durable.NonDeterminismError) as info:
        await handle.resume(True)
    assert "price" in str(info.value) and "tax" in str(info.value)
    assert await changed.history(run.run_id) == before
    assert calls == Counter(price=1)
    await changed.close()

    fixed = await open_engine(shared_url, two_steps(("price", "x"), calls))
    result = await (await fixed.create_run("ordered", run_id=run.run_id)).resume(True)
    assert result.status == "succeeded"
    assert result.output == ["price", True, "after"]
    assert calls == Counter(price=1, after=1)


async def test_a_step_that_became_a_suspension_is_caught(
    shared_url: str, open_engine: Any
) -> None:
    def as_step(engine: durable.Engine) -> None:
        @engine.workflow("kinds")
        async def wf(ctx: durable.Context, _: Any) -> Any:
            await ctx.step("check", lambda: 1)
            return await ctx.suspend("wait")

    def as_suspend(engine: durable.Engine) -> None:
        @engine.workflow("kinds")
        async def wf(ctx: durable.Context, _: Any) -> Any:
            await ctx.suspend("check")
            return await ctx.suspend("wait")

    first = await open_engine(shared_url, as_step)
    run = await first.create_run("kinds")
    await run.start()
    await first.close()
    second = await open_engine(shared_url, as_suspend)
    with pytest.raises(durable.NonDeterminismError, match="check"):
        await (await second.create_run("kinds", run_id=run.run_id)).resume(1)


async def test_new_steps_after_the_recorded_ones_are_not_an_error(
    shared_url: str, open_engine: Any
) -> None:
    def v1(engine: durable.Engine) -> None:
        @engine.workflow("grows")
        async def wf(ctx: durable.Context, _: Any) -> Any:
            await ctx.step("a", lambda: "a")
            return await ctx.suspend("wait")

    def v2(engine: durable.Engine) -> None:
        @engine.workflow("grows")
        async def wf(ctx: durable.Context, _: Any) -> Any:
            await ctx.step("a", lambda: "a")
            answer = await ctx.suspend("wait")
            return [answer, await ctx.step("b", lambda: "b")]

    first = await open_engine(shared_url, v1)
    run = await first.create_run("grows")
    await run.start()
    await first.close()
    second = await open_engine(shared_url, v2)
    result = await (await second.create_run("grows", run_id=run.run_id)).resume("ok")
    assert result.output == ["ok", "b"]


async def test_editing_a_stored_event_breaks_verify(tmp_path: Path, open_engine: Any) -> None:
    db = tmp_path / "tamper.db"

    def register(engine: durable.Engine) -> None:
        @engine.workflow("pay")
        async def wf(ctx: durable.Context, amount: int) -> int:
            return await ctx.step("charge", lambda: amount)

    engine = await open_engine(f"sqlite:///{db}", register)
    run = await engine.create_run("pay")
    await run.start(100)
    assert await engine.verify(run.run_id)

    with sqlite3.connect(db) as conn:
        (state,) = conn.execute(
            "SELECT state FROM stored_events WHERE originator_id = ? AND originator_version = 2",
            (run.run_id,),
        ).fetchone()
        body = msgspec.msgpack.decode(state)
        body["data"]["result"] = 1_000_000  # rewrite history: we charged a million
        conn.execute(
            "UPDATE stored_events SET state = ? WHERE originator_id = ? AND originator_version = 2",
            (msgspec.msgpack.encode(body), run.run_id),
        )
    assert not await engine.verify(run.run_id)

    other = await engine.create_run("pay")
    await other.start(5)
    assert await engine.verify(other.run_id)

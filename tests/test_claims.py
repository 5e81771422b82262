"""Claiming a waiting run with its answer: the answer is handed to the code before
the claim is written, and what the code records up to its next wait goes in the
same append (``commands.take_over``). Each case here was found by a review and
reproduced first.

- A claim never says ``suspended`` while the driver goes on to start a step: else
  another engine takes the run over and the step runs twice.
- A paused run stays paused when an event is sent to it, even parked in memory.
- Leftovers of a holder that died (pending events replayed) are written after the
  claim, and an event sent then is taken once.
- A pause requested before the holder died is honoured by whoever claims the run.
- A caller that gives up while the claim is written does not cut the bookkeeping
  that follows: the parent of a child the claim ended is told.
"""

from __future__ import annotations

import asyncio
import contextvars
from pathlib import Path
from typing import Any

import durable
from durable.events import Empty, EventType, StepCompleted, Suspended, encode_raw
from durable.starts import child_id, started_data
from durable.writer import Tail
from tests.test_timers import settled

who: contextvars.ContextVar[str] = contextvars.ContextVar("who", default="?")


async def test_a_claim_never_says_suspended_while_a_step_starts(tmp_path: Path) -> None:
    calls: list[str] = []

    def define(engine: durable.Engine) -> None:
        @engine.workflow("w")
        async def w(ctx: durable.Context, _: Any) -> Any:
            await ctx.suspend("go")

            async def charge() -> str:
                calls.append(who.get())
                await asyncio.sleep(1.0)
                return "charged"
            return await asyncio.gather(ctx.step("charge", charge), ctx.suspend("note"))

    url = f"sqlite:///{tmp_path / 'd.db'}"
    async with durable.Engine(url) as a, durable.Engine(url) as b:
        define(a)
        define(b)
        run = await a.create_run("w")
        await run.start()
        who.set("A")
        first = asyncio.create_task(a.resume_run(run.run_id, "yes", "go"))
        while not calls:  # A runs the step (for a second: B answers meanwhile)
            await asyncio.sleep(0.01)
        assert (await b.get_run(run.run_id)).status == "running"
        who.set("B")
        second = asyncio.create_task(b.resume_run(run.run_id, "hello", "note"))
        results = await asyncio.gather(first, second)
        assert {r.status for r in results} == {"succeeded"}
        assert calls == ["A"]  # B appended its answer for A, and A ran the step once
        types = [e.type for e in await a.history(run.run_id)]
        assert "recovered" not in types and types.count("step_completed") == 1


async def test_a_paused_run_stays_paused_when_an_event_is_sent(open_engine: Any) -> None:
    calls: list[str] = []

    def define(engine: durable.Engine) -> None:
        @engine.workflow("w")
        async def w(ctx: durable.Context, _: Any) -> Any:
            a = await ctx.step("a", asyncio.sleep, 0.2, 1)
            b = await ctx.step("b", lambda: calls.append("b") or 2)  # not while paused
            return {"a": a, "b": b, "got": await ctx.wait_for_event("e", "ev")}

    engine = await open_engine("memory://", define)
    run = await engine.create_run("w")
    starting = asyncio.create_task(run.start())
    await asyncio.sleep(0.05)
    assert (await engine.pause_run(run.run_id)).status == "paused"
    await starting
    await engine.send_event(run.run_id, "ev", 1)  # parked here, and paused
    assert (await engine.get_run(run.run_id)).status == "paused" and calls == []
    done = await run.resume()
    assert (done.status, done.output) == ("succeeded", {"a": 1, "b": 2, "got": 1})


async def crafted(engine: durable.Engine, name: str, items: list[Any],
                  pause: bool = False) -> str:
    """A run whose holder died mid-way: ``items`` appended as it left them."""
    rt = engine._runtime()
    wf = rt.registry.get(name)
    tail, _ = await rt.writer.start(
        f"{name}-run", started_data(wf.name, wf.version, None, None, None, None, None))
    await rt.writer.append(tail, items)
    if pause:  # a pause asked from elsewhere while it lived
        await rt.writer.append(Tail(await rt.load(f"{name}-run")),
                               [(EventType.PAUSE_REQUESTED, Empty())], hold=False)
    return f"{name}-run"


async def test_an_event_sent_to_a_run_with_leftovers_is_taken_once(open_engine: Any) -> None:
    def define(engine: durable.Engine) -> None:
        @engine.workflow("w")
        async def w(ctx: durable.Context, _: Any) -> Any:
            async def branch() -> Any:
                await ctx.step("s", lambda: 1)
                ctx.set_state({"a": 1})  # a leftover: replayed, never written
                return await ctx.suspend("k")
            first = await asyncio.gather(ctx.wait_for_event("w", "go"), branch())
            return {"first": first, "second": await ctx.wait_for_event("w2", "go")}

    engine = await open_engine("memory://", define)
    run_id = await crafted(engine, "w", [
        (EventType.SUSPENDED, Suspended(path=["w"], kind="event", payload={"name": "go"})),
        (EventType.STEP_COMPLETED, StepCompleted(path=["s"], result=encode_raw(1), attempt=0))])
    await engine.send_event(run_id, "go", "ONE")
    history = await engine.history(run_id)
    sent = next(e for e in history if e.type == "event_sent")
    received = next(e for e in history if e.type == "event_received")
    assert received.data["sent"] == sent.position
    result = await engine.resume_run(run_id, "k-answer", "k")
    assert result.status == "suspended"  # "second" waits: only one "go" was ever sent
    assert result.suspended == [("w2",)]


async def test_a_pause_asked_before_the_holder_died_is_honoured(open_engine: Any) -> None:
    ran: list[str] = []

    def define(engine: durable.Engine) -> None:
        @engine.workflow("w")
        async def w(ctx: durable.Context, _: Any) -> Any:
            async def branch() -> Any:
                await ctx.step("s1", lambda: 1)
                return await ctx.step("s2", lambda: ran.append("s2") or 2)
            return await asyncio.gather(ctx.suspend("k"), branch())

    engine = await open_engine("memory://", define)
    run_id = await crafted(engine, "w", [
        (EventType.SUSPENDED, Suspended(path=["k"], kind="input")),
        (EventType.STEP_COMPLETED, StepCompleted(path=["s1"], result=encode_raw(1),
                                                 attempt=0))], pause=True)
    result = await engine.resume_run(run_id, "answer", "k")
    assert result.status == "paused" and ran == []
    assert [e.type for e in await engine.history(run_id)][-2:] == ["resumed", "paused"]


async def test_a_caller_giving_up_mid_claim_does_not_keep_the_news_from_the_parent(
    open_engine: Any
) -> None:
    gate = asyncio.Event()

    def define(engine: durable.Engine) -> None:
        @engine.workflow("kid")
        async def kid(ctx: durable.Context, _: Any) -> Any:
            return {"kid": await ctx.suspend("k")}

        @engine.workflow("parent")
        async def parent(ctx: durable.Context, _: Any) -> Any:
            return {"parent": await ctx.child("c", "kid")}

        @engine.workflow("busy")  # other runs executing: appends are queued, not inline
        async def busy(ctx: durable.Context, _: Any) -> Any:
            return await ctx.step("s", gate.wait)

    engine = await open_engine("memory://", define)
    p = await engine.create_run("parent")
    await p.start()
    others = [asyncio.create_task((await engine.create_run("busy")).start())
              for _ in range(2)]
    await asyncio.sleep(0.05)
    cid = child_id(p.run_id, "c")
    store = engine._runtime().store
    append = store.append
    task: asyncio.Task[Any] | None = None

    async def cancelling(a: Any) -> None:
        if a.run_id == cid and task is not None:
            asyncio.get_running_loop().call_soon(task.cancel)  # a timeout lands mid-commit
        await append(a)

    store.append = cancelling  # type: ignore[method-assign]
    task = asyncio.create_task(engine.resume_run(cid, "v", "k"))
    await asyncio.gather(task, return_exceptions=True)
    store.append = append  # type: ignore[method-assign]
    assert (await settled(engine, p.run_id)).output == {"parent": {"kid": "v"}}
    gate.set()
    await asyncio.gather(*others)

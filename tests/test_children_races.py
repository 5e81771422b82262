"""Child runs where things happen at once: found by a review of the first version,
each written down here as it was reproduced.

A parent and its child are two runs, told of each other by appends that may
interleave with anything: a branch that gave up on the child, a crash between
the child's end and the parent hearing of it, a command handed to a driver
during its last append, a paused parent, a step of one run resuming the other,
a cancel while the child's first step runs, news from another engine arriving
before the parent recorded the child's start.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import durable
from durable.events import EventType
from tests.test_timers import settled

effects: list[str] = []
engines: dict[str, durable.Engine] = {}


def races(engine: durable.Engine) -> None:
    @engine.workflow("kid")
    async def kid(ctx: durable.Context, _: Any) -> Any:
        return await ctx.suspend("approval")

    @engine.workflow("gives-up")  # a branch waiting on the child is cancelled
    async def gives_up(ctx: durable.Context, _: Any) -> Any:
        child, other = ctx.child("kid", "kid", None), ctx.suspend("other")
        _, pending = await asyncio.wait([child, other], return_when=asyncio.FIRST_COMPLETED)
        for p in pending:
            p.cancel()
        return await ctx.suspend("after")

    @engine.workflow("boss")
    async def boss(ctx: durable.Context, _: Any) -> Any:
        return {"kid": await ctx.child("kid", "kid", None)}

    @engine.workflow("mail")
    async def mail(ctx: durable.Context, _: Any) -> Any:
        await ctx.step("s", lambda: 1)
        return await ctx.wait_for_event("w", "go")

    @engine.workflow("worker")
    async def worker(ctx: durable.Context, _: Any) -> Any:
        await ctx.step("slow", asyncio.sleep, 0.5)
        return await ctx.step("charge", lambda: effects.append("charged") or "charged")

    @engine.workflow("boss-of-worker")
    async def boss_of_worker(ctx: durable.Context, _: Any) -> Any:
        return await ctx.child("kid", "worker", None)

    @engine.workflow("looper")  # waits, continues as new once, then works
    async def looper(ctx: durable.Context, n: int) -> Any:
        if n:
            await ctx.suspend("go")
            await ctx.continue_as_new(n - 1)
        await ctx.step("slow", asyncio.sleep, 0.5)
        return await ctx.step("charge", lambda: effects.append("charged2") or "charged")

    @engine.workflow("boss-of-looper")
    async def boss_of_looper(ctx: durable.Context, _: Any) -> Any:
        return await ctx.child("kid", "looper", 1)

    @engine.workflow("self-approver")  # a step of the parent answers its child
    async def self_approver(ctx: durable.Context, _: Any) -> Any:
        async def approve() -> str:
            e = engines["current"]
            while ("kid", "approval") not in (await e.get_run(ctx.run_id)).suspended:
                await asyncio.sleep(0.01)
            await (await e.create_run("self-approver", run_id=ctx.run_id)).resume(
                "yes", step=("kid", "approval"))
            return "approved"
        return await asyncio.gather(ctx.child("kid", "kid", None), ctx.step("approve", approve))

    @engine.workflow("signaller")  # a step of the child answers its parent
    async def signaller(ctx: durable.Context, parent_id: str) -> Any:
        async def signal() -> str:
            e = engines["current"]
            await (await e.create_run("waiter", run_id=parent_id)).resume("hi", step="ready")
            return "signalled"
        return await ctx.step("signal", signal)

    @engine.workflow("waiter")
    async def waiter(ctx: durable.Context, _: Any) -> Any:
        return await asyncio.gather(ctx.child("kid", "signaller", ctx.run_id),
                                    ctx.suspend("ready"))


def types(events: list[durable.Event]) -> list[str]:
    return [e.type for e in events]


async def test_a_child_the_code_gave_up_on_replays_and_its_end_is_not_taken(
    tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'd.db'}"
    async with durable.Engine(url) as a:
        races(a)
        run = await a.create_run("gives-up")
        await run.start()
        assert (await run.resume("x", step="other")).suspended == [("after",)]
        [kid] = (await a.list_runs(workflow="kid")).runs
        assert (await settled(a, kid.run_id, status=("cancelled",))).status == "cancelled"
        assert "child_ended" not in types(await a.history(run.run_id))
        assert (await a.check_replay(run.run_id)).ok
    async with durable.Engine(url) as cold:
        races(cold)
        again = await cold.create_run("gives-up", run_id=run.run_id)
        assert (await again.resume("y", step="after")).status == "succeeded"


CRASHER = """
import asyncio, os, sys
sys.path.insert(0, {root!r})
import durable
from tests.test_children_races import races

async def main():
    e = durable.Engine({url!r}); races(e)
    await e.open()
    e._rt.holding.settled = lambda run_id: os._exit(0)  # dies before the parent hears
    await (await e.create_run("kid", run_id={kid!r})).resume("yes")

asyncio.run(main())
"""


async def test_news_a_crash_kept_from_the_parent_reaches_it_on_recover(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'd.db'}"
    async with durable.Engine(url) as e:
        races(e)
        run = await e.create_run("boss")
        await run.start()
        [kid] = (await e.list_runs(workflow="kid")).runs
    script = CRASHER.format(root=str(Path(__file__).resolve().parent.parent), url=url,
                            kid=kid.run_id)
    subprocess.run([sys.executable, "-c", script], check=True, timeout=60,
                   env={**os.environ, "PYTHONPATH": ""})
    async with durable.Engine(url) as e:
        races(e)
        assert (await e.get_run(kid.run_id)).status == "succeeded"
        assert (await e.get_run(run.run_id)).status == "suspended"  # never told
        await e.recover()
        info = await e.get_run(run.run_id)
        assert (info.status, info.output) == ("succeeded", {"kid": "yes"})


def slowed(engine: durable.Engine, kinds: set[EventType], seen: asyncio.Event) -> None:
    """Appends holding ``kinds`` take a while to commit (as on a busy server)."""
    append = engine.store.append

    async def slow(a: Any) -> None:
        if any(ev.type in kinds for ev in a.events):
            seen.set()
            await asyncio.sleep(0.3)
        await append(a)

    engine.store.append = slow  # type: ignore[method-assign]


async def test_work_handed_in_during_the_last_append_is_taken(open_engine: Any) -> None:
    e = await open_engine("memory://", races)
    seen = asyncio.Event()
    slowed(e, {EventType.SUSPENDED}, seen)
    run = await e.create_run("mail")
    starting = asyncio.create_task(run.start())
    await seen.wait()  # the driver is appending `suspended`
    await asyncio.wait_for(e.send_event(run.run_id, "go", 42), 5)
    await starting
    assert (await settled(e, run.run_id)).output == 42

    e2 = await open_engine("memory://", races)
    seen2 = asyncio.Event()
    slowed(e2, {EventType.WAITING}, seen2)
    boss = await e2.create_run("boss")
    starting = asyncio.create_task(boss.start())
    await seen2.wait()  # the parent is appending `waiting`; the child is parked
    [kid] = (await e2.list_runs(workflow="kid")).runs
    await (await e2.create_run("kid", run_id=kid.run_id)).resume("yes")
    await starting
    assert (await settled(e2, boss.run_id)).output == {"kid": "yes"}


async def test_a_paused_parent_stays_paused_when_its_child_ends(open_engine: Any) -> None:
    gate = asyncio.Event()

    def register(engine: durable.Engine) -> None:
        @engine.workflow("gated-kid")
        async def gated_kid(ctx: durable.Context, _: Any) -> Any:
            await ctx.step("slow", gate.wait)
            return await ctx.suspend("approval")

        @engine.workflow("boss")
        async def boss(ctx: durable.Context, _: Any) -> Any:
            got = await ctx.child("kid", "gated-kid", None)
            return {"kid": got, "after": await ctx.step("after", lambda: "after")}

    e = await open_engine("memory://", register, lease_seconds=0.6)
    run = await e.create_run("boss")
    starting = asyncio.create_task(run.start())
    await asyncio.sleep(0.2)
    pausing = asyncio.create_task(run.pause())  # honoured once the child settles
    await asyncio.sleep(0.1)
    gate.set()
    await starting
    assert (await pausing).status == "paused"
    await run.resume("yes", step=("kid", "approval"))  # the child ends; its parent hears
    await asyncio.sleep(1.0)  # past a lease: a "running" parent nobody executes would show
    info = await e.get_run(run.run_id)
    assert info.status == "paused" and "child_ended" in types(await e.history(run.run_id))
    assert await e.recover() == []
    done = await run.resume()  # continued: it takes the child's output
    assert (done.status, done.output) == ("succeeded", {"kid": "yes", "after": "after"})


async def test_a_step_may_answer_its_own_child_and_a_child_its_parent(open_engine: Any
                                                                        ) -> None:
    for name, output in (("self-approver", ["yes", "approved"]),
                         ("waiter", ["signalled", "hi"])):
        e = await open_engine("memory://", races)
        engines["current"] = e
        run = await e.create_run(name)
        result = await asyncio.wait_for(run.start(), 10)  # no lock waits on itself
        assert (result.status, result.output) == ("succeeded", output)


async def test_cancel_reaches_a_child_in_its_first_step_and_a_continued_child(
    tmp_path: Path
) -> None:
    effects.clear()
    async with durable.Engine(f"sqlite:///{tmp_path / 'd.db'}") as e:
        races(e)
        run = await e.create_run("boss-of-worker")
        starting = asyncio.create_task(run.start())
        await asyncio.sleep(0.2)  # the child is in its slow step
        assert (await run.cancel("stop")).status == "cancelled"
        await asyncio.gather(starting, return_exceptions=True)
        [kid] = (await e.list_runs(workflow="worker")).runs
        assert (await e.get_run(kid.run_id)).status == "cancelled"
        assert await e.recover() == []

        boss = await e.create_run("boss-of-looper")
        await boss.start()
        await boss.resume("go", step=("kid", "go"))  # the child continues as new, then works
        assert (await boss.cancel("stop")).status == "cancelled"
        kids = (await e.list_runs(workflow="looper")).runs
        assert sorted(k.status for k in kids) == ["cancelled", "succeeded"]  # the first
        await asyncio.sleep(0.7)  # long enough for the slow step, had it gone on
        assert effects == []

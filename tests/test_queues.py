"""Queues and workers: ``engine.enqueue``, ``engine.queue`` and ``engine.work``, on every store.

A run submitted to a queue is ``pending`` and held by nobody until a worker claims
it, with ``claimed`` appended at the position it read, in a transaction that
checks the queue's limits: no run is claimed twice, ``concurrency`` caps a queue's
runs executing at once across workers, ``per_key`` those sharing a key.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

import durable
from tests.test_timers import settled


class Load:
    """What the steps saw: calls per run, and the most that ran at once."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.now: Counter[str] = Counter()
        self.most: Counter[str] = Counter()
        self.order: list[str] = []  # run ids, as their step began

    def register(self, engine: durable.Engine, hold: float = 0.15) -> None:
        load = self

        @engine.workflow("job")
        async def job(ctx: durable.Context, group: str) -> str:
            async def work() -> str:
                load.calls[ctx.run_id] += 1
                load.order.append(ctx.run_id)
                load.now[group] += 1
                load.now["*"] += 1
                load.most[group] = max(load.most[group], load.now[group])
                load.most["*"] = max(load.most["*"], load.now["*"])
                try:
                    await asyncio.sleep(hold)
                finally:
                    load.now[group] -= 1
                    load.now["*"] -= 1
                return f"done {group}"
            return await ctx.step("work", work)

        @engine.workflow("looping")
        async def looping(ctx: durable.Context, n: int) -> Any:
            await ctx.step("tick", lambda: n)
            if n:
                await ctx.continue_as_new(n - 1)
            return "looped"

        @engine.workflow("told")
        async def told(ctx: durable.Context, _: Any) -> Any:
            load.calls[ctx.run_id] += 1
            return await ctx.wait_for_event("told", "go")

        @engine.workflow("napping")
        async def napping(ctx: durable.Context, _: Any) -> str:
            await ctx.sleep("nap", 0.2)
            return "rested"


@asynccontextmanager
async def working(engine: durable.Engine, **kwargs: Any) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(engine.work(**kwargs))
    try:
        yield task
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_an_enqueued_run_is_pending_until_a_worker_runs_it(store_url: str,
                                                                  open_engine: Any) -> None:
    load = Load()
    engine = await open_engine(store_url, load.register, timer_poll=0.05)
    run = await engine.enqueue("job", "a")
    info = await engine.get_run(run.run_id)
    assert info.status == "pending" and load.calls == Counter()
    assert [e.type for e in await engine.history(run.run_id)] == ["started"]
    async with working(engine):
        done = await run.wait(timeout=10)
    assert (done.status, done.output) == ("succeeded", "done a")
    assert [e.type for e in await engine.history(run.run_id)] == [
        "started", "claimed", "step_completed", "succeeded"]
    assert load.calls[run.run_id] == 1
    assert await engine.verify(run.run_id)


async def test_an_event_sent_to_a_pending_run_waits_in_its_mailbox_for_a_worker(
        store_url: str, open_engine: Any) -> None:
    """The sender does not execute a queued run (that would bypass its queue's limits):
    the event is kept, and the worker that claims the run hands it over."""
    load = Load()
    engine = await open_engine(store_url, load.register, timer_poll=0.05)
    run = await engine.enqueue("told", None)
    await engine.send_event(run.run_id, "go", {"ok": 1})
    assert (await engine.get_run(run.run_id)).status == "pending"
    assert load.calls[run.run_id] == 0
    assert [e.type for e in await engine.history(run.run_id)] == ["started", "event_sent"]
    async with working(engine):
        done = await run.wait(timeout=10)
    assert (done.status, done.output) == ("succeeded", {"ok": 1})
    t = [e.type for e in await engine.history(run.run_id)]
    assert t[:3] == ["started", "event_sent", "claimed"] and t[-2:] == [
        "event_received", "succeeded"]
    assert load.calls[run.run_id] == 1


async def test_an_idempotent_enqueue_runs_once(store_url: str, open_engine: Any) -> None:
    load = Load()
    engine = await open_engine(store_url, load.register, timer_poll=0.05)
    first = await engine.enqueue("job", "a", run_id="order-17")
    again = await engine.enqueue("job", "b", run_id="order-17")  # a retried submit
    assert first.run_id == again.run_id == "order-17"
    with pytest.raises(ValueError, match="belongs to workflow"):
        await engine.enqueue("napping", None, run_id="order-17")
    async with working(engine):
        done = await first.wait(timeout=10)
    assert done.output == "done a" and load.calls["order-17"] == 1
    assert (await engine.list_runs()).total == 1


async def test_a_queue_caps_its_runs_across_two_workers(shared_url: str,
                                                        open_engine: Any) -> None:
    load = Load()
    engines = []
    for _ in range(2):
        e = await open_engine(shared_url, load.register, timer_poll=0.05)
        e.queue("narrow", concurrency=2)
        engines.append(e)
    runs = [await engines[0].enqueue("job", "n", queue="narrow") for _ in range(8)]
    async with working(engines[0], concurrency=5), working(engines[1], concurrency=5):
        for run in runs:
            assert (await run.wait(timeout=30)).status == "succeeded"
    assert load.most["n"] <= 2 and load.most["n"] == 2  # capped, and used
    assert all(load.calls[r.run_id] == 1 for r in runs)


async def test_per_key_serialises_a_key(store_url: str, open_engine: Any) -> None:
    load = Load()
    engine = await open_engine(store_url, load.register, timer_poll=0.05)
    engine.queue("tenants", per_key=1)
    runs = [await engine.enqueue("job", group, queue="tenants", key=group)
            for group in ("acme", "acme", "acme", "globex", "globex")]
    async with working(engine, concurrency=10):
        for run in runs:
            assert (await run.wait(timeout=30)).status == "succeeded"
    assert load.most["acme"] == 1 and load.most["globex"] == 1
    assert load.most["*"] == 2  # the two keys ran side by side


async def test_a_worker_stopped_mid_step_leaves_its_run_to_another(shared_url: str,
                                                                   open_engine: Any) -> None:
    load = Load()
    first = await open_engine(shared_url, lambda e: load.register(e, hold=5.0),
                              timer_poll=0.05)
    second = await open_engine(shared_url, lambda e: load.register(e, hold=0.05),
                               timer_poll=0.05)
    run = await first.enqueue("job", "x")
    async with working(first):
        while not load.calls[run.run_id]:
            await asyncio.sleep(0.02)
    # the first worker stopped while the step ran: the run is released, not stranded
    async with working(second):
        done = await run.wait(timeout=20)
    assert done.status == "succeeded" and load.calls[run.run_id] == 2
    types = [e.type for e in await second.history(run.run_id)]
    assert types.count("claimed") == 1 and "recovered" in types


async def test_pending_runs_can_be_cancelled_and_continue_in_their_queue(
    store_url: str, open_engine: Any
) -> None:
    load = Load()
    engine = await open_engine(store_url, load.register, timer_poll=0.05)
    dropped = await engine.enqueue("job", "d")
    assert (await dropped.cancel("not needed")).status == "cancelled"
    looping = await engine.enqueue("looping", 2, queue="loops")
    napping = await engine.enqueue("napping")
    async with working(engine, queues=["default", "loops"]):
        await looping.wait(timeout=10)
        assert (await settled(engine, napping.run_id)).output == "rested"
        runs = (await engine.list_runs(workflow="looping")).runs
        for r in runs:
            assert (await settled(engine, r.run_id)).status == "succeeded"
    assert len(runs) == 3 and load.calls[dropped.run_id] == 0
    assert [e.type for e in await engine.history(dropped.run_id)] == ["started", "cancelled"]
    last = next(r for r in runs if r.output == "looped")
    assert [e.type for e in await engine.history(last.run_id)][:2] == ["started", "claimed"]


async def test_bad_queue_declarations_say_what_to_do(open_engine: Any) -> None:
    engine = await open_engine("memory://", Load().register)
    declared = engine.queue("q", concurrency=3, per_key=1)
    assert isinstance(declared, durable.Queue)
    assert (declared.name, declared.concurrency, declared.per_key) == ("q", 3, 1)
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="positive whole number"):
            engine.queue("q", concurrency=bad)
    with pytest.raises(durable.WorkflowNotFound):
        await engine.enqueue("nope")


@pytest.mark.parametrize("limits", [{"concurrency": 2}, {"per_key": 1}])
async def test_claims_written_together_keep_their_queue_limit(
        store_url: str, open_engine: Any, limits: dict[str, int]) -> None:
    """Claims made at once go to the store together (one transaction, checked on the
    server on PostgreSQL): the limit counts the claims ahead of each in the batch."""
    from durable import queues as queueing

    load = Load()
    engine = await open_engine(store_url, load.register)
    engine.queue("pair", **limits)
    for key in ("a", "a", "a", "b", "b", "b"):
        await engine.enqueue("job", key, queue="pair", key=key)
    rt = engine._runtime()
    heads = await rt.store.pending_heads("pair", 10)
    assert len(heads) == 6
    got = await asyncio.gather(*(queueing.claim(rt, h, engine._queues.get("pair"))
                                 for h in heads))
    taken = [ex for ex in got if ex is not None]
    assert len(taken) == 2
    if "per_key" in limits:
        assert sorted(ex.run.queue_key for ex in taken) == ["a", "b"]
    for ex in taken:  # handed back: claimable again, and the queue has room again
        ex.close()
        rt.holding.locks.release(ex.run_id)
        await rt.holding.release(ex.run_id)
    async with working(engine):
        for head in heads:
            assert (await engine.wait(head.run_id, timeout=20)).status == "succeeded"


async def test_a_queued_run_that_settles_tells_who_enqueued_it(postgres_url: str,
                                                               open_engine: Any) -> None:
    """On PostgreSQL the worker's last append NOTIFYs the run, so ``run.wait()`` in the
    process that enqueued it hears at once, not at its next look."""
    from durable.store.pg_notify import NotifyFeed

    load = Load()
    client = await open_engine(postgres_url, load.register)
    worker = await open_engine(postgres_url, load.register)
    store = client.store
    assert isinstance(store, durable.store.postgres.PostgresStore)
    feed = NotifyFeed(store.conninfo, store.channel)
    await feed.wait(0.01)  # connects and listens
    try:
        run = await client.enqueue("job", "a")
        heard: set[str] = set()
        async with working(worker):
            while run.run_id not in heard:
                got = await feed.wait(20)
                assert got is not None, "no NOTIFY within 20 s"
                heard |= got
        assert (await client.get_run(run.run_id)).status == "succeeded"
    finally:
        await feed.close()


@pytest.mark.parametrize(("limits", "concurrency"), [({"per_key": 1}, 4), ({}, 1)])
async def test_a_queue_runs_oldest_first(store_url: str, open_engine: Any,
                                         limits: dict[str, int], concurrency: int) -> None:
    """Fairness: in enqueue order, within a key too (a younger run of a full key never
    jumps ahead of an older one)."""
    load = Load()
    engine = await open_engine(store_url, lambda e: load.register(e, hold=0.02))
    engine.queue("fifo", **limits)
    runs = [await engine.enqueue("job", "k", queue="fifo", key="k", run_id=f"r{i}")
            for i in range(8)]
    async with working(engine, concurrency=concurrency):
        for run in runs:
            assert (await run.wait(timeout=20)).status == "succeeded"
    assert load.order == [f"r{i}" for i in range(8)]


async def test_closing_the_engine_ends_its_work_calls(store_url: str) -> None:
    """API.md: work() makes the engine a worker "until cancelled or closed". Closed, the
    call returns (close() used to wait for it forever); cancelled, it still raises."""
    load = Load()
    engine = durable.Engine(store_url, timer_poll=0.05)
    load.register(engine, hold=30)
    await engine.open()
    run = await engine.enqueue("job", "a")
    worker = asyncio.create_task(engine.work())
    while load.calls[run.run_id] == 0:  # the worker has taken the run, its step is running
        await asyncio.sleep(0.01)
    await asyncio.wait_for(engine.close(), 30)
    assert worker.done() and worker.result() is None
    async with engine:  # the run was left for any engine to continue
        assert (await engine.get_run(run.run_id)).status in ("running", "pending")
        cancelled = asyncio.create_task(engine.work())
        await asyncio.sleep(0.1)
        cancelled.cancel()
        with pytest.raises(asyncio.CancelledError):
            await cancelled
        await engine.cancel_run(run.run_id, "done with it")

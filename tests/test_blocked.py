"""Blocked runs: a run whose replay raises ``NonDeterminismError`` in the engine's
background work (a recovery, a timer, a worker) is listed as blocked, left untouched
(its log byte for byte), and continues once code that replays it is deployed.

A deploy is simulated as the issue describes it: engines with other code opened one
after the other on the same SQLite file (or PostgreSQL schema).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

import durable
from durable.http.app import create_app

ROOT = Path(__file__).resolve().parent.parent
calls: Counter[str] = Counter()


@pytest.fixture(autouse=True)
def _fresh_calls() -> None:
    calls.clear()


def effect(name: str) -> str:
    calls[name] += 1
    return name


def shipping(first: str, entered: asyncio.Event | None = None) -> Callable[[durable.Engine], None]:
    """price (named ``first``), a step that waits until the engine closes, ship; also a
    variant that sleeps between price and ship."""

    async def hold() -> str:
        calls["hold"] += 1
        if entered is not None:
            entered.set()
            await asyncio.Event().wait()  # until cancelled: the engine closes mid-step
        return "held"

    def register(engine: durable.Engine) -> None:
        @engine.workflow("ship")
        async def ship(ctx: durable.Context, _: Any) -> list[str]:
            return [await ctx.step(first, effect, first), await ctx.step("hold", hold),
                    await ctx.step("ship", effect, "ship")]

        @engine.workflow("nap")
        async def nap(ctx: durable.Context, seconds: float) -> list[str]:
            price = await ctx.step(first, effect, first)
            await ctx.sleep("nap", seconds)
            return [price, await ctx.step("ship", effect, "ship")]

    return register


async def stored_log(engine: durable.Engine, run_id: str) -> list[tuple[int, str, bytes]]:
    """The run's events as the store keeps them: position, topic, envelope bytes."""
    return [(e.position, e.topic, e.stored()) for e in await engine.store.read_events(run_id)]


async def until(check: Callable[[], Awaitable[bool]], what: str, limit: float = 60) -> None:
    """Wait for a condition the engine's background work brings about (no timing is
    asserted: the limit only stops a test that would otherwise hang)."""
    deadline = time.monotonic() + limit
    while not await check():
        assert time.monotonic() < deadline, f"never happened: {what}"
        await asyncio.sleep(0.02)


async def left_running(url: str, run_id: str) -> None:
    """Start a run under the old code and stop its engine mid-step: the run is left
    running, held by nobody, for a recovery to continue."""
    entered = asyncio.Event()
    old = durable.Engine(url)
    shipping("price", entered)(old)
    await old.open()
    task = asyncio.ensure_future((await old.create_run("ship", run_id=run_id)).start())
    await entered.wait()
    await old.close()
    with contextlib.suppress(durable.EngineClosed, asyncio.CancelledError):
        await task


async def test_a_run_recovery_cannot_replay_is_blocked_untouched_and_continues_after_the_fix(
    shared_url: str, open_engine: Any
) -> None:
    await left_running(shared_url, "r1")
    broken = await open_engine(shared_url, shipping("cost"))  # 'price' renamed: a bad deploy
    before = await stored_log(broken, "r1")
    assert await broken.recover() == []
    info = await broken.get_run("r1")
    assert info.status == "running" and info.blocked is not None
    assert "no longer replays" in info.blocked and "'price'" in info.blocked
    assert "'cost'" in info.blocked
    assert [r.run_id for r in (await broken.list_runs(blocked=True)).runs] == ["r1"]
    assert (await broken.list_runs(blocked=True)).total == 1
    assert (await broken.list_runs(blocked=False)).total == 0
    assert (await broken.list_runs()).runs[0].blocked == info.blocked
    assert await broken.recover() == []  # tried again: still blocked, still untouched
    assert await stored_log(broken, "r1") == before
    assert calls == Counter(price=1, hold=1)
    await broken.close()

    fixed = await open_engine(shared_url, shipping("price"))  # the fix is deployed
    assert (await fixed.get_run("r1")).blocked is not None  # until a pass continues it
    assert await fixed.recover() == ["r1"]
    done = await fixed.wait("r1", timeout=60)
    assert (done.status, done.output, done.blocked) == ("succeeded", ["price", "held", "ship"],
                                                        None)
    assert (await fixed.list_runs(blocked=True)).total == 0
    assert [r.blocked for r in (await fixed.list_runs(blocked=False)).runs] == [None]
    assert calls == Counter(price=1, hold=2, ship=1)
    assert await stored_log(fixed, "r1") == before + (await stored_log(fixed, "r1"))[len(before):]


async def test_a_timer_falling_due_into_code_that_cannot_replay_blocks_the_run(
    shared_url: str, open_engine: Any
) -> None:
    old = await open_engine(shared_url, shipping("price"))
    run = await old.create_run("nap", run_id="n1")
    assert (await run.start(0.3)).status == "suspended"
    await old.close()
    broken = await open_engine(shared_url, shipping("cost"), timer_poll=0.05)
    before = await stored_log(broken, "n1")

    async def blocked() -> bool:
        return (await broken.get_run("n1")).blocked is not None

    await until(blocked, "the timer's run marked blocked")
    info = await broken.get_run("n1")
    assert info.status == "suspended" and "'price'" in (info.blocked or "")
    suspended = (await broken.list_suspended_runs()).runs
    assert [(r.run_id, r.blocked) for r in suspended] == [("n1", info.blocked)]
    assert await stored_log(broken, "n1") == before
    await broken.close()

    fixed = await open_engine(shared_url, shipping("price"), timer_poll=0.05)

    async def succeeded() -> bool:
        return (await fixed.get_run("n1")).status == "succeeded"

    await until(succeeded, "the run continued by the fixed code's timers")
    done = await fixed.get_run("n1")
    assert (done.output, done.blocked) == (["price", "ship"], None)
    assert calls == Counter(price=1, ship=1)


async def test_a_worker_blocks_what_it_cannot_replay_and_continues_it_once_fixed(
    shared_url: str, open_engine: Any
) -> None:
    await left_running(shared_url, "w1")
    broken = await open_engine(shared_url, shipping("cost"))
    worker = asyncio.ensure_future(broken.work())

    async def blocked() -> bool:
        return (await broken.list_runs(blocked=True)).total == 1

    await until(blocked, "the worker's recovery pass marks the run blocked")
    worker.cancel()
    await asyncio.gather(worker, return_exceptions=True)
    await broken.close()
    fixed = await open_engine(shared_url, shipping("price"))
    worker = asyncio.ensure_future(fixed.work())
    try:
        done = await fixed.wait("w1", timeout=60)
    finally:
        worker.cancel()
        await asyncio.gather(worker, return_exceptions=True)
    assert (done.status, done.blocked) == ("succeeded", None)


async def test_blocked_is_served_over_http_and_listed_by_the_cli(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    await left_running(url, "h1")
    engine = durable.Engine(url)
    shipping("cost")(engine)
    async with engine:
        await engine.recover()
        await (await engine.create_run("nap", run_id="fine")).start(3600)
        async with AsyncTestClient(create_app(engine, work=False)) as client:
            page = (await client.get("/v1/runs", params={"blocked": "true"})).json()
            assert [r["run_id"] for r in page["runs"]] == ["h1"] and page["total"] == 1
            assert "'price'" in page["runs"][0]["blocked"]
            others = (await client.get("/v1/runs", params={"blocked": "false"})).json()
            assert [(r["run_id"], r["blocked"]) for r in others["runs"]] == [("fine", None)]
            one = (await client.get("/v1/runs/h1")).json()
            assert one["blocked"] == page["runs"][0]["blocked"]
            bad = await client.get("/v1/runs", params={"blocked": "maybe"})
            assert bad.status_code == 400 or bad.status_code == 422

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "durable", "--db", url, "runs", "list",
                           "--blocked", "--json"], capture_output=True, text=True, env=env,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    listed = json.loads(done.stdout)
    assert [r["run_id"] for r in listed["runs"]] == ["h1"] and listed["runs"][0]["blocked"]
    table = subprocess.run([sys.executable, "-m", "durable", "--db", url, "runs", "list"],
                           capture_output=True, text=True, env=env, timeout=120)
    assert "running, blocked" in table.stdout


async def test_a_database_from_before_blocked_runs_gains_the_columns(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    url = f"sqlite:///{db}"
    await left_running(url, "m1")
    with sqlite3.connect(db) as conn:  # as a database written before this version
        conn.execute("DROP INDEX durable_runs_blocked")
        conn.execute("ALTER TABLE durable_runs DROP COLUMN blocked")
        conn.execute("ALTER TABLE durable_runs DROP COLUMN blocked_since")
    engine = durable.Engine(url)
    shipping("cost")(engine)
    async with engine:
        assert (await engine.list_runs(blocked=False)).total == 1
        assert await engine.recover() == []
        assert (await engine.list_runs(blocked=True)).total == 1


async def test_a_postgres_schema_from_before_blocked_runs_gains_the_columns(
    postgres_url: str,
) -> None:
    import psycopg

    from durable.store.postgres import parse_url

    await left_running(postgres_url, "m1")
    params = parse_url(postgres_url)
    schema = params.pop("schema")
    with psycopg.connect(**{k: v for k, v in params.items() if v}, autocommit=True) as conn:
        conn.execute(f'ALTER TABLE "{schema}".durable_runs DROP COLUMN blocked CASCADE')
        conn.execute(f'ALTER TABLE "{schema}".durable_runs DROP COLUMN blocked_since')
    engine = durable.Engine(postgres_url)
    shipping("cost")(engine)
    async with engine:
        assert (await engine.list_runs(blocked=False)).total == 1
        assert await engine.recover() == []
        assert (await engine.list_runs(blocked=True)).total == 1

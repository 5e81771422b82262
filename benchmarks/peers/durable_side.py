"""The scenarios on durable: SQLite file, WAL, ``synchronous`` FULL (the default) or NORMAL;
S6 also on PostgreSQL (``url``)."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import time
from typing import Any

import durable
from benchmarks.core import register_approve, register_ten, start_suspended, time_resumes
from benchmarks.peers import (
    append_line,
    copy_db,
    db_bytes,
    lat,
    pragmas_of,
    step_fn,
    three_steps,
)

SIDE = "durable"


def _engine(path: str, sync: str) -> durable.Engine:
    return durable.Engine("sqlite:///" + os.path.abspath(path), synchronous=sync)


def _pragmas(engine: durable.Engine, path: str, sync: str) -> dict[str, Any]:
    """PRAGMA synchronous / journal_mode as the engine's own connection reports them.

    The store's connection pool is internal (``eventsourcing``'s datastore); if it
    moved, fall back to the option given (the engine issues the PRAGMA itself) and
    the file's journal mode.
    """
    try:
        with engine.store.datastore.get_connection(commit=False) as conn:  # type: ignore[attr-defined]
            out = pragmas_of(conn._sqlite_conn)
        out["how"] = "read from the engine's own connection"
        return out
    except Exception as e:
        conn2 = sqlite3.connect(path)
        try:
            jm = conn2.execute("PRAGMA journal_mode").fetchone()[0]
        finally:
            conn2.close()
        return {"synchronous": sync, "journal_mode": str(jm).upper(),
                "how": f"option given (engine connection not reachable: {type(e).__name__})"}


# -- S1 -------------------------------------------------------------------------------
async def s1(path: str, sync: str, runs: int, batch: int, warmup: int = 10) -> dict[str, Any]:
    engine = _engine(path, sync)
    register_ten(engine)

    async def one(k: int) -> None:
        res = await (await engine.create_run("ten-steps")).start(k)
        if res.status != "succeeded":
            raise RuntimeError(f"run ended {res.status}: {res.error}")

    async with engine:
        for k in range(warmup):
            await one(k)
        t0 = time.perf_counter()
        for k in range(runs):
            await one(k)
        seq = time.perf_counter() - t0
        await asyncio.gather(*(one(k) for k in range(min(batch, runs))))  # warm-up batch
        t0 = time.perf_counter()
        for start in range(0, runs, batch):
            await asyncio.gather(*(one(k) for k in range(start, min(runs, start + batch))))
        conc = time.perf_counter() - t0
        pragmas = _pragmas(engine, path, sync)
    return {
        "pragmas": pragmas,
        "seq": {"us_per_step": seq / (runs * 10) * 1e6, "workflows_per_s": runs / seq,
                "steps_per_s": runs * 10 / seq, "seconds": seq},
        "conc": {"steps_per_s": runs * 10 / conc, "workflows_per_s": runs / conc,
                 "seconds": conc, "batch": batch},
    }


# -- S2 -------------------------------------------------------------------------------
async def s2(path: str, sync: str, runs: int, warmup: int = 5) -> dict[str, Any]:
    """Hot: the engine that suspended the runs resumes them. Cold: a new Engine on the file."""
    engine = _engine(path, sync)
    register_approve(engine)
    async with engine:
        hot_ids = await start_suspended(engine, warmup + runs)
        cold_ids = await start_suspended(engine, warmup + runs)
        await time_resumes(engine, hot_ids[:warmup])
        hot = lat(await time_resumes(engine, hot_ids[warmup:]))
    engine = _engine(path, sync)
    register_approve(engine)
    async with engine:
        await time_resumes(engine, cold_ids[:warmup])
        cold = lat(await time_resumes(engine, cold_ids[warmup:]))
        pragmas = _pragmas(engine, path, sync)
    return {"pragmas": pragmas, "hot": hot, "cold": cold}


# -- S3 -------------------------------------------------------------------------------
def _register_long(engine: durable.Engine) -> None:
    @engine.workflow("long")
    async def long(ctx: durable.Context, n: int) -> int:
        for i in range(n):
            await ctx.step(f"s{i}", step_fn, i)
        decision = await ctx.suspend("approval", {"x": 1})
        await ctx.step("after", step_fn, 1 if decision["ok"] else 0)
        return n


async def s3(path: str, sync: str, steps: int) -> dict[str, Any]:
    """A run of ``steps`` completed steps, suspended; resume it hot, and cold from a copy."""
    engine = _engine(path, sync)
    _register_long(engine)
    cold_path = path + ".cold.db"
    async with engine:
        warm = await engine.create_run("long")  # creates the schema; not counted
        if (await warm.start(1)).status != "suspended":
            raise RuntimeError("warm-up run did not suspend")
        await warm.resume({"ok": True})
        size0 = db_bytes(path)
        run = await engine.create_run("long")
        t0 = time.perf_counter()
        res = await run.start(steps)
        build_s = time.perf_counter() - t0
        if res.status != "suspended":
            raise RuntimeError(f"long run ended {res.status}: {res.error}")
        size1 = db_bytes(path)
        copy_db(path, cold_path)
        t0 = time.perf_counter()
        res = await run.resume({"ok": True})
        hot_ms = (time.perf_counter() - t0) * 1e3
        if res.status != "succeeded":
            raise RuntimeError(f"hot resume ended {res.status}: {res.error}")
    engine = _engine(cold_path, sync)
    _register_long(engine)
    t0 = time.perf_counter()
    async with engine:
        opened = time.perf_counter()
        handle = await engine.create_run("long", run_id=run.run_id)
        t1 = time.perf_counter()
        res = await handle.resume({"ok": True})
        t2 = time.perf_counter()
        if res.status != "succeeded":
            raise RuntimeError(f"cold resume ended {res.status}: {res.error}")
        pragmas = _pragmas(engine, cold_path, sync)
    return {
        "pragmas": pragmas, "steps": steps, "build_s": build_s,
        "build_us_per_step": build_s / steps * 1e6,
        "bytes_per_step": (size1 - size0) / steps, "db_bytes": size1,
        "hot_ms": hot_ms, "cold_ms": (t2 - t1) * 1e3,
        "cold_with_open_ms": (t2 - t0) * 1e3, "open_ms": (opened - t0) * 1e3,
    }


# -- S4 -------------------------------------------------------------------------------
def _register_one(engine: durable.Engine) -> None:
    @engine.workflow("one-step")
    async def one(ctx: durable.Context, n: int) -> int:
        return await ctx.step("s", step_fn, n)


async def s4(path: str, sync: str, finished: int, suspended: int, repeats: int,
             batch: int = 50) -> dict[str, Any]:
    engine = _engine(path, sync)
    _register_one(engine)
    register_approve(engine)
    async with engine:
        t0 = time.perf_counter()

        async def fin(k: int) -> None:
            res = await (await engine.create_run("one-step")).start(k)
            assert res.status == "succeeded", res

        for start in range(0, finished, batch):
            await asyncio.gather(*(fin(k) for k in range(start, min(finished, start + batch))))
        await start_suspended(engine, suspended)
        build_s = time.perf_counter() - t0
    # a new engine, as a dashboard or the CLI would open one
    engine = _engine(path, sync)
    _register_one(engine)
    register_approve(engine)
    times = []
    async with engine:
        for _ in range(repeats + 1):
            t0 = time.perf_counter()
            page = await engine.list_suspended_runs(per_page=suspended)
            times.append((time.perf_counter() - t0) * 1e3)
            if len(page.runs) != suspended or page.total != suspended:
                raise RuntimeError(f"listed {len(page.runs)}/{page.total}, want {suspended}")
    return {"first_ms": times[0], "ms": times[1:], "found": suspended, "build_s": build_s,
            "how": "engine.list_suspended_runs(per_page=N) on a new Engine"}


# -- S5 -------------------------------------------------------------------------------
def _register_kill(engine: durable.Engine, steps: int, block_at: int, marker: str | None,
                   steps_log: str) -> None:
    async def work(i: int) -> int:
        append_line(steps_log, f"s{i}")
        if i == block_at and marker is not None:
            append_line(marker, "blocked")
            await asyncio.sleep(3600)
        return i

    @engine.workflow("kill-me")
    async def kill_me(ctx: durable.Context, n: int) -> int:
        for i in range(steps):
            await ctx.step(f"s{i}", work, i)
        return n


async def s5_child(path: str, sync: str, steps: int, block_at: int, marker: str,
                   steps_log: str) -> dict[str, Any]:
    engine = _engine(path, sync)
    _register_kill(engine, steps, block_at, marker, steps_log)
    async with engine:
        run = await engine.create_run("kill-me", run_id="victim")
        await run.start(1)  # blocks at step ``block_at`` until the parent kills us
    return {}


async def _warm_imports() -> None:
    """Run one workflow on ``memory://`` so the modules durable imports lazily (execution,
    structlog: ~70 ms) are loaded before the clock starts, as the peers' modules are."""
    engine = durable.Engine("memory://")
    register_ten(engine)
    async with engine:
        await (await engine.create_run("ten-steps")).start(0)


async def s5_recover(path: str, sync: str, steps: int, block_at: int, marker: str,
                     steps_log: str) -> dict[str, Any]:
    t_imports = time.perf_counter()
    await _warm_imports()
    t0 = time.perf_counter()
    engine = _engine(path, sync)
    _register_kill(engine, steps, block_at, None, steps_log)
    async with engine:
        opened = time.perf_counter()
        ids = await engine.recover()
        recovered = time.perf_counter()
        if ids != ["victim"]:
            raise RuntimeError(f"recover() returned {ids}")
        info = await engine.wait("victim", timeout=60)
        done = time.perf_counter()
        if info.status != "succeeded":
            raise RuntimeError(f"recovered run ended {info.status}: {info.error}")
    return {"until_complete_ms": (done - t0) * 1e3, "open_ms": (opened - t0) * 1e3,
            "recover_call_ms": (recovered - opened) * 1e3,
            "lazy_imports_ms": (t0 - t_imports) * 1e3,
            "how": "new process: Engine(...) + await engine.recover() + engine.wait(id)"}


# -- S6 -------------------------------------------------------------------------------
def _register_three(engine: durable.Engine) -> None:
    @engine.workflow("three-steps")
    async def three(ctx: durable.Context, n: int) -> int:
        a = await ctx.step("a", step_fn, n)
        b = await ctx.step("b", step_fn, a + 1)
        return await ctx.step("c", step_fn, b + 1)


async def s6(path: str, sync: str, runs: int, warmup: int, total: int, inflight: int,
             url: str | None = None) -> dict[str, Any]:
    """Three trivial steps: ``create_run`` + ``start``, which returns once the run completes.
    ``url``: a PostgreSQL database instead of the SQLite file at ``path``."""
    engine = durable.Engine(url) if url else _engine(path, sync)
    _register_three(engine)

    async def one(k: int) -> None:
        res = await (await engine.create_run("three-steps")).start(k)
        if res.status != "succeeded" or res.output != k + 2:
            raise RuntimeError(f"run ended {res.status}: {res.output!r} {res.error}")

    async with engine:
        store = engine.store

        def commits() -> tuple[int, int]:  # the store's own counters
            return getattr(store, "batches", 0), getattr(store, "appends", 0)

        out = await three_steps(one, runs=runs, warmup=warmup, total=total, inflight=inflight,
                                commits=commits)
        out["pragmas"] = _pg_settings(url) if url else _pragmas(engine, path, sync)
    return out


def _pg_settings(url: str) -> dict[str, Any]:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        return {name: conn.execute(f"SHOW {name}").fetchone()[0]  # type: ignore[index]
                for name in ("synchronous_commit", "fsync", "wal_sync_method")}


def sqlite_pragmas(path: str) -> dict[str, Any]:
    conn = sqlite3.connect(path)
    try:
        return pragmas_of(conn)
    finally:
        conn.close()

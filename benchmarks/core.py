"""The scenarios (B1, B2, floors) and the databases they run on."""

from __future__ import annotations

import math
import os
import secrets
import sqlite3
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any

import durable

PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
BLOB = os.urandom(150)  # the floor's payload: about one step_completed event


def step_fn(i: int) -> int:
    return i


def register_ten(engine: durable.Engine) -> None:
    @engine.workflow("ten-steps")
    async def ten(ctx: durable.Context, n: int) -> int:
        for i in range(10):
            await ctx.step(f"s{i}", step_fn, i)
        return n


def register_approve(engine: durable.Engine) -> None:
    @engine.workflow("step-suspend-step")
    async def approve(ctx: durable.Context, n: int) -> int:
        a = await ctx.step("before", step_fn, n)
        decision = await ctx.suspend("approval", {"x": 1})
        b = await ctx.step("after", step_fn, 1 if decision["ok"] else 0)
        return a + b


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    s = sorted(values)
    return s[max(0, math.ceil(q / 100 * len(s)) - 1)]


def _store_counters(engine: durable.Engine) -> tuple[int, int]:
    st = engine.store
    return getattr(st, "batches", 0), getattr(st, "appends", 0)


# -- targets -------------------------------------------------------------------
@dataclass
class Target:
    """One database configuration the scenarios run on."""

    key: str  # "sqlite-FULL", "sqlite-NORMAL", "postgres", "memory"
    label: str
    kind: str  # "sqlite" | "postgres" | "memory"
    options: dict[str, Any] = field(default_factory=dict)
    workdir: str = ""
    pg_db: str = ""
    cold_possible: bool = True
    skip: str | None = None  # why the engine scenarios cannot run here

    def url(self, tag: str) -> str:
        if self.kind == "sqlite":
            return "sqlite:///" + os.path.join(self.workdir, f"{tag}.db")
        if self.kind == "postgres":
            return f"postgresql://postgres@127.0.0.1:5432/{self.pg_db}"
        return "memory://"

    def engine(self, tag: str) -> durable.Engine:
        return durable.Engine(self.url(tag), **self.options)


def sqlite_targets(workdir: str) -> list[Target]:
    return [
        Target(f"sqlite-{s}", f"SQLite WAL, synchronous={s}", "sqlite",
               {"synchronous": s}, workdir=workdir)
        for s in ("FULL", "NORMAL")
    ]


def memory_target() -> Target:
    return Target("memory", "memory:// (reference: no database)", "memory", cold_possible=False)


def postgres_target() -> tuple[Target | None, str | None]:
    """Create ``durable_bench_<random>``; (None, why) if the server is unreachable."""
    try:
        import psycopg
    except ImportError as e:
        return None, f"PostgreSQL skipped: psycopg is not installed ({e})"
    name = f"durable_bench_{secrets.token_hex(4)}"
    try:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=3) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except Exception as e:
        return None, f"PostgreSQL skipped: {PG_ADMIN_URL} is unreachable ({e})"
    t = Target("postgres", "PostgreSQL 127.0.0.1", "postgres", pg_db=name)
    try:
        t.engine("probe")  # the store module is an optional part of the engine
    except Exception as e:
        t.skip = f"the engine cannot open PostgreSQL: {type(e).__name__}: {e}"
    return t, None


def drop_postgres(t: Target) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=3) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{t.pg_db}" WITH (FORCE)')


def postgres_info(t: Target) -> dict[str, Any]:
    import psycopg

    names = ("server_version", "synchronous_commit", "fsync", "wal_sync_method",
             "full_page_writes", "shared_buffers")
    with psycopg.connect(t.url(""), autocommit=True) as conn:
        info = {n: conn.execute(f"SHOW {n}").fetchone()[0] for n in names}  # type: ignore[index]
        info["version"] = conn.execute("SELECT version()").fetchone()[0]  # type: ignore[index]
    return info


# -- floors --------------------------------------------------------------------
def sqlite_floor(path: str, synchronous: str, iterations: int, warmup: int = 100,
                 journal: str = "WAL") -> float:
    """µs per commit of one ~150-byte INSERT, at the given journal mode and synchronous level."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute(f"PRAGMA journal_mode={journal}")
        conn.execute(f"PRAGMA synchronous={synchronous}")
        conn.execute("CREATE TABLE IF NOT EXISTS floor (id INTEGER PRIMARY KEY, data BLOB)")
        for i in range(warmup + iterations):
            if i == warmup:
                t0 = time.perf_counter()
            conn.execute("BEGIN")
            conn.execute("INSERT INTO floor (data) VALUES (?)", (BLOB,))
            conn.execute("COMMIT")
        return (time.perf_counter() - t0) / iterations * 1e6
    finally:
        conn.close()


def postgres_floor(t: Target, iterations: int, warmup: int = 100) -> float:
    """µs per commit of one ~150-byte INSERT in autocommit mode."""
    import psycopg

    with psycopg.connect(t.url(""), autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS bench_floor (id BIGSERIAL PRIMARY KEY, data BYTEA)"
        )
        for i in range(warmup + iterations):
            if i == warmup:
                t0 = time.perf_counter()
            conn.execute("INSERT INTO bench_floor (data) VALUES (%s)", (BLOB,))
        return (time.perf_counter() - t0) / iterations * 1e6


def floor(t: Target, tag: str, iterations: int) -> float | None:
    if t.kind == "sqlite":
        path = os.path.join(t.workdir, f"floor-{tag}.db")
        return sqlite_floor(path, t.options["synchronous"], iterations)
    if t.kind == "postgres":
        return postgres_floor(t, iterations)
    return None


# -- B1: per-step overhead -------------------------------------------------------
async def b1(t: Target, tag: str, n: int, warmup: int = 10) -> dict[str, float]:
    """``n`` sequential runs of a ten-step workflow: µs per step, workflows/s."""
    engine = t.engine(f"b1-{tag}")
    register_ten(engine)
    async with engine:
        for k in range(warmup):
            res = await (await engine.create_run("ten-steps")).start(k)
            assert res.status == "succeeded", res
        batches0, appends0 = _store_counters(engine)
        t0 = time.perf_counter()
        for k in range(n):
            run = await engine.create_run("ten-steps")
            res = await run.start(k)
            if res.status != "succeeded":
                raise RuntimeError(f"B1 run ended {res.status}: {res.error}")
        elapsed = time.perf_counter() - t0
        batches1, appends1 = _store_counters(engine)
    return {
        "us_per_step": elapsed / (n * 10) * 1e6,
        "workflows_per_s": n / elapsed,
        "commits_per_workflow": (batches1 - batches0) / n,
        "appends_per_workflow": (appends1 - appends0) / n,
        "seconds": elapsed,
    }


# -- B2: suspend -> resume latency -------------------------------------------------
async def start_suspended(engine: durable.Engine, count: int) -> list[str]:
    ids = []
    for k in range(count):
        run = await engine.create_run("step-suspend-step")
        res = await run.start(k)
        if res.status != "suspended":
            raise RuntimeError(f"B2 run ended {res.status}: {res.error}")
        ids.append(run.run_id)
    return ids


async def time_resumes(engine: durable.Engine, ids: list[str]) -> list[float]:
    out = []
    for rid in ids:
        run = await engine.create_run("step-suspend-step", run_id=rid)
        t0 = time.perf_counter()
        res = await run.resume({"ok": True})
        out.append((time.perf_counter() - t0) * 1e3)
        if res.status != "succeeded":
            raise RuntimeError(f"B2 resume ended {res.status}: {res.error}")
    return out


def _lat(ms: list[float]) -> dict[str, float]:
    return {"p50_ms": statistics.median(ms), "p99_ms": percentile(ms, 99),
            "mean_ms": statistics.fmean(ms), "max_ms": max(ms), "count": len(ms)}


async def b2(t: Target, tag: str, m: int, warmup: int = 5) -> dict[str, Any]:
    """Start runs that suspend; time each ``resume()`` hot, then cold from a new engine.

    The first ``warmup`` resumes of each kind are not timed.
    """
    engine = t.engine(f"b2-{tag}")
    register_approve(engine)
    out: dict[str, Any] = {}
    async with engine:
        hot_ids = await start_suspended(engine, warmup + m)
        cold_ids = await start_suspended(engine, warmup + m) if t.cold_possible else []
        await time_resumes(engine, hot_ids[:warmup])
        out["hot"] = _lat(await time_resumes(engine, hot_ids[warmup:]))
    if t.cold_possible:
        engine = t.engine(f"b2-{tag}")
        register_approve(engine)
        async with engine:
            await time_resumes(engine, cold_ids[:warmup])
            out["cold"] = _lat(await time_resumes(engine, cold_ids[warmup:]))
    return out


def new_workdir() -> str:
    return tempfile.mkdtemp(prefix="durable-bench-")

"""``--profile``: where one SQLite append's time goes, rung by rung, plus cProfile of B1.

This pass reaches into the store (its recorder, its SQL) to strip layers off one
at a time; if the internals moved, it fails, so that it is mended.
"""

from __future__ import annotations

import asyncio
import cProfile
import os
import pstats
import sqlite3
import statistics
import time
from datetime import UTC, datetime
from typing import Any

import msgspec

from benchmarks.core import (
    BLOB,
    Target,
    b1,
    percentile,
    postgres_floor,
    register_ten,
    sqlite_floor,
)

RUNGS = ["floor", "event row only", "engine SQL", "recorder", "writer thread", "engine"]


async def _capture(t: Target, tag: str) -> tuple[Any, Any, str]:
    """A real mid-run step append of B1, its event INSERT, and the SQLite file it went to."""
    engine = t.engine(f"cap-{tag}")
    register_ten(engine)
    seen: list[Any] = []
    async with engine:
        st: Any = engine.store
        batched, inline = st._insert_sync, st._insert_now

        def spy(appends: Any) -> None:
            seen.extend(appends)
            batched(appends)

        def spy_inline(append: Any) -> bool:
            seen.append(append)
            return inline(append)  # type: ignore[no-any-return]

        st._insert_sync, st._insert_now = spy, spy_inline
        await (await engine.create_run("ten-steps")).start(0)
        st._insert_sync, st._insert_now = batched, inline
        insert_sql = st.recorder.insert_events_statement
    step = next(a for a in seen if a.events[0].type == "step_completed")
    return step, insert_sql, getattr(engine.store, "path", "")


def _ids(i: int) -> tuple[str, int]:
    """B1's shape: ten appends to a run, then a new run."""
    return f"bd-{i // 10}", i % 10 + 1


def _raw_rungs(db: str, schema_from: str, sync: str, step: Any, insert_sql: str,
               n: int) -> dict[str, float]:
    from durable.store.sql import upsert_head_sql
    from durable.store.types import head_params
    from projections.dialect import SQLITE

    upsert_head = upsert_head_sql(SQLITE)

    src = sqlite3.connect(schema_from)
    ddl = [r[0] for r in src.execute("SELECT sql FROM sqlite_master WHERE sql IS NOT NULL")]
    src.close()
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={sync}")
    for stmt in ddl:
        conn.execute(stmt)
    stored = step.stored[0]
    hp = head_params(step.head)
    out = {}
    for rung, with_head in (("event row only", False), ("engine SQL", True)):
        t0 = time.perf_counter()
        for i in range(n):
            rid, pos = _ids(i)
            rid = f"{rung[:3]}{rid}"
            conn.execute("BEGIN")
            conn.execute(insert_sql, (rid, pos, stored.topic, stored.state))
            if with_head:
                conn.execute(upsert_head, (rid, *hp[1:]))
            conn.execute("COMMIT")
        out[rung] = (time.perf_counter() - t0) / n * 1e6
    conn.close()
    return out


def _appends(store: Any, step: Any, n: int, prefix: str) -> list[Any]:
    from durable.events import new_event
    from durable.store.types import Append

    ev0 = step.events[0]
    out = []
    ts = datetime.now(UTC)
    for i in range(n):
        rid, pos = _ids(i)
        rid = prefix + rid
        e = new_event(rid, pos, ev0.type, ev0.payload, "", ts)
        head = msgspec.structs.replace(step.head, run_id=rid, position=pos)
        out.append(Append(run_id=rid, expected=pos - 1, events=[e], head=head, suspensions=None))
    return out


async def _store_rungs(t: Target, tag: str, step: Any, n: int) -> dict[str, float]:
    from durable.store.types import to_stored

    engine = t.engine(f"rungs-{tag}")
    async with engine:
        st: Any = engine.store
        rec = _appends(st, step, n, f"r{tag}-")
        for a in rec:
            a.stored = [to_stored(a.events[0])]
        t0 = time.perf_counter()
        for a in rec:
            st._insert_sync([a])
        recorder = (time.perf_counter() - t0) / n * 1e6
        wr = _appends(st, step, n, f"w{tag}-")
        t0 = time.perf_counter()
        for a in wr:
            await st.append(a)
        writer = (time.perf_counter() - t0) / n * 1e6
    return {"recorder": recorder, "writer thread": writer}


async def ladder(t: Target, tag: str, n: int) -> dict[str, float]:
    """Every rung for SQLite; floor, recorder, writer thread and engine for PostgreSQL."""
    step, insert_sql, cap_path = await _capture(t, tag)
    if t.kind == "sqlite":
        sync = t.options["synchronous"]
        out = {"floor": sqlite_floor(os.path.join(t.workdir, f"bd-floor-{tag}.db"), sync, n)}
        out.update(_raw_rungs(os.path.join(t.workdir, f"bd-raw-{tag}.db"), cap_path, sync,
                              step, insert_sql, n))
    else:
        out = {"floor": postgres_floor(t, n)}
    out.update(await _store_rungs(t, tag, step, n))
    runs = max(1, n // 12)
    r = await b1(t, f"bd-{tag}", runs, warmup=3)
    out["engine"] = r["seconds"] / (runs * 12) * 1e6
    return out


def checkpoint_tail(workdir: str, n: int = 6000) -> dict[str, dict[str, float]]:
    """Per-commit latency of a raw NORMAL loop (event-sized row + head upsert), with SQLite's
    WAL auto-checkpoint on (the default, 1000 pages) and off: does the tail come from it?"""
    out = {}
    for pages in (1000, 0):
        conn = sqlite3.connect(os.path.join(workdir, f"ckpt-{pages}.db"), isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute(f"PRAGMA wal_autocheckpoint={pages}")
        conn.execute("CREATE TABLE ev (rid TEXT, pos INTEGER, data BLOB, PRIMARY KEY (rid, pos))")
        conn.execute("CREATE TABLE head (rid TEXT PRIMARY KEY, status TEXT, pos INTEGER)")
        conn.execute("CREATE INDEX head_status ON head (status)")
        lat = []
        for i in range(n):
            t0 = time.perf_counter()
            conn.execute("BEGIN")
            conn.execute("INSERT INTO ev VALUES (?, ?, ?)", (f"r{i // 10}", i % 10, BLOB))
            conn.execute("INSERT INTO head VALUES (?, 'running', ?) ON CONFLICT (rid) DO UPDATE "
                         "SET status = excluded.status, pos = excluded.pos", (f"r{i // 10}", i))
            conn.execute("COMMIT")
            lat.append((time.perf_counter() - t0) * 1e6)
        conn.close()
        out[f"wal_autocheckpoint={pages}"] = {
            "p50_us": statistics.median(lat), "p99_us": percentile(lat, 99),
            "max_us": max(lat), "over_1ms": sum(x > 1000 for x in lat), "commits": n,
        }
    return out


def _top(prof: cProfile.Profile, steps: int, limit: int = 14) -> str:
    st = pstats.Stats(prof)
    rows = sorted(st.stats.items(), key=lambda kv: kv[1][2], reverse=True)[:limit]  # type: ignore[attr-defined]
    lines = ["own µs/step  calls/step  function"]
    for (file, line, fn), (_cc, nc, tt, _ct, _callers) in rows:
        where = fn if file == "~" else f"{os.path.basename(file)}:{line}({fn})"
        lines.append(f"{tt / steps * 1e6:11.1f}  {nc / steps:10.2f}  {where}")
    return "\n".join(lines)


async def profile_b1(t: Target, runs: int) -> dict[str, str]:
    """cProfile of B1's main thread, and of the writer thread's transactions."""
    engine = t.engine("prof")
    register_ten(engine)
    wprof = cProfile.Profile()
    async with engine:
        st: Any = engine.store
        orig = st._insert_sync

        def profiled(appends: Any) -> None:
            wprof.enable()
            try:
                orig(appends)
            finally:
                wprof.disable()

        for k in range(5):
            await (await engine.create_run("ten-steps")).start(k)
        st._insert_sync = profiled
        prof = cProfile.Profile()
        prof.enable()
        for k in range(runs):
            await (await engine.create_run("ten-steps")).start(k)
        prof.disable()
        st._insert_sync = orig
    return {"main": _top(prof, runs * 10), "writer": _top(wprof, runs * 10)}


async def breakdown(targets: list[Target], n: int, repeats: int) -> dict[str, Any]:
    by: dict[str, dict[str, list[float]]] = {}
    for rep in range(repeats):
        for t in targets:
            if t.kind not in ("sqlite", "postgres") or t.skip:
                continue
            print(f"  breakdown {t.key} repeat {rep + 1}", flush=True)
            for k, v in (await ladder(t, f"{t.key}-{rep}", n)).items():
                by.setdefault(t.key, {}).setdefault(k, []).append(v)
    out: dict[str, Any] = {
        "iterations": n, "repeats": repeats, "rungs": RUNGS,
        "by_setting": {s: {k: statistics.median(v) for k, v in d.items()} for s, d in by.items()},
        "raw": by,
        "blob_bytes": len(BLOB),
    }
    sq = next((t for t in targets if t.kind == "sqlite"), None)
    if sq is not None:
        print("  WAL checkpoint tail", flush=True)
        out["checkpoint_tail"] = checkpoint_tail(sq.workdir)
    out["profiles"] = {}
    for t in targets:
        if t.key in ("sqlite-FULL", "postgres") and not t.skip:
            print(f"  profiling B1 on {t.key}", flush=True)
            out["profiles"][t.key] = await profile_b1(t, 100 if t.kind == "sqlite" else 50)
    return out


def run_breakdown(targets: list[Target], n: int, repeats: int) -> dict[str, Any]:
    return asyncio.run(breakdown(targets, n, repeats))

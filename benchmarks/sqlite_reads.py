"""``python -m benchmarks.sqlite_reads``: the SQLite read path, thread pool against aiosqlite.

The engine reads a run's events through the ``eventsourcing`` recorder on a
small thread pool. ``aiosqlite`` was a declared dependency the engine never
imported; this measures whether reading through it instead would pay: one
run's events (the cold path of a resume, ``get_run``), read one at a time and
50 at once, with the same rows decoded the same way. Decision 0008 records
the outcome.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import aiosqlite

import durable
from benchmarks.core import percentile
from durable.bulk_decode import decode_rows


async def populate(url: str, runs: int, steps: int) -> list[str]:
    engine = durable.Engine(url, synchronous="NORMAL")

    @engine.workflow("steps")
    async def wf(ctx: durable.Context, n: int) -> Any:
        for i in range(n):
            await ctx.step(f"s{i}", lambda i=i: {"i": i})
        return await ctx.suspend("end")

    ids = []
    async with engine:
        for _ in range(runs):
            run = await engine.create_run("steps")
            await run.start(steps)
            ids.append(run.run_id)
    return ids


async def measure(path: str, ids: list[str], calls: int) -> dict[str, Any]:
    url = f"sqlite:///{path}"
    engine = durable.Engine(url)
    out: dict[str, Any] = {}
    async with engine, aiosqlite.connect(path) as db:
        store: Any = engine.store
        sql = ("SELECT originator_id, originator_version, topic, state FROM stored_events "
               "WHERE originator_id = ? ORDER BY originator_version")

        async def pool(run_id: str) -> int:
            return len(await store.read_events(run_id))

        async def via_aiosqlite(run_id: str) -> int:
            async with db.execute(sql, (run_id,)) as cur:
                rows = await cur.fetchall()
            return len(decode_rows(rows))

        for name, read in (("thread pool (recorder)", pool), ("aiosqlite", via_aiosqlite)):
            for _ in range(50):
                await read(ids[0])
            one = []
            for k in range(calls):
                t0 = time.perf_counter()
                await read(ids[k % len(ids)])
                one.append((time.perf_counter() - t0) * 1e3)
            t0 = time.perf_counter()
            for k in range(0, calls, 50):
                await asyncio.gather(*(read(ids[(k + j) % len(ids)]) for j in range(50)))
            many = (time.perf_counter() - t0) / calls * 1e3
            out[name] = {"p50_ms": statistics.median(one), "p99_ms": percentile(one, 99),
                         "ms_per_read_50_at_once": many}
    return out


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m benchmarks.sqlite_reads", description=__doc__)
    p.add_argument("--runs", type=int, default=200)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--calls", type=int, default=2000)
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "reads.db")
        ids = asyncio.run(populate(f"sqlite:///{path}", args.runs, args.steps))
        repeats = [asyncio.run(measure(path, ids, args.calls)) for _ in range(args.repeats)]
    summary = {name: {k: statistics.median(r[name][k] for r in repeats) for k in repeats[0][name]}
               for name in repeats[0]}
    print(f"{args.runs} runs of {args.steps + 2} events; {args.calls} reads; "
          f"median of {args.repeats} repeats")
    for name, r in summary.items():
        print(f"  {name:<24} p50 {r['p50_ms']:.3f} ms  p99 {r['p99_ms']:.3f} ms  "
              f"50 at once: {r['ms_per_read_50_at_once']:.3f} ms/read")
    print(json.dumps(summary))


if __name__ == "__main__":
    main()

"""How much memory parked runs take: ``python -m benchmarks.parked [--runs N]``.

A parked run is a suspended run whose workflow coroutine stays alive in this
process, so that a resume needs no reload and no replay. This starts N runs
that each complete a step and suspend, all parked (``max_parked=N``), and
reports the process's resident memory before and after, per run; then resumes
a sample to show they are hot, and repeats with a bound (``max_parked``) to
show that eviction keeps memory flat while cold resumes still work.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

import durable

RESULTS = Path(__file__).with_name("results") / "parked.json"


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def register(engine: durable.Engine) -> None:
    @engine.workflow("approval")
    async def approval(ctx: durable.Context, order: dict[str, Any]) -> dict[str, Any]:
        price = await ctx.step("price", lambda: order["qty"] * 10)
        decision = await ctx.suspend("approval", {"price": price})
        return {"price": price, "approved": decision["approved"]}


async def measure(url: str, runs: int, max_parked: int) -> dict[str, Any]:
    engine = durable.Engine(url, max_parked=max_parked, synchronous="NORMAL")
    register(engine)
    async with engine:
        gc.collect()
        before = rss_bytes()
        started = time.perf_counter()
        ids = []
        for i in range(runs):
            run = await engine.create_run("approval")
            await run.start({"qty": i % 7 + 1})
            ids.append(run.run_id)
        start_s = time.perf_counter() - started
        gc.collect()
        after = rss_bytes()
        parked = engine.stats().parked
        sample = ids[-200:]  # the most recent are parked under any bound
        latencies = []
        for run_id in sample:
            t = time.perf_counter()
            result = await (await engine.create_run("approval", run_id=run_id)).resume(
                {"approved": True})
            latencies.append(time.perf_counter() - t)
            assert result.status == "succeeded"
        cold = []
        for run_id in ids[:200]:  # the oldest: evicted under a bound, so resumed cold
            t = time.perf_counter()
            await (await engine.create_run("approval", run_id=run_id)).resume({"approved": True})
            cold.append(time.perf_counter() - t)
    latencies.sort()
    cold.sort()
    return {
        "url": url.split("///")[0],
        "runs": runs,
        "max_parked": max_parked,
        "parked": parked,
        "start_seconds": round(start_s, 2),
        "rss_before_mib": round(before / 2**20, 1),
        "rss_after_mib": round(after / 2**20, 1),
        "bytes_per_run": round((after - before) / runs),
        "resume_recent_p50_ms": round(latencies[len(latencies) // 2] * 1000, 3),
        "resume_oldest_p50_ms": round(cold[len(cold) // 2] * 1000, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=100_000)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for url, bound in (("memory://", args.runs), (f"sqlite:///{tmp}/a.db", args.runs),
                           (f"sqlite:///{tmp}/b.db", 10_000)):
            row = asyncio.run(measure(url, args.runs, bound))
            print(json.dumps(row))
            rows.append(row)
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps({
        "date": time.strftime("%Y-%m-%d"),
        "python": platform.python_version(),
        "note": "rss includes the store for memory:// (events kept in the process)",
        "rows": rows,
    }, indent=2) + "\n")


if __name__ == "__main__":
    main()

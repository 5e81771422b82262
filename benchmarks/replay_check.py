"""``python -m benchmarks.replay_check``: how many stored histories ``durable runs replay``
checks per second.

A store holds ``--runs`` runs of a workflow of ``--steps`` steps (by default 1,000
runs of 20): three in four finished, one in four suspended after its steps (a
suspended run is checked too: its code must still reach the open suspension).
A fresh engine with the same code then checks them all against today's code
(``engine.check_replays()``, what ``durable runs replay --all`` calls: logs read
500 at a time), and, for comparison, one run at a time (``engine.check_replay``
per id, one query each). Figures are the median of ``--repeats`` passes, on
SQLite (``synchronous=NORMAL``), or on the store at ``--url``.

Target (issue 12): at least 1,000 histories of 20 steps per second.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import platform
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import durable

RESULTS = Path(__file__).with_name("results") / "replay_check.json"
TARGET = 1_000  # histories per second


def register(engine: durable.Engine) -> None:
    @engine.workflow("checked")
    async def checked(ctx: durable.Context, order: dict[str, Any]) -> dict[str, Any]:
        total = 0
        for i in range(order["steps"]):
            total += await ctx.step(f"step-{i}", _value, i)
        if order["wait"]:
            await ctx.suspend("approval", {"total": total})
        return {"total": total}


def _value(i: int) -> int:
    return i


async def write(url: str, runs: int, steps: int) -> None:
    engine = durable.Engine(url, synchronous="OFF") if url.startswith("sqlite") else (
        durable.Engine(url))
    register(engine)
    async with engine:
        async def one(i: int) -> None:
            run = await engine.create_run("checked")
            await run.start({"steps": steps, "wait": i % 4 == 3})

        for first in range(0, runs, 100):  # a hundred runs executing at once
            await asyncio.gather(*(one(i) for i in range(first, min(first + 100, runs))))
        await engine.flush()


async def check(url: str, one_by_one: bool) -> tuple[float, int]:
    engine = durable.Engine(url, synchronous="NORMAL") if url.startswith("sqlite") else (
        durable.Engine(url))
    register(engine)
    async with engine:
        gc.collect()
        t0 = time.perf_counter()
        if one_by_one:
            ids = [r.run_id for r in (await engine.list_runs(per_page=1_000_000)).runs]
            verdicts = [await engine.check_replay(run_id) for run_id in ids]
        else:
            verdicts = await engine.check_replays()
        elapsed = time.perf_counter() - t0
    bad = [v for v in verdicts if not v.ok]
    assert not bad, bad[:3]
    return elapsed, len(verdicts)


async def measure(url: str, runs: int, steps: int, repeats: int) -> dict[str, Any]:
    t0 = time.perf_counter()
    await write(url, runs, steps)
    written = time.perf_counter() - t0
    out: dict[str, Any] = {"runs": runs, "steps": steps, "write_s": written}
    for name, one_by_one in (("batched", False), ("one_by_one", True)):
        times = []
        for _ in range(repeats):
            elapsed, n = await check(url, one_by_one)
            assert n == runs, (n, runs)
            times.append(elapsed)
        median = statistics.median(times)
        out[name] = {"seconds": median, "seconds_all": times,
                     "histories_per_s": runs / median, "us_per_history": median * 1e6 / runs}
        print(f"  {name:<10} {runs:,} histories of {steps} steps in {median:.3f} s: "
              f"{runs / median:,.0f}/s ({median * 1e6 / runs:.0f} µs each)", flush=True)
    return out


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m benchmarks.replay_check", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, default=1_000)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--url", default=None,
                   help="a store URL (an empty PostgreSQL schema, say); default: a new SQLite file")
    p.add_argument("--no-write", action="store_true",
                   help="leave results/replay_check.json alone")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        url = args.url or f"sqlite:///{tmp}/check.db"
        store = url.split(":", 1)[0]
        print(f"replay check on {store}:", flush=True)
        results = asyncio.run(measure(url, args.runs, args.steps, args.repeats))
    rate = results["batched"]["histories_per_s"]
    print(f"target {TARGET:,}/s: {'met' if rate >= TARGET else 'NOT met'} ({rate:,.0f}/s)")
    if not args.no_write:
        RESULTS.write_text(json.dumps({
            "store": store, "repeats": args.repeats, "target_per_s": TARGET,
            "machine": {"python": platform.python_version(), "platform": platform.platform()},
            "results": results}, indent=2) + "\n")
        print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()

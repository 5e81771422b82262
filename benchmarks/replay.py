"""``python -m benchmarks.replay``: resuming runs with long histories, hot and cold.

A run of N recorded steps (``for i in range(N): await ctx.step("add", ...)``)
then waits at a suspension. *Cold*: a fresh engine on the store (the run was
written by another), so the resume reads the log and replays the code against
it; *hot*: the engine that ran it, where it is parked. Each resume then appends
``resumed``, one more step and ``succeeded``. Figures are the median of
``--repeats`` resumes, each on its own copy of the store (SQLite,
``synchronous=NORMAL``), with µs per recorded step for the cold path.

Targets (issue 8): a cold resume of 10,000 steps in at most 20 ms, of 100,000 in
at most 10x that; a hot resume of 100,000 steps within 2x of 1,000.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import durable

RESULTS = Path(__file__).with_name("results") / "replay.json"


def register(engine: durable.Engine) -> None:
    @engine.workflow("long")
    async def long(ctx: durable.Context, n: int) -> dict[str, int]:
        total = 0
        for i in range(n):
            total += await ctx.step("add", _value, i)
        answer = await ctx.suspend("end")
        await ctx.step("after", _value, 1)
        return {"total": total, "answer": answer}


def _value(i: int) -> int:
    return i


async def write(path: str, n: int, *, keep: bool = False) -> tuple[durable.Engine, str]:
    """A run of ``n`` steps waiting at 'end'; the engine is left open when ``keep``."""
    engine = durable.Engine(f"sqlite:///{path}", synchronous="OFF")
    register(engine)
    await engine.open()
    run = await engine.create_run("long")
    await run.start(n)
    await engine.flush()
    if not keep:
        await engine.close()
    return engine, run.run_id


async def cold(path: str, run_id: str) -> float:
    engine = durable.Engine(f"sqlite:///{path}", synchronous="NORMAL")
    register(engine)
    async with engine:
        gc.collect()
        t0 = time.perf_counter()
        result = await engine.resume_run(run_id, "go", None)
        elapsed = time.perf_counter() - t0
    assert result.status == "succeeded", result
    return elapsed * 1e3


async def hot(path: str, n: int) -> float:
    engine, run_id = await write(path, n, keep=True)
    try:
        gc.collect()
        t0 = time.perf_counter()
        result = await engine.resume_run(run_id, "go", None)
        elapsed = time.perf_counter() - t0
    finally:
        await engine.close()
    assert result.status == "succeeded", result
    return elapsed * 1e3


async def measure(sizes: list[int], repeats: int, workdir: Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for n in sizes:
        master = workdir / f"long-{n}.db"
        t0 = time.perf_counter()
        _, run_id = await write(str(master), n)
        written = time.perf_counter() - t0
        colds, hots = [], []
        for r in range(repeats):
            copy = workdir / f"cold-{n}-{r}.db"
            shutil.copy(master, copy)
            colds.append(await cold(str(copy), run_id))
            copy.unlink()
            hots.append(await hot(str(workdir / f"hot-{n}-{r}.db"), n))
        out[str(n)] = {
            "cold_ms": statistics.median(colds), "cold_ms_all": colds,
            "cold_us_per_step": statistics.median(colds) * 1e3 / n,
            "hot_ms": statistics.median(hots), "hot_ms_all": hots,
            "write_s": written,
        }
        print(f"  {n:>7,} steps: cold {out[str(n)]['cold_ms']:8.1f} ms "
              f"({out[str(n)]['cold_us_per_step']:.1f} µs/step), "
              f"hot {out[str(n)]['hot_ms']:6.2f} ms", flush=True)
    return out


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m benchmarks.replay", description=__doc__)
    p.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--no-write", action="store_true", help="leave results/replay.json alone")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        results = asyncio.run(measure(args.sizes, args.repeats, Path(tmp)))
    sizes = [str(n) for n in args.sizes]
    if "10000" in results and "100000" in results:
        print(f"cold 100k / 10k: {results['100000']['cold_ms'] / results['10000']['cold_ms']:.1f}x;"
              f" hot 100k / 1k: {results['100000']['hot_ms'] / results['1000']['hot_ms']:.2f}x")
    if not args.no_write:
        RESULTS.write_text(json.dumps({"sizes": sizes, "repeats": args.repeats,
                                       "results": results}, indent=2))
        print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()

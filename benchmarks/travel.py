"""``python -m benchmarks.travel``: what time travel and audit cost as a log grows.

On SQLite (a temporary file, ``synchronous=FULL``), for runs of ``--sizes`` events
(default 1,000 and 100,000; each run is a workflow of that many steps, executed by
the engine, that ends waiting for input):

- ``state_at`` at random positions, against what it cost before it read from the
  nearest snapshot: the whole log read and the prefix folded (``whole_fold``);
- ``fork`` at random positions (each writes its ``forked`` event, committed);
- ``audit`` of the whole run, in events per second;

``verify --all`` over ``--runs`` runs of ``--run-events`` events (what
``durable runs verify --all`` does), in events per second; and the replay check
(``benchmarks.replay_check``) over ``--replay-runs`` histories of 20 steps. Targets (issue 12):
``state_at`` and ``fork`` under 10 ms at both sizes; ``verify --all`` at least
200,000 events/s. Results go to ``benchmarks/results/travel.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import durable
from benchmarks import replay_check
from durable.fold import fold

RESULTS = Path(__file__).with_name("results") / "travel.json"


def register(engine: durable.Engine) -> None:
    @engine.workflow("long")
    async def long(ctx: durable.Context, steps: int) -> Any:
        total = 0
        for i in range(steps):
            total += await ctx.step("s", lambda i=i: i)
        return await ctx.suspend("done", {"total": total})


def ms(samples: list[float]) -> dict[str, float]:
    samples = sorted(samples)
    return {"p50_ms": round(statistics.median(samples) * 1000, 3),
            "p99_ms": round(samples[int(len(samples) * 0.99) - 1 if len(samples) > 1 else 0]
                            * 1000, 3),
            "max_ms": round(samples[-1] * 1000, 3)}


async def one_size(folder: Path, events: int, samples: int, rng: random.Random
                   ) -> dict[str, Any]:
    engine = durable.Engine(f"sqlite:///{folder}/long-{events}.db")
    register(engine)
    async with engine:
        t0 = time.perf_counter()
        run = await engine.create_run("long")
        result = await run.start(events - 2)  # started + steps + suspended
        made = time.perf_counter() - t0
        assert result.status == "suspended" and result.position == events, result.position
        await engine.flush()
        positions = [rng.randint(1, events) for _ in range(samples)]
        at: list[float] = []
        for p in positions:
            t = time.perf_counter()
            info = await engine.state_at(run.run_id, p)
            at.append(time.perf_counter() - t)
            assert info.position == p
        whole: list[float] = []
        for p in positions[: max(3, samples // 10)]:
            t = time.perf_counter()
            log = await engine._runtime().events(run.run_id)  # the old way: read it all
            fold(log[:p])
            whole.append(time.perf_counter() - t)
        forks: list[float] = []
        for p in positions[: max(5, samples // 2)]:
            t = time.perf_counter()
            await engine.fork(run.run_id, at=min(p, events - 1))
            forks.append(time.perf_counter() - t)
        t = time.perf_counter()
        audit = await engine.audit(run.run_id)
        audited = time.perf_counter() - t
        assert audit.ok
    return {"events": events, "made_s": round(made, 2), "state_at": ms(at),
            "whole_fold": ms(whole), "fork": ms(forks),
            "audit_events_per_s": round(events / audited)}


async def verify_all(folder: Path, runs: int, per_run: int) -> dict[str, Any]:
    engine = durable.Engine(f"sqlite:///{folder}/many.db")
    register(engine)
    async with engine:
        for _ in range(runs):
            await (await engine.create_run("long")).start(per_run - 2)
        t = time.perf_counter()
        audits = await engine.audit_all()
        took = time.perf_counter() - t
    assert all(a.ok for a in audits) and len(audits) == runs
    total = sum(a.length for a in audits)
    return {"runs": runs, "events": total, "seconds": round(took, 3),
            "events_per_s": round(total / took)}


async def main(args: argparse.Namespace) -> dict[str, Any]:
    rng = random.Random(0)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        sizes = [await one_size(folder, n, args.samples, rng) for n in args.sizes]
        many = await verify_all(folder, args.runs, args.run_events)
        replay = await replay_check.measure(f"sqlite:///{folder}/replay.db",
                                            args.replay_runs, 20, 1)
    return {"sizes": sizes, "verify_all": many,
            "replay_check": {"runs": args.replay_runs, "steps": 20,
                             "histories_per_s": round(replay["batched"]["histories_per_s"])}}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 100_000])
    parser.add_argument("--samples", type=int, default=50)
    parser.add_argument("--runs", type=int, default=2_000)
    parser.add_argument("--run-events", type=int, default=50)
    parser.add_argument("--replay-runs", type=int, default=1_000)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    figures = asyncio.run(main(args))
    for s in figures["sizes"]:
        print(f"{s['events']:>7} events (made in {s['made_s']} s): state_at p50 "
              f"{s['state_at']['p50_ms']} ms p99 {s['state_at']['p99_ms']} ms "
              f"(whole log folded: p50 {s['whole_fold']['p50_ms']} ms); fork p50 "
              f"{s['fork']['p50_ms']} ms p99 {s['fork']['p99_ms']} ms; audit "
              f"{s['audit_events_per_s']:,} events/s")
    v = figures["verify_all"]
    print(f"verify --all: {v['runs']} runs, {v['events']:,} events in {v['seconds']} s: "
          f"{v['events_per_s']:,} events/s")
    print(f"replay check: {figures['replay_check']['histories_per_s']:,} histories of 20 "
          "steps/s (python -m benchmarks.replay_check for the full measure)")
    print(json.dumps(figures))
    if not args.no_write:
        RESULTS.write_text(json.dumps(figures, indent=2) + "\n")

"""``python -m benchmarks.composition``: timers falling due together, and long for-eaches.

*Timers*: ``--timers`` runs (10,000) each sleep until one instant, started
beforehand by 200 concurrent callers. When the instant comes, the engine that
started them (``hot``: the runs are parked in it) or a fresh engine opened on
the store half a second after it (``cold``: every run is replayed first) fires
them all. Each run returns ``ctx.now()`` after its timer, the firing's
timestamp, so *lateness* is that minus the moment firing could begin (the due
time; cold: the fresh engine's opening); *fired per second* is the count over
the span from that moment to the last firing.

*For-each*: ``ctx.map`` over N items (1,000 and 10,000), each iteration one
step; iteration 0 then waits for an answer. *To suspension*: from ``start``
until it returns suspended (every other iteration done); *resume*: the answer,
until the run succeeds, in the engine that ran it (hot) and in a fresh one
(cold: the N iterations replayed). Mastra, measured by this project before it
began: 1.1 s to reach the suspension of a 1,000-item for-each and 9.6 s at
4,000. Targets (issue 9): linear in N, at least 10x faster than that, and
10,000 due timers fired in under 5 s on SQLite.

SQLite files at the engine's default (``synchronous=FULL``) in a temporary
directory; ``--repeats`` repeats, medians printed and written to
``benchmarks/results/composition.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import durable

RESULTS = Path(__file__).with_name("results") / "composition.json"


def register(engine: durable.Engine) -> None:
    @engine.workflow("alarm")
    async def alarm(ctx: durable.Context, due: float) -> float:
        await ctx.sleep_until("alarm", due)
        return ctx.now().timestamp()

    @engine.workflow("each")
    async def each(ctx: durable.Context, n: int) -> int:
        async def one(sub: durable.Context, i: int) -> int:
            value = await sub.step("work", _double, i)
            if i == 0:
                value += await sub.suspend("approve")
            return value

        return sum(await ctx.map("items", one, list(range(n))))


def _double(i: int) -> int:
    return 2 * i


async def _start_all(engine: durable.Engine, n: int, due: float, inflight: int = 200
                     ) -> list[str]:
    ids: list[str] = []
    todo = iter(range(n))

    async def starter() -> None:
        for _ in todo:
            run = await engine.create_run("alarm")
            result = await run.start(due)
            if result.status != "suspended":
                raise RuntimeError(f"{run.run_id}: {result.status} {result.error}")
            ids.append(run.run_id)

    await asyncio.gather(*(starter() for _ in range(inflight)))
    return ids


async def _fired(engine: durable.Engine, ids: list[str], timeout: float) -> list[float]:
    """Each run's firing time, once none waits any more (one count query a look, so
    the looking costs the engine little), read back from the runs."""
    deadline = time.monotonic() + timeout
    while (await engine.list_suspended_runs(per_page=1)).total:
        if time.monotonic() > deadline:
            raise TimeoutError(f"timers not all fired after {timeout} s")
        await asyncio.sleep(0.05)
    out: dict[str, float] = {}
    while len(out) < len(ids):  # fired, and maybe still finishing: each one succeeds
        todo = [r for r in ids if r not in out]
        for i in range(0, len(todo), 500):
            for info in await asyncio.gather(*(engine.get_run(r) for r in todo[i:i + 500])):
                if info.status == "succeeded":
                    out[info.run_id] = info.output
                elif info.status != "running":
                    raise RuntimeError(f"{info.run_id}: {info.status} {info.error}")
        if len(out) < len(ids):
            if time.monotonic() > deadline:
                raise TimeoutError(f"timers not all fired after {timeout} s")
            await asyncio.sleep(0.05)
    return [out[r] for r in ids]


def _timer_figures(since: float, fired: list[float]) -> dict[str, float]:
    late = sorted((f - since) * 1e3 for f in fired)
    span = max(fired) - since
    return {"timers": len(fired), "last_fired_after_s": span,
            "fired_per_s": len(fired) / span if span > 0 else float("inf"),
            "lateness_p50_ms": statistics.median(late),
            "lateness_p99_ms": late[int(len(late) * 0.99) - 1], "lateness_max_ms": late[-1]}


async def timers(workdir: str, n: int, cold: bool) -> dict[str, float]:
    path = os.path.join(workdir, f"timers-{'cold' if cold else 'hot'}-{time.monotonic_ns()}.db")
    engine = durable.Engine(f"sqlite:///{path}")
    register(engine)
    await engine.open()
    try:
        # Due once every run has been started (measured on a first, small batch).
        t0 = time.time()
        probe = await _start_all(engine, 200, time.time() + 3600)
        for run_id in probe:
            await engine.cancel_run(run_id, "probe")
        per_run = (time.time() - t0) / 200
        due = time.time() + per_run * n * 1.5 + 1.0
        ids = await _start_all(engine, n, due)
        since = due
        if cold:
            await engine.close()
            await asyncio.sleep(max(0.0, due - time.time()) + 0.5)  # due while nobody is up
            engine = durable.Engine(f"sqlite:///{path}")
            register(engine)
            since = time.time()
            await engine.open()
        fired = await _fired(engine, ids, timeout=600)
    finally:
        await engine.close()
    return {**_timer_figures(since, fired), "start_s_per_run": per_run}


async def foreach(workdir: str, n: int) -> dict[str, float]:
    path = os.path.join(workdir, f"each-{n}-{time.monotonic_ns()}.db")
    engine = durable.Engine(f"sqlite:///{path}")
    register(engine)
    async with engine:
        run = await engine.create_run("each")
        t0 = time.perf_counter()
        first = await run.start(n)
        to_suspension = time.perf_counter() - t0
        assert first.suspended == [("items", 0, "approve")], first.suspended
        shutil.copy(path, path + ".copy")
        for suffix in ("-wal", "-shm"):
            if os.path.exists(path + suffix):
                shutil.copy(path + suffix, path + ".copy" + suffix)
        t0 = time.perf_counter()
        done = await run.resume(1)
        hot = time.perf_counter() - t0
        assert done.output == n * (n - 1) + 1, done.output
    cold_engine = durable.Engine(f"sqlite:///{path}.copy")
    register(cold_engine)
    async with cold_engine:
        t0 = time.perf_counter()
        done = await cold_engine.resume_run(run.run_id, 1, None)
        cold = time.perf_counter() - t0
        assert done.output == n * (n - 1) + 1, done.output
    return {"items": n, "to_suspension_s": to_suspension, "resume_hot_s": hot,
            "resume_cold_s": cold}


def _median(rows: list[dict[str, float]]) -> dict[str, float]:
    return {k: statistics.median(r[k] for r in rows) for k in rows[0]}


async def measure(args: argparse.Namespace, workdir: str) -> dict[str, Any]:
    out: dict[str, Any] = {"timers": {}, "foreach": {}}
    for cold in (False, True):
        label = "cold" if cold else "hot"
        rows = []
        for r in range(args.repeats):
            rows.append(await timers(workdir, args.timers, cold))
            print(f"  timers {label} {r + 1}/{args.repeats}: {rows[-1]['timers']} fired "
                  f"{rows[-1]['last_fired_after_s']:.2f} s after it could "
                  f"({rows[-1]['fired_per_s']:,.0f}/s), lateness p99 "
                  f"{rows[-1]['lateness_p99_ms']:.0f} ms", flush=True)
        out["timers"][label] = {"median": _median(rows), "all": rows}
    for n in args.items:
        rows = []
        for r in range(args.repeats):
            rows.append(await foreach(workdir, n))
            print(f"  for-each {n} {r + 1}/{args.repeats}: to suspension "
                  f"{rows[-1]['to_suspension_s']:.3f} s, resume hot "
                  f"{rows[-1]['resume_hot_s']:.3f} s, cold {rows[-1]['resume_cold_s']:.3f} s",
                  flush=True)
        out["foreach"][str(n)] = {"median": _median(rows), "all": rows}
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--timers", type=int, default=10_000)
    p.add_argument("--items", type=int, nargs="+", default=[1_000, 10_000])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--no-write", action="store_true")
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="durable-composition-") as workdir:
        t0 = time.perf_counter()
        res = asyncio.run(measure(args, workdir))
        seconds = time.perf_counter() - t0
    print(f"\nmedians of {args.repeats} (SQLite, synchronous=FULL), {seconds:.0f} s in all")
    for label, row in res["timers"].items():
        m = row["median"]
        print(f"  {args.timers:,} timers due at once, {label}: last fired "
              f"{m['last_fired_after_s']:.2f} s after firing could begin, "
              f"{m['fired_per_s']:,.0f}/s; lateness "
              f"p50 {m['lateness_p50_ms']:.0f} ms, p99 {m['lateness_p99_ms']:.0f} ms")
    for n, row in res["foreach"].items():
        m = row["median"]
        print(f"  for-each of {int(n):,}: to suspension {m['to_suspension_s']:.3f} s, resume "
              f"hot {m['resume_hot_s']:.3f} s, cold {m['resume_cold_s']:.3f} s")
    if not args.no_write:
        RESULTS.write_text(json.dumps({"settings": vars(args), "seconds": seconds,
                                       "results": res}, indent=2) + "\n")
        print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()

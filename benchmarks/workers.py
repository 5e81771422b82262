"""``python -m benchmarks.workers``: worker processes sharing one PostgreSQL.

Runs of three steps are enqueued into the default queue of a fresh schema while
1, 2 and 4 ``durable worker`` processes (``--concurrency 4`` each) work it.
*I/O steps* wait 20 ms each (a call to another service): the target (issue 10)
is at least 3x the throughput from 1 to 4 workers. *Trivial steps* return at
once: their workflows/s is reported divided by the server's raw rate of
single-row inserts (autocommit, one connection), which DBOS publishes at about
0.30 for itself. *Claim latency*: with one idle worker, runs enqueued one at a
time, 50 ms apart; from enqueue to the first step's start.

Needs PostgreSQL (``DURABLE_BENCH_POSTGRES_URL``, default
``postgresql://postgres@127.0.0.1:5432/postgres``); results in
``benchmarks/results/workers.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg

import durable
from benchmarks.worker_app import register

ADMIN = os.environ.get("DURABLE_BENCH_POSTGRES_URL",
                       "postgresql://postgres@127.0.0.1:5432/postgres")
ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).with_name("results") / "workers.json"


def workers(url: str, n: int, concurrency: int) -> list[subprocess.Popen[bytes]]:
    """``n`` worker processes, once each says it started. Their logs (a line per run)
    go to files: a pipe nobody reads would fill and stop them."""
    logs = [tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed once the worker started
        prefix="durable-worker-", suffix=".log", delete=False)
            for _ in range(n)]
    procs = [subprocess.Popen(
        [sys.executable, "-m", "durable", "worker", "--app", "benchmarks.worker_app:register",
         "--db", url, "--concurrency", str(concurrency), "--grace", "1"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=log,
        env={**os.environ, "PYTHONPATH": str(ROOT)}) for log in logs]
    for p, log in zip(procs, logs, strict=True):
        while b"worker_started" not in Path(log.name).read_bytes():
            if p.poll() is not None:
                raise RuntimeError(f"a worker exited: {Path(log.name).read_text()[-2000:]}")
            time.sleep(0.05)
        log.close()
        os.unlink(log.name)  # (the process keeps writing to its open file)
    return procs


def stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        p.send_signal(signal.SIGTERM)
    for p in procs:
        p.wait(60)


async def throughput(url: str, workflow: str, runs: int, n: int, concurrency: int
                     ) -> dict[str, float]:
    procs = workers(url, n, concurrency)
    try:
        async with durable.Engine(url) as client:
            register(client)
            t0 = time.time()
            handles = []
            for i in range(0, runs, 50):
                handles += await asyncio.gather(*(
                    client.enqueue(workflow, time.time()) for _ in range(min(50, runs - i))))
            for h in handles:
                info = await h.wait(timeout=600)
                assert info.status == "succeeded", (info.status, info.error)
            took = time.time() - t0
    finally:
        stop(procs)
    return {"workers": n, "runs": runs, "seconds": took, "per_s": runs / took}


async def latency(url: str, samples: int) -> dict[str, float]:
    procs = workers(url, 1, 4)
    try:
        async with durable.Engine(url) as client:
            register(client)
            handles = []
            for _ in range(samples):
                handles.append(await client.enqueue("trivial", time.time()))
                await asyncio.sleep(0.05)
            waits = []
            for h in handles:
                out = (await h.wait(timeout=60)).output
                waits.append(out["first_step_at"] - out["enqueued_at"])
    finally:
        stop(procs)
    waits.sort()
    return {"samples": samples, "p50_ms": 1000 * statistics.median(waits),
            "p99_ms": 1000 * waits[min(len(waits) - 1, int(0.99 * len(waits)))]}


def raw_inserts(url_admin: str, schema: str, n: int = 2000) -> float:
    with psycopg.connect(url_admin, autocommit=True) as conn:
        conn.execute(f'CREATE TABLE "{schema}".raw (id BIGSERIAL PRIMARY KEY, v TEXT)')
        t0 = time.perf_counter()
        for i in range(n):
            conn.execute(f'INSERT INTO "{schema}".raw (v) VALUES (%s)', (str(i),))
        return n / (time.perf_counter() - t0)


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {"io": [], "trivial": []}
    schemas = []
    try:
        def fresh() -> str:
            schema = f"durable_bench_{uuid.uuid4().hex[:10]}"
            with psycopg.connect(ADMIN, autocommit=True) as conn:
                conn.execute(f'CREATE SCHEMA "{schema}"')
            schemas.append(schema)
            return f"{ADMIN}?schema={schema}"
        for n in args.workers:
            out["io"].append(await throughput(fresh(), "io", args.io_runs, n, 4))
            print("  io", out["io"][-1], flush=True)
        for n in args.workers:
            out["trivial"].append(await throughput(fresh(), "trivial", args.trivial_runs, n, 4))
            print("  trivial", out["trivial"][-1], flush=True)
        out["latency"] = await latency(fresh(), args.samples)
        out["raw_inserts_per_s"] = raw_inserts(ADMIN, schemas[-1])
    finally:
        with psycopg.connect(ADMIN, autocommit=True) as conn:
            for schema in schemas:
                conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    p.add_argument("--io-runs", type=int, default=400)
    p.add_argument("--trivial-runs", type=int, default=1000)
    p.add_argument("--samples", type=int, default=100)
    p.add_argument("--no-write", action="store_true")
    args = p.parse_args()
    res = asyncio.run(measure(args))
    io = {r["workers"]: r["per_s"] for r in res["io"]}
    tr = {r["workers"]: r["per_s"] for r in res["trivial"]}
    raw = res["raw_inserts_per_s"]
    print("\nPostgreSQL, 3-step workflows, --concurrency 4 per worker process")
    for n in args.workers:
        print(f"  {n} worker(s): io {io[n]:.0f} wf/s, trivial {tr[n]:.0f} wf/s "
              f"({tr[n] / raw:.3f} of {raw:.0f} raw inserts/s)")
    first, last = args.workers[0], args.workers[-1]
    print(f"  io scaling {first} -> {last} workers: {io[last] / io[first]:.2f}x")
    lat = res["latency"]
    print(f"  claim latency (enqueue to first step): p50 {lat['p50_ms']:.1f} ms, "
          f"p99 {lat['p99_ms']:.1f} ms")
    if not args.no_write:
        RESULTS.write_text(json.dumps({"settings": vars(args), "results": res}, indent=2) + "\n")
        print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()

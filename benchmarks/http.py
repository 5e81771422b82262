"""``python -m benchmarks.http``: the HTTP service under load.

Starts ``durable serve`` (a process of its own, with a bearer token) on SQLite and
on PostgreSQL (a temporary database on ``DURABLE_BENCH_POSTGRES_URL``, default
``postgresql://postgres@127.0.0.1:5432/postgres``, dropped at the end), and runs
``--clients`` concurrent clients for ``--seconds``: each starts a run (it stops at
a question), answers it, and one time in five sends the same answer again, as a
retrying webhook would. Reports requests/s and p50/p99 latency per kind of request,
then checks against the logs: every answer acknowledged ``resumed`` is in its run's
log exactly once with the data sent (none lost), no run holds two answers (none
duplicated), every retry was ``skipped``, every run succeeded with its answer.
Not in CI: it takes about ``2 x --seconds`` plus start-up.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import psycopg

import durable
from benchmarks.pg_instance import free_port

ROOT = Path(__file__).resolve().parent.parent
ADMIN = os.environ.get("DURABLE_BENCH_POSTGRES_URL",
                       "postgresql://postgres@127.0.0.1:5432/postgres")
TOKEN = "bench-token"
RESULTS = Path(__file__).with_name("results") / "http.json"


def serve(url: str, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "DURABLE_API_TOKEN": TOKEN}
    proc = subprocess.Popen(
        [sys.executable, "-m", "durable", "serve", "--app", "benchmarks.http_app:register",
         "--db", url, "--port", str(port)], cwd=ROOT, env=env,
        stdout=log.open("wb"), stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/v1/workflows", headers={"Authorization": f"Bearer {TOKEN}"},
                         timeout=1).status_code == 200:
                return proc, base
        except httpx.TransportError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"the server did not start: {log.read_text()[-2000:]}")


async def client(api: httpx.AsyncClient, until: float, rng: random.Random,
                 lat: dict[str, list[float]], acked: dict[str, str], retries: list[str],
                 errors: list[str]) -> None:
    while time.monotonic() < until:
        try:
            await one_run(api, rng, lat, acked, retries, errors)
        except httpx.TransportError as e:  # counted, not fatal: the server's log says why
            errors.append(f"transport: {type(e).__name__} {e}")


async def one_run(api: httpx.AsyncClient, rng: random.Random, lat: dict[str, list[float]],
                  acked: dict[str, str], retries: list[str], errors: list[str]) -> None:
    t = time.perf_counter()
    r = await api.post("/workflows/ask/runs", json={"input": None})
    lat["start"].append(time.perf_counter() - t)
    if r.status_code != 201 or r.json()["status"] != "suspended":
        errors.append(f"start: {r.status_code} {r.text[:200]}")
        return
    run_id = r.json()["run_id"]
    answer = uuid.uuid4().hex
    for attempt in range(2 if rng.random() < 0.2 else 1):
        t = time.perf_counter()
        r = await api.post(f"/runs/{run_id}/resume",
                           json={"step": "question", "data": answer})
        lat["resume"].append(time.perf_counter() - t)
        action = r.json().get("action") if r.status_code == 200 else None
        if attempt == 0 and action == "resumed":
            acked[run_id] = answer
        elif attempt == 1 and action == "skipped":
            retries.append(run_id)
        else:
            errors.append(f"resume #{attempt}: {r.status_code} {r.text[:200]}")


async def check(url: str, acked: dict[str, str]) -> dict[str, int]:
    lost = duplicated = wrong = 0
    async with durable.Engine(url) as looker:
        for run_id, answer in acked.items():
            history = await looker.history(run_id)
            answers = [e.data["data"] for e in history if e.type == "resumed"]
            lost += answer not in answers
            duplicated += len(answers) > 1
            info = await looker.get_run(run_id)
            wrong += (info.status, info.output) != ("succeeded", answer)
    return {"lost_resumes": lost, "duplicated_resumes": duplicated, "runs_wrong": wrong}


def pct(xs: list[float], q: float) -> float:
    return round(1000 * statistics.quantiles(xs, n=100)[q - 1], 1) if len(xs) > 1 else 0.0


async def measure(url: str, clients: int, seconds: float) -> dict[str, Any]:
    log = Path(tempfile.mkdtemp(prefix="durable-http-")) / "server.log"
    proc, base = serve(url, log)
    lat: dict[str, list[float]] = {"start": [], "resume": []}
    acked: dict[str, str] = {}
    retries: list[str] = []
    errors: list[str] = []
    rng = random.Random(0)
    try:
        limits = httpx.Limits(max_connections=clients)
        async with httpx.AsyncClient(base_url=f"{base}/v1", timeout=60, limits=limits,
                                     headers={"Authorization": f"Bearer {TOKEN}"}) as api:
            began = time.monotonic()
            await asyncio.gather(*(client(api, began + seconds, rng, lat, acked, retries,
                                          errors) for _ in range(clients)))
            elapsed = time.monotonic() - began
    finally:
        proc.terminate()
        proc.wait(60)
    requests = len(lat["start"]) + len(lat["resume"])
    return {
        "clients": clients, "seconds": round(elapsed, 1), "requests": requests,
        "requests_per_s": round(requests / elapsed, 1), "runs": len(lat["start"]),
        "start_p50_ms": pct(lat["start"], 50), "start_p99_ms": pct(lat["start"], 99),
        "resume_p50_ms": pct(lat["resume"], 50), "resume_p99_ms": pct(lat["resume"], 99),
        "retries_skipped": len(retries), "errors": errors[:10], "error_count": len(errors),
        "server_exit": proc.returncode, "server_log": str(log), **await check(url, acked),
    }


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if args.store in ("sqlite", "both"):
        folder = Path(tempfile.mkdtemp(prefix="durable-http-sqlite-"))
        out["sqlite"] = await measure(f"sqlite:///{folder / 'bench.db'}", args.clients,
                                      args.seconds)
        print("sqlite", json.dumps(out["sqlite"]), flush=True)
    if args.store in ("postgres", "both"):
        name = f"durable_bench_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(ADMIN, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        try:
            url = ADMIN.rsplit("/", 1)[0] + f"/{name}"
            out["postgres"] = await measure(url, args.clients, args.seconds)
            print("postgres", json.dumps(out["postgres"]), flush=True)
        finally:
            with psycopg.connect(ADMIN, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--clients", type=int, default=50)
    p.add_argument("--seconds", type=float, default=60.0)
    p.add_argument("--store", choices=("sqlite", "postgres", "both"), default="both")
    p.add_argument("--no-write", action="store_true")
    args = p.parse_args()
    out = asyncio.run(main_async(args))
    if not args.no_write:
        RESULTS.write_text(json.dumps({"settings": vars(args), "results": out}, indent=2)
                           + "\n")
    bad = any(r["lost_resumes"] or r["duplicated_resumes"] or r["runs_wrong"] or
              r["error_count"] for r in out.values())
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()

"""durable next to DBOS and LangGraph: one module per side, run by ``benchmarks.compare``.

Every measurement runs in a fresh subprocess (``python -m benchmarks.peers SIDE
SCENARIO PARAMS OUT``), so no side's threads, pools or singletons (DBOS is a
process-wide singleton) disturb another side's figures, and a crash or a
``kill -9`` scenario stays contained. A scenario function takes keyword
parameters and returns a JSON-serialisable dict, which the worker writes to OUT.

- ``durable_side``, ``langgraph_side``, ``dbos_side``: the same scenarios
  (S1 .. S6, see docs/benchmarks.md) written idiomatically for each engine.
- ``floor``: the raw INSERT + COMMIT loop, on SQLite at each synchronous level
  and on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import math
import os
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent.parent
SIDES = ("durable", "langgraph", "dbos")


class WorkerFailed(RuntimeError):
    pass


# -- numbers ------------------------------------------------------------------------
def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    s = sorted(values)
    return s[max(0, math.ceil(q / 100 * len(s)) - 1)]


def lat(ms: list[float]) -> dict[str, float]:
    return {"p50_ms": statistics.median(ms), "p99_ms": percentile(ms, 99),
            "mean_ms": statistics.fmean(ms), "max_ms": max(ms), "count": len(ms)}


def step_fn(i: int) -> int:
    """Every side's trivial step."""
    return i


# -- S6: three trivial steps, one at a time and many in flight ----------------------------
async def three_steps(one: Callable[[int], Awaitable[None]], *, runs: int, warmup: int,
                      total: int, inflight: int,
                      commits: Callable[[], tuple[int, int]] | None = None) -> dict[str, Any]:
    """The shape of the public harness that compares durable-execution engines: a
    workflow of three trivial steps, submitted and awaited until it completes.

    *Latency*: ``runs`` runs one at a time after ``warmup`` untimed ones, each timed
    from submission to its result (median, p95). *Throughput*: ``total`` runs through
    ``inflight`` concurrent submitters (each starts its next run as soon as its last
    one completes, so ``inflight`` runs are in flight throughout), after one untimed
    wave. ``one(k)`` runs the workflow with a ``k`` not used before and checks its
    result. ``commits()``, if given, counts (commits, appends) so far: reported per
    workflow for each part.
    """
    count = commits or (lambda: (0, 0))
    keys = itertools.count()
    for _ in range(warmup):
        await one(next(keys))
    ms = []
    c0 = count()
    for _ in range(runs):
        t0 = time.perf_counter()
        await one(next(keys))
        ms.append((time.perf_counter() - t0) * 1e3)
    c1 = count()

    async def wave(n: int) -> float:
        todo = iter(range(n))

        async def submitter() -> None:
            for _ in todo:
                await one(next(keys))

        t0 = time.perf_counter()
        await asyncio.gather(*(submitter() for _ in range(inflight)))
        return time.perf_counter() - t0

    await wave(inflight)
    c2 = count()
    secs = await wave(total)
    c3 = count()
    out: dict[str, Any] = {
        "latency": {"p50_ms": statistics.median(ms), "p95_ms": percentile(ms, 95),
                    "mean_ms": statistics.fmean(ms), "max_ms": max(ms), "count": len(ms)},
        "throughput": {"workflows_per_s": total / secs, "seconds": secs, "total": total,
                       "inflight": inflight},
    }
    if commits is not None:
        out["latency_commits_per_workflow"] = (c1[0] - c0[0]) / runs
        out["appends_per_workflow"] = (c1[1] - c0[1]) / runs
        out["throughput"]["commits_per_workflow"] = (c3[0] - c2[0]) / total
    return out


# -- SQLite files ----------------------------------------------------------------------
def checkpoint(path: str) -> None:
    """``PRAGMA wal_checkpoint(TRUNCATE)`` from a connection of our own (no-op if not WAL)."""
    conn = sqlite3.connect(path, timeout=30)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
    finally:
        conn.close()


def db_bytes(path: str) -> int:
    """The database's size on disk after a WAL checkpoint (main file + what WAL is left)."""
    checkpoint(path)
    total = 0
    for suffix in ("", "-wal", "-journal"):
        p = path + suffix
        if os.path.exists(p):
            total += os.path.getsize(p)
    return total


def copy_db(src: str, dst: str) -> None:
    """A consistent copy through SQLite's backup API (safe while ``src`` is open elsewhere)."""
    for suffix in ("", "-wal", "-shm", "-journal"):
        if os.path.exists(dst + suffix):
            os.remove(dst + suffix)
    s = sqlite3.connect(src, timeout=30)
    d = sqlite3.connect(dst)
    try:
        s.backup(d)
    finally:
        d.close()
        s.close()


def pragmas_of(conn: Any) -> dict[str, Any]:
    """journal_mode and synchronous as a DB-API connection reports them."""
    names = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}
    sync = conn.execute("PRAGMA synchronous").fetchone()[0]
    jm = conn.execute("PRAGMA journal_mode").fetchone()[0]
    return {"synchronous": names.get(sync, sync), "journal_mode": str(jm).upper()}


def wait_for_file(path: str, timeout: float, proc: subprocess.Popen[Any] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        if proc is not None and proc.poll() is not None:
            raise WorkerFailed(f"the child exited ({proc.returncode}) before writing {path}")
        if time.monotonic() > deadline:
            raise WorkerFailed(f"{path} did not appear within {timeout}s")
        time.sleep(0.002)


def count_lines(path: str) -> int:
    if not os.path.exists(path):
        return 0
    with open(path) as f:
        return sum(1 for _ in f)


def append_line(path: str, text: str) -> None:
    """What the S5 steps do: append one line, flushed, so a kill cannot lose it."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.write(fd, (text + "\n").encode())
    finally:
        os.close(fd)


# -- subprocesses -----------------------------------------------------------------------
def _cmd(side: str, scenario: str, params: dict[str, Any], out: str) -> list[str]:
    return [sys.executable, "-m", "benchmarks.peers", side, scenario, json.dumps(params), out]


def code_dir() -> str:
    """Where the workers import durable and the benchmarks from: ``$DURABLE_BENCH_CODE``
    (``benchmarks.compare`` points it at a snapshot of one commit, so that code others
    change during a long run does not leak into it), else this checkout."""
    return os.environ.get("DURABLE_BENCH_CODE") or str(ROOT)


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = code_dir() + os.pathsep + env.get("PYTHONPATH", "")
    env.setdefault("DBOS__DISABLE_TELEMETRY", "true")
    return env


def run_worker(side: str, scenario: str, params: dict[str, Any],
               timeout: float = 900) -> dict[str, Any]:
    """Run one scenario in a fresh interpreter and return what it reported."""
    fd, out = tempfile.mkstemp(prefix=f"peer-{side}-{scenario}-", suffix=".json")
    os.close(fd)
    os.remove(out)
    log = out + ".log"
    try:
        with open(log, "w") as lf:
            started = time.perf_counter()
            proc = subprocess.run(_cmd(side, scenario, params, out), cwd=code_dir(), env=_env(),
                                  stdout=lf, stderr=subprocess.STDOUT, timeout=timeout)
            wall = time.perf_counter() - started
        if proc.returncode != 0 or not os.path.exists(out):
            with open(log) as lf:
                tail = lf.read()[-3000:]
            raise WorkerFailed(f"{side} {scenario} exited {proc.returncode}:\n{tail}")
        with open(out) as f:
            result: dict[str, Any] = json.load(f)
        result.setdefault("worker_wall_s", round(wall, 3))
        return result
    finally:
        for p in (out, log):
            if os.path.exists(p):
                os.remove(p)


def spawn_worker(side: str, scenario: str, params: dict[str, Any],
                 log_path: str) -> subprocess.Popen[Any]:
    """Start a scenario child without waiting (the kill -9 scenario's victim)."""
    lf = open(log_path, "w")  # noqa: SIM115 - handed to the child, closed by the OS
    return subprocess.Popen(_cmd(side, scenario, params, log_path + ".json"), cwd=code_dir(),
                            env=_env(), stdout=lf, stderr=subprocess.STDOUT,
                            start_new_session=True)


def kill9(proc: subprocess.Popen[Any]) -> None:
    """SIGKILL the child and reap it, so its pid is really gone (a zombie still has one)."""
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)


def kill_scenario(side: str, params: dict[str, Any], workdir: str,
                  timeout: float = 120) -> dict[str, Any]:
    """S5 driver shared by all sides.

    A child runs a 10-step workflow whose step ``block_at`` writes a marker file and
    then blocks; the parent waits for the marker, ``kill -9``s the child, and runs
    ``s5_recover`` in a new process, which measures the time until the run completes.
    Every step execution appends a line to ``steps.log``: lines beyond 10 are re-runs.
    """
    marker = os.path.join(workdir, "blocked")
    steps_log = os.path.join(workdir, "steps.log")
    p = dict(params, marker=marker, steps_log=steps_log)
    child_log = os.path.join(workdir, "child.log")
    child = spawn_worker(side, "s5_child", p, child_log)
    try:
        wait_for_file(marker, timeout, child)
    except WorkerFailed:
        child.kill()
        child.wait()
        with open(child_log) as f:
            raise WorkerFailed(f"{side} s5 child: " + f.read()[-3000:]) from None
    before = count_lines(steps_log)
    kill9(child)
    started = time.perf_counter()
    rec = run_worker(side, "s5_recover", p, timeout=timeout)
    rec["process_wall_ms"] = (time.perf_counter() - started) * 1e3
    rec["steps_before_kill"] = before
    rec["step_executions"] = count_lines(steps_log)
    rec["steps_rerun"] = rec["step_executions"] - params.get("steps", 10)
    return rec

"""The scenarios on DBOS Transact with its SQLite system database: async
``@DBOS.workflow`` functions of ``@DBOS.step`` calls; suspension is ``DBOS.recv``
(its human-in-the-loop idiom), resumption ``DBOS.send``.

Settings. DBOS's own SQLite engine sets ``busy_timeout``, ``foreign_keys`` and
IMMEDIATE transactions, and neither ``journal_mode`` nor ``synchronous``: out of
the box the file runs in rollback-journal (DELETE) mode at synchronous=FULL. To
compare like with like, ``sync="FULL"`` / ``"NORMAL"`` hand DBOS an engine of ours
(``system_database_engine``, a documented option) that does what DBOS's does plus
``PRAGMA journal_mode=WAL`` and ``PRAGMA synchronous=...``; ``sync="default"``
leaves DBOS's engine alone. Either way the settings are read back from DBOS's pool.

On SQLite there is no LISTEN/NOTIFY: a waiting ``recv`` is woken by a poller
thread that, every ``notification_listener_polling_interval_sec`` (default 1 s),
runs one query per waiting workflow. The interval used is reported (``poll_s``).
Handles of workflows this process did not start poll for the result
(``get_result(polling_interval_sec=...)``, default 1 s); we poll at 5 ms.
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

import sqlalchemy as sa
from dbos import DBOS, SetWorkflowID
from dbos import _dbos as _dbos_internal

from benchmarks.peers import (
    append_line,
    copy_db,
    db_bytes,
    lat,
    pragmas_of,
    step_fn,
    three_steps,
)

SIDE = "dbos"
RESULT_POLL_S = 0.005
DEFAULT_POLL_S = 0.05

# S5 knobs, set before launch so the recovering process runs the same code
_KILL: dict[str, Any] = {"steps": 10, "block_at": -1, "marker": None, "steps_log": None}


# -- workflows ---------------------------------------------------------------------------
@DBOS.step()
async def d_step(i: int) -> int:
    return step_fn(i)


@DBOS.workflow()
async def ten(n: int) -> int:
    for i in range(10):
        await d_step(i)
    return n


@DBOS.workflow()
async def approve(n: int) -> int:
    a = await d_step(n)
    decision = await DBOS.recv_async("approval", timeout_seconds=3600)
    b = await d_step(1 if decision["ok"] else 0)
    return a + b


@DBOS.workflow()
async def long(n: int) -> int:
    for i in range(n):
        await d_step(i)
    decision = await DBOS.recv_async("approval", timeout_seconds=3600)
    await d_step(1 if decision["ok"] else 0)
    return n


@DBOS.workflow()
async def one(n: int) -> int:
    return await d_step(n)


@DBOS.workflow()
async def three(n: int) -> int:
    a = await d_step(n)
    b = await d_step(a + 1)
    return await d_step(b + 1)


@DBOS.step()
async def k_step(i: int) -> int:
    append_line(_KILL["steps_log"], f"s{i}")
    if i == _KILL["block_at"] and _KILL["marker"] is not None:
        append_line(_KILL["marker"], "blocked")
        await asyncio.sleep(3600)
    return i


@DBOS.workflow()
async def kill_me(n: int) -> int:
    for i in range(_KILL["steps"]):
        await k_step(i)
    return n


# -- lifecycle ---------------------------------------------------------------------------
def _engine(url: str, sync: str) -> sa.Engine:
    """DBOS's SQLite engine (same pool and connect hook) plus WAL and ``synchronous``."""
    engine = sa.create_engine(url, pool_timeout=30, max_overflow=0, pool_size=20,
                              pool_pre_ping=True)

    @sa.event.listens_for(engine, "connect")
    def _connect(dbapi_conn: Any, record: Any) -> None:
        dbapi_conn.isolation_level = "IMMEDIATE"
        dbapi_conn.execute("PRAGMA busy_timeout=30000")
        dbapi_conn.execute("PRAGMA foreign_keys=ON")
        dbapi_conn.execute("PRAGMA journal_mode=WAL")
        dbapi_conn.execute(f"PRAGMA synchronous={sync}")

    return engine


def _launch(path: str, sync: str, poll: float) -> None:
    url = "sqlite:///" + os.path.abspath(path)
    config: dict[str, Any] = {
        "name": "bench", "system_database_url": url, "log_level": "WARNING",
        "application_version": "bench", "executor_id": "local",
        "notification_listener_polling_interval_sec": poll,
    }
    if sync != "default":
        config["system_database_engine"] = _engine(url, sync)
    DBOS(config=config)  # type: ignore[arg-type]
    DBOS.launch()


def _sys_db() -> Any:
    return _dbos_internal._dbos_global_instance._sys_db  # type: ignore[union-attr]


def _pragmas(poll: float) -> dict[str, Any]:
    with _sys_db().engine.connect() as c:
        out = pragmas_of(c.connection.dbapi_connection)
    out["how"] = "read from DBOS's system-database pool"
    out["poll_s"] = poll
    return out


async def _until_waiting(count: int, timeout: float = 600) -> float:
    """Wait until ``count`` workflows are blocked in ``recv`` (DBOS's waiter map)."""
    t0 = time.perf_counter()
    while len(_sys_db().notifications_map.snapshot()) < count:
        if time.perf_counter() - t0 > timeout:
            raise RuntimeError(f"only {len(_sys_db().notifications_map.snapshot())} waiting")
        await asyncio.sleep(0.002)
    return time.perf_counter() - t0


# -- S1 ----------------------------------------------------------------------------------
async def s1(path: str, sync: str, runs: int, batch: int, poll: float = DEFAULT_POLL_S,
             warmup: int = 10, concurrent: bool = True) -> dict[str, Any]:
    _launch(path, sync, poll)

    async def run(k: int) -> None:
        h = await DBOS.start_workflow_async(ten, k)
        if await h.get_result() != k:
            raise RuntimeError("wrong result")

    for k in range(warmup):
        await ten(k)
    t0 = time.perf_counter()
    for k in range(runs):
        await ten(k)  # a direct call runs the workflow in this coroutine
    seq = time.perf_counter() - t0
    out: dict[str, Any] = {
        "pragmas": _pragmas(poll),
        "seq": {"us_per_step": seq / (runs * 10) * 1e6, "workflows_per_s": runs / seq,
                "steps_per_s": runs * 10 / seq, "seconds": seq},
    }
    if concurrent:
        await asyncio.gather(*(run(k) for k in range(min(batch, runs))))
        t0 = time.perf_counter()
        for start in range(0, runs, batch):
            await asyncio.gather(*(run(k) for k in range(start, min(runs, start + batch))))
        conc = time.perf_counter() - t0
        out["conc"] = {"steps_per_s": runs * 10 / conc, "workflows_per_s": runs / conc,
                       "seconds": conc, "batch": batch,
                       "how": "asyncio.gather of DBOS.start_workflow_async + get_result"}
    return out


# -- S6 ----------------------------------------------------------------------------------
async def s6(path: str, sync: str, runs: int, warmup: int, total: int, inflight: int,
             poll: float = DEFAULT_POLL_S) -> dict[str, Any]:
    """Three trivial steps: ``DBOS.start_workflow_async`` + ``get_result`` per run."""
    _launch(path, sync, poll)

    async def one(k: int) -> None:
        h = await DBOS.start_workflow_async(three, k)
        if await h.get_result() != k + 2:
            raise RuntimeError("wrong result")

    out = await three_steps(one, runs=runs, warmup=warmup, total=total, inflight=inflight)
    out["pragmas"] = _pragmas(poll)
    return out


# -- S2 ----------------------------------------------------------------------------------
async def _start_waiting(tag: str, count: int) -> list[Any]:
    handles = []
    for k in range(count):
        with SetWorkflowID(f"{tag}{k}"):
            handles.append(await DBOS.start_workflow_async(approve, k))
    await _until_waiting(count)
    return handles


async def _resume_all(handles: list[Any]) -> list[float]:
    out = []
    for h in handles:
        t0 = time.perf_counter()
        await DBOS.send_async(h.get_workflow_id(), {"ok": True}, "approval")
        r = await h.get_result(polling_interval_sec=RESULT_POLL_S)
        out.append((time.perf_counter() - t0) * 1e3)
        if r != int(h.get_workflow_id()[1:]) + 1:
            raise RuntimeError(f"{h.get_workflow_id()} returned {r}")
    return out


async def s2_hot(path: str, sync: str, runs: int, poll: float = DEFAULT_POLL_S,
                 warmup: int = 5) -> dict[str, Any]:
    _launch(path, sync, poll)
    handles = await _start_waiting("h", warmup + runs)
    await _resume_all(handles[:warmup])
    hot = lat(await _resume_all(handles[warmup:]))
    return {"pragmas": _pragmas(poll), "hot": hot}


async def s2_prepare(path: str, sync: str, runs: int, poll: float = DEFAULT_POLL_S
                     ) -> dict[str, Any]:
    """Start ``runs`` workflows that wait in ``recv``, then leave (they stay PENDING)."""
    _launch(path, sync, poll)
    await _start_waiting("c", runs)
    return {}


async def s2_cold(path: str, sync: str, runs: int, poll: float = DEFAULT_POLL_S,
                  warmup: int = 5) -> dict[str, Any]:
    """A new process: launch recovers every PENDING workflow (re-runs it up to its
    ``recv``); once all wait again, each send -> completion is timed."""
    t0 = time.perf_counter()
    _launch(path, sync, poll)
    launched = time.perf_counter()
    await _until_waiting(runs)
    recovered = time.perf_counter()
    handles = [await DBOS.retrieve_workflow_async(f"c{k}") for k in range(runs)]
    await _resume_all(handles[:warmup])
    cold = lat(await _resume_all(handles[warmup:]))
    return {"pragmas": _pragmas(poll), "cold": cold, "launch_ms": (launched - t0) * 1e3,
            "recovery_ms": (recovered - launched) * 1e3, "recovered": runs}


def s2(path: str, sync: str, runs: int, poll: float = DEFAULT_POLL_S,
       warmup: int = 5) -> dict[str, Any]:
    """Hot in one process; cold in two more (the one that leaves, the one that recovers)."""
    from benchmarks.peers import run_worker

    base = {"sync": sync, "poll": poll}
    hot = run_worker(SIDE, "s2_hot", {**base, "path": path, "runs": runs, "warmup": warmup})
    cold_path = path + ".cold.db"
    run_worker(SIDE, "s2_prepare", {**base, "path": cold_path, "runs": warmup + runs})
    cold = run_worker(SIDE, "s2_cold", {**base, "path": cold_path, "runs": warmup + runs,
                                        "warmup": warmup})
    return {"pragmas": hot["pragmas"], "hot": hot["hot"], "cold": cold["cold"],
            "cold_launch_ms": cold["launch_ms"], "cold_recovery_ms": cold["recovery_ms"],
            "cold_recovered": cold["recovered"]}


# -- S3 ----------------------------------------------------------------------------------
async def s3_build(path: str, steps: int, sync: str = "NORMAL",
                   poll: float = DEFAULT_POLL_S) -> dict[str, Any]:
    """A workflow of ``steps`` completed steps waiting in ``recv``; the process then
    leaves. Built once at NORMAL (the rows stored do not depend on it)."""
    _launch(path, sync, poll)
    with SetWorkflowID("warm"):
        h = await DBOS.start_workflow_async(long, 1)
    await _until_waiting(1)
    await DBOS.send_async("warm", {"ok": True}, "approval")
    await h.get_result()
    size0 = db_bytes(path)
    t0 = time.perf_counter()
    with SetWorkflowID("long"):
        await DBOS.start_workflow_async(long, steps)
    await _until_waiting(1)
    build_s = time.perf_counter() - t0
    size1 = db_bytes(path)
    return {"steps": steps, "build_s": build_s, "build_us_per_step": build_s / steps * 1e6,
            "bytes_per_step": (size1 - size0) / steps, "db_bytes": size1,
            "build_settings": {"synchronous": sync}}


async def s3_cold(src: str, path: str, sync: str, steps: int,
                  poll: float = DEFAULT_POLL_S) -> dict[str, Any]:
    """A new process on a copy: launch (whose recovery re-runs the workflow, each step
    answered from its recorded output), send, and wait for completion."""
    copy_db(src, path)
    t0 = time.perf_counter()
    _launch(path, sync, poll)
    launched = time.perf_counter()
    await DBOS.send_async("long", {"ok": True}, "approval")
    h = await DBOS.retrieve_workflow_async("long")
    r = await h.get_result(polling_interval_sec=RESULT_POLL_S)
    done = time.perf_counter()
    if r != steps:
        raise RuntimeError(f"long returned {r}")
    return {"pragmas": _pragmas(poll), "cold_ms": (done - launched) * 1e3,
            "cold_with_open_ms": (done - t0) * 1e3, "open_ms": (launched - t0) * 1e3}


# -- S4 ----------------------------------------------------------------------------------
async def s4(path: str, sync: str, finished: int, suspended: int, repeats: int,
             batch: int = 50, poll: float = DEFAULT_POLL_S) -> dict[str, Any]:
    """DBOS has no suspended status: a workflow waiting in ``recv`` is PENDING (as is
    one that is running). ``list_workflows(status="PENDING")`` is the closest listing."""
    _launch(path, sync, poll)
    t0 = time.perf_counter()
    for start in range(0, finished, batch):
        await asyncio.gather(*(one(k) for k in range(start, min(finished, start + batch))))
    await _start_waiting("w", suspended)
    build_s = time.perf_counter() - t0
    times = []
    for _ in range(repeats + 1):
        t0 = time.perf_counter()
        rows = await DBOS.list_workflows_async(status="PENDING")
        times.append((time.perf_counter() - t0) * 1e3)
        if len(rows) != suspended:
            raise RuntimeError(f"listed {len(rows)}, want {suspended}")
    return {"first_ms": times[0], "ms": times[1:], "found": suspended, "build_s": build_s,
            "how": 'DBOS.list_workflows_async(status="PENDING") in the process holding '
                   "the waiting workflows"}


# -- S5 ----------------------------------------------------------------------------------
async def s5_child(path: str, sync: str, steps: int, block_at: int, marker: str,
                   steps_log: str, poll: float = DEFAULT_POLL_S) -> dict[str, Any]:
    _KILL.update(steps=steps, block_at=block_at, marker=marker, steps_log=steps_log)
    _launch(path, sync, poll)
    with SetWorkflowID("victim"):
        h = await DBOS.start_workflow_async(kill_me, 1)
    await h.get_result()  # blocks at step ``block_at`` until the parent kills us
    return {}


async def s5_recover(path: str, sync: str, steps: int, block_at: int, marker: str,
                     steps_log: str, poll: float = DEFAULT_POLL_S) -> dict[str, Any]:
    _KILL.update(steps=steps, block_at=-1, marker=None, steps_log=steps_log)
    t0 = time.perf_counter()
    _launch(path, sync, poll)  # launch finds the PENDING workflow and recovers it
    launched = time.perf_counter()
    h = await DBOS.retrieve_workflow_async("victim")
    r = await h.get_result(polling_interval_sec=RESULT_POLL_S)
    done = time.perf_counter()
    if r != 1:
        raise RuntimeError(f"victim returned {r}")
    return {"until_complete_ms": (done - t0) * 1e3, "open_ms": (launched - t0) * 1e3,
            "how": "new process: DBOS(config) + DBOS.launch() (recovers PENDING "
                   "workflows through its internal queue), then get_result"}

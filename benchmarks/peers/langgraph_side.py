"""The scenarios on LangGraph: a ``StateGraph`` with one node per step, checkpointed by
``AsyncSqliteSaver`` on a SQLite file; suspension is ``interrupt()``, resumption
``Command(resume=...)``.

Settings. The saver's ``setup()`` switches the file to WAL and leaves
``synchronous`` at SQLite's default, which is FULL here (read back from the
saver's connection and reported). The connection is the application's, so the
NORMAL variant runs ``PRAGMA synchronous=NORMAL`` on it. ``durability="sync"``
(each checkpoint is written before the next node starts: what durable and DBOS
promise per step) is used unless a scenario says otherwise; LangGraph's default
is ``"async"`` (the write of step k overlaps step k+1, and a crash can lose it).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any, TypedDict

import aiosqlite
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver
from langgraph.graph import END, START, StateGraph
from langgraph.types import Command, interrupt

from benchmarks.peers import append_line, copy_db, db_bytes, lat, step_fn, three_steps

SIDE = "langgraph"


class State(TypedDict, total=False):
    n: int
    acc: int
    i: int
    ok: bool


async def _saver(path: str, sync: str) -> tuple[aiosqlite.Connection, AsyncSqliteSaver]:
    conn = await aiosqlite.connect(path)
    saver = AsyncSqliteSaver(conn)
    await saver.setup()  # PRAGMA journal_mode=WAL and the tables
    await conn.execute(f"PRAGMA synchronous={sync}")
    return conn, saver


async def _pragmas(conn: aiosqlite.Connection) -> dict[str, Any]:
    names = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}
    async with conn.execute("PRAGMA synchronous") as cur:
        sync = (await cur.fetchone())[0]  # type: ignore[index]
    async with conn.execute("PRAGMA journal_mode") as cur:
        jm = (await cur.fetchone())[0]  # type: ignore[index]
    return {"synchronous": names.get(sync, sync), "journal_mode": str(jm).upper(),
            "how": "read from the checkpointer's connection"}


def _cfg(thread: str, recursion: int = 100) -> dict[str, Any]:
    return {"configurable": {"thread_id": thread}, "recursion_limit": recursion}


# -- graphs -------------------------------------------------------------------------------
def _step_node(i: int) -> Callable[[State], State]:
    def node(s: State) -> State:
        return {"acc": s.get("acc", 0) + step_fn(i)}

    node.__name__ = f"s{i}"
    return node


def _ten(saver: AsyncSqliteSaver) -> Any:
    g = StateGraph(State)
    prev = START
    for i in range(10):
        g.add_node(f"s{i}", _step_node(i))
        g.add_edge(prev, f"s{i}")
        prev = f"s{i}"
    g.add_edge(prev, END)
    return g.compile(checkpointer=saver)


def _before(s: State) -> State:
    return {"acc": step_fn(s["n"])}


def _approval(s: State) -> State:
    decision = interrupt({"x": 1})
    return {"ok": bool(decision["ok"])}


def _after(s: State) -> State:
    return {"acc": s.get("acc", 0) + step_fn(1 if s.get("ok") else 0)}


def _approve(saver: AsyncSqliteSaver) -> Any:
    g = StateGraph(State)
    g.add_node("before", _before)
    g.add_node("approval", _approval)
    g.add_node("after", _after)
    g.add_edge(START, "before")
    g.add_edge("before", "approval")
    g.add_edge("approval", "after")
    g.add_edge("after", END)
    return g.compile(checkpointer=saver)


def _work(s: State) -> State:
    i = s.get("i", 0)
    return {"i": i + 1, "acc": s.get("acc", 0) + step_fn(i)}


def _long(saver: AsyncSqliteSaver) -> Any:
    """One node run N times (a loop edge): N supersteps, N checkpoints, then interrupt."""
    g = StateGraph(State)
    g.add_node("work", _work)
    g.add_node("approval", _approval)
    g.add_node("after", _after)
    g.add_edge(START, "work")
    g.add_conditional_edges("work", lambda s: "work" if s["i"] < s["n"] else "approval",
                            ["work", "approval"])
    g.add_edge("approval", "after")
    g.add_edge("after", END)
    return g.compile(checkpointer=saver)


def _one(saver: AsyncSqliteSaver) -> Any:
    g = StateGraph(State)
    g.add_node("s", _before)
    g.add_edge(START, "s")
    g.add_edge("s", END)
    return g.compile(checkpointer=saver)


# -- S1 ---------------------------------------------------------------------------------
async def s1(path: str, sync: str, runs: int, batch: int, durability: str = "sync",
             warmup: int = 10, concurrent: bool = True) -> dict[str, Any]:
    conn, saver = await _saver(path, sync)
    graph = _ten(saver)

    async def one(tag: str, k: int) -> None:
        out = await graph.ainvoke({"n": k, "acc": 0}, _cfg(f"{tag}{k}"), durability=durability)
        if out["acc"] != 45:
            raise RuntimeError(f"graph returned {out}")

    try:
        for k in range(warmup):
            await one("w", k)
        t0 = time.perf_counter()
        for k in range(runs):
            await one("s", k)
        seq = time.perf_counter() - t0
        out: dict[str, Any] = {
            "seq": {"us_per_step": seq / (runs * 10) * 1e6, "workflows_per_s": runs / seq,
                    "steps_per_s": runs * 10 / seq, "seconds": seq}}
        if concurrent:
            await asyncio.gather(*(one("cw", k) for k in range(min(batch, runs))))
            t0 = time.perf_counter()
            for start in range(0, runs, batch):
                await asyncio.gather(*(one("c", k)
                                       for k in range(start, min(runs, start + batch))))
            conc = time.perf_counter() - t0
            out["conc"] = {"steps_per_s": runs * 10 / conc, "workflows_per_s": runs / conc,
                           "seconds": conc, "batch": batch,
                           "how": "asyncio.gather of graph.ainvoke on one checkpointer"}
        out["pragmas"] = await _pragmas(conn)
    finally:
        await conn.close()
    out["pragmas"]["durability"] = durability
    return out


# -- S6 ---------------------------------------------------------------------------------
def _step_a(s: State) -> State:
    return {"acc": step_fn(s["n"])}


def _step_b(s: State) -> State:
    return {"acc": step_fn(s["acc"] + 1)}


def _step_c(s: State) -> State:
    return {"acc": step_fn(s["acc"] + 1)}


def _three(saver: AsyncSqliteSaver) -> Any:
    g = StateGraph(State)
    for name, fn in (("a", _step_a), ("b", _step_b), ("c", _step_c)):
        g.add_node(name, fn)
    g.add_edge(START, "a")
    g.add_edge("a", "b")
    g.add_edge("b", "c")
    g.add_edge("c", END)
    return g.compile(checkpointer=saver)


async def s6(path: str, sync: str, runs: int, warmup: int, total: int, inflight: int,
             durability: str = "sync") -> dict[str, Any]:
    """Three trivial steps: one ``ainvoke`` per run, a thread of its own."""
    conn, saver = await _saver(path, sync)
    graph = _three(saver)

    async def one(k: int) -> None:
        out = await graph.ainvoke({"n": k}, _cfg(f"t{k}"), durability=durability)
        if out["acc"] != k + 2:
            raise RuntimeError(f"graph returned {out}")

    try:
        out = await three_steps(one, runs=runs, warmup=warmup, total=total, inflight=inflight)
        out["pragmas"] = await _pragmas(conn)
    finally:
        await conn.close()
    out["pragmas"]["durability"] = durability
    return out


# -- S2 ---------------------------------------------------------------------------------
async def _start_suspended(graph: Any, tag: str, count: int, durability: str) -> list[str]:
    ids = []
    for k in range(count):
        thread = f"{tag}{k}"
        out = await graph.ainvoke({"n": k}, _cfg(thread), durability=durability)
        if "__interrupt__" not in out:
            raise RuntimeError(f"graph did not interrupt: {out}")
        ids.append(thread)
    return ids


async def _resumes(graph: Any, ids: list[str], durability: str) -> list[float]:
    out = []
    for thread in ids:
        t0 = time.perf_counter()
        res = await graph.ainvoke(Command(resume={"ok": True}), _cfg(thread),
                                  durability=durability)
        out.append((time.perf_counter() - t0) * 1e3)
        if "__interrupt__" in res or res.get("ok") is not True:
            raise RuntimeError(f"resume did not complete: {res}")
    return out


async def s2(path: str, sync: str, runs: int, durability: str = "sync",
             warmup: int = 5) -> dict[str, Any]:
    """Hot: the graph and checkpointer that interrupted the threads resume them.
    Cold: a new connection, checkpointer and compiled graph on the same file."""
    conn, saver = await _saver(path, sync)
    graph = _approve(saver)
    try:
        hot_ids = await _start_suspended(graph, "h", warmup + runs, durability)
        cold_ids = await _start_suspended(graph, "c", warmup + runs, durability)
        await _resumes(graph, hot_ids[:warmup], durability)
        hot = lat(await _resumes(graph, hot_ids[warmup:], durability))
    finally:
        await conn.close()
    conn, saver = await _saver(path, sync)
    graph = _approve(saver)
    try:
        await _resumes(graph, cold_ids[:warmup], durability)
        cold = lat(await _resumes(graph, cold_ids[warmup:], durability))
        pragmas = await _pragmas(conn)
    finally:
        await conn.close()
    pragmas["durability"] = durability
    return {"pragmas": pragmas, "hot": hot, "cold": cold}


# -- S3 ---------------------------------------------------------------------------------
async def s3_build(path: str, steps: int, sync: str = "NORMAL",
                   durability: str = "async") -> dict[str, Any]:
    """One thread of ``steps`` supersteps, interrupted; the file is then copied per repeat.

    Built once, at NORMAL with ``durability="async"`` to save time: neither changes
    what is stored (one checkpoint and its writes per superstep), only when it is synced.
    """
    conn, saver = await _saver(path, sync)
    try:
        graph = _long(saver)
        out = await graph.ainvoke({"n": 1, "i": 0, "acc": 0}, _cfg("warm"), durability=durability)
        await graph.ainvoke(Command(resume={"ok": True}), _cfg("warm"), durability=durability)
        size0 = db_bytes(path)
        t0 = time.perf_counter()
        out = await graph.ainvoke({"n": steps, "i": 0, "acc": 0}, _cfg("long", steps + 50),
                                  durability=durability)
        build_s = time.perf_counter() - t0
        if "__interrupt__" not in out or out["i"] != steps:
            raise RuntimeError(f"long graph did not interrupt after {steps}: {out.get('i')}")
    finally:
        await conn.close()
    size1 = db_bytes(path)
    return {"steps": steps, "build_s": build_s, "build_us_per_step": build_s / steps * 1e6,
            "bytes_per_step": (size1 - size0) / steps, "db_bytes": size1,
            "build_settings": {"synchronous": sync, "durability": durability}}


async def s3_cold(src: str, path: str, sync: str, steps: int,
                  durability: str = "sync") -> dict[str, Any]:
    """Resume the interrupted thread to completion from a fresh checkpointer and graph."""
    copy_db(src, path)
    t0 = time.perf_counter()
    conn, saver = await _saver(path, sync)
    try:
        graph = _long(saver)
        opened = time.perf_counter()
        res = await graph.ainvoke(Command(resume={"ok": True}), _cfg("long", steps + 50),
                                  durability=durability)
        done = time.perf_counter()
        if res.get("ok") is not True or res["i"] != steps:
            raise RuntimeError(f"resume did not complete: {res}")
        pragmas = await _pragmas(conn)
    finally:
        await conn.close()
    pragmas["durability"] = durability
    return {"pragmas": pragmas, "cold_ms": (done - opened) * 1e3,
            "cold_with_open_ms": (done - t0) * 1e3, "open_ms": (opened - t0) * 1e3}


# -- S4 ---------------------------------------------------------------------------------
async def _scan_interrupted(saver: AsyncSqliteSaver) -> list[str]:
    """No listing API: walk every checkpoint (newest first) and keep the threads whose
    latest checkpoint carries an ``__interrupt__`` write."""
    seen: set[str] = set()
    waiting = []
    async for t in saver.alist(None):
        thread = t.config["configurable"]["thread_id"]
        if thread in seen:
            continue
        seen.add(thread)
        if any(w[1] == "__interrupt__" for w in t.pending_writes or ()):
            waiting.append(thread)
    return waiting


async def s4(path: str, sync: str, finished: int, suspended: int, repeats: int,
             batch: int = 50, durability: str = "sync") -> dict[str, Any]:
    conn, saver = await _saver(path, sync)
    try:
        one, approve = _one(saver), _approve(saver)
        t0 = time.perf_counter()
        for start in range(0, finished, batch):
            await asyncio.gather(*(one.ainvoke({"n": k}, _cfg(f"f{k}"), durability=durability)
                                   for k in range(start, min(finished, start + batch))))
        await _start_suspended(approve, "w", suspended, durability)
        build_s = time.perf_counter() - t0
    finally:
        await conn.close()
    conn, saver = await _saver(path, sync)
    times = []
    try:
        for _ in range(repeats + 1):
            t0 = time.perf_counter()
            found = await _scan_interrupted(saver)
            times.append((time.perf_counter() - t0) * 1e3)
            if len(found) != suspended:
                raise RuntimeError(f"scan found {len(found)}, want {suspended}")
        async with conn.execute("SELECT count(*) FROM checkpoints") as cur:
            row = await cur.fetchone()
    finally:
        await conn.close()
    return {"first_ms": times[0], "ms": times[1:], "found": suspended, "build_s": build_s,
            "checkpoints_scanned": row[0] if row else None,
            "how": "no listing API: scan checkpointer.alist(None), latest checkpoint per "
                   "thread, keep those with an __interrupt__ write"}


# -- S5 ---------------------------------------------------------------------------------
def _kill_graph(saver: AsyncSqliteSaver, steps: int, block_at: int, marker: str | None,
                steps_log: str) -> Any:
    def make(i: int) -> Callable[[State], Any]:
        async def node(s: State) -> State:
            append_line(steps_log, f"s{i}")
            if i == block_at and marker is not None:
                append_line(marker, "blocked")
                await asyncio.sleep(3600)
            return {"acc": s.get("acc", 0) + step_fn(i)}

        return node

    g = StateGraph(State)
    prev = START
    for i in range(steps):
        g.add_node(f"s{i}", make(i))
        g.add_edge(prev, f"s{i}")
        prev = f"s{i}"
    g.add_edge(prev, END)
    return g.compile(checkpointer=saver)


async def s5_child(path: str, sync: str, steps: int, block_at: int, marker: str,
                   steps_log: str, durability: str = "sync") -> dict[str, Any]:
    _conn, saver = await _saver(path, sync)
    graph = _kill_graph(saver, steps, block_at, marker, steps_log)
    await graph.ainvoke({"n": 1, "acc": 0}, _cfg("victim"), durability=durability)
    return {}


async def s5_recover(path: str, sync: str, steps: int, block_at: int, marker: str,
                     steps_log: str, durability: str = "sync") -> dict[str, Any]:
    """The application knows the thread id (LangGraph keeps no list of unfinished runs):
    it checks the thread's state and re-invokes it with ``None`` from its last checkpoint."""
    t0 = time.perf_counter()
    conn, saver = await _saver(path, sync)
    try:
        graph = _kill_graph(saver, steps, block_at, None, steps_log)
        opened = time.perf_counter()
        state = await graph.aget_state(_cfg("victim"))
        if not state.next:
            raise RuntimeError("the killed thread has nothing left to run")
        found = time.perf_counter()
        out = await graph.ainvoke(None, _cfg("victim"), durability=durability)
        done = time.perf_counter()
        if out["acc"] != sum(range(steps)):
            raise RuntimeError(f"recovered thread returned {out}")
    finally:
        await conn.close()
    return {"until_complete_ms": (done - t0) * 1e3, "open_ms": (opened - t0) * 1e3,
            "get_state_ms": (found - opened) * 1e3, "next": list(state.next),
            "how": "new process: new checkpointer + graph, aget_state(thread), "
                   "ainvoke(None, thread)"}

"""``python -m benchmarks.listing``: listing waiting runs among 10,000 and 1,000,000 runs.

Times ``engine.list_suspended_runs()`` (no filter, ``workflow=``, ``resource_id=``,
``thread_id=``, ``from_date``/``to_date``, ``page=10``) and, for information,
``engine.list_runs()`` (no filter, ``status="suspended"``) on stores holding 10,000
runs (all of them waiting) and N runs (default 1,000,000: the same 10,000 waiting,
the rest succeeded), on SQLite (a file, WAL) and PostgreSQL (a temporary database).

The stores are filled through the store's own write path: for every run the appends
a real run of ``step -> suspend`` (or ``step -> return``) makes, one per commit as the
engine makes them (``started``; ``step_completed``; ``suspended`` or ``succeeded``),
with the heads and listing rows the engine computes (``head_row``, ``open_rows``),
handed to the store's ``_insert_sync`` 2,000 appends per transaction. The runs index
then catches up through ``store.catch_up()``. Each store is filled once per
invocation; the repeats measure it again with a fresh ``Engine``.

Writes ``benchmarks/results/listing.json`` and the section "Listing waiting runs at
scale" of ``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import shutil
import signal
import sqlite3
import statistics
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import durable
from benchmarks import core, report
from durable.events import TERMINAL, new_event
from durable.fold import RunLog, follow
from durable.owner import Owner
from durable.reads import make_filter
from durable.store import Append, open_store
from durable.store.types import open_rows, to_stored
from durable.writer import head_row

SMALL = 10_000  # the small store, and the number of waiting runs in every store
WORKFLOWS, RESOURCES, THREADS = 20, 100, 40  # a filter on one value selects 5%, 1%, 2.5%
WINDOWS = 20  # a from_date/to_date window is 1/20 of the time span: 5%
SPAN_DAYS = 90
BATCH = 2000  # appends per transaction while filling
SEED = 20261122


# -- what the stores hold ------------------------------------------------------------
@dataclass(frozen=True)
class Population:
    runs: int
    suspended: int
    start: float  # created_at of the runs spreads over [start, end)
    end: float

    @property
    def events(self) -> int:
        return 3 * self.runs

    def window(self, k: int) -> tuple[datetime, datetime]:
        width = (self.end - self.start) / WINDOWS
        lo = self.start + (k % WINDOWS) * width
        return datetime.fromtimestamp(lo, UTC), datetime.fromtimestamp(lo + width, UTC)


def population(runs: int, end: float) -> Population:
    return Population(runs, min(SMALL, runs), end - SPAN_DAYS * 86400.0, end)


def workflow_name(k: int) -> str:
    return f"wf-{k % WORKFLOWS:02d}"


def resource_name(k: int) -> str:
    return f"customer-{k % RESOURCES:03d}"


def thread_name(k: int) -> str:
    return f"thread-{k % THREADS:02d}"


def run_appends(pop: Population, owner: Owner) -> Iterator[Append]:
    """The appends of every run, in creation order, as the engine would have made them.

    Run i is created at an evenly spread time (plus jitter) and runs a step; the
    waiting ones (a random ``pop.suspended`` of them) then suspend with a
    ``{"price": n}`` payload, the others return. Each event is its own append, as
    each is its own commit in a real run; the head and the open suspensions of each
    append are what ``durable.writer.Writer.append`` computes.
    """
    rng = random.Random(SEED)
    waiting = set(rng.sample(range(pop.runs), pop.suspended))
    span = pop.end - pop.start
    for i in range(pop.runs):
        run_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        t0 = pop.start + span * (i + rng.random()) / pop.runs
        started = {
            "workflow": workflow_name(rng.randrange(WORKFLOWS)), "version": None, "input": i,
            "state": {}, "request_context": {},
            "resource_id": resource_name(rng.randrange(RESOURCES)),
            "thread_id": thread_name(rng.randrange(THREADS)),
            "parent_run_id": None, "seed": rng.getrandbits(63),
        }
        items: list[tuple[str, dict[str, Any], float]] = [
            ("started", started, t0),
            ("step_completed", {"path": ["before"], "result": i, "attempt": 0}, t0 + 0.002),
        ]
        if i in waiting:
            price = rng.randrange(1, 10_000)
            items.append(("suspended", {"path": ["approval"], "kind": "input",
                                        "payload": {"price": price}}, t0 + 0.003))
        else:
            items.append(("succeeded", {"output": i}, t0 + 0.003))
        run: Any = None
        prev = ""
        for pos, (type_, data, ts) in enumerate(items, start=1):
            e = new_event(run_id, pos, type_, data, prev, datetime.fromtimestamp(ts, UTC))
            prev = e.hash
            if run is None:
                run = RunLog.begin(e)
            else:
                follow(run, e)
            touched = pos == 1 or type_ in ("suspended", "resumed") or type_ in TERMINAL
            yield Append(run_id, pos - 1, [e], head_row(run, owner, 30.0),
                         suspensions=open_rows(run) if touched else None)


def populate(store: Any, pop: Population) -> dict[str, Any]:
    """Fill a store opened for writing (``_open_sync``), one batch after the other.

    One thread: a second one building batches while this one writes was slower, as
    the writer's many short GIL releases queue behind the builder (and the two
    cores are shared with the database server). ``generate_s`` (events, hashes,
    heads, listing rows, the events' encoding) and ``insert_s`` (``_insert_sync``)
    add up to ``seconds``.
    """
    owner = Owner.this_process()
    it = run_appends(pop, owner)
    generate = insert = 0.0
    appends = transactions = 0
    started = last_report = time.perf_counter()
    while True:
        t0 = time.perf_counter()
        batch: list[Append] = []
        for a in it:
            a.stored = [to_stored(e) for e in a.events]
            batch.append(a)
            if len(batch) == BATCH:
                break
        t1 = time.perf_counter()
        generate += t1 - t0
        if not batch:
            break
        store._insert_sync(batch)
        t2 = time.perf_counter()
        insert += t2 - t1
        appends += len(batch)
        transactions += 1
        if t2 - last_report > 30:
            last_report = t2
            print(f"    ... {appends // 3:,} runs in {t2 - started:.0f}s", flush=True)
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "runs": pop.runs, "suspended": pop.suspended,
            "events": appends, "appends": appends, "transactions": transactions,
            "events_per_s": appends / seconds, "generate_s": generate, "insert_s": insert}


# -- the queries ------------------------------------------------------------------------
@dataclass(frozen=True)
class Query:
    key: str
    label: str
    api: str  # "suspended" (list_suspended_runs) | "runs" (list_runs)
    kwargs: Callable[[Population, int], dict[str, Any]]  # the arguments of call i


def _dates(p: Population, i: int) -> dict[str, Any]:
    lo, hi = p.window(i * 7)
    return {"from_date": lo, "to_date": hi}


QUERIES = [
    Query("all", "list_suspended_runs()", "suspended", lambda p, i: {}),
    Query("workflow", "list_suspended_runs(workflow=)", "suspended",
          lambda p, i: {"workflow": workflow_name(i * 7)}),
    Query("resource", "list_suspended_runs(resource_id=)", "suspended",
          lambda p, i: {"resource_id": resource_name(i * 37)}),
    Query("thread", "list_suspended_runs(thread_id=)", "suspended",
          lambda p, i: {"thread_id": thread_name(i * 13)}),
    Query("dates", "list_suspended_runs(from_date=, to_date=)", "suspended", _dates),
    Query("page10", "list_suspended_runs(page=10)", "suspended", lambda p, i: {"page": 10}),
    Query("runs_all", "list_runs()", "runs", lambda p, i: {}),
    Query("runs_suspended", 'list_runs(status="suspended")', "runs",
          lambda p, i: {"status": "suspended"}),
]
LISTING_KEYS = tuple(q.key for q in QUERIES if q.api == "suspended")


def expected_total(pop: Population, key: str) -> int | None:
    """What ``page.total`` must be, where the query says (a check on the filled store)."""
    return {"all": pop.suspended, "page10": pop.suspended, "runs_all": pop.runs,
            "runs_suspended": pop.suspended}.get(key)


async def time_query(engine: durable.Engine, pop: Population, q: Query, calls: int,
                     warmup: int) -> dict[str, Any]:
    fn = engine.list_suspended_runs if q.api == "suspended" else engine.list_runs
    want = expected_total(pop, q.key)
    ms: list[float] = []
    totals: list[int] = []
    rows = 0
    for i in range(warmup + calls):
        kw = q.kwargs(pop, i)
        t0 = time.perf_counter()
        page = await fn(**kw)
        elapsed = (time.perf_counter() - t0) * 1e3
        if want is not None and page.total != want:
            raise RuntimeError(f"{q.label}: total {page.total}, expected {want}")
        if i >= warmup:
            ms.append(elapsed)
            totals.append(page.total)
            rows += len(page.runs)
    return {"p50_ms": statistics.median(ms), "p99_ms": core.percentile(ms, 99),
            "mean_ms": statistics.fmean(ms), "max_ms": max(ms), "calls": len(ms),
            "mean_total": statistics.fmean(totals), "rows_per_call": rows / len(ms)}


LADDER = ["store, calling thread", "store, reader thread", "engine"]


async def ladder(engine: durable.Engine, calls: int, warmup: int) -> dict[str, float]:
    """The unfiltered listing layer by layer, p50 µs: the store's read on the calling
    thread (transaction, statements, rows decoded), then through the reader thread pool
    (``store.list_suspended``), then the engine's call (building each RunInfo)."""
    st: Any = engine.store
    f = make_filter(None, None, None, None, None, None, 0, 50)

    async def on_thread() -> None:
        st._list_suspended_sync(f)

    steps: list[Callable[[], Any]] = [on_thread, lambda: st.list_suspended(f),
                                      engine.list_suspended_runs]
    out = {}
    for name, fn in zip(LADDER, steps, strict=True):
        us = []
        for i in range(warmup + calls):
            t0 = time.perf_counter()
            await fn()
            if i >= warmup:
                us.append((time.perf_counter() - t0) * 1e6)
        out[name] = statistics.median(us)
    return out


async def measure_store(url: str, pop: Population, calls: int, runs_calls: int,
                        warmup: int, options: dict[str, Any]) -> dict[str, Any]:
    """Every query against one store, through a fresh engine (its store opened as usual),
    then the ladder of the unfiltered listing."""
    out: dict[str, Any] = {}
    async with durable.Engine(url, **options) as engine:
        for q in QUERIES:
            n = calls if q.api == "suspended" else runs_calls
            out[q.key] = await time_query(engine, pop, q, n, warmup)
        out["ladder"] = await ladder(engine, max(calls // 2, 1), warmup)
    return out


# -- the query plans ----------------------------------------------------------------------
class _Tracing:
    """A cursor that records the statements it runs."""

    def __init__(self, cur: Any, seen: list[tuple[str, list[Any]]]) -> None:
        self._cur = cur
        self._seen = seen

    def execute(self, sql: str, params: Any = ()) -> Any:
        self._seen.append((sql, list(params)))
        return self._cur.execute(sql, params)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cur, name)


def engine_statements(url: str, pop: Population, q: Query,
                      calls: int) -> list[list[tuple[str, list[Any]]]]:
    """The SQL calls 0 .. calls-1 of ``q`` run, captured from the store's own read path."""
    store: Any = open_store(url)
    store._open_sync()
    seen: list[tuple[str, list[Any]]] = []
    reading = store._reading

    @contextmanager
    def traced() -> Iterator[Any]:
        with reading() as c:
            yield _Tracing(c, seen)

    store._reading = traced
    out = []
    try:
        for i in range(calls):
            kw = q.kwargs(pop, i)
            f = make_filter(kw.get("status"), kw.get("workflow"), kw.get("resource_id"),
                            kw.get("thread_id"), kw.get("from_date"), kw.get("to_date"),
                            kw.get("page", 0), kw.get("per_page", 50))
            (store._list_suspended_sync if q.api == "suspended" else store._list_runs_sync)(f)
            out.append(list(seen))
            seen.clear()
    finally:
        store._close_sync()
    return out


def statement_kind(sql: str) -> str:
    s = " ".join(sql.split())
    if s.startswith("SELECT COUNT(*)"):
        return "count"
    if "durable_suspensions" in s:
        return "open suspensions of the page"
    if re.search(r"durable_runs\"? WHERE run_id", s):
        return "heads of the page"
    return "page"


def explain_sqlite(path: str, statements: list[tuple[str, list[Any]]]) -> list[dict[str, Any]]:
    conn = sqlite3.connect(path)
    try:
        out = []
        for sql, params in statements:
            rows = conn.execute("EXPLAIN QUERY PLAN " + sql, params).fetchall()
            depth: dict[int, int] = {0: -1}
            lines = []
            for node, parent, _, detail in rows:
                depth[node] = depth.get(parent, -1) + 1
                lines.append("  " * depth[node] + detail)
            out.append({"kind": statement_kind(sql), "sql": " ".join(sql.split()),
                        "params": len(params), "plan": lines})
        return out
    finally:
        conn.close()


def explain_postgres(url: str, statements: list[tuple[str, list[Any]]]) -> list[dict[str, Any]]:
    """EXPLAIN (ANALYZE, BUFFERS): the plan and what running it once cost."""
    import psycopg

    out = []
    with psycopg.connect(url, autocommit=True) as conn:
        for sql, params in statements:
            rows = conn.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params).fetchall()
            out.append({"kind": statement_kind(sql), "sql": " ".join(sql.split()),
                        "params": len(params), "plan": [r[0] for r in rows]})
    return out


def time_statements(backend: str, url: str, calls: list[list[tuple[str, list[Any]]]],
                    n: int, warmup: int = 10) -> list[dict[str, float]]:
    """Each statement of a call alone, ``n`` times on one connection, its parameters taken
    from the captured calls in turn (as the benchmark's calls vary them)."""
    if backend == "sqlite":
        conn: Any = sqlite3.connect(url[len("sqlite:///"):])
    else:
        import psycopg

        conn = psycopg.connect(url, autocommit=True)  # prepared after 5 runs, as the engine's
    like = [c for c in calls if len(c) == len(calls[0])]
    try:
        out = []
        for j in range(len(calls[0])):
            us = []
            for i in range(warmup + n):
                sql, params = like[i % len(like)][j]
                t0 = time.perf_counter()
                conn.execute(sql, params).fetchall()
                if i >= warmup:
                    us.append((time.perf_counter() - t0) * 1e6)
            out.append({"median_us": statistics.median(us), "p99_us": core.percentile(us, 99)})
        return out
    finally:
        conn.close()


def plans(backend: str, url: str, pop: Population, n: int) -> dict[str, Any]:
    """Per query: each statement one call runs, its plan, and its own time."""
    out: dict[str, Any] = {}
    for q in QUERIES:
        calls = engine_statements(url, pop, q, 20)
        if backend == "sqlite":
            out[q.key] = explain_sqlite(url[len("sqlite:///"):], calls[0])
        else:
            out[q.key] = explain_postgres(url, calls[0])
        for entry, timing in zip(out[q.key], time_statements(backend, url, calls, n),
                                 strict=True):
            entry.update(timing)
    return out


# -- one backend ----------------------------------------------------------------------------
@dataclass
class Store:
    """One populated store: a backend at one scale."""

    backend: str  # "sqlite" | "postgres"
    pop: Population
    url: str
    target: core.Target | None = None  # the PostgreSQL database, to drop at the end


def _sqlite_size(path: str) -> int:
    return sum(os.path.getsize(path + s) for s in ("", "-wal") if os.path.exists(path + s))


def _pg_size(url: str) -> int:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        return int(conn.execute("SELECT pg_database_size(current_database())").fetchone()[0])  # type: ignore[index]


async def prepare(backend: str, pop: Population, url: str) -> dict[str, Any]:
    """Fill the store, let the runs index catch up, and (PostgreSQL) VACUUM ANALYZE it."""
    out: dict[str, Any] = {}
    loader: Any = open_store(url, synchronous="OFF") if backend == "sqlite" else open_store(url)
    loader._open_sync()
    try:
        out["population"] = populate(loader, pop)
    finally:
        loader._close_sync()
    store = open_store(url)
    await store.open()
    try:
        t0 = time.perf_counter()
        applied = await store.catch_up()
        seconds = time.perf_counter() - t0
        out["catch_up"] = {"seconds": seconds, "events": applied,
                           "events_per_s": applied / seconds if seconds else None}
        status = await store.view_status()
        out["views"] = [{"name": v.name, "rows": v.rows, "lag": v.lag} for v in status]
    finally:
        await store.close()
    if backend == "postgres":
        import psycopg

        t0 = time.perf_counter()
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("VACUUM (ANALYZE)")
        out["vacuum_analyze_s"] = time.perf_counter() - t0
        out["db_bytes"] = _pg_size(url)
    else:
        out["db_bytes"] = _sqlite_size(url[len("sqlite:///"):])
    return out


def _brief(m: dict[str, Any]) -> str:
    return "  ".join(f"{q.key} {m[q.key]['p50_ms']:.2f}/{m[q.key]['p99_ms']:.2f}"
                     for q in QUERIES)


def summarize(repeats: list[dict[str, Any]]) -> dict[str, Any]:
    """Median p50/p99 over the repeats, and their min .. max."""
    out: dict[str, Any] = {
        "ladder": {k: statistics.median(r["ladder"][k] for r in repeats) for k in LADDER}
    }
    for key in (q.key for q in QUERIES):
        s: dict[str, Any] = {}
        for fig in ("p50_ms", "p99_ms", "mean_ms", "max_ms"):
            vals = [r[key][fig] for r in repeats]
            s[fig] = statistics.median(vals)
            s[fig.replace("_ms", "_min_max")] = [min(vals), max(vals)]
        s["mean_total"] = repeats[0][key]["mean_total"]
        s["rows_per_call"] = repeats[0][key]["rows_per_call"]
        out[key] = s
    return out


async def run_backend(backend: str, scales: list[int], args: argparse.Namespace,
                      workdir: str, end: float, notes: list[str]) -> dict[str, Any] | None:
    label = "SQLite WAL (file), engine at synchronous=FULL" if backend == "sqlite" \
        else "PostgreSQL 127.0.0.1 (temporary database)"
    stores: list[Store] = []
    out: dict[str, Any] = {"label": label, "scales": {}}
    try:
        for n in scales:
            pop = population(n, end)
            if backend == "sqlite":
                cached = os.path.join(args.sqlite_cache, f"listing-{n}.db") \
                    if args.sqlite_cache else None
                path = os.path.join(workdir, f"listing-{n}.db")
                st = Store(backend, pop, "sqlite:///" + path)
            else:
                t, why = core.postgres_target()
                if t is None or t.skip:
                    notes.append(f"PostgreSQL listing skipped: {why or (t and t.skip)}")
                    print(notes[-1], file=sys.stderr)
                    if t is not None:
                        core.drop_postgres(t)
                    return None
                st = Store(backend, pop, t.url(""), target=t)
                cached = None
            stores.append(st)
            print(f"  {backend} {n:,} runs: filling {st.url}", flush=True)
            rec: dict[str, Any] = {"runs": n, "suspended": pop.suspended}
            if cached and os.path.exists(cached):
                shutil.copy(cached, path)
                rec["prepare"] = {"reused": cached}
                notes.append(f"SQLite {n:,}: reused {cached}; no population time measured")
            else:
                rec["prepare"] = await prepare(backend, pop, st.url)
                if cached:
                    os.makedirs(args.sqlite_cache, exist_ok=True)
                    shutil.copy(path, cached)
            p = rec["prepare"]
            if "population" in p:
                print(f"    filled in {p['population']['seconds']:.1f}s "
                      f"({p['population']['events_per_s']:,.0f} events/s), index caught up in "
                      f"{p['catch_up']['seconds']:.1f}s"
                      + (f", VACUUM ANALYZE {p['vacuum_analyze_s']:.1f}s"
                         if "vacuum_analyze_s" in p else ""), flush=True)
            rec["plans"] = plans(backend, st.url, pop, args.statement_runs)
            rec["repeats"] = []
            out["scales"][str(n)] = rec
        options = {"synchronous": "FULL"} if backend == "sqlite" else {}
        for rep in range(args.repeats):
            for st in stores:
                t0 = time.perf_counter()
                load = os.getloadavg()[0]  # other work on the machine: the noise
                m = await measure_store(st.url, st.pop, args.calls, args.runs_calls,
                                        args.warmup, options)
                m["load_before"], m["load_after"] = load, os.getloadavg()[0]
                out["scales"][str(st.pop.runs)]["repeats"].append(m)
                print(f"  repeat {rep + 1}/{args.repeats} {backend} {st.pop.runs:>9,} "
                      f"{time.perf_counter() - t0:5.1f}s  p50/p99 ms: {_brief(m)}", flush=True)
        for rec in out["scales"].values():
            rec["summary"] = summarize(rec["repeats"])
    finally:
        for st in stores:
            if st.target is not None:
                core.drop_postgres(st.target)
    return out


def run(scales: list[int], args: argparse.Namespace) -> dict[str, Any]:
    """The whole scenario; returns what listing.json holds."""
    workdir = core.new_workdir()
    notes: list[str] = []
    end = float(int(time.time()))
    results: dict[str, Any] = {
        "machine": report.machine_info(workdir),
        "settings": {
            "scales": scales, "suspended": SMALL, "repeats": args.repeats,
            "calls": args.calls, "runs_calls": args.runs_calls, "warmup": args.warmup,
            "statement_runs": args.statement_runs,
            "per_page": 50, "workflows": WORKFLOWS, "resource_ids": RESOURCES,
            "thread_ids": THREADS, "date_windows": WINDOWS, "span_days": SPAN_DAYS,
            "appends_per_transaction": BATCH, "events_per_run": 3,
        },
        "queries": {q.key: {"label": q.label, "api": q.api} for q in QUERIES},
        "notes": notes,
        "backends": {},
    }
    t0 = time.perf_counter()
    print(f"listing benchmark in {workdir}: scales {scales}, {args.repeats} repeats", flush=True)
    try:
        backends = ["sqlite"] + ([] if args.no_postgres else ["postgres"])
        for b in backends:
            if b == "postgres":
                pg, why = core.postgres_target()
                if pg is None:
                    notes.append(str(why))
                    print(why, file=sys.stderr)
                    continue
                try:
                    info = core.postgres_info(pg)
                    results["machine"]["postgres"] = info.pop("version")
                    results["postgres_settings"] = info
                finally:
                    core.drop_postgres(pg)
            res = asyncio.run(run_backend(b, scales, args, workdir, end, notes))
            if res is not None:
                results["backends"][b] = res
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    results["seconds"] = round(time.perf_counter() - t0, 1)
    return results


# -- the command line -----------------------------------------------------------------------
def add_arguments(p: argparse.ArgumentParser, *, prefix: str = "") -> None:
    p.add_argument(f"--{prefix}calls", type=int, default=500,
                   help="timed list_suspended_runs calls per query and repeat")
    p.add_argument(f"--{prefix}runs-calls", type=int, default=200,
                   help="timed list_runs calls per query and repeat")
    p.add_argument(f"--{prefix}warmup", type=int, default=20, help="untimed calls first")
    p.add_argument(f"--{prefix}statement-runs", type=int, default=200,
                   help="times each captured statement is run alone (the breakdown)")
    p.add_argument(f"--{prefix}sqlite-cache", default=None, metavar="DIR",
                   help="keep the filled SQLite files in DIR and reuse them next time "
                        "(then no population time is measured)")


def scales_for(n: int) -> list[int]:
    return sorted({min(SMALL, n), n})


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks.listing", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--scale", "--listing-scale", dest="scale", type=int, default=1_000_000,
                   help="runs in the large store (the small one holds 10,000)")
    p.add_argument("--repeats", type=int, default=3, help="repeats per measurement (median)")
    p.add_argument("--no-postgres", action="store_true", help="SQLite only")
    p.add_argument("--markdown", action="store_true",
                   help="only re-render docs/benchmarks.md from the JSON files")
    p.add_argument("--no-write", action="store_true",
                   help="print the table; leave listing.json and docs/benchmarks.md alone")
    add_arguments(p)
    return p.parse_args(argv)


def finish(results: dict[str, Any], *, write: bool) -> None:
    print()
    print(report.text_table(*report.listing_rows(results)))
    print()
    print(report.text_table(*report.listing_prepare_rows(results)))
    for line in report.listing_verdict(results):
        print(line)
    for note in results.get("notes", []):
        print("note:", note)
    print(f"\nlisting total {results['seconds']}s")
    if write:
        report.write_json(results, report.LISTING)
        report.write_markdown(report.load_json() if report.RESULTS.exists() else None,
                              listing=results)
        print(f"wrote {report.LISTING} and {report.DOCS}")


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    # Killed: still drop the temporary databases and files (the finally blocks).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if args.markdown:
        report.write_markdown(report.load_json() if report.RESULTS.exists() else None)
        print(f"wrote {report.DOCS}")
        return 0
    results = run(scales_for(args.scale), args)
    finish(results, write=not args.no_write)
    return 0


if __name__ == "__main__":
    sys.exit(main())

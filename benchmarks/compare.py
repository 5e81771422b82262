"""``python -m benchmarks.compare``: durable next to DBOS and LangGraph, same machine, same run.

Needs the ``bench`` extra (``pip install -e '.[bench]'``: dbos, langgraph,
langgraph-checkpoint-sqlite). Every measurement runs in its own subprocess
(``benchmarks/peers``); scenarios S1 .. S6 and the floor are described in
docs/benchmarks.md, section "durable next to DBOS and LangGraph", which this
module writes between ``<!-- compare:start -->`` and ``<!-- compare:end -->``
(the rest of the page belongs to ``python -m benchmarks``). Every repeat goes to
``benchmarks/results/compare.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from benchmarks import report
from benchmarks.compare_md import DOCS, REFERENCE, _fmt, markdown, write_markdown
from benchmarks.core import drop_postgres, postgres_target
from benchmarks.peers import WorkerFailed, code_dir, kill_scenario, run_worker
from benchmarks.peers.floor import floor_us, pg_floor_us

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results" / "compare.json"
DBOS_POLL_S = 0.05


# -- what runs where ---------------------------------------------------------------------
@dataclass
class Variant:
    key: str
    side: str
    sync: str  # FULL | NORMAL | default (DBOS's own engine)
    label: str
    journal: str = "WAL"
    extra: dict[str, Any] = field(default_factory=dict)
    durable_key: str = ""  # the durable row it is compared with
    note: str = ""

    @property
    def floor_key(self) -> str:
        if self.sync == "PG":
            return "PG"
        return f"{self.journal}-{'FULL' if self.sync == 'default' else self.sync}"

    @property
    def sync_level(self) -> str:
        return "FULL" if self.sync == "default" else self.sync


def variants(poll: float) -> dict[str, Variant]:
    vs = [
        Variant("durable-FULL", "durable", "FULL", "durable, synchronous=FULL (its default)",
                durable_key="durable-FULL"),
        Variant("durable-NORMAL", "durable", "NORMAL", "durable, synchronous=NORMAL",
                durable_key="durable-NORMAL"),
        Variant("durable-PG", "durable", "PG", "durable on PostgreSQL (local, default settings)",
                journal="PG", durable_key="durable-PG"),
        Variant("langgraph-FULL", "langgraph", "FULL",
                "LangGraph, synchronous=FULL (its default), durability=sync",
                extra={"durability": "sync"}, durable_key="durable-FULL"),
        Variant("langgraph-NORMAL", "langgraph", "NORMAL",
                "LangGraph, synchronous=NORMAL, durability=sync",
                extra={"durability": "sync"}, durable_key="durable-NORMAL"),
        Variant("dbos-FULL", "dbos", "FULL", "DBOS, WAL, synchronous=FULL",
                extra={"poll": poll}, durable_key="durable-FULL"),
        Variant("dbos-NORMAL", "dbos", "NORMAL", "DBOS, WAL, synchronous=NORMAL",
                extra={"poll": poll}, durable_key="durable-NORMAL"),
        Variant("langgraph-default", "langgraph", "FULL",
                "LangGraph out of the box: FULL, durability=async",
                extra={"durability": "async", "concurrent": False}, durable_key="durable-FULL",
                note="checkpoint writes overlap the next step; a crash can lose the last ones"),
        Variant("dbos-default", "dbos", "default",
                "DBOS out of the box: rollback journal, FULL",
                journal="DELETE", extra={"poll": poll, "concurrent": False},
                durable_key="durable-FULL", note="DBOS sets no journal_mode: DELETE"),
    ]
    return {v.key: v for v in vs}


def scenario_variants(all_v: dict[str, Variant], peer_normal: bool) -> dict[str, list[Variant]]:
    core = ["durable-FULL", "durable-NORMAL", "langgraph-FULL", "dbos-FULL"]
    if peer_normal:
        core += ["langgraph-NORMAL", "dbos-NORMAL"]
    s1 = ["durable-FULL", "durable-NORMAL", "langgraph-FULL", "langgraph-NORMAL",
          "dbos-FULL", "dbos-NORMAL", "langgraph-default", "dbos-default"]
    s4 = ["durable-NORMAL", "langgraph-NORMAL", "dbos-NORMAL"]
    pick = lambda keys: [all_v[k] for k in keys]  # noqa: E731
    s6 = ["durable-FULL", "durable-NORMAL", "durable-PG", "langgraph-FULL", "langgraph-NORMAL",
          "dbos-FULL", "dbos-NORMAL"]
    return {"s1": pick(s1), "s2": pick(core), "s3": pick(core), "s4": pick(s4),
            "s5": pick(core), "s6": pick(s6)}


def counts(quick: bool, big: bool) -> dict[str, Any]:
    c: dict[str, Any] = {
        "s1_runs": 300, "s1_batch": 50, "s1_dbos_default_runs": 100, "s2_runs": 200,
        "s3_steps": [1000, 10000], "s3_big_steps": [100000] if big else [],
        "s4_finished": 10000, "s4_suspended": 100, "floor": 2000, "s5_steps": 10,
        "s5_block_at": 5, "s6_runs": 100, "s6_warmup": 10, "s6_total": 2000, "s6_inflight": 200,
        "s6_floor_commits": 4,
    }
    if quick:
        c.update(s1_runs=60, s1_dbos_default_runs=20, s2_runs=40, s3_steps=[1000],
                 s3_big_steps=[10000] if big else [], s4_finished=1000, floor=500, s6_runs=30,
                 s6_total=400)
    return c


# -- running ------------------------------------------------------------------------------
class Runner:
    def __init__(self, args: argparse.Namespace, workdir: str) -> None:
        self.args = args
        self.workdir = workdir
        self.c = counts(args.quick, args.big)
        self.v = variants(args.dbos_poll)
        self.sv = scenario_variants(self.v, args.peer_normal)
        self.notes: list[str] = []
        self.loads: list[float] = []
        self.data: dict[str, Any] = {}
        self.only: set[str] = set()

    def path(self, name: str) -> str:
        return os.path.join(self.workdir, name)

    def clean(self) -> None:
        for name in os.listdir(self.workdir):
            if name == "code":  # the snapshot the workers import from
                continue
            p = self.path(name)
            if os.path.isdir(p):
                shutil.rmtree(p, ignore_errors=True)
            else:
                os.remove(p)

    def attempt(self, what: str, fn: Callable[..., dict[str, Any]], *args: Any,
                **kw: Any) -> dict[str, Any]:
        started = time.perf_counter()
        try:
            out = fn(*args, **kw)
        except (WorkerFailed, Exception) as e:  # keep the rest of the run
            msg = f"{what} failed: {type(e).__name__}: {str(e)[-1500:]}"
            print("  " + msg, file=sys.stderr, flush=True)
            self.notes.append(msg.splitlines()[0])
            out = {"error": msg}
        out["seconds"] = round(time.perf_counter() - started, 2)
        load = _loadavg()
        if load:
            out["loadavg_1min_after"] = load[0]
            self.loads.append(load[0])
        return out

    def rec(self, scenario: str, key: str, value: dict[str, Any], sub: str | None = None) -> None:
        d = self.data.setdefault(scenario, {})
        if sub is not None:
            d = d.setdefault(sub, {})
        d.setdefault(key, {"repeats": []})["repeats"].append(value)

    # floors ---------------------------------------------------------------------------
    def floors(self, rep: int) -> None:
        for journal, sync in (("WAL", "FULL"), ("WAL", "NORMAL"), ("DELETE", "FULL")):
            us = floor_us(self.workdir, str(rep), sync, self.c["floor"], journal)
            self.rec("floor", f"{journal}-{sync}", {"us_per_commit": us})
            print(f"  floor {journal}-{sync}: {us:.0f} µs/commit", flush=True)
        if "s6" in self.only:
            us_pg, why = pg_floor_us(self.c["floor"])
            if us_pg is None:
                self.notes.append(f"PostgreSQL floor: {why}")
            else:
                self.rec("floor", "PG", {"us_per_commit": us_pg})
                print(f"  floor PG: {us_pg:.0f} µs/commit", flush=True)

    # S1 ----------------------------------------------------------------------------------
    def s1(self, rep: int) -> None:
        for v in self.sv["s1"]:
            runs = self.c["s1_dbos_default_runs"] if v.key == "dbos-default" else self.c["s1_runs"]
            params = {"path": self.path(f"s1-{v.key}-{rep}.db"), "sync": v.sync, "runs": runs,
                      "batch": self.c["s1_batch"], **v.extra}
            out = self.attempt(f"S1 {v.key}", run_worker, v.side, "s1", params)
            self.rec("s1", v.key, out)
            self.clean()
            print(f"  S1 {v.key:<18} {out['seconds']:6.1f}s  {_brief_s1(out)}", flush=True)

    # S2 ----------------------------------------------------------------------------------
    def s2(self, rep: int) -> None:
        for v in self.sv["s2"]:
            params = {"path": self.path(f"s2-{v.key}-{rep}.db"), "sync": v.sync,
                      "runs": self.c["s2_runs"], **_only(v.extra, "durability", "poll")}
            out = self.attempt(f"S2 {v.key}", run_worker, v.side, "s2", params)
            self.rec("s2", v.key, out)
            self.clean()
            print(f"  S2 {v.key:<18} {out['seconds']:6.1f}s  {_brief_s2(out)}", flush=True)

    # S3 ----------------------------------------------------------------------------------
    def s3_builds(self) -> dict[tuple[str, int], str]:
        """Each peer's long run is built once per size (at NORMAL) and copied per repeat."""
        srcs: dict[tuple[str, int], str] = {}
        os.makedirs(self.path("s3-src"), exist_ok=True)
        for side in sorted({v.side for v in self.sv["s3"] if v.side != "durable"}):
            for n in self.c["s3_steps"]:
                src = os.path.join(self.path("s3-src"), f"{side}-{n}.db")
                extra = {"poll": self.args.dbos_poll} if side == "dbos" else {}
                out = self.attempt(f"S3 build {side} {n}", run_worker, side, "s3_build",
                                   {"path": src, "steps": n, **extra}, timeout=3600)
                self.data.setdefault("s3_builds", {}).setdefault(side, {})[str(n)] = out
                print(f"  S3 build {side:<9} {n:>7} steps {out['seconds']:6.1f}s  "
                      f"{_fmt(out.get('bytes_per_step'), '{:.0f}')} B/step", flush=True)
                if "error" not in out:
                    srcs[(side, n)] = src
        return srcs

    def s3(self, rep: int, srcs: dict[tuple[str, int], str]) -> None:
        for v in self.sv["s3"]:
            sizes = self.c["s3_steps"] + (self.c["s3_big_steps"] if v.side == "durable" else [])
            for n in sizes:
                dst = self.path(f"s3-{v.key}-{n}-{rep}.db")
                if v.side == "durable":
                    params = {"path": dst, "sync": v.sync, "steps": n}
                    out = self.attempt(f"S3 {v.key} {n}", run_worker, "durable", "s3", params,
                                       timeout=3600)
                elif (v.side, n) in srcs:
                    params = {"src": srcs[(v.side, n)], "path": dst, "sync": v.sync, "steps": n,
                              **_only(v.extra, "durability", "poll")}
                    out = self.attempt(f"S3 {v.key} {n}", run_worker, v.side, "s3_cold", params,
                                       timeout=3600)
                else:
                    continue
                self.rec("s3", v.key, out, sub=str(n))
                for name in os.listdir(self.workdir):
                    if name.startswith("s3-") and name != "s3-src":
                        os.remove(self.path(name))
                print(f"  S3 {v.key:<18} {n:>7} steps {out['seconds']:6.1f}s  "
                      f"hot {_fmt(out.get('hot_ms'), '{:.1f}')} ms, "
                      f"cold {_fmt(out.get('cold_ms'), '{:.1f}')} ms", flush=True)

    # S4 ----------------------------------------------------------------------------------
    def s4(self) -> None:
        for v in self.sv["s4"]:
            params = {"path": self.path(f"s4-{v.key}.db"), "sync": v.sync,
                      "finished": self.c["s4_finished"], "suspended": self.c["s4_suspended"],
                      "repeats": self.args.repeats, **_only(v.extra, "durability", "poll")}
            out = self.attempt(f"S4 {v.key}", run_worker, v.side, "s4", params, timeout=3600)
            self.data.setdefault("s4", {})[v.key] = out
            self.clean()
            ms = statistics.median(out["ms"]) if out.get("ms") else None
            print(f"  S4 {v.key:<18} {out['seconds']:6.1f}s  list {_fmt(ms, '{:.2f}')} ms "
                  f"(build {_fmt(out.get('build_s'), '{:.1f}')} s)", flush=True)

    # S5 ----------------------------------------------------------------------------------
    def s5(self, rep: int) -> None:
        for v in self.sv["s5"]:
            wd = self.path(f"s5-{v.key}-{rep}")
            os.makedirs(wd)
            params = {"path": os.path.join(wd, "db.sqlite"), "sync": v.sync,
                      "steps": self.c["s5_steps"], "block_at": self.c["s5_block_at"],
                      **_only(v.extra, "durability", "poll")}
            out = self.attempt(f"S5 {v.key}", kill_scenario, v.side, params, wd)
            self.rec("s5", v.key, out)
            self.clean()
            print(f"  S5 {v.key:<18} {out['seconds']:6.1f}s  "
                  f"complete {_fmt(out.get('until_complete_ms'), '{:.1f}')} ms, "
                  f"re-run {out.get('steps_rerun', '-')}", flush=True)

    # S6 ----------------------------------------------------------------------------------
    def s6(self, rep: int) -> None:
        c = self.c
        for v in self.sv["s6"]:
            params: dict[str, Any] = {
                "path": self.path(f"s6-{v.key}-{rep}.db"), "sync": v.sync, "runs": c["s6_runs"],
                "warmup": c["s6_warmup"], "total": c["s6_total"], "inflight": c["s6_inflight"],
                **_only(v.extra, "durability", "poll")}
            pg = None
            if v.sync == "PG":
                pg, why = postgres_target()
                if pg is None:
                    self.rec("s6", v.key, {"error": why, "seconds": 0})
                    self.notes.append(f"S6 {v.key}: {why}")
                    continue
                params.update(url=pg.url(""), sync="FULL")
            try:
                out = self.attempt(f"S6 {v.key}", run_worker, v.side, "s6", params)
            finally:
                if pg is not None:
                    drop_postgres(pg)
            self.rec("s6", v.key, out)
            self.clean()
            lat, thr = out.get("latency") or {}, out.get("throughput") or {}
            print(f"  S6 {v.key:<18} {out['seconds']:6.1f}s  "
                  f"p50 {_fmt(lat.get('p50_ms'), '{:.2f}')} ms, "
                  f"p95 {_fmt(lat.get('p95_ms'), '{:.2f}')} ms, "
                  f"{_fmt(thr.get('workflows_per_s'), '{:,.0f}')} workflows/s "
                  f"x{thr.get('inflight', '-')}", flush=True)

    def run(self, only: set[str]) -> None:
        reps = self.args.repeats
        self.only = only
        if "floor" in only or "s1" in only or "s6" in only:
            for rep in range(reps):
                print(f"floor, repeat {rep + 1}/{reps}", flush=True)
                self.floors(rep)
        for name in ("s1", "s2"):
            if name in only:
                for rep in range(reps):
                    print(f"{name.upper()}, repeat {rep + 1}/{reps}", flush=True)
                    getattr(self, name)(rep)
        if "s3" in only:
            print("S3, builds", flush=True)
            srcs = self.s3_builds()
            for rep in range(reps):
                print(f"S3, repeat {rep + 1}/{reps}", flush=True)
                self.s3(rep, srcs)
        if "s4" in only:
            print("S4", flush=True)
            self.s4()
        if "s5" in only:
            for rep in range(reps):
                print(f"S5, repeat {rep + 1}/{reps}", flush=True)
                self.s5(rep)
        if "s6" in only:
            for rep in range(reps):
                print(f"S6, repeat {rep + 1}/{reps}", flush=True)
                self.s6(rep)


def _only(d: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {k: v for k, v in d.items() if k in keys}



def _brief_s1(out: dict[str, Any]) -> str:
    seq, conc = out.get("seq") or {}, out.get("conc") or {}
    return (f"{_fmt(seq.get('us_per_step'), '{:.0f}')} µs/step, "
            f"{_fmt(conc.get('steps_per_s'), '{:.0f}')} steps/s x{conc.get('batch', '-')}")


def _brief_s2(out: dict[str, Any]) -> str:
    h, c = out.get("hot") or {}, out.get("cold") or {}
    return (f"hot p50 {_fmt(h.get('p50_ms'), '{:.2f}')} ms, "
            f"cold p50 {_fmt(c.get('p50_ms'), '{:.2f}')} ms")


# -- summaries ------------------------------------------------------------------------------
def _ok(reps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in reps if "error" not in r]


def _med(vals: list[float]) -> dict[str, Any] | None:
    vals = [v for v in vals if v is not None]
    if not vals:
        return None
    return {"median": statistics.median(vals), "min": min(vals), "max": max(vals), "n": len(vals)}


def _get(d: dict[str, Any], path: str) -> Any:
    for part in path.split("."):
        if not isinstance(d, dict) or part not in d:
            return None
        d = d[part]
    return d


# (metric, path in a repeat's record, ratio: "time" = side/durable, "rate" = durable/side)
METRICS: dict[str, list[tuple[str, str, str | None]]] = {
    "s1": [("us_per_step", "seq.us_per_step", "time"),
           ("workflows_per_s", "seq.workflows_per_s", None),
           ("conc_steps_per_s", "conc.steps_per_s", "rate")],
    "s2": [("hot_p50_ms", "hot.p50_ms", "time"), ("hot_p99_ms", "hot.p99_ms", "time"),
           ("cold_p50_ms", "cold.p50_ms", "time"), ("cold_p99_ms", "cold.p99_ms", "time"),
           ("cold_recovery_ms", "cold_recovery_ms", None)],
    "s3": [("hot_ms", "hot_ms", "time"), ("cold_ms", "cold_ms", "time"),
           ("cold_with_open_ms", "cold_with_open_ms", "time"),
           ("bytes_per_step", "bytes_per_step", "time")],
    "s6": [("p50_ms", "latency.p50_ms", "time"), ("p95_ms", "latency.p95_ms", "time"),
           ("workflows_per_s", "throughput.workflows_per_s", "rate"),
           ("commits_per_workflow", "latency_commits_per_workflow", None)],
    "s5": [("until_complete_ms", "until_complete_ms", "time"),
           ("process_wall_ms", "process_wall_ms", "time"), ("steps_rerun", "steps_rerun", None)],
}


def summarize(res: dict[str, Any]) -> dict[str, Any]:
    """Medians over repeats; ratios to durable at the same synchronous level, per repeat."""
    vs = {k: Variant(**v) for k, v in res["variants"].items()}
    sc = res["scenarios"]
    out: dict[str, Any] = {"floor": {k: _med([r["us_per_commit"] for r in d["repeats"]])
                                     for k, d in sc.get("floor", {}).items()}}

    def block(scenario: str, rows: dict[str, Any], extra_bytes: dict[str, Any] | None = None
              ) -> dict[str, Any]:
        summ: dict[str, Any] = {}
        for key, d in rows.items():
            reps = d["repeats"]
            m: dict[str, Any] = {"errors": len(reps) - len(_ok(reps))}
            for name, path, kind in METRICS[scenario]:
                vals = [_get(r, path) if "error" not in r else None for r in reps]
                if name == "bytes_per_step" and extra_bytes and key in extra_bytes:
                    vals = [extra_bytes[key]]  # peers: measured once, at the build
                s = _med(vals)
                if s is None:
                    continue
                m[name] = s
                dk = vs[key].durable_key
                if kind and dk != key and dk in rows:
                    dvals = [_get(r, path) if "error" not in r else None
                             for r in rows[dk]["repeats"]]
                    if name == "bytes_per_step":
                        ratios = [v / statistics.median([x for x in dvals if x])
                                  for v in vals if v] if any(dvals) else []
                    else:
                        ratios = [(a / b if kind == "time" else b / a)
                                  for a, b in zip(vals, dvals, strict=False) if a and b]
                    if ratios:
                        m[name]["x_durable"] = statistics.median(ratios)
            fl = sc.get("floor", {}).get(vs[key].floor_key, {}).get("repeats", [])
            if scenario == "s1":
                ratios = [r["seq"]["us_per_step"] / f["us_per_commit"]
                          for r, f in zip(reps, fl, strict=False) if "error" not in r]
                if ratios:
                    m["step_over_floor"] = statistics.median(ratios)
            if scenario == "s6":  # p50 over the workflow's floor: its commits at floor cost
                n = res["settings"]["counts"].get("s6_floor_commits", 4)
                ratios = [r["latency"]["p50_ms"] * 1e3 / (n * f["us_per_commit"])
                          for r, f in zip(reps, fl, strict=False) if "error" not in r]
                if ratios:
                    m["p50_over_floor"] = statistics.median(ratios)
            summ[key] = m
        return summ

    for name in ("s1", "s2", "s5", "s6"):
        if name in sc:
            out[name] = block(name, sc[name])
    if "s3" in sc:
        builds = sc.get("s3_builds", {})
        out["s3"] = {}
        for n, rows in sc["s3"].items():
            bytes_ = {k: _get(builds, f"{vs[k].side}.{n}.bytes_per_step") for k in rows
                      if vs[k].side != "durable"}
            out["s3"][n] = block("s3", rows, {k: b for k, b in bytes_.items() if b})
    if "s4" in sc:
        out["s4"] = {}
        dur = sc["s4"].get("durable-NORMAL", {})
        dmed = statistics.median(dur["ms"]) if dur.get("ms") else None
        for key, r in sc["s4"].items():
            if "error" in r:
                out["s4"][key] = {"error": r["error"]}
                continue
            med = statistics.median(r["ms"])
            out["s4"][key] = {"list_ms": med, "first_ms": r["first_ms"], "how": r.get("how"),
                              "x_durable": med / dmed if dmed and key != "durable-NORMAL"
                              else None, "build_s": r.get("build_s"),
                              "checkpoints_scanned": r.get("checkpoints_scanned")}
    return out


# -- the machine and the versions --------------------------------------------------------------
def versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for dist in ("dbos", "langgraph", "langgraph-checkpoint", "langgraph-checkpoint-sqlite",
                 "aiosqlite", "SQLAlchemy", "eventsourcing"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = None
    return out




# -- the code measured ------------------------------------------------------------------------
def snapshot_code(workdir: str, rev: str) -> dict[str, Any]:
    """Export durable/ and projections/ at ``rev``, plus this checkout's benchmarks/, into
    ``workdir/code`` and point the workers at it (``$DURABLE_BENCH_CODE``)."""
    dest = os.path.join(workdir, "code")
    os.makedirs(dest)
    commit = subprocess.run(["git", "rev-parse", "--short", rev], cwd=ROOT, check=True,
                            capture_output=True, text=True).stdout.strip()
    archive = subprocess.run(["git", "archive", commit, "durable", "projections"], cwd=ROOT,
                             check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", dest], input=archive, check=True)
    shutil.copytree(ROOT / "benchmarks", os.path.join(dest, "benchmarks"),
                    ignore=shutil.ignore_patterns("results", "__pycache__"))
    os.environ["DURABLE_BENCH_CODE"] = dest
    where = subprocess.run([sys.executable, "-c", "import durable; print(durable.__file__)"],
                           cwd=code_dir(), env={**os.environ, "PYTHONPATH": dest},
                           capture_output=True, text=True).stdout.strip()
    if not where.startswith(dest):
        raise RuntimeError(f"the workers would import durable from {where}, not {dest}")
    return {"durable_measured": commit, "durable_source": f"git archive {commit}"}


# -- main -----------------------------------------------------------------------------------
def _loadavg() -> list[float] | None:
    """The machine's load (other processes share its two cores), for the record."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks.compare", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeats", type=int, default=3, help="repeats per figure (median)")
    p.add_argument("--quick", action="store_true", help="small counts, for trying it out")
    p.add_argument("--big", action="store_true",
                   help="S3 also at 100,000 steps, durable only (several minutes more)")
    p.add_argument("--peer-normal", action="store_true",
                   help="also run LangGraph and DBOS at synchronous=NORMAL in S2, S3 and S5")
    p.add_argument("--dbos-poll", type=float, default=DBOS_POLL_S,
                   help="DBOS notification_listener_polling_interval_sec (DBOS default 1.0)")
    p.add_argument("--only", default="floor,s1,s2,s3,s4,s5,s6",
                   help="comma-separated subset of floor,s1,s2,s3,s4,s5,s6")
    p.add_argument("--code", default="HEAD",
                   help="the durable measured: a git revision, exported once so that commits "
                        "made during the run do not leak into it (default HEAD), or 'worktree'")
    p.add_argument("--no-write", action="store_true", help="leave compare.json and docs alone")
    p.add_argument("--markdown", action="store_true",
                   help="only re-render the docs section from benchmarks/results/compare.json")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse(argv)
    if args.markdown:
        write_markdown(json.loads(RESULTS.read_text()))
        print(f"wrote the compare section of {DOCS}")
        return 0
    try:
        import dbos  # noqa: F401
        import langgraph.checkpoint.sqlite.aio  # noqa: F401
    except ImportError as e:
        print(f"needs the bench extra: pip install -e '.[bench]' ({e})", file=sys.stderr)
        return 2
    only = {x.strip().lower() for x in args.only.split(",") if x.strip()}
    workdir = tempfile.mkdtemp(prefix="durable-compare-")
    runner = Runner(args, workdir)
    t0 = time.perf_counter()
    started = datetime.now(UTC).isoformat(timespec="seconds")
    print(f"compare in {workdir} ({args.repeats} repeats)", flush=True)
    load_before = _loadavg()
    try:
        machine = report.machine_info(workdir)
        if args.code == "worktree":
            machine.update(durable_measured=machine.get("durable_commit"),
                           durable_source="working tree"
                           + (" (with uncommitted changes in durable/)"
                              if machine.get("durable_tree_dirty") else ""))
        else:
            machine.update(snapshot_code(workdir, args.code))
        runner.run(only)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    res: dict[str, Any] = {
        "machine": {**machine, "date": started,
                    "loadavg_1_5_15_before": load_before, "loadavg_1_5_15_after": _loadavg()},
        "versions": versions(),
        "settings": {"repeats": args.repeats, "quick": args.quick, "big": args.big,
                     "peer_normal": args.peer_normal, "dbos_poll_s": args.dbos_poll,
                     "only": sorted(only), "argv": argv, "counts": runner.c},
        "variants": {k: asdict(v) for k, v in runner.v.items()},
        "reference": REFERENCE,
        "scenarios": runner.data,
        "notes": runner.notes,
    }
    if runner.loads:
        res["machine"]["loadavg_1min_during"] = {
            "min": min(runner.loads), "median": statistics.median(runner.loads),
            "max": max(runner.loads), "samples": len(runner.loads)}
    res["seconds"] = round(time.perf_counter() - t0, 1)
    res["summary"] = summarize(res)
    print(f"\ntotal {res['seconds']} s\n")
    print(markdown(res))
    if not args.no_write:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(res, indent=2) + "\n")
        write_markdown(res)
        print(f"wrote {RESULTS} and the compare section of {DOCS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

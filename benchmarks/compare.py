"""``python -m benchmarks.compare``: durable next to DBOS and LangGraph, same machine, same run.

Needs the ``bench`` extra (``pip install -e '.[bench]'``: dbos, langgraph,
langgraph-checkpoint-sqlite). Every measurement runs in its own subprocess
(``benchmarks/peers``); scenarios S1 .. S5 and the floor are described in
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
from benchmarks.peers import WorkerFailed, code_dir, kill_scenario, run_worker
from benchmarks.peers.floor import floor_us

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results" / "compare.json"
DOCS = ROOT / "docs" / "benchmarks.md"
START, END = "<!-- compare:start -->", "<!-- compare:end -->"
DBOS_POLL_S = 0.05

# Measured earlier by others on this kind of machine (medians, ±20-30 % noise).
REFERENCE: dict[str, dict[str, str]] = {
    "S1 µs per step": {"Mastra": "966", "LangGraph": "1,634", "DBOS": "3,152"},
    "S2 cold resume p50": {"Mastra": "1.7 ms", "LangGraph": "4.2 ms",
                           "DBOS": "57 ms (1 s with its default poller)"},
    "S3 resume after 10,000 steps": {"LangGraph": "14 ms", "DBOS": "8.6 s"},
    "S3 bytes per step": {"LangGraph": "1.3 kB"},
    "S5 recovery after kill -9": {"LangGraph": "20 ms", "DBOS": "1.1 s"},
}


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
    return {"s1": pick(s1), "s2": pick(core), "s3": pick(core), "s4": pick(s4),
            "s5": pick(core)}


def counts(quick: bool, big: bool) -> dict[str, Any]:
    c: dict[str, Any] = {
        "s1_runs": 300, "s1_batch": 50, "s1_dbos_default_runs": 100, "s2_runs": 200,
        "s3_steps": [1000, 10000], "s3_big_steps": [100000] if big else [],
        "s4_finished": 10000, "s4_suspended": 100, "floor": 2000, "s5_steps": 10,
        "s5_block_at": 5,
    }
    if quick:
        c.update(s1_runs=60, s1_dbos_default_runs=20, s2_runs=40, s3_steps=[1000],
                 s3_big_steps=[10000] if big else [], s4_finished=1000, floor=500)
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

    def run(self, only: set[str]) -> None:
        reps = self.args.repeats
        if "floor" in only or "s1" in only:
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


def _only(d: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {k: v for k, v in d.items() if k in keys}


def _fmt(v: Any, fmt: str) -> str:
    return "-" if v is None else fmt.format(v)


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
            if scenario == "s1":
                fl = sc.get("floor", {}).get(vs[key].floor_key, {}).get("repeats", [])
                ratios = [r["seq"]["us_per_step"] / f["us_per_commit"]
                          for r, f in zip(reps, fl, strict=False) if "error" not in r]
                if ratios:
                    m["step_over_floor"] = statistics.median(ratios)
            summ[key] = m
        return summ

    for name in ("s1", "s2", "s5"):
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


def settings_table(res: dict[str, Any]) -> list[dict[str, Any]]:
    """What each variant ran with, as its own connection reported it (first good S1 repeat)."""
    rows = []
    for key, v in res["variants"].items():
        seen = None
        for scenario in ("s1", "s2", "s5"):
            for r in res["scenarios"].get(scenario, {}).get(key, {}).get("repeats", []):
                if r.get("pragmas"):
                    seen = r["pragmas"]
                    break
            if seen:
                break
        rows.append({"variant": key, "label": v["label"], "reported": seen})
    return rows


# -- Markdown --------------------------------------------------------------------------------
def _x(m: dict[str, Any] | None) -> str:
    if not m or m.get("x_durable") is None:
        return "-"
    return f"{m['x_durable']:.2f}x"


def _v(m: dict[str, Any] | None, fmt: str) -> str:
    return "-" if not m else fmt.format(m["median"])


def _table(head: list[str], rows: list[list[str]], text: int = 1,
           text_last: bool = False) -> list[str]:
    """A Markdown table: the first ``text`` columns (and the last, if ``text_last``) are
    left-aligned text, the rest right-aligned numbers."""
    cols = ["---"] * text + ["---:"] * (len(head) - text)
    if text_last:
        cols[-1] = "---"
    rule = "|" + "|".join(cols) + "|"
    return ["| " + " | ".join(head) + " |", rule, *("| " + " | ".join(r) + " |" for r in rows)]


def _label(res: dict[str, Any], key: str) -> str:
    return str(res["variants"][key]["label"])


def markdown(res: dict[str, Any]) -> str:
    s, c, summ = res["settings"], res["settings"]["counts"], res["summary"]
    m, ver = res["machine"], res["versions"]
    L: list[str] = [
        START,
        "## durable next to DBOS and LangGraph",
        "",
        "The same scenarios written idiomatically for each engine, on the same machine in the "
        "same run, each on a SQLite file (generated by "
        f"`{' '.join(['python -m benchmarks.compare', *s['argv']])}`; "
        f"it took {res['seconds']:.0f} s{_big_seconds(res)}; every repeat is in "
        "`benchmarks/results/compare.json`). Each figure is the median of "
        f"{s['repeats']} repeats, every measurement in a fresh process. "
        "**x durable** is the side's figure divided by durable's at the same `synchronous` "
        "level in the same repeat (median over repeats), turned round for throughputs, so "
        "**above 1x durable is ahead, below 1x durable is behind**.",
        "",
        f"Versions: dbos {ver.get('dbos')}, langgraph {ver.get('langgraph')} "
        f"(langgraph-checkpoint {ver.get('langgraph-checkpoint')}, langgraph-checkpoint-sqlite "
        f"{ver.get('langgraph-checkpoint-sqlite')}, aiosqlite {ver.get('aiosqlite')}), "
        f"SQLAlchemy {ver.get('SQLAlchemy')}, SQLite {m['sqlite']}, Python {m['python']}; "
        f"durable at commit {m.get('durable_measured') or m['durable_commit']}"
        f"{_source(m)}; "
        f"{m['cpu_model']}, {m['cores']} cores (shared, noisy), temp files on "
        f"{m['temp_dir_fs'] or 'unknown fs'}; {m['date']}."
        + _load_md(m),
        "",
        "Reproduce: `pip install -e '.[bench]'` (dbos, langgraph, langgraph-checkpoint-sqlite; "
        "the engine never imports them), then `python -m benchmarks.compare` (about 10 "
        "minutes here; `--big` adds S3 at 100,000 steps, `--peer-normal` the peers at NORMAL "
        "in S2, S3 and S5, `--quick` small counts, `--only s1,s3`, `--repeats N`, "
        "`--dbos-poll S`, `--markdown` re-renders this section from the JSON, e.g. after "
        "`python -m benchmarks` rewrote the page).",
        "",
        "### Settings per side",
        "",
        "- **durable**: WAL; `Engine(url, synchronous=\"FULL\")` (the default) and "
        "`\"NORMAL\"`, read back from the engine's own connection.",
        "- **LangGraph**: `StateGraph` with one node per step, `AsyncSqliteSaver`; its "
        "`setup()` sets WAL and leaves `synchronous` alone, which is SQLite's default FULL "
        "(read back from the saver's connection). The NORMAL rows run `PRAGMA "
        "synchronous=NORMAL` on that connection (it is the application's). "
        "`durability=\"sync\"` everywhere (a node's checkpoint is written before the next node "
        "runs, the promise durable and DBOS make per step) except the out-of-the-box row "
        "(`\"async\"`, LangGraph's default: the write overlaps the next node). "
        "Suspend = `interrupt()`, resume = `Command(resume=...)`.",
        "- **DBOS**: async `@DBOS.workflow` / `@DBOS.step`, SQLite system database. DBOS "
        "sets neither `journal_mode` nor `synchronous`, so out of the box it runs in rollback-"
        "journal (DELETE) mode at FULL; the FULL / NORMAL rows give it our engine "
        "(`system_database_engine`, same connect hook as DBOS's own) adding WAL and the "
        "`synchronous` level, read back from DBOS's pool. Suspend = `DBOS.recv`, resume = "
        f"`DBOS.send`. On SQLite a waiting `recv` is woken by a poller: "
        f"`notification_listener_polling_interval_sec={s['dbos_poll_s']}` here (default 1 s); "
        "results of workflows this process did not start are polled every 5 ms "
        "(`get_result(polling_interval_sec=0.005)`, default 1 s).",
        "- Floors: a raw `sqlite3` loop, `BEGIN; INSERT` (150 bytes)`; COMMIT`, "
        f"{c['floor']} iterations, WAL at FULL and NORMAL, and DELETE at FULL.",
        "",
    ]
    rep_rows = []
    for row in settings_table(res):
        r = row["reported"] or {}
        extra = ", ".join(f"{k}={r[k]}" for k in ("durability", "poll_s") if k in r)
        rep_rows.append([row["label"], r.get("journal_mode", "-"), r.get("synchronous", "-"),
                         extra or "-"])
    L += ["As reported by each side's own connection:", ""]
    L += _table(["variant", "journal_mode", "synchronous", "other"], rep_rows, text=4)
    fl = summ.get("floor", {})
    L += ["", "Floors (µs per commit): " + ", ".join(
        f"{k} {v['median']:.0f}" for k, v in fl.items() if v) + ".", ""]

    # S1
    if "s1" in summ:
        L += ["### S1: a 10-step workflow (trivial steps)", "",
              f"{c['s1_runs']} runs one after the other (after 10 untimed ones; DBOS out of the "
              f"box: {c['s1_dbos_default_runs']} runs), then {c['s1_runs']} more as "
              f"`asyncio.gather` batches of {c['s1_batch']} (durable: `create_run` + `start`; "
              "LangGraph: `ainvoke`; DBOS: `start_workflow_async` + `get_result`). µs/step = "
              "sequential time / (runs x 10); *step / floor* divides it by the floor at the same "
              "journal and synchronous level.", ""]
        rows = []
        for key, mm in summ["s1"].items():
            rows.append([_label(res, key), _v(mm.get("us_per_step"), "{:,.0f}"),
                         _x(mm.get("us_per_step")),
                         _v(mm.get("workflows_per_s"), "{:.1f}"),
                         "-" if mm.get("step_over_floor") is None
                         else f"{mm['step_over_floor']:.1f}x",
                         _v(mm.get("conc_steps_per_s"), "{:,.0f}"),
                         _x(mm.get("conc_steps_per_s"))])
        L += _table(["variant", "µs/step", "x durable", "workflows/s", "step / floor",
                     f"steps/s, {c['s1_batch']} at a time", "x durable"], rows)
        L.append("")
    # S2
    if "s2" in summ:
        L += ["### S2: suspend, then resume", "",
              f"{c['s2_runs']} runs of `step → suspend → step → return` (5 untimed first); each "
              "resume is timed until the run completes. *Hot*: the engine / graph / DBOS "
              "process that suspended the runs resumes them. *Cold*: durable, a new `Engine` "
              "on the file; LangGraph, a new connection, checkpointer and compiled graph; DBOS, "
              "a new process: DBOS has no suspended state, a waiting workflow is PENDING and "
              "holds a coroutine, so a restart re-runs every pending workflow at launch up to "
              "its `recv` (the *recovery* column: launch → all waiting again), after which a "
              "resume costs what a hot one does.", ""]
        rows = []
        for key, mm in summ["s2"].items():
            rows.append([_label(res, key), _v(mm.get("hot_p50_ms"), "{:.2f}"),
                         _v(mm.get("hot_p99_ms"), "{:.2f}"), _x(mm.get("hot_p50_ms")),
                         _v(mm.get("cold_p50_ms"), "{:.2f}"), _v(mm.get("cold_p99_ms"), "{:.2f}"),
                         _x(mm.get("cold_p50_ms")),
                         _v(mm.get("cold_recovery_ms"), "{:,.0f}")])
        L += _table(["variant", "hot p50 ms", "hot p99 ms", "x durable", "cold p50 ms",
                     "cold p99 ms", "x durable", "recovery ms"], rows)
        L.append("")
    # S3
    if "s3" in summ:
        L += ["### S3: resume after a long run", "",
              "One run completes N trivial steps, then suspends; the resume is timed until the "
              "run completes. durable: *hot* in the engine that ran the steps, *cold* in a new "
              "`Engine` on a copy of the file (*cold + open* adds opening it). Peers: the long "
              "run is built once per N (at NORMAL; what is stored does not depend on it) and "
              "copied for every repeat; LangGraph resumes with a new checkpointer and graph; "
              "DBOS in a new process, where launch's recovery re-runs the workflow (each step "
              "answered from its recorded output) before the `recv` sees the message, so its "
              "*cold* runs from the end of launch and *cold + open* from `DBOS(...)`. Bytes per "
              "step: the file's growth over the N steps after `PRAGMA wal_checkpoint(TRUNCATE)`, "
              "divided by N.", ""]
        rows = []
        for n, block in sorted(summ["s3"].items(), key=lambda kv: int(kv[0])):
            for key, mm in block.items():
                rows.append([f"{int(n):,}", _label(res, key),
                             _v(mm.get("bytes_per_step"), "{:,.0f}"), _x(mm.get("bytes_per_step")),
                             _v(mm.get("hot_ms"), "{:,.1f}"), _v(mm.get("cold_ms"), "{:,.1f}"),
                             _v(mm.get("cold_with_open_ms"), "{:,.1f}"),
                             _x(mm.get("cold_with_open_ms"))])
        L += _table(["steps", "variant", "bytes/step", "x durable", "hot ms", "cold ms",
                     "cold + open ms", "x durable"], rows, text=2)
        L.append("")
    # S4
    if "s4" in summ:
        L += ["### S4: list the suspended runs", "",
              f"{c['s4_suspended']} suspended runs among {c['s4_finished']:,} finished one-step "
              "runs, built once (at NORMAL: listing only reads); the listing is timed "
              f"{s['repeats']} times after one untimed call (*first call*).", ""]
        rows = []
        for key, r in summ["s4"].items():
            if "error" in r:
                rows.append([_label(res, key), "failed", "-", "-", "-"])
                continue
            rows.append([_label(res, key), f"{r['list_ms']:,.2f}", f"{r['first_ms']:,.2f}",
                         "-" if r.get("x_durable") is None else f"{r['x_durable']:.1f}x",
                         str(r.get("how") or "")])
        L += _table(["variant", "list ms", "first call ms", "x durable", "how"], rows,
                    text_last=True)
        L.append("")
    # S5
    if "s5" in summ:
        L += ["### S5: kill -9 mid-run, then recovery", "",
              f"A child process runs a {c['s5_steps']}-step workflow whose step "
              f"{c['s5_block_at']} (0-based) blocks; the parent `kill -9`s it there and starts "
              "a new process, which recovers the run: durable, `Engine(...)` + `recover()` + "
              "`wait()`; DBOS, `DBOS(...)` + `launch()` (it recovers PENDING workflows itself, "
              "through its internal queue); LangGraph, which has no recovery of its own, a new "
              "checkpointer and graph, `aget_state(thread)` and `ainvoke(None, thread)` (the "
              "application must know the thread id). *Until complete*: from before the engine "
              "is constructed (imports done; durable loads its execution modules and structlog "
              "lazily, so one workflow on `memory://` runs first) to the run's completion; "
              "*process*: the parent's "
              "wall time for the whole new process, interpreter and imports included. Each "
              "step appends a line to a file: *re-run* = executions beyond the "
              f"{c['s5_steps']}.", ""]
        rows = []
        for key, mm in summ["s5"].items():
            rows.append([_label(res, key), _v(mm.get("until_complete_ms"), "{:,.1f}"),
                         _x(mm.get("until_complete_ms")),
                         _v(mm.get("process_wall_ms"), "{:,.0f}"),
                         _x(mm.get("process_wall_ms")), _v(mm.get("steps_rerun"), "{:.0f}")])
        L += _table(["variant", "until complete ms", "x durable", "process ms", "x durable",
                     "steps re-run"], rows)
        L.append("")
    L += short_md(res)
    L += reference_md(res)
    L += caveats_md(res)
    L += [END]
    return "\n".join(L) + "\n"


def _xr(summ: dict[str, Any], *path: str) -> float | None:
    d: Any = summ
    for part in path:
        if not isinstance(d, dict) or part not in d:
            return None
        d = d[part]
    return d.get("x_durable") if isinstance(d, dict) else None


def _med_of(summ: dict[str, Any], *path: str) -> float | None:
    d: Any = summ
    for part in path:
        if not isinstance(d, dict) or part not in d:
            return None
        d = d[part]
    return d.get("median") if isinstance(d, dict) else None


def short_md(res: dict[str, Any]) -> list[str]:
    """The ratios in sentences, and every figure where durable is behind, from the summary."""
    summ = res["summary"]
    lg, db = "langgraph-FULL", "dbos-FULL"

    def x(v: float | None) -> str:
        return "-" if v is None else f"{v:,.0f}x" if v >= 100 else f"{v:.1f}x"

    L = ["### In short", ""]
    if "s1" in summ:
        L.append(
            f"- **Per step (S1)**, at FULL LangGraph takes {x(_xr(summ, 's1', lg, 'us_per_step'))}"
            f" and DBOS {x(_xr(summ, 's1', db, 'us_per_step'))} durable's time; at NORMAL, "
            f"where fsync no longer hides the engines' own work, "
            f"{x(_xr(summ, 's1', 'langgraph-NORMAL', 'us_per_step'))} and "
            f"{x(_xr(summ, 's1', 'dbos-NORMAL', 'us_per_step'))}. With 50 runs at a time "
            f"(durable commits the appends of concurrent runs together) durable does "
            f"{x(_xr(summ, 's1', lg, 'conc_steps_per_s'))} LangGraph's steps/s and "
            f"{x(_xr(summ, 's1', db, 'conc_steps_per_s'))} DBOS's.")
    if "s2" in summ:
        L.append(
            f"- **Resume (S2)**: LangGraph's cold p50 is "
            f"{x(_xr(summ, 's2', lg, 'cold_p50_ms'))} durable's; DBOS's "
            f"{x(_xr(summ, 's2', db, 'cold_p50_ms'))}, set by its `recv` poller, and a DBOS "
            f"restart first re-runs every waiting workflow "
            f"({_fmt(_med_of(summ, 's2', db, 'cold_recovery_ms'), '{:,.0f}')} ms for "
            f"{res['settings']['counts']['s2_runs'] + 5}).")
    if "s3" in summ:
        d = [(_med_of(summ, "s3", n, "durable-FULL", "cold_ms"), n) for n in summ["s3"]]
        growth = ", ".join(f"{int(n):,} steps {_fmt(v, '{:,.0f}')} ms"
                           for v, n in sorted(d, key=lambda t: int(t[1])) if v is not None)
        L.append(
            f"- **Long runs (S3)**: durable's cold resume replays the whole log, so it grows "
            f"with the run ({growth}); LangGraph loads only the latest checkpoint and stays "
            f"flat ({x(_xr(summ, 's3', '10000', lg, 'cold_with_open_ms'))} durable's time at "
            f"10,000 steps) but stores {x(_xr(summ, 's3', '10000', lg, 'bytes_per_step'))} the "
            f"bytes per step; DBOS stores {x(_xr(summ, 's3', '10000', db, 'bytes_per_step'))} "
            f"and takes {x(_xr(summ, 's3', '10000', db, 'cold_with_open_ms'))} durable's time. "
            "A hot resume (the run parked in the engine) stays at a few ms at any length.")
    if "s4" in summ:
        s4 = summ["s4"]
        L.append(
            f"- **Listing (S4)**: LangGraph's scan takes "
            f"{x(s4.get('langgraph-NORMAL', {}).get('x_durable'))} and DBOS's PENDING query "
            f"{x(s4.get('dbos-NORMAL', {}).get('x_durable'))} durable's time.")
    if "s5" in summ:
        L.append(
            f"- **Crash recovery (S5)**: LangGraph (given the thread id) takes "
            f"{x(_xr(summ, 's5', lg, 'until_complete_ms'))} and DBOS "
            f"{x(_xr(summ, 's5', db, 'until_complete_ms'))} durable's time to finish the run; "
            "every side re-ran exactly the step that was cut off.")
    behind = []
    for scenario in ("s1", "s2", "s5"):
        for key, mm in summ.get(scenario, {}).items():
            for metric, m in mm.items():
                if isinstance(m, dict) and m.get("x_durable") is not None and m["x_durable"] < 1:
                    behind.append(f"{scenario.upper()} {metric} vs {_label(res, key)} "
                                  f"({m['x_durable']:.2f}x)")
    for n, block in summ.get("s3", {}).items():
        for key, mm in block.items():
            for metric, m in mm.items():
                if isinstance(m, dict) and m.get("x_durable") is not None and m["x_durable"] < 1:
                    behind.append(f"S3 {int(n):,} steps {metric} vs {_label(res, key)} "
                                  f"({m['x_durable']:.2f}x)")
    L.append("- **Where durable is behind** (x durable below 1): "
             + ("; ".join(behind) if behind else "nowhere in this run") + ".")
    L.append("")
    return L


def _source(m: dict[str, Any]) -> str:
    src = str(m.get("durable_source") or "")
    if "archive" in src:
        return " (exported once with `git archive`: commits made during the run stay out)"
    return f" ({src})" if src else ""


def _big_seconds(res: dict[str, Any]) -> str:
    big = res["settings"]["counts"].get("s3_big_steps") or []
    secs = sum(r.get("seconds", 0) for n in big
               for v in res["scenarios"].get("s3", {}).get(str(n), {}).values()
               for r in v["repeats"])
    return f", of which {secs:.0f} s for the `--big` rows" if secs else ""


def _load_md(m: dict[str, Any]) -> str:
    d = m.get("loadavg_1min_during")
    if not d:
        return ""
    return (f" Load average (1 min) sampled after each measurement: median {d['median']:.1f}, "
            f"{d['min']:.1f} .. {d['max']:.1f} (2 cores; other sessions' benchmarks and tests "
            "ran at times), so read differences within a factor of about 1.5 as noise; the "
            "ratios, taken within one repeat, are steadier.")


def _fresh(res: dict[str, Any], where: str, key: str) -> str:
    summ = res["summary"]
    try:
        if where == "s1":
            return f"{summ['s1'][key]['us_per_step']['median']:,.0f}"
        if where == "s2":
            return f"{summ['s2'][key]['cold_p50_ms']['median']:,.1f} ms"
        if where == "s3":
            ms = summ["s3"]["10000"][key]["cold_with_open_ms"]["median"]
            return f"{ms:,.0f} ms" if ms < 2000 else f"{ms / 1000:,.1f} s"
        if where == "s3b":
            return f"{summ['s3']['10000'][key]['bytes_per_step']['median']:,.0f} B"
        if where == "s5":
            ms = summ["s5"][key]["until_complete_ms"]["median"]
            return f"{ms:,.0f} ms" if ms < 2000 else f"{ms / 1000:,.1f} s"
    except (KeyError, TypeError):
        pass
    return "-"


def reference_md(res: dict[str, Any]) -> list[str]:
    L = ["### Next to the earlier reference figures", "",
         "Measured earlier by others on this kind of machine (medians, ±20-30 % noise; "
         "Mastra was not re-measured here), beside this run's figures at synchronous=FULL. "
         "Their settings are not recorded (durability mode, poller interval, journal mode), so "
         "read differences of less than about 2x as settings or noise.", ""]
    rows = []
    spec = [("S1 µs per step", "s1"), ("S2 cold resume p50", "s2"),
            ("S3 resume after 10,000 steps", "s3"), ("S3 bytes per step", "s3b"),
            ("S5 recovery after kill -9", "s5")]
    for label, where in spec:
        ref = REFERENCE[label]
        rows.append([label, ref.get("Mastra", "-"), ref.get("LangGraph", "-"),
                     ref.get("DBOS", "-"), _fresh(res, where, "durable-FULL"),
                     _fresh(res, where, "langgraph-FULL"), _fresh(res, where, "dbos-FULL")])
    L += _table(["figure", "Mastra (earlier)", "LangGraph (earlier)", "DBOS (earlier)",
                 "durable (now)", "LangGraph (now)", "DBOS (now)"], rows)
    L += ["", "Now: S3 is *cold + open*, S5 *until complete*. For S1 the out-of-the-box rows "
          "above are the closer match to a default setup: " + "; ".join(
              f"{_label(res, k)} {_fresh(res, 's1', k)} µs/step"
              for k in ("langgraph-default", "dbos-default")) + ".", ""]
    return L


def caveats_md(res: dict[str, Any]) -> list[str]:
    s = res["settings"]
    L = ["### Not measured, or not like for like", "",
         "- **LangGraph has no listing of interrupted threads** (the platform's "
         "`threads.search(status=\"interrupted\")` is not in the library). S4 times the closest "
         "thing the library offers: walking `checkpointer.alist(None)` over every checkpoint, "
         "keeping each thread's latest and checking it for an `__interrupt__` write; it grows "
         "with every checkpoint ever written, finished threads included.",
         "- **DBOS has no suspended status**: a workflow waiting in `recv` is PENDING, like a "
         "running one, so `list_workflows(status=\"PENDING\")` is the closest listing; it holds "
         "a coroutine (and a poller query every interval) per waiting workflow.",
         "- **DBOS cold resume** is not a resume from storage: DBOS re-executes every pending "
         "workflow at launch. S2's cold latency is measured after that recovery; the recovery "
         "itself is its own column.",
         "- **Hot S3 for the peers** is not measured: LangGraph keeps nothing in memory between "
         "invocations (a resume always loads the latest checkpoint), and a hot DBOS resume costs "
         "what S2's hot resume costs (no replay while the process lives).",
         "- **S3 at 100,000 steps** is durable only" + (
             " (run here with `--big`)." if s["counts"].get("s3_big_steps") else
             " and opt-in (`--big`); not in this run."),
         "- **LangGraph recovery** (S5) is the application's job: nothing in LangGraph finds "
         "the threads a dead process left unfinished; the scenario gives it the thread id.",
         "- **DBOS out of the box** (S1 only, fewer runs): its rollback journal syncs the "
         "journal and the database on every commit; it is the setting a DBOS user gets "
         "unless they pass an engine of their own.",
         ]
    if not s.get("peer_normal"):
        L.append("- **Peers at NORMAL** are measured in S1 (and S4, which only reads); S2, S3 "
                 "and S5 run the peers at FULL only, their default, to keep the run short "
                 "(`--peer-normal` adds them).")
    for note in res.get("notes", []):
        L.append(f"- Failed in this run: {note}")
    L.append("")
    return L


def write_markdown(res: dict[str, Any], path: Path = DOCS) -> None:
    """Replace this module's section (between the markers), or append it; leave the rest."""
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    section = markdown(res)
    if START in text and END in text:
        head, rest = text.split(START, 1)
        _, tail = rest.split(END, 1)
        text = head + section.rstrip("\n") + tail
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text)


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
    p.add_argument("--only", default="floor,s1,s2,s3,s4,s5",
                   help="comma-separated subset of floor,s1,s2,s3,s4,s5")
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

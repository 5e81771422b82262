"""Machine description, summaries, the printed table, the JSON file and docs/benchmarks.md."""

from __future__ import annotations

import json
import os
import platform
import sqlite3
import statistics
import subprocess
import sys
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results" / "latest.json"
DOCS = ROOT / "docs" / "benchmarks.md"

# (key in a repeat's flat record, column title, format)
COLUMNS = [
    ("floor_us", "floor µs/commit", "{:.0f}"),
    ("b1_us_per_step", "B1 µs/step", "{:.0f}"),
    ("b1_workflows_per_s", "B1 workflows/s", "{:.1f}"),
    ("ratio", "B1 step / floor", "{:.1f}x"),
    ("b2_hot_p50_ms", "B2 hot p50 ms", "{:.2f}"),
    ("b2_hot_p99_ms", "B2 hot p99 ms", "{:.2f}"),
    ("b2_cold_p50_ms", "B2 cold p50 ms", "{:.2f}"),
    ("b2_cold_p99_ms", "B2 cold p99 ms", "{:.2f}"),
]


# -- the machine -------------------------------------------------------------------
def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _fs_type(path: str) -> str:
    """The file system type of the mount holding ``path`` (Linux), else ''."""
    best, kind = "", ""
    try:
        with open("/proc/mounts") as f:
            for line in f:
                parts = line.split()
                mnt, fs = parts[1], parts[2]
                if path.startswith(mnt) and len(mnt) > len(best):
                    best, kind = mnt, fs
    except OSError:
        pass
    return kind


def _git(*args: str) -> str:
    try:
        out = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10)
        return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def machine_info(workdir: str) -> dict[str, Any]:
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpu_model": _cpu_model(),
        "cores": os.cpu_count(),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "sqlite": sqlite3.sqlite_version,
        "eventsourcing": _version("eventsourcing"),
        "psycopg": _version("psycopg"),
        "postgres": None,  # filled in when PostgreSQL is measured
        "temp_dir": workdir,
        "temp_dir_fs": _fs_type(workdir),
        "durable_commit": _git("rev-parse", "--short", "HEAD"),
        "durable_tree_dirty": bool(_git("status", "--porcelain", "--", "durable")),
    }


# -- summaries ----------------------------------------------------------------------
def flat(rep: dict[str, Any]) -> dict[str, float]:
    """One repeat of one target as the table's figures (missing ones left out)."""
    out: dict[str, float] = {}
    if rep.get("floor_us") is not None:
        out["floor_us"] = rep["floor_us"]
    b1 = rep.get("b1")
    if b1:
        out["b1_us_per_step"] = b1["us_per_step"]
        out["b1_workflows_per_s"] = b1["workflows_per_s"]
        if "floor_us" in out:
            out["ratio"] = b1["us_per_step"] / out["floor_us"]
    for kind in ("hot", "cold"):
        lat = (rep.get("b2") or {}).get(kind)
        if lat:
            out[f"b2_{kind}_p50_ms"] = lat["p50_ms"]
            out[f"b2_{kind}_p99_ms"] = lat["p99_ms"]
    return out


def summarize(repeats: list[dict[str, Any]]) -> dict[str, Any]:
    """Median of every figure over the repeats (ratios computed within each repeat)."""
    rows = [flat(r) for r in repeats]
    keys = [k for k, _, _ in COLUMNS if any(k in r for r in rows)]
    median, spread = {}, {}
    for k in keys:
        vals = [r[k] for r in rows if k in r]
        median[k] = statistics.median(vals)
        spread[k] = [min(vals), max(vals)]
    return {"median": median, "min_max": spread, "repeats": len(rows)}


def max_relative_spread(results: dict[str, Any], keys: tuple[str, ...]) -> tuple[float, str]:
    """The largest (max - min) / median among ``keys`` over all rows, and that row's label."""
    worst, where = 0.0, ""
    for t in results["targets"].values():
        s = t.get("summary") or {}
        for k in keys:
            if k in s.get("median", {}) and s["median"][k]:
                lo, hi = s["min_max"][k]
                if (hi - lo) / s["median"][k] > worst:
                    worst, where = (hi - lo) / s["median"][k], t["label"]
    return worst, where


# -- output -------------------------------------------------------------------------
def _fmt(fmt: str, v: float | None) -> str:
    return "-" if v is None else fmt.format(v)


def table_rows(results: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    head = ["backend", *[title for _, title, _ in COLUMNS]]
    rows = []
    for t in results["targets"].values():
        med = (t.get("summary") or {}).get("median", {})
        rows.append([t["label"], *[_fmt(f, med.get(k)) for k, _, f in COLUMNS]])
    return head, rows


def spread_rows(results: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    head = ["backend", *[title for _, title, _ in COLUMNS]]
    rows = []
    for t in results["targets"].values():
        mm = (t.get("summary") or {}).get("min_max", {})
        cells = []
        for k, _, f in COLUMNS:
            lo_hi = mm.get(k)
            cells.append("-" if lo_hi is None else f"{_fmt(f, lo_hi[0])} .. {_fmt(f, lo_hi[1])}")
        rows.append([t["label"], *cells])
    return head, rows


def text_table(head: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    line = lambda r: "  ".join(c.ljust(w) if i == 0 else c.rjust(w)  # noqa: E731
                                 for i, (c, w) in enumerate(zip(r, widths, strict=True)))
    return "\n".join([line(head), "  ".join("-" * w for w in widths), *map(line, rows)])


def md_table(head: list[str], rows: list[list[str]]) -> str:
    rule = "|" + "|".join(["---"] + ["---:"] * (len(head) - 1)) + "|"
    out = ["| " + " | ".join(head) + " |", rule]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(out)


def print_report(results: dict[str, Any]) -> None:
    print()
    print(text_table(*table_rows(results)))
    print(f"\nmedians of {results['settings']['repeats']} repeats; min .. max across repeats:")
    print(text_table(*spread_rows(results)))
    for note in results.get("notes", []):
        print("note:", note)


def write_json(results: dict[str, Any], path: Path = RESULTS) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2, sort_keys=False) + "\n")


def load_json(path: Path = RESULTS) -> dict[str, Any]:
    return json.loads(path.read_text())  # type: ignore[no-any-return]


def markdown(results: dict[str, Any]) -> str:
    m, s = results["machine"], results["settings"]
    pg = results.get("postgres_settings")
    tgt = results["targets"]
    noise, noise_at = max_relative_spread(results, ("floor_us", "b1_us_per_step", "ratio"))
    noise_lat, lat_at = max_relative_spread(results, ("b2_hot_p50_ms", "b2_cold_p50_ms"))
    lines = [
        "# Benchmarks",
        "",
        "What a durable step costs, measured against the cheapest durable write the same",
        "database can do. Every figure comes from `python -m benchmarks` on the machine below",
        "(written to `benchmarks/results/latest.json`, which holds every repeat).",
        "",
        "## What is measured",
        "",
        f"- **B1, per-step overhead.** A workflow of 10 trivial steps (`await ctx.step(f\"s{{i}}\","
        f" fn, i)`, `fn` a sync function returning `i`) run N times one after the other "
        f"(N = {s['b1_runs_sqlite']} on SQLite, {s['b1_runs_postgres']} on PostgreSQL, after "
        "10 untimed runs). µs/step = total time / (N x 10). Each step is one committed append "
        "(one transaction); each run adds a `started` and a `succeeded` append, so a run is "
        "12 commits.",
        f"- **B2, suspend → resume latency.** {s['b2_runs']} runs of `step → suspend → step → "
        "return` are started; then each `resume()` is timed until it returns with the run "
        "succeeded (3 commits: `resumed`, the step, `succeeded`). *Hot*: the same engine, the "
        "run parked in memory. *Cold*: the engine closed, a new `Engine` opened on the same "
        "database with the workflow registered again, so each resume first replays the run "
        "from its log. 5 untimed resumes come first in each case.",
        f"- **Floor.** A raw loop, no engine: SQLite via `sqlite3` (same file system, WAL, same "
        f"`synchronous`), `BEGIN; INSERT` of a 150-byte blob`; COMMIT`, {s['floor_iterations']}"
        " iterations; PostgreSQL via `psycopg` in autocommit, one `INSERT` per iteration. "
        "*B1 step / floor* divides B1's µs/step by the floor's µs/commit measured in the same "
        "repeat, then takes the median over repeats.",
        f"- Each measurement is repeated {s['repeats']} times (fresh SQLite files each time); "
        "the tables give the median, then the min .. max across repeats.",
        "- `memory://` is a reference row: the engine with no database at all, so what is left "
        "is the engine's own Python and thread hand-offs.",
        "",
        f"Reproduce: `python -m benchmarks` (this run took {results.get('seconds', 0):.0f} s"
        f"{' with --profile' if results.get('breakdown') else ''}; `--quick` halves the counts, "
        "`--repeats N`, `--profile` adds the breakdown below, `--no-postgres`). PostgreSQL is "
        "measured in a temporary database `durable_bench_<random>` on "
        "`postgresql://postgres@127.0.0.1:5432`, dropped at the end; it is skipped with a note "
        "when the server is unreachable.",
        "",
        "## Machine",
        "",
        f"- CPU: {m['cpu_model']}, {m['cores']} cores (shared virtual machine: noisy)",
        f"- {m['platform']}; temp files on {m['temp_dir_fs'] or 'unknown fs'}",
        f"- Python {m['python']}, SQLite {m['sqlite']}, eventsourcing {m['eventsourcing']}, "
        f"psycopg {m['psycopg']}",
        f"- PostgreSQL: {m['postgres'] or 'not measured'}",
        f"- Date: {m['date']}; durable at commit {m['durable_commit']}"
        + (" (with uncommitted changes in `durable/`)" if m.get("durable_tree_dirty") else ""),
    ]
    if pg:
        lines.append(
            f"- PostgreSQL settings: synchronous_commit={pg['synchronous_commit']}, "
            f"fsync={pg['fsync']}, wal_sync_method={pg['wal_sync_method']}, "
            f"shared_buffers={pg['shared_buffers']}"
        )
    lines += [
        "",
        "## Results (medians)",
        "",
        md_table(*table_rows(results)),
        "",
        "### Spread across repeats (min .. max)",
        "",
        md_table(*spread_rows(results)),
        "",
        "## Noise",
        "",
        f"The machine has {m['cores']} shared cores and a virtual disk; fsync latency in "
        "particular wanders. Across repeats the floor, B1 and the ratio varied by up to "
        f"{noise:.0%} of their median (max - min over median; {noise_at}), the B2 p50s by up "
        f"to {noise_lat:.0%} ({lat_at}). Read differences smaller than that as noise; the "
        "ratios, taken within one repeat, are steadier than the absolute figures.",
    ]
    reading = reading_lines(results)
    if reading:
        lines += ["", "## Reading the numbers", "", *reading]
    checks = []
    for t in tgt.values():
        reps = [r for r in t.get("repeats", []) if r.get("b1")]
        if reps:
            c = reps[0]["b1"].get("commits_per_workflow")
            if c:
                checks.append(f"{t['label']}: {c:.0f}")
    if checks:
        lines += ["", "Commits per B1 workflow as the store counted them (expected 12): "
                  + "; ".join(checks) + "."]
    bd = results.get("breakdown")
    if bd:
        lines += ["", "## Where the time goes (one append)", "", bd_intro(bd), "",
                  md_table(*breakdown_rows(bd))]
        for key, prof in bd.get("profiles", {}).items():
            label = results["targets"][key]["label"]
            lines += ["", f"cProfile of B1 on {label}, main thread (the event loop), top by own "
                      "time per step:", "", "```", prof["main"].rstrip(), "```", "",
                      "and the writer thread (the store's transactions):", "", "```",
                      prof["writer"].rstrip(), "```"]
    for note in results.get("notes", []):
        lines += ["", f"Note: {note}"]
    return "\n".join(lines) + "\n"


def reading_lines(results: dict[str, Any]) -> list[str]:
    """Sentences computed from the medians: how much of a step the database floor explains."""
    tgt = results["targets"]
    med = {k: (t.get("summary") or {}).get("median", {}) for k, t in tgt.items()}
    out = []
    for key, t in tgt.items():
        m = med[key]
        if "floor_us" in m and "b1_us_per_step" in m:
            share = min(1.2 * m["floor_us"] / m["b1_us_per_step"], 1.0)  # 12 commits / 10 steps
            out.append(
                f"- {t['label']}: a step costs {m['b1_us_per_step']:.0f} µs, "
                f"{m['ratio']:.1f}x the floor; twelve bare commits per ten steps "
                f"({1.2 * m['floor_us']:.0f} µs/step) explain {share:.0%} of it."
            )
    if out:
        out.append(
            "- The rest is the engine (events, hashes, the head row, the step's task), the "
            "store's layers (the `eventsourcing` recorder, the hand-off to the writer thread "
            "and back) and the extra rows and indexes each append writes: see the ladder below."
        )
    mem = med.get("memory", {})
    if "b1_us_per_step" in mem:
        out.append(
            f"- With no database at all (`memory://`) a step still costs "
            f"{mem['b1_us_per_step']:.0f} µs."
        )
    gaps = [
        f"{t['label']} {med[k]['b2_cold_p50_ms'] - med[k]['b2_hot_p50_ms']:+.2f} ms"
        for k, t in tgt.items()
        if "b2_cold_p50_ms" in med[k] and "b2_hot_p50_ms" in med[k]
    ]
    if gaps:
        out.append(
            "- A resume is three commits (`resumed`, the step, `succeeded`). A cold resume "
            "first re-reads the log and replays the workflow; the cold p50 minus the hot p50 "
            "is that replay (and colder caches): " + "; ".join(gaps) + "."
        )
    tails = [t["label"] for k, t in tgt.items() if t.get("kind") == "sqlite"
             and med[k].get("b2_hot_p99_ms", 0) > 4 * med[k].get("b2_hot_p50_ms", 1e9)]
    ck = results.get("breakdown", {}).get("checkpoint_tail")
    if tails and ck:
        on, off = ck["wal_autocheckpoint=1000"], ck["wal_autocheckpoint=0"]
        out.append(
            f"- The p99 of {', '.join(tails)} is several times its p50. SQLite's WAL "
            "auto-checkpoint runs inside whichever commit crosses 1000 WAL pages, and each "
            "append dirties several pages (event row and key, head row and its index). A raw "
            f"`sqlite3` loop of such commits (NORMAL, {on['commits']} commits) had "
            f"{on['over_1ms']} over 1 ms (max {on['max_us'] / 1000:.1f} ms) with the default "
            f"checkpoint and {off['over_1ms']} (max {off['max_us'] / 1000:.1f} ms) with "
            "`PRAGMA wal_autocheckpoint=0`."
        )
    elif tails:
        out.append(f"- The p99 of {', '.join(tails)} is several times its p50.")
    if results.get("breakdown", {}).get("profiles"):
        out.append(
            "- In the main-thread profiles below, `select.epoll.poll` is the event loop waiting "
            "for the writer thread (the transaction and its commit); cProfile's own overhead "
            "inflates every Python function listed, so read them for proportions."
        )
    return out


def bd_intro(bd: dict[str, Any]) -> str:
    return " ".join([
        "A ladder from the floor to a full engine step, each rung adding one layer, in µs per",
        f"append (median of {bd['repeats']} repeats of {bd['iterations']} appends; a B1 step is",
        "one append, a B1 run 12; each delta is against the rung above it).",
        "*event row only*: the engine's event INSERT in a raw `sqlite3` loop;",
        "*engine SQL*: the engine's statements (event insert + head upsert) in that loop;",
        "*recorder*: the same through the `eventsourcing` recorder and its connection pool,",
        "on the calling thread; *writer thread*: through `store.append` from asyncio (a queue",
        "to the store's writer thread and back); *engine*: a full B1 step (per append, so",
        "B1 µs/step / 1.2). The raw-SQL rungs are SQLite only. Each rung is its own loop, so",
        "fsync noise can put a rung below the one above it, and the thread hand-off in",
        "particular varies from run to run with where the OS places the two threads.",
    ])


def breakdown_rows(bd: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """One row per rung: µs per append for each target, then what the rung added."""
    keys = list(bd["by_setting"])
    head = ["rung", *[f"{k} µs" for k in keys], *[f"{k} +µs" for k in keys]]
    last: dict[str, float | None] = dict.fromkeys(keys)
    rows = []
    for r in bd["rungs"]:
        vals = [bd["by_setting"][k].get(r) for k in keys]
        deltas = []
        for k, v in zip(keys, vals, strict=True):
            p = last[k]
            deltas.append("-" if v is None or p is None else f"{v - p:+.0f}")
            if v is not None:
                last[k] = v
        rows.append([r, *[_fmt("{:.0f}", v) for v in vals], *deltas])
    return head, rows


def write_markdown(results: dict[str, Any], path: Path = DOCS) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(markdown(results))

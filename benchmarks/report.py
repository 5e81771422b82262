"""Machine description, summaries, the printed table, the JSON file and docs/benchmarks.md."""

from __future__ import annotations

import json
import os
import platform
import re
import sqlite3
import statistics
import subprocess
import sys
from datetime import UTC, datetime
from importlib import metadata
from itertools import pairwise
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results" / "latest.json"
LISTING = Path(__file__).resolve().parent / "results" / "listing.json"
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


SECTION = re.compile(r"<!-- (\w+):start -->.*?<!-- \1:end -->\n?", re.S)


def replace_section(text: str, name: str, body: str) -> str:
    """Put ``body`` between ``<!-- name:start -->`` and ``<!-- name:end -->``, where those
    markers are, else at the end; the rest of ``text`` is left as it is."""
    block = f"<!-- {name}:start -->\n{body.rstrip()}\n<!-- {name}:end -->\n"
    found = [m for m in SECTION.finditer(text) if m.group(1) == name]
    if found:
        return text[: found[0].start()] + block + text[found[0].end():]
    return text.rstrip("\n") + "\n\n" + block


def write_markdown(results: dict[str, Any] | None, path: Path = DOCS,
                   listing: dict[str, Any] | None = None) -> None:
    """docs/benchmarks.md: the page from ``results`` (latest.json), or the page as it is when
    None; sections other modules write between ``<!-- name:start/end -->`` markers are kept;
    the listing's section is rendered again from ``listing`` (or listing.json)."""
    old = path.read_text() if path.exists() else ""
    if results is not None:
        text = markdown(results)
        for m in SECTION.finditer(old):
            text = replace_section(text, m.group(1), m.group(0).split("\n", 1)[1]
                                   .rsplit(f"<!-- {m.group(1)}:end -->", 1)[0])
    else:
        text = old or "# Benchmarks\n"
    if listing is None and LISTING.exists():
        listing = load_json(LISTING)
    if listing:
        text = replace_section(text, "listing", listing_markdown(listing))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


# -- listing waiting runs at scale (benchmarks/listing.py) ----------------------------------
SHORT = {"sqlite": "SQLite", "postgres": "PostgreSQL"}
TARGET_P99_MS = 5.0
TARGET_RATIO = 2.0


def _scales(lres: dict[str, Any]) -> list[int]:
    return sorted(int(n) for n in lres["settings"]["scales"])


def _summary(lres: dict[str, Any], backend: str, n: int) -> dict[str, Any]:
    rec = lres["backends"][backend]["scales"].get(str(n)) or {}
    return rec.get("summary") or {}  # type: ignore[no-any-return]


def _ratio(big: float | None, small: float | None) -> float | None:
    return big / small if big is not None and small else None


def listing_rows(lres: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """One row per backend and query: p50 and p99 at each scale, then large / small."""
    scales = _scales(lres)
    head = ["backend", "query"]
    for n in scales:
        head += [f"{n:,} runs p50 ms", f"{n:,} p99 ms"]
    two = len(scales) > 1
    if two:
        head += [f"p50 {_k(scales[-1])}/{_k(scales[0])}", f"p99 {_k(scales[-1])}/{_k(scales[0])}"]
    rows = []
    for b in lres["backends"]:
        for key, q in lres["queries"].items():
            cells = [SHORT.get(b, b), f"`{q['label']}`"]
            figs = [_summary(lres, b, n).get(key, {}) for n in scales]
            for f in figs:
                cells += [_fmt("{:.2f}", f.get("p50_ms")), _fmt("{:.2f}", f.get("p99_ms"))]
            if two:
                for fig in ("p50_ms", "p99_ms"):
                    cells.append(_fmt("{:.2f}x", _ratio(figs[-1].get(fig), figs[0].get(fig))))
            rows.append(cells)
    return head, rows


def _k(n: int) -> str:
    return f"{n // 1_000_000}M" if n % 1_000_000 == 0 else f"{n // 1000}k"


def listing_prepare_rows(lres: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    head = ["backend", "runs", "waiting", "events", "fill s", "events/s", "index catch-up s",
            "catch-up events/s", "VACUUM ANALYZE s", "database MB"]
    rows = []
    for b, bres in lres["backends"].items():
        for n in _scales(lres):
            rec = bres["scales"].get(str(n))
            if not rec:
                continue
            p = rec.get("prepare", {})
            pop, cu = p.get("population", {}), p.get("catch_up", {})
            rows.append([
                SHORT.get(b, b), f"{n:,}", f"{rec['suspended']:,}",
                f"{pop['events']:,}" if pop else "-",
                _fmt("{:.1f}", pop.get("seconds")), _fmt("{:,.0f}", pop.get("events_per_s")),
                _fmt("{:.1f}", cu.get("seconds")), _fmt("{:,.0f}", cu.get("events_per_s")),
                _fmt("{:.1f}", p.get("vacuum_analyze_s")),
                _fmt("{:,.0f}", p["db_bytes"] / 2**20 if "db_bytes" in p else None),
            ])
    return head, rows


def _listing_keys(lres: dict[str, Any]) -> list[str]:
    return [k for k, q in lres["queries"].items() if q["api"] == "suspended"]


def listing_verdict(lres: dict[str, Any]) -> list[str]:
    """The targets, checked: p99 under 5 ms at the large scale, within 2x of the small one."""
    scales = _scales(lres)
    big, small = scales[-1], scales[0]
    keys = _listing_keys(lres)
    out = []
    for b in lres["backends"]:
        sb, ss = _summary(lres, b, big), _summary(lres, b, small)
        if not sb:
            continue
        worst = max(keys, key=lambda k: sb[k]["p99_ms"])
        p99 = sb[worst]["p99_ms"]
        lo, hi = sb[worst]["p99_min_max"]
        line = (f"- {SHORT.get(b, b)}: the slowest `list_suspended_runs` p99 at {big:,} runs is "
                f"{p99:.2f} ms (`{lres['queries'][worst]['label']}`; {lo:.2f} .. {hi:.2f} ms "
                "across repeats): "
                f"{'met' if p99 < TARGET_P99_MS else 'MISSED'} (target < {TARGET_P99_MS:.0f} ms)")
        if big != small and ss:
            ratios = {k: _ratio(sb[k]["p99_ms"], ss[k]["p99_ms"]) or 0.0 for k in keys}
            r50 = {k: _ratio(sb[k]["p50_ms"], ss[k]["p50_ms"]) or 0.0 for k in keys}
            wr = max(ratios, key=lambda k: ratios[k])
            w50 = max(r50, key=lambda k: r50[k])
            line += (f"; {big:,} vs {small:,} runs: p99 up to {ratios[wr]:.2f}x "
                     f"(`{lres['queries'][wr]['label']}`), p50 up to {r50[w50]:.2f}x "
                     f"(`{lres['queries'][w50]['label']}`): "
                     f"{'met' if max(ratios[wr], r50[w50]) <= TARGET_RATIO else 'MISSED'} "
                     f"(target within {TARGET_RATIO:.0f}x)")
        out.append(line + ".")
    return out


_PG_NOISE = re.compile(r"\s*\(cost=[^)]*\)|\s*loops=1|\s*\(never executed\)")
_IDS = re.compile(r"'\{[^}]*\}'")
_MARKS = re.compile(r"(\?|%s)(, (\?|%s))+")
_KIND = {"count": "count", "page": "page", "open suspensions of the page": "suspensions",
         "heads of the page": "heads"}


def short_sql(sql: str) -> str:
    return _MARKS.sub(lambda m: f"{m.group(1)} x{m.group(0).count(',') + 1}", sql)


def plan_lines(backend: str, plan: list[str]) -> list[str]:
    """A plan, condensed: SQLite's as is; PostgreSQL's nodes and conditions with their
    actual rows and times, without estimates, buffer counts and id lists."""
    if backend == "sqlite":
        return plan
    out = []
    for line in plan:
        if line.strip().startswith(("Buffers:", "Planning", "Sort Method", "Heap Blocks",
                                    "Recheck Cond")):
            continue
        out.append(_IDS.sub("'{...}'", _PG_NOISE.sub("", line)).rstrip())
    return out


def listing_plans_md(lres: dict[str, Any], backend: str, n: int) -> list[str]:
    """One block per backend: each query's count and page plans, then the page's lookups
    (the same for every query) once."""
    rec = lres["backends"][backend]["scales"].get(str(n)) or {}
    out = ["```"]
    lookups: dict[str, dict[str, Any]] = {}
    for key, stmts in (rec.get("plans") or {}).items():
        out.append(f"{lres['queries'][key]['label']}")
        for st in stmts:
            if st["kind"] in ("count", "page"):
                lines = plan_lines(backend, st["plan"])
                out.append(f"  {st['kind']:<5}  {lines[0].strip() if lines else ''}")
                out += ["         " + ln for ln in lines[1:]]
            else:
                lookups.setdefault(st["kind"], st)
    if lookups:
        out.append("then, for the page's 50 runs (every query)")
        for kind, st in lookups.items():
            lines = plan_lines(backend, st["plan"])
            out.append(f"  {_KIND.get(kind, kind)}: {short_sql(st['sql'])}")
            out += ["         " + ln for ln in lines]
    out.append("```")
    return out


def listing_breakdown_rows(lres: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Per store and query: each statement alone (median µs), their sum, and the call's p50."""
    head = ["backend", "runs", "query", "count µs", "page µs", "suspensions µs", "heads µs",
            "statements µs", "call p50 µs", "rest µs"]
    rows = []
    for b, bres in lres["backends"].items():
        for n in _scales(lres):
            rec = bres["scales"].get(str(n)) or {}
            summ = rec.get("summary") or {}
            for key, stmts in (rec.get("plans") or {}).items():
                by = {st["kind"]: st.get("median_us") for st in stmts}
                total = sum(v for v in by.values() if v is not None)
                p50 = summ.get(key, {}).get("p50_ms")
                call = p50 * 1000 if p50 is not None else None
                rows.append([
                    SHORT.get(b, b), _k(n), f"`{lres['queries'][key]['label']}`",
                    *[_fmt("{:.0f}", by.get(k)) for k in _KIND],
                    f"{total:.0f}", _fmt("{:.0f}", call),
                    "-" if call is None else "~0" if call < total else f"{call - total:.0f}",
                ])
    return head, rows


def listing_ladder_rows(lres: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """The unfiltered listing, layer by layer (p50 µs; in brackets what the layer added)."""
    rungs = ["statements alone", "store, calling thread", "store, reader thread", "engine"]
    head = ["backend", "runs", *[f"{r} µs" for r in rungs]]
    rows = []
    for b, bres in lres["backends"].items():
        for n in _scales(lres):
            rec = bres["scales"].get(str(n)) or {}
            lad = (rec.get("summary") or {}).get("ladder")
            stmts = (rec.get("plans") or {}).get("all")
            if not lad or not stmts:
                continue
            vals = [sum(st["median_us"] for st in stmts), *[lad[r] for r in rungs[1:]]]
            cells = [f"{vals[0]:.0f}"]
            cells += [f"{v:.0f} ({v - p:+.0f})" for p, v in pairwise(vals)]
            rows.append([SHORT.get(b, b), _k(n), *cells])
    return head, rows


def listing_noise(lres: dict[str, Any]) -> list[str]:
    loads = [r[k] for b in lres["backends"].values() for rec in b["scales"].values()
             for r in rec.get("repeats", []) for k in ("load_before", "load_after") if k in r]
    if not loads:
        return []
    return [
        f"The 1-minute load average around the repeats ranged from {min(loads):.1f} to "
        f"{max(loads):.1f} on {lres['machine']['cores']} cores: the p99s, a few calls out of "
        "hundreds, catch every pause of a shared virtual machine (and of the Python garbage "
        "collector); the p50s are the steadier figures.",
        "",
    ]


def listing_reading(lres: dict[str, Any]) -> list[str]:
    """Sentences computed from the figures: what a listing call is made of at the large
    scale, and what ``list_runs`` pays for its total."""
    big = _scales(lres)[-1]
    out = []
    for b, bres in lres["backends"].items():
        rec = bres["scales"].get(str(big)) or {}
        summ, pl = rec.get("summary") or {}, rec.get("plans") or {}
        lad = summ.get("ladder")
        if lad and pl.get("all"):
            st = sum(x["median_us"] for x in pl["all"])
            eng = lad["engine"]
            out.append(
                f"- {SHORT.get(b, b)}, {big:,} runs, unfiltered listing: its four statements "
                f"take {st:.0f} µs of the call's {eng:.0f} µs ({st / eng:.0%}); the store's "
                "read around them (pool, transaction, decoding the rows) adds "
                f"{lad['store, calling thread'] - st:.0f} µs, the reader thread "
                f"{lad['store, reader thread'] - lad['store, calling thread']:.0f} µs, building "
                f"the RunInfos {eng - lad['store, reader thread']:.0f} µs."
            )
        runs_all = pl.get("runs_all")
        p50 = summ.get("runs_all", {}).get("p50_ms")
        if runs_all and p50:
            count = next((x["median_us"] for x in runs_all if x["kind"] == "count"), None)
            if count is not None:
                out.append(
                    f"- {SHORT.get(b, b)}, {big:,} runs: `list_runs()` takes {p50:.1f} ms; "
                    f"the COUNT(*) for its total alone takes {count / 1000:.1f} ms: the runs "
                    "index holds every run, so an unfiltered total costs O(runs); its page "
                    "alone is "
                    f"{next(x['median_us'] for x in runs_all if x['kind'] == 'page'):.0f} µs."
                )
    return out


def listing_markdown(lres: dict[str, Any]) -> str:
    m, s = lres["machine"], lres["settings"]
    scales = _scales(lres)
    big = scales[-1]
    pg = lres.get("postgres_settings")
    lines = [
        "## Listing waiting runs at scale",
        "",
        "How long `engine.list_suspended_runs()` takes when the store holds many runs, most",
        "of them long finished. From `python -m benchmarks.listing` (written to",
        "`benchmarks/results/listing.json`, with every repeat and the query plans).",
        "",
        "### What is measured",
        "",
        f"- **Stores.** {', '.join(f'{n:,}' for n in scales)} runs; {s['suspended']:,} of them "
        "wait on a suspension (in the small store, all of them), the rest succeeded. Each run "
        "is what a real run of `step -> suspend` (or `step -> return`) writes: `started`, "
        "`step_completed`, then `suspended` with a payload `{\"price\": n}` (or `succeeded`), "
        "each event its own append with the head row and listing rows the engine computes "
        "(`head_row`, `open_rows`), written through the store's own `_insert_sync`, "
        f"{s['appends_per_transaction']:,} appends per transaction (SQLite at "
        "`synchronous=OFF` while filling only). Runs are created evenly over "
        f"{s['span_days']} days; workflow, resource_id and thread_id are drawn from "
        f"{s['workflows']}, {s['resource_ids']} and {s['thread_ids']} values, so one value "
        f"selects {100 / s['workflows']:.0f}%, {100 / s['resource_ids']:.0f}% and "
        f"{100 / s['thread_ids']:.1f}% of the runs. Then the runs index catches up "
        "(`store.catch_up()`); on PostgreSQL a `VACUUM (ANALYZE)` follows, standing in for "
        "autovacuum (and keeping it from starting mid-measurement).",
        f"- **Queries.** Each query is called {s['calls']} times (`list_runs`: "
        f"{s['runs_calls']}) after {s['warmup']} untimed calls, one after the other, through "
        "a fresh `durable.Engine(url)` per repeat (SQLite at its default "
        "`synchronous=FULL`); the filter value changes from call to call (another workflow, "
        f"resource, thread, or another of {s['date_windows']} date windows of "
        f"{s['span_days'] / s['date_windows']:.1f} days). Pages hold {s['per_page']} runs; "
        "`page=10` skips 500. `list_runs` is there for information: it reads the runs index "
        "(every run), not the listing.",
        f"- Each store is filled once per invocation and measured {s['repeats']} times; the "
        "table gives the median of the repeats' p50 and p99 (nearest rank), and the ratio of "
        "the large store's figure to the small one's.",
        f"- Targets: p99 under {TARGET_P99_MS:.0f} ms at {big:,} runs, and the {big:,}-run "
        f"figure within {TARGET_RATIO:.0f}x of the {scales[0]:,}-run one. For reference, the "
        "issue quotes Mastra at 3.7 ms p50 for 2,100 runs, because it scans every run.",
        "",
        f"Reproduce: `python -m benchmarks.listing` (this run took {lres.get('seconds', 0):.0f}"
        " s; `--scale N` for the large store, `--repeats N`, `--calls N`, `--no-postgres`), or "
        "`python -m benchmarks --listing` (10,000 runs only; `--listing-scale N` adds a store "
        "of N runs). PostgreSQL uses temporary databases `durable_bench_<random>`, dropped "
        "at the end.",
        "",
        f"Machine: as above ({m['cpu_model']}, {m['cores']} cores; Python {m['python']}, "
        f"SQLite {m['sqlite']}, {(m.get('postgres') or 'PostgreSQL not measured').split(' on ')[0]}"
        f"{', shared_buffers=' + pg['shared_buffers'] if pg else ''}); {m['date']}, durable at "
        f"commit {m['durable_commit']}"
        + (" (with uncommitted changes in `durable/`)" if m.get("durable_tree_dirty") else "")
        + ".",
        "",
        "### Results (medians of the repeats)",
        "",
        md_table(*listing_rows(lres)),
        "",
        *listing_verdict(lres),
        "",
        *listing_noise(lres),
        "### Filling the stores",
        "",
        md_table(*listing_prepare_rows(lres)),
        "",
        "*fill s*: generating the appends (events, hashes, heads, listing rows) and writing "
        "them, one batch after the other; *index catch-up*: the runs index, a tracking "
        "projection, reading the whole log (one transaction per 1,000 events).",
    ]
    busy = []
    for b, bres in lres["backends"].items():
        rec = bres["scales"].get(str(big)) or {}
        pop = (rec.get("prepare") or {}).get("population")
        if pop:
            busy.append(f"{SHORT.get(b, b)} {pop['generate_s']:.0f} s generating, "
                        f"{pop['insert_s']:.0f} s in `_insert_sync`")
    if busy:
        lines += ["", f"Filling {big:,} runs: " + "; ".join(busy) + "."]
    lines += [
        "",
        "### Why it is flat",
        "",
        "The listing tables (`durable_suspended_runs`, one row per waiting run, and "
        "`durable_suspensions`, one per open suspension) hold only runs that wait: a run's "
        "rows are written in the same transaction as its `suspended` event and deleted with "
        "the event that closes its last suspension. A million finished runs leave them as "
        "small as ten thousand do. `durable_suspended_runs` is indexed by "
        "`(suspended_at DESC, run_id)`, `(workflow, suspended_at DESC, run_id)`, "
        "`(resource_id, ...)` and `(thread_id, ...)`, so each filter walks its own index in "
        "the page's order. What grows with the store is the page's head-row lookup "
        "(`durable_runs` by primary key, 50 probes into a table of every run) and the cache "
        "footprint of the whole database.",
        "",
        "### Where a call's time goes",
        "",
        "Every call runs, in one read transaction: a COUNT for the total, the page, then the "
        "page's open suspensions and (`list_suspended_runs`) the page's head rows; "
        "`list_runs` first asks the runs index to catch up (nothing to do here). The "
        "statements below were captured from the store's own read path during 20 calls, "
        f"then each was run alone {s['statement_runs']} times on one connection, with the "
        "parameters of those calls in turn (median). "
        "On PostgreSQL each includes its network round trip. *rest* is the call's p50 minus "
        "their sum: the engine and store Python, the hop to a reader thread and back, the "
        "connection pool and the transaction (on PostgreSQL two more round trips, BEGIN and "
        "ROLLBACK).",
        "",
        md_table(*listing_breakdown_rows(lres)),
        "",
        "The unfiltered listing layer by layer (p50 µs over "
        f"{max(s['calls'] // 2, 1)} calls per repeat, median of the repeats; in brackets, "
        "what each layer adds): the statements alone as above; the store's read on the "
        "calling thread (`_list_suspended_sync`: the transaction, the statements, the rows "
        "decoded); the same through the reader thread pool (`store.list_suspended`); the "
        "engine's call, which builds a `RunInfo` per run.",
        "",
        md_table(*listing_ladder_rows(lres)),
        "",
        *listing_reading(lres),
        "",
        f"### Query plans ({big:,} runs)",
        "",
        "The same captured statements through `EXPLAIN QUERY PLAN` (SQLite) and "
        "`EXPLAIN (ANALYZE, BUFFERS)` (PostgreSQL, shown without estimates, buffer counts "
        "and the 50 ids; its timings include EXPLAIN's own instrumentation). The full SQL, "
        "parameters and plans are in the JSON.",
        "",
    ]
    for b in lres["backends"]:
        lines += [f"#### {SHORT.get(b, b)}", "", *listing_plans_md(lres, b, big), ""]
    for note in lres.get("notes", []):
        lines += [f"Note: {note}", ""]
    return "\n".join(lines).rstrip() + "\n"

"""``python -m benchmarks``: run every scenario, write the results and docs/benchmarks.md."""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import time
from typing import Any

from benchmarks import core, listing, report


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    p.add_argument("--repeats", type=int, default=3, help="repeats per measurement (median)")
    p.add_argument("--quick", action="store_true", help="halve every count")
    p.add_argument("--no-postgres", action="store_true", help="SQLite (and memory://) only")
    p.add_argument("--profile", action="store_true",
                   help="also break one SQLite append down layer by layer, and cProfile B1")
    p.add_argument("--markdown", action="store_true",
                   help="only re-render docs/benchmarks.md from benchmarks/results/latest.json")
    p.add_argument("--no-write", action="store_true",
                   help="print the table; leave latest.json and docs/benchmarks.md alone")
    p.add_argument("--listing", action="store_true",
                   help="also list waiting runs among 10,000 runs (benchmarks/listing.py; "
                        "about a minute; writes results/listing.json)")
    p.add_argument("--listing-scale", type=int, default=None, metavar="N",
                   help="with --listing, also a store of N runs (e.g. 1000000: many minutes)")
    listing.add_arguments(p, prefix="listing-")
    args = p.parse_args(argv)
    args.listing = args.listing or args.listing_scale is not None
    return args


def listing_args(args: argparse.Namespace) -> argparse.Namespace:
    """The listing scenario's own options, from the ``--listing-*`` ones."""
    div = 2 if args.quick else 1
    return argparse.Namespace(
        repeats=args.repeats, no_postgres=args.no_postgres, calls=args.listing_calls // div,
        runs_calls=args.listing_runs_calls // div, warmup=args.listing_warmup,
        statement_runs=args.listing_statement_runs // div,
        sqlite_cache=args.listing_sqlite_cache,
    )


async def measure(targets: list[core.Target], args: argparse.Namespace,
                  counts: dict[str, int]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {
        t.key: {"label": t.label, "kind": t.kind, "skipped": t.skip, "repeats": []}
        for t in targets
    }
    for rep in range(args.repeats):
        for t in targets:
            tag = f"{rep}"
            started = time.perf_counter()
            r: dict[str, Any] = {"floor_us": core.floor(t, tag, counts["floor"])}
            if t.skip is None:
                n = counts["b1_pg"] if t.kind == "postgres" else counts["b1"]
                r["b1"] = await core.b1(t, tag, n)
                r["b2"] = await core.b2(t, tag, counts["b2"])
            out[t.key]["repeats"].append(r)
            print(f"  repeat {rep + 1}/{args.repeats} {t.key:<14} "
                  f"{time.perf_counter() - started:5.1f}s  {_brief(r)}", flush=True)
    return out


def _brief(r: dict[str, Any]) -> str:
    f = report.flat(r)
    parts = []
    if "floor_us" in f:
        parts.append(f"floor {f['floor_us']:.0f}µs")
    if "b1_us_per_step" in f:
        parts.append(f"B1 {f['b1_us_per_step']:.0f}µs/step")
    if "b2_hot_p50_ms" in f:
        parts.append(f"hot p50 {f['b2_hot_p50_ms']:.2f}ms")
    if "b2_cold_p50_ms" in f:
        parts.append(f"cold p50 {f['b2_cold_p50_ms']:.2f}ms")
    return ", ".join(parts)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if args.markdown:
        report.write_markdown(report.load_json())
        print(f"wrote {report.DOCS}")
        return 0
    div = 2 if args.quick else 1
    counts = {"b1": 200 // div, "b1_pg": 100 // div, "b2": 200 // div, "floor": 2000 // div}
    workdir = core.new_workdir()
    notes: list[str] = []
    targets = core.sqlite_targets(workdir)
    pg = None
    if not args.no_postgres:
        pg, why = core.postgres_target()
        if pg is None:
            print(why, file=sys.stderr)
            notes.append(str(why))
        else:
            targets.append(pg)
            if pg.skip:
                print(f"PostgreSQL: engine scenarios skipped: {pg.skip}", file=sys.stderr)
                notes.append(f"PostgreSQL engine scenarios skipped ({pg.skip}); floor only.")
    targets.append(core.memory_target())
    results: dict[str, Any] = {
        "machine": report.machine_info(workdir),
        "settings": {
            "repeats": args.repeats, "quick": args.quick, "b1_runs_sqlite": counts["b1"],
            "b1_runs_postgres": counts["b1_pg"], "b2_runs": counts["b2"],
            "floor_iterations": counts["floor"], "steps_per_workflow": 10,
        },
        "notes": notes,
    }
    t0 = time.perf_counter()
    try:
        if pg is not None:
            info = core.postgres_info(pg)
            results["machine"]["postgres"] = info.pop("version")
            results["postgres_settings"] = info
        print(f"benchmarks in {workdir} ({args.repeats} repeats)", flush=True)
        results["targets"] = asyncio.run(measure(targets, args, counts))
        if args.profile:
            from benchmarks.breakdown import run_breakdown

            results["breakdown"] = run_breakdown(targets, counts["floor"], args.repeats)
    finally:
        if pg is not None:
            core.drop_postgres(pg)
        shutil.rmtree(workdir, ignore_errors=True)
    for t in results["targets"].values():
        t["summary"] = report.summarize(t["repeats"])
    results["seconds"] = round(time.perf_counter() - t0, 1)
    report.print_report(results)
    bd = results.get("breakdown")
    if bd:
        print("\n" + report.bd_intro(bd))
        print(report.text_table(*report.breakdown_rows(bd)))
        for key, prof in bd.get("profiles", {}).items():
            print(f"\n{key} main thread:\n{prof['main']}\n{key} writer thread:\n{prof['writer']}")
    print(f"\ntotal {results['seconds']}s")
    if not args.no_write:
        report.write_json(results)
        report.write_markdown(results)
        print(f"wrote {report.RESULTS} and {report.DOCS}")
    if args.listing:
        scales = listing.scales_for(args.listing_scale or listing.SMALL)
        lres = listing.run(scales, listing_args(args))
        listing.finish(lres, write=not args.no_write)
    return 0


if __name__ == "__main__":
    sys.exit(main())

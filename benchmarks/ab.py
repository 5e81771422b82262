"""``python -m benchmarks.ab BASE [HEAD]``: ``python -m benchmarks`` for two commits, side by side.

Each commit is checked out into its own temporary git worktree and measured
there, the two alternating round by round (``--rounds``, one repeat each), so
both see the same machine at the same hours: on 2 shared cores, figures taken
on different days are not comparable, ratios taken in one run are. Prints the
median of each figure for both commits, and writes them as JSON (``--out``).

Both commits must have ``python -m benchmarks``; the interpreter running this
(with the project's dependencies) runs both.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
FIGURES = ("ratio", "b1_us_per_step", "floor_us", "b2_hot_p50_ms", "b2_cold_p50_ms")


def worktree(commit: str, where: Path) -> Path:
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(where), commit],
                   check=True, capture_output=True)
    return where


def one_round(tree: Path, extra: list[str]) -> dict[str, Any]:
    subprocess.run([sys.executable, "-m", "benchmarks", "--repeats", "1", *extra], cwd=tree,
                   check=True, capture_output=True)
    results = json.loads((tree / "benchmarks" / "results" / "latest.json").read_text())
    return {k: t["summary"]["median"] for k, t in results["targets"].items()
            if not t.get("skipped")}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m benchmarks.ab", description=__doc__)
    p.add_argument("base", help="the commit before (e.g. main~5)")
    p.add_argument("head", nargs="?", default="HEAD", help="the commit after (default HEAD)")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--no-postgres", action="store_true")
    p.add_argument("--out", type=Path, default=None, help="write the medians here as JSON")
    args = p.parse_args(argv)
    extra = ["--no-postgres"] if args.no_postgres else []
    runs: dict[str, list[dict[str, Any]]] = {"base": [], "head": []}
    with tempfile.TemporaryDirectory() as tmp:
        trees = {"base": worktree(args.base, Path(tmp) / "base"),
                 "head": worktree(args.head, Path(tmp) / "head")}
        try:
            for r in range(args.rounds):
                for side, tree in trees.items():
                    print(f"round {r + 1}/{args.rounds}: {side}", flush=True)
                    runs[side].append(one_round(tree, extra))
        finally:
            for tree in trees.values():
                subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force",
                                str(tree)], capture_output=True)
    medians = {
        side: {target: {f: statistics.median(r[target][f] for r in rounds if f in r[target])
                        for f in FIGURES if any(f in r[target] for r in rounds)}
               for target in rounds[0]}
        for side, rounds in runs.items()
    }
    print(f"\nmedians of {args.rounds} interleaved rounds: {args.base} -> {args.head}")
    print(f"{'target':<15}" + "".join(f"{f:>26}" for f in FIGURES))
    for target in medians["head"]:
        cells = []
        for f in FIGURES:
            before, after = medians["base"].get(target, {}).get(f), medians["head"][target].get(f)
            cells.append("-" if before is None or after is None else f"{before:.2f} -> {after:.2f}")
        print(f"{target:<15}" + "".join(f"{c:>26}" for c in cells))
    if args.out:
        args.out.write_text(json.dumps({"base": args.base, "head": args.head,
                                        "rounds": args.rounds, "medians": medians}, indent=2))


if __name__ == "__main__":
    main()

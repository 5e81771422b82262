"""``python -m benchmarks.wal_cycle``: what SQLite's log-wrapping threshold costs a commit.

In WAL mode a commit appends frames to the log and, at ``synchronous=FULL``,
syncs it. Once a checkpoint has copied the whole log into the database, the next
commit starts the log over and overwrites it; until then every commit extends
the file, and syncing a file whose size changed writes its metadata too. A
checkpoint that runs beside a steady stream of commits (durable's background
thread, PASSIVE) never finds the log fully copied, so only a commit's own
automatic checkpoint, at ``wal_autocheckpoint`` pages, lets the log wrap.

Each configuration commits ``--commits`` one-row inserts (150 bytes) on a fresh
file at FULL and reports the mean, p99 and max commit and the log's size at the
end: SQLite's default (automatic checkpoint at 1,000 pages, no thread), and
durable's background thread with the automatic checkpoint at 500 to 20,000
pages (durable today: 1,000 at FULL; 20,000 before issue 8). Repeats alternate;
medians are printed.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import tempfile
import threading
import time
from typing import Any

BLOB = b"x" * 150
CONFIGS = [("SQLite default (autocheckpoint 1000, no thread)", 1000, False),
           ("thread + autocheckpoint 500", 500, True),
           ("thread + autocheckpoint 1000 (durable at FULL)", 1000, True),
           ("thread + autocheckpoint 2000", 2000, True),
           ("thread + autocheckpoint 20000 (durable before issue 8)", 20000, True)]


def one(workdir: str, autocheckpoint: int, thread: bool, commits: int,
        every: float = 0.25) -> dict[str, float]:
    path = os.path.join(workdir, f"wal-{autocheckpoint}-{thread}-{time.monotonic_ns()}.db")
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute(f"PRAGMA wal_autocheckpoint={autocheckpoint}")
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, data BLOB)")
    stop = threading.Event()

    def checkpoint() -> None:  # as durable.store.sqlite._Checkpointer does
        c = sqlite3.connect(path, isolation_level=None, timeout=30)
        while not stop.wait(every):
            try:
                c.execute("PRAGMA wal_checkpoint(PASSIVE)")
            except sqlite3.Error:
                continue
        c.close()

    t = threading.Thread(target=checkpoint, daemon=True) if thread else None
    if t is not None:
        t.start()
    lat = []
    try:
        for i in range(commits + 100):
            t0 = time.perf_counter()
            conn.execute("BEGIN")
            conn.execute("INSERT INTO t (data) VALUES (?)", (BLOB,))
            conn.execute("COMMIT")
            if i >= 100:
                lat.append((time.perf_counter() - t0) * 1e6)
        wal = os.path.getsize(path + "-wal")
    finally:
        stop.set()
        if t is not None:
            t.join()
        conn.close()
    lat.sort()
    return {"mean_us": statistics.fmean(lat), "p99_us": lat[int(len(lat) * 0.99)],
            "max_us": lat[-1], "wal_mb": wal / 2**20}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--commits", type=int, default=8000)
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
    results: dict[str, list[dict[str, float]]] = {name: [] for name, _, _ in CONFIGS}
    with tempfile.TemporaryDirectory(prefix="durable-wal-") as workdir:
        for r in range(args.repeats):
            for name, auto, thread in CONFIGS:
                results[name].append(one(workdir, auto, thread, args.commits))
                print(f"  repeat {r + 1}/{args.repeats} {name}: "
                      f"{results[name][-1]['mean_us']:.0f} µs", flush=True)
    print(f"\nSQLite WAL, synchronous=FULL, {args.commits} commits on a fresh file; "
          f"medians of {args.repeats}")
    print(f"{'configuration':50} {'mean µs':>8} {'p99 µs':>8} {'max µs':>8} {'log MB':>7}")
    for name, runs in results.items():
        med: dict[str, Any] = {k: statistics.median(x[k] for x in runs) for k in runs[0]}
        print(f"{name:50} {med['mean_us']:8.0f} {med['p99_us']:8.0f} {med['max_us']:8.0f} "
              f"{med['wal_mb']:7.1f}")


if __name__ == "__main__":
    main()

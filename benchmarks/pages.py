"""``python -m benchmarks.pages``: pages written per append (SQLite WAL frames).

Every page a commit changes is written to the write-ahead log as one frame
(the page plus a 24-byte header). This counts them: a fresh SQLite file, the
log never checkpointed or wrapped while the runs execute (the background
checkpoint thread and the automatic checkpoint are switched off, and the runs
index is not caught up in the background), ``--runs`` runs of the ten-step
workflow of ``python -m benchmarks`` one after another; the log's size says how
many frames it holds.
Frames divided by appends is the figure; the raw floor (one 150-byte row
inserted and committed) is counted the same way beside it.

Runs against whichever ``durable`` is importable, so the same file measures an
older commit from its worktree: ``PYTHONPATH=<worktree> python benchmarks/pages.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sqlite3
import sys
import tempfile
from typing import Any

import durable
from durable.store import sqlite as sqlite_store


def _no_checkpoints() -> None:
    """The log keeps every frame: no checkpoint thread, no automatic checkpoint."""
    sqlite_store._Checkpointer.run = lambda self: None  # type: ignore[method-assign]
    configure = sqlite_store._Pool.configure

    def configure_without(conn: sqlite3.Connection, synchronous: str) -> None:
        configure(conn, synchronous)
        conn.execute("PRAGMA wal_autocheckpoint=0")

    sqlite_store._Pool.configure = staticmethod(configure_without)  # type: ignore[method-assign]


def frames_in_log(path: str) -> int:
    """Frames in the log, from its size (a 32-byte header, then frames of a 24-byte header
    and a page each). Read without a checkpoint: one would let the next commit start the
    log over, and the count with it."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        page = int(conn.execute("PRAGMA page_size").fetchone()[0])
    finally:
        conn.close()
    size = os.path.getsize(path + "-wal")
    return (size - 32) // (24 + page) if size else 0


async def engine_frames(path: str, runs: int) -> dict[str, Any]:
    engine = durable.Engine(f"sqlite:///{path}", project_every=3600.0)

    @engine.workflow("ten-steps")
    async def ten(ctx: durable.Context, n: int) -> int:
        total = 0
        for i in range(10):
            total += await ctx.step(f"s{i}", lambda i=i: i * n)
        return total

    async with engine:
        await (await engine.create_run("ten-steps")).start(0)  # tables made, caches warm
        before = frames_in_log(path)
        appends0 = getattr(engine.store, "appends", 0)
        for k in range(runs):
            res = await (await engine.create_run("ten-steps")).start(k)
            assert res.status == "succeeded", res
        frames = frames_in_log(path) - before
        appends = getattr(engine.store, "appends", 0) - appends0
    return {"frames": frames, "appends": appends, "frames_per_append": frames / appends}


def floor_frames(path: str, commits: int) -> dict[str, Any]:
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA wal_autocheckpoint=0")
        conn.execute("CREATE TABLE floor (id INTEGER PRIMARY KEY, data BLOB)")
        before = frames_in_log(path)
        for _ in range(commits):
            conn.execute("INSERT INTO floor (data) VALUES (?)", (b"x" * 150,))
        frames = frames_in_log(path) - before
    finally:
        conn.close()
    return {"frames": frames, "appends": commits, "frames_per_append": frames / commits}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--runs", type=int, default=200)
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = p.parse_args()
    _no_checkpoints()
    with tempfile.TemporaryDirectory(prefix="durable-pages-") as workdir:
        eng = asyncio.run(engine_frames(os.path.join(workdir, "engine.db"), args.runs))
        flo = floor_frames(os.path.join(workdir, "floor.db"), args.runs * 12)
    if args.json:
        json.dump({"engine": eng, "floor": flo}, sys.stdout)
        return
    print(f"{args.runs} ten-step runs ({eng['appends']} appends): "
          f"{eng['frames_per_append']:.2f} pages per append "
          f"(floor: {flo['frames_per_append']:.2f})")


if __name__ == "__main__":
    main()

"""The floor next to the peers: a raw ``sqlite3`` loop of ``BEGIN; INSERT; COMMIT``.

The same loop as ``python -m benchmarks`` (``benchmarks.core.sqlite_floor``: WAL,
one ~150-byte row per transaction), at each synchronous level, plus the
rollback-journal (DELETE) mode DBOS uses out of the box.
"""

from __future__ import annotations

import os

from benchmarks.core import sqlite_floor

__all__ = ["floor_us"]


def floor_us(workdir: str, tag: str, synchronous: str, iterations: int,
             journal: str = "WAL") -> float:
    """µs per committed one-row transaction in a fresh file under ``workdir``."""
    path = os.path.join(workdir, f"floor-{journal}-{synchronous}-{tag}.db")
    try:
        if journal == "WAL":
            return sqlite_floor(path, synchronous, iterations)
        return sqlite_floor(path, synchronous, iterations, warmup=50, journal="DELETE")
    finally:
        for suffix in ("", "-wal", "-shm", "-journal"):
            if os.path.exists(path + suffix):
                os.remove(path + suffix)

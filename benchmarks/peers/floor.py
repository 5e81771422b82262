"""The floor next to the peers: a raw ``sqlite3`` loop of ``BEGIN; INSERT; COMMIT``.

The same loop as ``python -m benchmarks`` (``benchmarks.core.sqlite_floor``: WAL,
one ~150-byte row per transaction), at each synchronous level, plus the
rollback-journal (DELETE) mode DBOS uses out of the box.
"""

from __future__ import annotations

import os
import sqlite3
import time

from benchmarks.core import BLOB, sqlite_floor

__all__ = ["floor_us"]


def _delete_journal_floor(path: str, synchronous: str, iterations: int, warmup: int = 50) -> float:
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=DELETE")
        conn.execute(f"PRAGMA synchronous={synchronous}")
        conn.execute("CREATE TABLE IF NOT EXISTS floor (id INTEGER PRIMARY KEY, data BLOB)")
        for i in range(warmup + iterations):
            if i == warmup:
                t0 = time.perf_counter()
            conn.execute("BEGIN")
            conn.execute("INSERT INTO floor (data) VALUES (?)", (BLOB,))
            conn.execute("COMMIT")
        return (time.perf_counter() - t0) / iterations * 1e6
    finally:
        conn.close()


def floor_us(workdir: str, tag: str, synchronous: str, iterations: int,
             journal: str = "WAL") -> float:
    """µs per committed one-row transaction in a fresh file under ``workdir``."""
    path = os.path.join(workdir, f"floor-{journal}-{synchronous}-{tag}.db")
    try:
        if journal == "WAL":
            return sqlite_floor(path, synchronous, iterations)
        return _delete_journal_floor(path, synchronous, iterations)
    finally:
        for suffix in ("", "-wal", "-shm", "-journal"):
            if os.path.exists(path + suffix):
                os.remove(path + suffix)

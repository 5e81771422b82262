"""The floor next to the peers: a raw loop of ``BEGIN; INSERT; COMMIT``.

The same loops as ``python -m benchmarks`` (``benchmarks.core``: one ~150-byte row
per transaction): SQLite in WAL at each synchronous level, plus the rollback-journal
(DELETE) mode DBOS uses out of the box; PostgreSQL in autocommit, in a database of
its own, dropped after.
"""

from __future__ import annotations

import os

from benchmarks.core import drop_postgres, postgres_floor, postgres_target, sqlite_floor

__all__ = ["floor_us", "pg_floor_us"]


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


def pg_floor_us(iterations: int) -> tuple[float | None, str | None]:
    """µs per committed one-row INSERT on the local PostgreSQL; (None, why) without one."""
    t, why = postgres_target()
    if t is None:
        return None, why
    try:
        return postgres_floor(t, iterations), None
    finally:
        drop_postgres(t)

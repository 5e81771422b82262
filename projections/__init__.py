"""Read models built from the run logs. They answer every list call; no list
call reads a run's log.

- :mod:`projections.suspended`: the suspended-runs listing, written in the same
  transaction as the events that change it (a lost race rolls it back).
- :mod:`projections.runs_index`: the runs index, a tracking projection: it
  records how far it has read the notification log in its own tracking row,
  in the same transaction as its rows (exactly once; caught up after a
  restart; rebuildable from zero to an identical result).

Both are plain SQL over a :class:`projections.dialect.Dialect` (SQLite or
PostgreSQL); :mod:`projections.memory` holds the same views for ``memory://``.
"""

from projections.dialect import POSTGRES, SQLITE, Dialect

__all__ = ["POSTGRES", "SQLITE", "Dialect"]

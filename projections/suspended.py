"""The suspended-runs listing: one row per open suspension, plus one per waiting run.

Written inline: the store calls :meth:`SuspendedListing.write` inside the
transaction that appends the events, so a caller reads its own writes and a
lost race or a crash can never leave the listing disagreeing with the logs.

The listing holds only runs that wait, so a query costs the same among ten
thousand runs as among a million: it never touches the other runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from durable.codec import decode, encode
from durable.store.types import DueTimer, ListingFilter, OpenSuspension, WaitingRun
from projections.dialect import Dialect

RUNS = "durable_suspended_runs"
ROWS = "durable_suspensions"
TIMERS = "durable_timers"


class SuspendedListing:
    name = "suspended_runs"

    def __init__(self, dialect: Dialect) -> None:
        self.d = dialect
        t = dialect.t
        self.runs, self.rows, self.timers = t(RUNS), t(ROWS), t(TIMERS)
        self._upsert = dialect.sql(
            f"INSERT INTO {self.runs} (run_id, workflow, resource_id, thread_id, suspended_at) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (run_id) DO UPDATE SET "
            "workflow = excluded.workflow, resource_id = excluded.resource_id, "
            "thread_id = excluded.thread_id, suspended_at = excluded.suspended_at"
        )
        self._delete_run = dialect.sql(f"DELETE FROM {self.runs} WHERE run_id = ?")
        self._delete_rows = dialect.sql(f"DELETE FROM {self.rows} WHERE run_id = ?")
        self._delete_timers = dialect.sql(f"DELETE FROM {self.timers} WHERE run_id = ?")
        self._insert_timer = dialect.sql(
            f"INSERT INTO {self.timers} (run_id, path_key, workflow, due_at) VALUES (?, ?, ?, ?)")
        self._insert_row = dialect.sql(
            f"INSERT INTO {self.rows} (run_id, path_key, path, kind, payload, requires_approval, "
            "suspended_at) VALUES (?, ?, ?, ?, ?, ?, ?)"
        )

    def ddl(self) -> list[str]:
        d = self.d
        prefix = d.schema.replace('"', "").replace(".", "_")
        return [
            f"""CREATE TABLE IF NOT EXISTS {self.runs} (
                run_id TEXT PRIMARY KEY,
                workflow TEXT NOT NULL,
                resource_id TEXT,
                thread_id TEXT,
                suspended_at {d.real} NOT NULL
            )""",
            f"""CREATE TABLE IF NOT EXISTS {self.rows} (
                run_id TEXT NOT NULL,
                path_key TEXT NOT NULL,
                path {d.blob} NOT NULL,
                kind TEXT NOT NULL,
                payload {d.blob},
                requires_approval INTEGER NOT NULL,
                suspended_at {d.real} NOT NULL,
                PRIMARY KEY (run_id, path_key)
            )""",
            # The timers of waiting runs, by due time: what an engine fires.
            f"""CREATE TABLE IF NOT EXISTS {self.timers} (
                run_id TEXT NOT NULL,
                path_key TEXT NOT NULL,
                workflow TEXT NOT NULL,
                due_at {d.real} NOT NULL,
                PRIMARY KEY (run_id, path_key)
            )""",
            f"CREATE INDEX IF NOT EXISTS {prefix}durable_timers_by_due ON {self.timers} (due_at)",
            *(
                f"CREATE INDEX IF NOT EXISTS {prefix}durable_suspended_by_{name} "
                f"ON {self.runs} ({cols})"
                for name, cols in (
                    ("time", "suspended_at DESC, run_id"),
                    ("workflow", "workflow, suspended_at DESC, run_id"),
                    ("resource", "resource_id, suspended_at DESC, run_id"),
                    ("thread", "thread_id, suspended_at DESC, run_id"),
                )
            ),
        ]

    # -- writing (inside the events' transaction) ----------------------------------
    def write(self, cur: Any, changes: Sequence[tuple[Any, list[OpenSuspension]]]) -> None:
        """``changes``: (head, the run's open suspensions after the append), latest last."""
        latest: dict[str, tuple[Any, list[OpenSuspension]]] = {}
        for head, rows in changes:
            latest[head.run_id] = (head, rows)
        for run_id, (head, rows) in latest.items():
            cur.execute(self._delete_rows, (run_id,))
            cur.execute(self._delete_timers, (run_id,))
            if not rows:
                cur.execute(self._delete_run, (run_id,))
                continue
            cur.executemany(self._insert_row, [self._params(r) for r in rows])
            timers = [(run_id, r.path_key, head.workflow, r.due_at) for r in rows
                      if r.due_at is not None]
            if timers:
                cur.executemany(self._insert_timer, timers)
            cur.execute(self._upsert, (run_id, head.workflow, head.resource_id, head.thread_id,
                                       max(r.suspended_at for r in rows)))

    @staticmethod
    def _params(r: OpenSuspension) -> tuple[Any, ...]:
        return (r.run_id, r.path_key, encode(r.path), r.kind, encode(r.payload),
                int(r.requires_approval), r.suspended_at)

    # -- reading ----------------------------------------------------------------
    def query(
        self, cur: Any, f: ListingFilter, *, heads: str, head_columns: Sequence[str] = ()
    ) -> tuple[list[tuple[WaitingRun, list[OpenSuspension]]], int, dict[str, list[Any]]]:
        """A page of waiting runs, their total, and the page's ``head_columns`` of table
        ``heads`` (joined in the page's statement: one primary-key probe a run)."""
        where, params = f.where(date_column="l.suspended_at", ph=self.d.ph, status=False,
                                prefix="l.")
        cur.execute(f"SELECT COUNT(*) AS n FROM {self.runs} l{where}", params)
        total = _first(cur.fetchall())
        extra = "".join(f", h.{c} AS h_{c}" for c in head_columns)
        # The page first, then the join: skipped rows (OFFSET) cost no head probes.
        cur.execute(
            f"SELECT l.run_id, l.workflow, l.resource_id, l.thread_id, l.suspended_at{extra} "
            f"FROM (SELECT run_id, workflow, resource_id, thread_id, suspended_at "
            f"FROM {self.runs} l{where} ORDER BY suspended_at DESC, run_id "
            f"LIMIT {self.d.ph} OFFSET {self.d.ph}) l "
            f"LEFT JOIN {heads} h ON h.run_id = l.run_id ORDER BY l.suspended_at DESC, l.run_id",
            [*params, f.per_page, f.page * f.per_page],
        )
        runs, shown = [], {}
        for r in cur.fetchall():
            runs.append(WaitingRun(run_id=r["run_id"], workflow=r["workflow"],
                                   resource_id=r["resource_id"], thread_id=r["thread_id"],
                                   suspended_at=r["suspended_at"]))
            if head_columns and r[f"h_{head_columns[0]}"] is not None:
                shown[r["run_id"]] = [r[f"h_{c}"] for c in head_columns]
        by_run = self.open_suspensions(cur, [r.run_id for r in runs])
        return [(r, by_run.get(r.run_id, [])) for r in runs], total, shown

    def open_suspensions(self, cur: Any, run_ids: list[str]) -> dict[str, list[OpenSuspension]]:
        if not run_ids:
            return {}
        marks = ", ".join(self.d.ph for _ in run_ids)
        cur.execute(
            f"SELECT * FROM {self.rows} WHERE run_id IN ({marks}) "
            "ORDER BY run_id, suspended_at, path_key",
            run_ids,
        )
        out: dict[str, list[OpenSuspension]] = {}
        for r in cur.fetchall():
            out.setdefault(r["run_id"], []).append(OpenSuspension(
                run_id=r["run_id"], path_key=r["path_key"], path=decode(r["path"]),
                kind=r["kind"], payload=decode(r["payload"]) if r["payload"] else None,
                requires_approval=bool(r["requires_approval"]), suspended_at=r["suspended_at"],
            ))
        return out

    def due(self, cur: Any, until: float, workflows: Sequence[str], limit: int
            ) -> list[DueTimer]:
        """Timers of ``workflows`` due at or before ``until``, soonest first."""
        if not workflows:
            return []
        marks = ", ".join(self.d.ph for _ in workflows)
        cur.execute(
            f"SELECT run_id, path_key, due_at FROM {self.timers} WHERE due_at <= {self.d.ph} "
            f"AND workflow IN ({marks}) ORDER BY due_at, run_id, path_key LIMIT {self.d.ph}",
            [until, *workflows, limit],
        )
        return [DueTimer(r["run_id"], r["path_key"], r["due_at"]) for r in cur.fetchall()]

    def count(self, cur: Any) -> int:
        cur.execute(f"SELECT COUNT(*) AS n FROM {self.rows}")
        return _first(cur.fetchall())

    # -- rebuilding from the logs --------------------------------------------------
    def clear(self, cur: Any) -> None:
        cur.execute(f"DELETE FROM {self.rows}")
        cur.execute(f"DELETE FROM {self.runs}")
        cur.execute(f"DELETE FROM {self.timers}")


def _first(rows: list[Any]) -> int:
    row = rows[0]
    return int(row["n"] if not isinstance(row, tuple) else row[0])

"""The runs index: a tracking projection of the notification log.

Each catch-up reads the events after the position in its tracking row, folds
them into index rows, and writes the rows and the new position in one
transaction. A crash between transactions only means those events are read
again; an event is never applied twice, because the position moves with the
rows. Two engines on one database may both catch up: whichever commits first
moves the position, and the other's batch finds nothing left to do.
"""

from __future__ import annotations

from typing import Any

from durable.store.types import INDEX_COLUMNS, IndexRow, ListingFilter
from projections.dialect import Dialect
from projections.rows import fold_row

INDEX = "durable_runs_index"
TRACKING = "durable_tracking"
COUNTS = "durable_runs_counts"


class RunsIndex:
    name = "runs_index"
    batch = 1000

    def __init__(self, dialect: Dialect, events_table: str, id_column: str) -> None:
        self.d = dialect
        self.table = dialect.t(INDEX)
        self.tracking = dialect.t(TRACKING)
        self.counts = dialect.t(COUNTS)
        self.events = dialect.t(events_table)
        self.id_column = id_column  # SQLite: rowid; PostgreSQL: notification_id
        cols = ", ".join(INDEX_COLUMNS)
        self._count = dialect.sql(
            f"INSERT INTO {self.counts} (status, n) VALUES (?, ?) ON CONFLICT (status) "
            f"DO UPDATE SET n = {self.counts}.n + excluded.n"
        )
        self._upsert = dialect.sql(
            f"INSERT INTO {self.table} ({cols}) VALUES ({', '.join('?' for _ in INDEX_COLUMNS)}) "
            "ON CONFLICT (run_id) DO UPDATE SET "
            + ", ".join(f"{c} = excluded.{c}" for c in INDEX_COLUMNS if c != "run_id")
        )

    def ddl(self) -> list[str]:
        d = self.d
        prefix = d.schema.replace('"', "").replace(".", "_")
        return [
            f"""CREATE TABLE IF NOT EXISTS {self.table} (
                run_id TEXT PRIMARY KEY,
                workflow TEXT NOT NULL,
                version TEXT,
                status TEXT NOT NULL,
                resource_id TEXT,
                thread_id TEXT,
                parent_run_id TEXT,
                created_at {d.real} NOT NULL,
                updated_at {d.real} NOT NULL,
                position INTEGER NOT NULL,
                output {d.blob},
                error TEXT,
                state {d.blob},
                seq {d.bigint} NOT NULL,
                continued_from TEXT,
                forked_from TEXT,
                fork_position {d.bigint}
            )""",
            f"""CREATE TABLE IF NOT EXISTS {self.tracking} (
                name TEXT PRIMARY KEY,
                position {d.bigint} NOT NULL
            )""",
            # How many runs have each status, moved in the same transaction as the rows:
            # an unfiltered or status-only total is one row, not a count of every run.
            f"""CREATE TABLE IF NOT EXISTS {self.counts} (
                status TEXT PRIMARY KEY,
                n {d.bigint} NOT NULL
            )""",
            # The row exists from the start, so a catch-up can always lock it first.
            f"INSERT INTO {self.tracking} (name, position) VALUES ('{self.name}', 0) "
            "ON CONFLICT (name) DO NOTHING",
            *(
                f"CREATE INDEX IF NOT EXISTS {prefix}durable_index_by_{name} "
                f"ON {self.table} ({cols})"
                for name, cols in (
                    ("time", "created_at DESC, seq"),
                    ("status", "status, created_at DESC, seq"),
                    ("workflow", "workflow, created_at DESC, seq"),
                    ("resource", "resource_id, created_at DESC, seq"),
                    ("thread", "thread_id, created_at DESC, seq"),
                )
            ),
        ]

    # -- catching up (one transaction per call) -----------------------------------
    def position(self, cur: Any, *, lock: bool = False, skip_locked: bool = False
                 ) -> int | None:
        """The tracked position (``lock``: locked for this transaction; ``skip_locked``:
        None, without waiting, if another catch-up holds it: PostgreSQL only)."""
        suffix = ""
        if lock and self.d.name == "postgres":
            suffix = " FOR UPDATE SKIP LOCKED" if skip_locked else " FOR UPDATE"
        cur.execute(self.d.sql(f"SELECT position FROM {self.tracking} WHERE name = ?{suffix}"),
                    (self.name,))
        rows = cur.fetchall()
        if not rows:  # (the row exists from the start: only SKIP LOCKED finds none)
            return None if skip_locked and suffix else 0
        return int(rows[0]["position"])

    def head(self, cur: Any) -> int:
        cur.execute(f"SELECT MAX({self.id_column}) AS n FROM {self.events}")
        rows = cur.fetchall()
        value = rows[0]["n"] if rows else None
        return int(value) if value is not None else 0

    def step(self, cur: Any, to_events: Any, *, wait: bool = True) -> int:
        """Apply the next batch of events after the tracked position; return how many.
        ``wait=False``: 0 at once if another catch-up is at work (it applies them)."""
        start = self.position(cur, lock=True, skip_locked=not wait)
        if start is None:
            return 0
        cur.execute(
            self.d.sql(
                f"SELECT {self.id_column} AS id, originator_id, originator_version, topic, state "
                f"FROM {self.events} WHERE {self.id_column} > ? ORDER BY {self.id_column} LIMIT ?"
            ),
            (start, self.batch),
        )
        notes = cur.fetchall()
        if not notes:
            return 0
        counts: dict[str, int] = {}
        events = to_events(notes)  # one decode per batch
        # The batch's runs' rows, read in a query per 500 (not a round trip per run).
        rows: dict[str, IndexRow | None] = dict.fromkeys(e.run_id for e in events)
        loaded = self._load_many(cur, list(rows))
        for run_id, row in loaded.items():
            rows[run_id] = row
            counts[row.status] = counts.get(row.status, 0) - 1
        for n, event in zip(notes, events, strict=True):
            rows[event.run_id] = fold_row(rows[event.run_id], event, int(n["id"]))
        written = [r for r in rows.values() if r is not None]
        for r in written:
            counts[r.status] = counts.get(r.status, 0) + 1
        cur.executemany(self._upsert, [tuple(getattr(r, c) for c in INDEX_COLUMNS)
                                       for r in written])
        cur.executemany(self._count, [(status, n) for status, n in counts.items() if n])
        self._track(cur, int(notes[-1]["id"]))
        return len(notes)

    def _track(self, cur: Any, position: int) -> None:
        cur.execute(
            self.d.sql(
                f"INSERT INTO {self.tracking} (name, position) VALUES (?, ?) "
                "ON CONFLICT (name) DO UPDATE SET position = excluded.position"
            ),
            (self.name, position),
        )

    def _load_many(self, cur: Any, run_ids: list[str]) -> dict[str, IndexRow]:
        found: dict[str, IndexRow] = {}
        for i in range(0, len(run_ids), 500):
            chunk = run_ids[i : i + 500]
            cur.execute(self.d.sql(f"SELECT * FROM {self.table} WHERE run_id IN "
                                   f"({', '.join('?' for _ in chunk)})"), chunk)
            found.update((r["run_id"], self._row(r)) for r in cur.fetchall())
        return found

    def _load(self, cur: Any, run_id: str) -> IndexRow | None:
        cur.execute(self.d.sql(f"SELECT * FROM {self.table} WHERE run_id = ?"), (run_id,))
        found = cur.fetchall()
        return self._row(found[0]) if found else None

    def clear(self, cur: Any) -> None:
        """Drop every row and start again from the first event (rebuild).

        The tracking row is locked first, as a catch-up locks it before it touches
        index rows: taking them in the other order could deadlock with one.
        """
        self.position(cur, lock=True)
        cur.execute(f"DELETE FROM {self.table}")
        cur.execute(f"DELETE FROM {self.counts}")
        self._track(cur, 0)

    # -- reading --------------------------------------------------------------------
    def query(self, cur: Any, f: ListingFilter, *, heads: str | None = None
              ) -> tuple[list[IndexRow], int]:
        """A page of rows and their total; ``f.blocked`` looks the runs up in ``heads``
        (the head rows, which say which runs are blocked)."""
        where, params = f.where(date_column="created_at", ph=self.d.ph)
        if f.blocked is not None:
            if heads is None:
                raise ValueError("filtering on blocked needs the head rows' table")
            clause = (f"run_id {'IN' if f.blocked else 'NOT IN'} "
                      f"(SELECT run_id FROM {heads} WHERE blocked IS NOT NULL)")
            where = f"{where} AND {clause}" if where else f" WHERE {clause}"
        if (f.workflow, f.resource_id, f.thread_id, f.from_date, f.to_date, f.blocked
                ) == (None,) * 6:
            by_status = " WHERE status = " + self.d.ph if f.status is not None else ""
            cur.execute(f"SELECT COALESCE(SUM(n), 0) AS n FROM {self.counts}{by_status}",
                        [f.status] if f.status is not None else [])
        else:
            cur.execute(f"SELECT COUNT(*) AS n FROM {self.table}{where}", params)
        total = int(cur.fetchall()[0]["n"])
        cur.execute(
            f"SELECT * FROM {self.table}{where} ORDER BY created_at DESC, seq "
            f"LIMIT {self.d.ph} OFFSET {self.d.ph}",
            [*params, f.per_page, f.page * f.per_page],
        )
        return [self._row(r) for r in cur.fetchall()], total

    @staticmethod
    def _row(r: Any) -> IndexRow:
        values: dict[str, Any] = {
            c: (bytes(r[c]) if c in ("output", "state") and r[c] is not None else r[c])
            for c in INDEX_COLUMNS
        }
        return IndexRow(**values)

    def migrate(self, cur: Any) -> None:
        """Add the columns a table made by an older version lacks (after ``ddl()``)."""
        for column, kind in (("continued_from", "TEXT"), ("forked_from", "TEXT"),
                             ("fork_position", self.d.bigint)):
            # Looked up first: ALTER TABLE locks the table even when it has nothing to do,
            # and engines opening while others catch the index up would deadlock on it.
            if self.d.name == "postgres":
                cur.execute("SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass "
                            "AND NOT attisdropped", (self.table,))
            else:
                cur.execute(f"PRAGMA table_info({self.table})")
            if column not in {r["attname"] if self.d.name == "postgres" else r[1]
                              for r in cur.fetchall()}:
                cur.execute(f"ALTER TABLE {self.table} ADD COLUMN {column} {kind}")

    def count(self, cur: Any) -> int:
        cur.execute(f"SELECT COUNT(*) AS n FROM {self.table}")
        return int(cur.fetchall()[0]["n"])

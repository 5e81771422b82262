"""The embedded default: one SQLite file in WAL mode, nothing to install."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

from eventsourcing.persistence import StoredEvent
from eventsourcing.sqlite import (
    SQLiteApplicationRecorder,
    SQLiteConnection,
    SQLiteConnectionPool,
    SQLiteCursor,
    SQLiteDatastore,
)

from durable.store.base import (
    HEAD_COLUMNS,
    SUSPENSION_COLUMNS,
    Append,
    Head,
    RecorderStore,
    RunFilter,
    SuspensionRow,
    head_from_row,
    head_params,
    where_clause,
)

SCHEMA = [
    """CREATE TABLE IF NOT EXISTS durable_runs (
        run_id TEXT PRIMARY KEY,
        workflow TEXT NOT NULL,
        version TEXT,
        status TEXT NOT NULL,
        position INTEGER NOT NULL,
        resource_id TEXT,
        thread_id TEXT,
        parent_run_id TEXT,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        suspended_at REAL,
        owner_id TEXT,
        owner_host TEXT,
        owner_pid INTEGER,
        owner_start INTEGER,
        lease_until REAL
    )""",
    "CREATE INDEX IF NOT EXISTS durable_runs_created ON durable_runs (created_at DESC)",
    "CREATE INDEX IF NOT EXISTS durable_runs_status ON durable_runs (status, created_at DESC)",
    "CREATE INDEX IF NOT EXISTS durable_runs_workflow ON durable_runs (workflow, created_at DESC)",
    "CREATE INDEX IF NOT EXISTS durable_runs_resource ON durable_runs (resource_id, created_at DESC)",
    """CREATE TABLE IF NOT EXISTS durable_suspensions (
        run_id TEXT NOT NULL,
        path_key TEXT NOT NULL,
        path BLOB NOT NULL,
        kind TEXT NOT NULL,
        payload BLOB,
        suspended_at REAL NOT NULL,
        PRIMARY KEY (run_id, path_key)
    )""",
    "CREATE INDEX IF NOT EXISTS durable_suspensions_at ON durable_suspensions (suspended_at DESC)",
]

_UPSERT_HEAD = (
    f"INSERT INTO durable_runs ({', '.join(HEAD_COLUMNS)}) "
    f"VALUES ({', '.join('?' for _ in HEAD_COLUMNS)}) "
    "ON CONFLICT (run_id) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in HEAD_COLUMNS if c not in ("run_id", "created_at"))
)


class _Recorder(SQLiteApplicationRecorder):
    """The library's recorder, writing our head and suspension rows in its transaction."""

    def construct_create_table_statements(self) -> list[str]:
        return [*super().construct_create_table_statements(), *SCHEMA]

    def _insert_events(
        self, c: SQLiteCursor, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        ids = super()._insert_events(c, stored_events, **kwargs)
        appends: Sequence[Append] = kwargs.get("appends", ())
        for a in appends:
            c.execute(_UPSERT_HEAD, head_params(a.head))
            if a.suspensions is not None:
                c.execute("DELETE FROM durable_suspensions WHERE run_id = ?", (a.run_id,))
                if a.suspensions:
                    c.executemany(
                        "INSERT INTO durable_suspensions VALUES (?, ?, ?, ?, ?, ?)",
                        [_suspension_params(s) for s in a.suspensions],
                    )
        return ids


def _suspension_params(s: SuspensionRow) -> tuple[Any, ...]:
    from durable.codec import encode

    return (s.run_id, s.path_key, encode(s.path), s.kind, s.payload, s.suspended_at)


class _Pool(SQLiteConnectionPool):
    """Sets the synchronous level on every connection (FULL survives power loss)."""

    synchronous = "FULL"

    def _create_connection(self) -> SQLiteConnection:
        conn = super()._create_connection()
        conn._sqlite_conn.execute(f"PRAGMA synchronous={self.synchronous}")
        return conn


class SQLiteStore(RecorderStore):
    def __init__(self, url: str, path: str, *, synchronous: str = "FULL") -> None:
        super().__init__(url)
        self.path = path
        if synchronous.upper() not in ("FULL", "NORMAL", "EXTRA", "OFF"):
            raise ValueError(
                f"synchronous={synchronous!r} is not a SQLite level; use 'FULL' (the default, "
                "survives power loss) or 'NORMAL' (survives a process crash)"
            )
        self.synchronous = synchronous.upper()
        self.datastore: SQLiteDatastore | None = None
        self.recorder: _Recorder | None = None

    def _open_sync(self) -> None:
        ds = SQLiteDatastore(self.path, originator_id_type="text", lock_timeout=30)
        pool = _Pool(db_name=self.path, lock_timeout=30)
        pool.synchronous = self.synchronous
        ds.pool = pool
        self.datastore = ds
        self.recorder = _Recorder(ds)
        self.recorder.create_table()

    def _close_sync(self) -> None:
        if self.datastore is not None:
            self.datastore.close()
            self.datastore = None

    def _insert_sync(self, appends: Sequence[Append]) -> None:
        assert self.recorder is not None
        stored = [s for a in appends for s in a.stored]
        self.recorder.insert_events(stored, appends=appends)

    def _select_events_sync(self, run_id: str, after: int) -> Sequence[StoredEvent]:
        assert self.recorder is not None
        return self.recorder.select_events(run_id, gt=after or None)

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        assert self.datastore is not None
        with self.datastore.transaction(commit=False) as c:
            c.execute(sql, params)
            return c.fetchall()  # type: ignore[no-any-return]

    def _execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        assert self.datastore is not None
        with self.datastore.transaction(commit=True) as c:
            c.execute(sql, params)

    def _head_sync(self, run_id: str) -> Head | None:
        rows = self._query("SELECT * FROM durable_runs WHERE run_id = ?", (run_id,))
        return head_from_row(rows[0]) if rows else None

    def _running_sync(self) -> list[Head]:
        rows = self._query("SELECT * FROM durable_runs WHERE status = 'running'")
        return [head_from_row(r) for r in rows]

    def _renew_sync(self, owner_id: str, until: float) -> None:
        self._execute(
            "UPDATE durable_runs SET lease_until = ? WHERE owner_id = ? AND status = 'running'",
            (until, owner_id),
        )

    def _list_runs_sync(self, f: RunFilter) -> tuple[list[Head], int]:
        where, params = where_clause(f, date_column="h.created_at")
        total = self._query(f"SELECT COUNT(*) FROM durable_runs h{where}", params)[0][0]
        rows = self._query(
            f"SELECT * FROM durable_runs h{where} ORDER BY h.created_at DESC, h.rowid DESC "
            "LIMIT ? OFFSET ?",
            [*params, f.per_page, f.page * f.per_page],
        )
        return [head_from_row(r) for r in rows], total

    def _list_suspended_sync(
        self, f: RunFilter
    ) -> tuple[list[tuple[Head, list[SuspensionRow]]], int]:
        from durable.codec import decode

        where, params = where_clause(f, date_column="h.suspended_at")
        where = (where + " AND " if where else " WHERE ") + "h.status IN ('suspended', 'running')"
        where += " AND EXISTS (SELECT 1 FROM durable_suspensions s WHERE s.run_id = h.run_id)"
        total = self._query(f"SELECT COUNT(*) FROM durable_runs h{where}", params)[0][0]
        heads = [
            head_from_row(r)
            for r in self._query(
                f"SELECT * FROM durable_runs h{where} ORDER BY h.suspended_at DESC, h.rowid DESC "
                "LIMIT ? OFFSET ?",
                [*params, f.per_page, f.page * f.per_page],
            )
        ]
        out: list[tuple[Head, list[SuspensionRow]]] = []
        for h in heads:
            rows = self._query(
                f"SELECT {', '.join(SUSPENSION_COLUMNS)} FROM durable_suspensions "
                "WHERE run_id = ? ORDER BY suspended_at, path_key",
                (h.run_id,),
            )
            out.append(
                (
                    h,
                    [
                        SuspensionRow(
                            run_id=r["run_id"],
                            path_key=r["path_key"],
                            path=decode(r["path"]),
                            kind=r["kind"],
                            payload=r["payload"],
                            suspended_at=r["suspended_at"],
                        )
                        for r in rows
                    ],
                )
            )
        return out, total

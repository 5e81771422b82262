"""The embedded default: one SQLite file in WAL mode, nothing to install."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from eventsourcing.persistence import StoredEvent
from eventsourcing.sqlite import (
    SQLiteAggregateRecorder,
    SQLiteApplicationRecorder,
    SQLiteConnection,
    SQLiteConnectionPool,
    SQLiteCursor,
    SQLiteDatastore,
)

from durable.store.base import BLOBS_DDL, Append, blob_rows, head_params, listing_changes
from durable.store.sql import SQLStore, blobs_insert_sql, move_head_sql, upsert_head_sql
from projections import SQLITE
from projections.runs_index import RunsIndex
from projections.suspended import SuspendedListing

EVENTS = "stored_events"

HEADS = [
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
    "CREATE INDEX IF NOT EXISTS durable_runs_status ON durable_runs (status)",
    BLOBS_DDL.format(t="durable_blobs", blob="BLOB"),
]

class _Recorder(SQLiteApplicationRecorder):
    """The library's recorder, writing our heads, listing rows and blobs in its transaction."""

    def __init__(self, datastore: SQLiteDatastore, store: SQLiteStore) -> None:
        self.store = store
        super().__init__(datastore)
        self.upsert_head, self.move_head = upsert_head_sql(SQLITE), move_head_sql(SQLITE)
        self.insert_blob = blobs_insert_sql(SQLITE)

    def construct_create_table_statements(self) -> list[str]:
        return [*super().construct_create_table_statements(), *HEADS,
                *self.store.listing.ddl(), *self.store.index.ddl()]

    def _insert_events(
        self, c: SQLiteCursor, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        ids = super()._insert_events(c, stored_events, **kwargs)
        appends: Sequence[Append] = kwargs.get("appends", ())
        for a in appends:
            if a.head_moved_only:
                h = a.head
                c.execute(self.move_head, (h.position, h.updated_at, h.lease_until, h.run_id))
            else:
                c.execute(self.upsert_head, head_params(a.head))
        self.store.listing.write(c, listing_changes(appends))
        blobs = blob_rows(appends)
        if blobs:
            c.executemany(self.insert_blob, blobs)
        return ids


class _Pool(SQLiteConnectionPool):
    """Sets the synchronous level on every connection (FULL survives power loss).

    SQLite's automatic WAL checkpoint runs inside whichever commit crosses the
    threshold, so one append in a thousand took milliseconds. A background thread
    checkpoints instead (PASSIVE: it never blocks writers); the automatic one stays
    only as a far-off safety net, should that thread fall behind.
    """

    synchronous = "FULL"

    def _create_connection(self) -> SQLiteConnection:
        conn = super()._create_connection()
        conn._sqlite_conn.execute(f"PRAGMA synchronous={self.synchronous}")
        conn._sqlite_conn.execute("PRAGMA wal_autocheckpoint=20000")
        # Listings probe a table of every run by key: let reads come from the page cache
        # the connections share (mmap) rather than each one's 2 MB private cache.
        conn._sqlite_conn.execute("PRAGMA mmap_size=1073741824")
        return conn


class _Checkpointer(threading.Thread):
    def __init__(self, path: str, every: float = 0.25) -> None:
        super().__init__(name="durable-checkpoint", daemon=True)
        self.path, self.every = path, every
        self.stop = threading.Event()

    def run(self) -> None:
        conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        try:
            while not self.stop.wait(self.every):
                try:
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
                except sqlite3.Error:  # busy or locked: the next round will do
                    continue
        finally:
            conn.close()


class SQLiteStore(SQLStore):
    dialect = SQLITE

    def __init__(self, url: str, path: str, *, synchronous: str = "FULL") -> None:
        super().__init__(url)
        self.path = path
        if synchronous.upper() not in ("FULL", "NORMAL", "EXTRA", "OFF"):
            raise ValueError(
                f"synchronous={synchronous!r} is not a SQLite level; use 'FULL' (the default, "
                "survives power loss) or 'NORMAL' (survives a process crash)"
            )
        self.synchronous = synchronous.upper()
        self.listing = SuspendedListing(SQLITE)
        self.index = RunsIndex(SQLITE, EVENTS, "rowid")
        self.datastore: SQLiteDatastore | None = None
        self.recorder: _Recorder | None = None
        self._checkpointer: _Checkpointer | None = None

    def _open_sync(self) -> None:
        ds = SQLiteDatastore(self.path, originator_id_type="text", lock_timeout=30)
        pool = _Pool(db_name=self.path, lock_timeout=30)
        pool.synchronous = self.synchronous
        ds.pool = pool
        self.datastore = ds
        self.recorder = _Recorder(ds, self)
        self.snapshots = SQLiteAggregateRecorder(ds, events_table_name="durable_snapshots")
        # One IMMEDIATE transaction: the library's create_table() begins deferred, so two
        # processes opening a new file at once could fail ("database is locked").
        with self._writing() as c:
            for statement in [*self.recorder.create_table_statements,
                              *self.snapshots.create_table_statements]:
                c.execute(statement)
        if not pool.is_sqlite_memory_mode:
            self._checkpointer = _Checkpointer(self.path)
            self._checkpointer.start()

    def _close_sync(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.stop.set()
            self._checkpointer.join()
            self._checkpointer = None
        if self.datastore is not None:
            self.datastore.close()
            self.datastore = None

    @contextmanager
    def _reading(self) -> Iterator[Any]:
        assert self.datastore is not None
        with self.datastore.transaction(commit=False) as c:
            yield c

    @contextmanager
    def _writing(self, *, lock_events: bool = False) -> Iterator[sqlite3.Cursor]:
        """BEGIN IMMEDIATE: a read-then-write transaction must hold the write lock from
        its first read, or a writer in another process makes it fail half-way. SQLite
        has one write lock, so holding it also keeps appends out (``lock_events``)."""
        assert self.datastore is not None
        with self.datastore.get_connection(commit=True) as conn:
            raw: sqlite3.Connection = conn._sqlite_conn
            cur = raw.cursor()
            cur.execute("BEGIN IMMEDIATE")
            try:
                yield cur
            except BaseException:
                raw.rollback()
                raise
            raw.commit()

    def _renew_sync(self, owner_id: str, until: float) -> None:
        self._execute(
            "UPDATE durable_runs SET lease_until = ? WHERE owner_id = ? AND status = 'running'",
            (until, owner_id),
        )

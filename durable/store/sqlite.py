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

from durable.events import TERMINAL, RunLog, fold
from durable.store.base import (
    BLOBS_DDL,
    HEAD_COLUMNS,
    PAGE_HEAD_COLUMNS,
    Append,
    Head,
    RecorderStore,
    RunsPage,
    WaitingPage,
    blob_rows,
    head_from_row,
    head_params,
    listing_changes,
    page_head,
)
from projections import SQLITE, ListingFilter, ViewStatus
from projections.runs_index import RunsIndex
from projections.suspended import SuspendedListing, open_rows

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

_UPSERT_HEAD = (
    f"INSERT INTO durable_runs ({', '.join(HEAD_COLUMNS)}) "
    f"VALUES ({', '.join('?' for _ in HEAD_COLUMNS)}) "
    "ON CONFLICT (run_id) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in HEAD_COLUMNS if c not in ("run_id", "created_at"))
)


_MOVE_HEAD = ("UPDATE durable_runs SET position = ?, updated_at = ?, lease_until = ? "
              "WHERE run_id = ?")


class _Recorder(SQLiteApplicationRecorder):
    """The library's recorder, writing our head rows and the suspended listing in its
    own transaction."""

    listing = SuspendedListing(SQLITE)
    index = RunsIndex(SQLITE, EVENTS, "rowid")

    def construct_create_table_statements(self) -> list[str]:
        return [*super().construct_create_table_statements(), *HEADS,
                *self.listing.ddl(), *self.index.ddl()]

    def _insert_events(
        self, c: SQLiteCursor, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        ids = super()._insert_events(c, stored_events, **kwargs)
        appends: Sequence[Append] = kwargs.get("appends", ())
        for a in appends:
            if a.head_moved_only:
                h = a.head
                c.execute(_MOVE_HEAD, (h.position, h.updated_at, h.lease_until, h.run_id))
            else:
                c.execute(_UPSERT_HEAD, head_params(a.head))
        self.listing.write(c, listing_changes(appends))
        blobs = blob_rows(appends)
        if blobs:
            c.executemany("INSERT INTO durable_blobs (hash, data) VALUES (?, ?) "
                          "ON CONFLICT (hash) DO NOTHING", blobs)
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
        self._checkpointer: _Checkpointer | None = None

    def _open_sync(self) -> None:
        ds = SQLiteDatastore(self.path, originator_id_type="text", lock_timeout=30)
        pool = _Pool(db_name=self.path, lock_timeout=30)
        pool.synchronous = self.synchronous
        ds.pool = pool
        self.datastore = ds
        self.recorder = _Recorder(ds)
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

    def _insert_sync(self, appends: Sequence[Append]) -> None:
        assert self.recorder is not None
        stored = [s for a in appends for s in a.stored]
        self.recorder.insert_events(stored, appends=appends)

    def _select_events_sync(self, run_id: str, after: int) -> Sequence[StoredEvent]:
        assert self.recorder is not None
        return self.recorder.select_events(run_id, gt=after or None)

    # -- transactions ---------------------------------------------------------------
    @contextmanager
    def _reading(self) -> Iterator[Any]:
        assert self.datastore is not None
        with self.datastore.transaction(commit=False) as c:
            yield c

    @contextmanager
    def _writing(self) -> Iterator[sqlite3.Cursor]:
        """BEGIN IMMEDIATE: a read-then-write transaction must hold the write lock from
        its first read, or a writer in another process makes it fail half-way."""
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

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        with self._reading() as c:
            c.execute(sql, params)
            return c.fetchall()  # type: ignore[no-any-return]

    def _prune_snapshots_sync(self, run_id: str, below: int) -> None:
        with self._writing() as c:
            c.execute("DELETE FROM durable_snapshots WHERE originator_id = ? "
                      "AND originator_version < ?", (run_id, below))

    def _blobs_sync(self, hashes: list[str]) -> dict[str, bytes]:
        rows = self._query(f"SELECT hash, data FROM durable_blobs WHERE hash IN "
                           f"({', '.join('?' for _ in hashes)})", hashes)
        return {r["hash"]: bytes(r["data"]) for r in rows}

    # -- heads ---------------------------------------------------------------------------
    def _head_sync(self, run_id: str) -> Head | None:
        rows = self._query("SELECT * FROM durable_runs WHERE run_id = ?", (run_id,))
        return head_from_row(rows[0]) if rows else None

    def _running_sync(self) -> list[Head]:
        rows = self._query("SELECT * FROM durable_runs WHERE status = 'running'")
        return [head_from_row(r) for r in rows]

    def _renew_sync(self, owner_id: str, until: float) -> None:
        with self._writing() as c:
            c.execute(
                "UPDATE durable_runs SET lease_until = ? WHERE owner_id = ? AND status = 'running'",
                (until, owner_id),
            )

    # -- views ------------------------------------------------------------------------
    def _to_event(self, row: Any) -> RunLog.Event:
        return self.mapper.to_domain_event(  # type: ignore[return-value]
            StoredEvent(row["originator_id"], row["originator_version"], row["topic"],
                        row["state"])
        )

    def _catch_up_sync(self) -> int:
        index = _Recorder.index
        with self._reading() as c:  # the common case, nothing new: no write lock taken
            if index.head(c) <= index.position(c):
                return 0
        done = 0
        while True:
            with self._writing() as c:
                n = index.step(c, self._to_event)
            done += n
            if n == 0:
                return done

    def _list_runs_sync(self, f: ListingFilter) -> RunsPage:
        with self._reading() as c:
            rows, total = _Recorder.index.query(c, f)
            waiting = _Recorder.listing.open_suspensions(c, [r.run_id for r in rows])
        return rows, total, waiting

    def _list_suspended_sync(self, f: ListingFilter) -> WaitingPage:
        with self._reading() as c:
            page, total = _Recorder.listing.query(c, f)
            heads = _heads(c, [w.run_id for w, _ in page])
        return page, total, heads

    def _view_status_sync(self) -> list[ViewStatus]:
        with self._reading() as c:
            index = _Recorder.index
            head, position = index.head(c), index.position(c)
            return [
                ViewStatus(name=_Recorder.listing.name, position=head, head=head, lag=0,
                           rows=_Recorder.listing.count(c), consistency="inline"),
                ViewStatus(name=index.name, position=position, head=head,
                           lag=_lag(c, position), rows=index.count(c), consistency="tracking"),
            ]

    def _rebuild_sync(self) -> None:
        # The listing: cleared and refilled from the logs in one transaction, holding the
        # write lock, so no append can slip in between and no reader sees it half-built.
        with self._writing() as c:
            _Recorder.listing.clear(c)
            c.execute("SELECT run_id FROM durable_runs WHERE status NOT IN (?, ?, ?)",
                      tuple(TERMINAL))
            for (run_id,) in c.fetchall():
                c.execute(
                    "SELECT originator_id, originator_version, topic, state FROM stored_events "
                    "WHERE originator_id = ? ORDER BY originator_version", (run_id,))
                run = fold([self._to_event(r) for r in c.fetchall()])
                head = Head(run_id=run.id, workflow=run.workflow, status=run.status,
                            position=run.version, resource_id=run.resource_id,
                            thread_id=run.thread_id, created_at=0.0, updated_at=0.0)
                _Recorder.listing.write(c, [(head, open_rows(run))])
        # The index: emptied, then caught up batch by batch like any other catch-up.
        with self._writing() as c:
            _Recorder.index.clear(c)
        self._catch_up_sync()


def _heads(c: Any, run_ids: list[str]) -> dict[str, Head]:
    if not run_ids:
        return {}
    c.execute(f"SELECT {', '.join(PAGE_HEAD_COLUMNS)} FROM durable_runs "
              f"WHERE run_id IN ({', '.join('?' for _ in run_ids)})", run_ids)
    return {r[0]: page_head(r) for r in c.fetchall()}


def _lag(c: Any, position: int) -> int:
    c.execute("SELECT COUNT(*) AS n FROM stored_events WHERE rowid > ?", (position,))
    return int(c.fetchone()["n"])

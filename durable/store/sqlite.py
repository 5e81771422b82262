"""The embedded default: one SQLite file in WAL mode, nothing to install."""

from __future__ import annotations

import contextlib
import itertools
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from eventsourcing.persistence import IntegrityError, StoredEvent
from eventsourcing.sqlite import (
    SQLiteAggregateRecorder,
    SQLiteApplicationRecorder,
    SQLiteConnection,
    SQLiteConnectionPool,
    SQLiteCursor,
    SQLiteDatastore,
)

from durable.bulk import without_gc
from durable.bulk_decode import decode_run_rows
from durable.events import Event
from durable.logs import get_logger
from durable.store.base import ChangeFeed
from durable.store.sql import BLOBS_DDL, HeadWrites, SQLStore, check_guards, migrate_heads
from durable.store.sqlite_feed import DataVersionFeed
from durable.store.types import Append, listing_changes
from projections.dialect import SQLITE
from projections.runs_index import RunsIndex
from projections.suspended import SuspendedListing

EVENTS = "stored_events"
LOCK_TIMEOUT = 30  # seconds a writer waits for SQLite's write lock (off the event loop)

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
        lease_until REAL,
        queue TEXT,
        queue_key TEXT,
        forked_from TEXT,
        fork_position BIGINT,
        blocked TEXT,
        blocked_since REAL,
        redacted TEXT
    )""",
    "CREATE INDEX IF NOT EXISTS durable_runs_status ON durable_runs (status)",
    "CREATE INDEX IF NOT EXISTS durable_runs_parent ON durable_runs (parent_run_id) "
    "WHERE parent_run_id IS NOT NULL",
    BLOBS_DDL.format(t="durable_blobs", blob="BLOB"),
    # What PostgreSQL says with NOTIFY: the runs that a non-holder appended to (or whose
    # holder settled them after taking such an append in), newest `seq` last.
    """CREATE TABLE IF NOT EXISTS durable_notices (
        run_id TEXT PRIMARY KEY,
        seq INTEGER NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS durable_notices_seq ON durable_notices (seq)",
]
NOTICE = ("INSERT INTO durable_notices (run_id, seq) VALUES "
          "(?, (SELECT COALESCE(MAX(seq), 0) + 1 FROM durable_notices)) "
          "ON CONFLICT (run_id) DO UPDATE SET seq = excluded.seq")

class _Recorder(SQLiteApplicationRecorder):
    """The library's recorder, writing our heads, listing rows and blobs in its transaction."""

    def __init__(self, datastore: SQLiteDatastore, store: SQLiteStore) -> None:
        self.store = store
        super().__init__(datastore)
        self.heads = HeadWrites(SQLITE)

    def construct_create_table_statements(self) -> list[str]:
        return [*super().construct_create_table_statements(), *HEADS,
                *self.store.listing.ddl(), *self.store.index.ddl()]

    def _insert_events(
        self, c: SQLiteCursor, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        ids = super()._insert_events(c, stored_events, **kwargs)  # takes the write lock
        appends: Sequence[Append] = kwargs.get("appends", ())
        check_guards(c, appends, "durable_runs", "?")
        self.heads.write(c, appends)
        self.store.listing.write(c, listing_changes(appends))
        notices = sorted({a.run_id for a in appends if a.notify})
        if notices:
            c.executemany(NOTICE, [(run_id,) for run_id in notices])
        return ids


# The write-ahead log wraps after this many pages, by synchronous level (see _Pool).
WAL_PAGES = {"FULL": 1000, "EXTRA": 1000}
WAL_PAGES_OTHERWISE = 2000


class _Pool(SQLiteConnectionPool):
    """Sets the synchronous level on every connection (FULL survives power loss).

    SQLite's automatic WAL checkpoint runs inside whichever commit crosses the
    threshold, so one append in a thousand took milliseconds. A background thread
    checkpoints instead (PASSIVE: it never blocks writers), and leaves the
    automatic one little to copy. The automatic one still matters: under a steady
    stream of commits a concurrent checkpoint never finds the log fully copied, so
    only a commit's own checkpoint lets the next one start the log over. Until then
    every commit extends the file, and at FULL, where each commit syncs the log,
    syncing a file whose size changed costs a metadata write too: at 20,000 pages
    (80 MB of log before it first wrapped) a commit cost 1.7x one that overwrote
    (``python -m benchmarks.wal_cycle``), and a young database paid it for its
    first 80 MB. So at FULL the log wraps at SQLite's default, 1,000 pages. At
    NORMAL commits do not sync, so the point only sets how often a commit's own
    checkpoint syncs the database: 2,000 pages keeps that out of the p99 (1,000
    put a resume's p99 at 4-5 ms instead of 1, measured).
    """

    synchronous = "FULL"

    @staticmethod
    def configure(conn: sqlite3.Connection, synchronous: str) -> None:
        conn.execute(f"PRAGMA synchronous={synchronous}")
        pages = WAL_PAGES.get(synchronous.upper(), WAL_PAGES_OTHERWISE)
        conn.execute(f"PRAGMA wal_autocheckpoint={pages}")
        # Listings probe a table of every run by key: let reads come from the page cache
        # the connections share (mmap) rather than each one's 2 MB private cache.
        conn.execute("PRAGMA mmap_size=1073741824")

    def _create_connection(self) -> SQLiteConnection:
        # Two processes opening a new file at once both find it not yet in WAL mode and
        # both switch it; the loser's switch fails at once with "database is locked"
        # (no busy wait for that). A moment later the file is in WAL mode: try again.
        for attempt in range(50):
            try:
                conn = super()._create_connection()
                break
            except sqlite3.OperationalError as e:
                if "locked" not in str(e) or attempt == 49:
                    raise
                time.sleep(0.02)
        self.configure(conn._sqlite_conn, self.synchronous)
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


log = get_logger("durable")
MAX_POSITION = 2**62  # past any position (an unbounded read)


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
        # Each reader thread's own plain connection for reading events (see below).
        self._local = threading.local()
        self._local_conns: list[sqlite3.Connection] = []
        # The connection inline commits use (busy timeout 0), and who uses it now.
        self._inline: sqlite3.Connection | None = None
        self._inline_lock = threading.Lock()

    def _open_sync(self) -> None:
        ds = SQLiteDatastore(self.path, originator_id_type="text", lock_timeout=LOCK_TIMEOUT)
        # A writer waits for the pool's writer connection as long as for SQLite's lock.
        pool = _Pool(db_name=self.path, lock_timeout=LOCK_TIMEOUT, pool_timeout=LOCK_TIMEOUT)
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
            self.index.migrate(c)
            migrate_heads(c, False, "durable_runs")
        if not pool.is_sqlite_memory_mode:
            self._checkpointer = _Checkpointer(self.path)
            self._checkpointer.start()
            self._inline = sqlite3.connect(self.path, timeout=0, isolation_level=None,
                                           check_same_thread=False)
            self._inline.row_factory = sqlite3.Row
            _Pool.configure(self._inline, self.synchronous)

    def _close_sync(self) -> None:
        for conn in self._local_conns:
            conn.close()
        self._local_conns.clear()
        self._local = threading.local()
        if self._inline is not None:
            with self._inline_lock:
                self._inline.close()
            self._inline = None
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

    def _after_redact(self) -> None:
        """The erased pages' old versions may still be in the WAL: copy the new ones into
        the database and empty it. A TRUNCATE checkpoint holds writers back while it
        waits for readers, so it waits briefly, a few times; a reader that stays longer
        leaves the WAL to the next checkpoint, and the log says so."""
        with contextlib.closing(sqlite3.connect(self.path, timeout=0.2,
                                                isolation_level=None)) as conn:
            for attempt in range(5):
                try:
                    busy, _, _ = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
                except sqlite3.OperationalError:
                    busy = 1
                if not busy:
                    return
                time.sleep(0.1 * (attempt + 1))
        log.warning("redact_wal_not_emptied", path=self.path,
                    detail="a reader kept the write-ahead log in use: the erased content "
                    "stays in it until the next checkpoint that can empty it")

    def _reader(self) -> sqlite3.Connection:
        """This reader thread's own plain connection (no row factory, no explicit
        transaction: a lone SELECT reads one snapshot)."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = sqlite3.connect(self.path, timeout=LOCK_TIMEOUT,
                                                      isolation_level=None,
                                                      check_same_thread=False)
            self._local_conns.append(conn)
        return conn

    def _own_events_sync(self, run_id: str, after: int, upto: int | None = None,
                         limit: int | None = None) -> list[Event]:
        """One query, one decode call."""
        conn = self._reader()
        with without_gc():
            return decode_run_rows(run_id, conn.execute(
                "SELECT originator_version, topic, state FROM stored_events "
                "WHERE originator_id = ? AND originator_version > ? "
                "AND originator_version <= ? ORDER BY originator_version LIMIT ?",
                (run_id, after, MAX_POSITION if upto is None else upto,
                 -1 if limit is None else limit)).fetchall())

    def _read_logs_sync(self, run_ids: list[str]) -> dict[str, list[Event]]:
        """Several runs' logs in one query per 500 ids, one decode call per run."""
        conn = self._reader()
        logs: dict[str, list[Event]] = {}
        with without_gc():
            for i in range(0, len(run_ids), 500):
                chunk = run_ids[i:i + 500]
                rows = conn.execute(
                    "SELECT originator_id, originator_version, topic, state FROM stored_events "
                    f"WHERE originator_id IN ({', '.join('?' * len(chunk))}) "
                    "ORDER BY originator_id, originator_version", chunk).fetchall()
                for run_id, group in itertools.groupby(rows, key=lambda r: r[0]):
                    logs[run_id] = decode_run_rows(run_id, [r[1:] for r in group])
        # A fork's log begins with its original's events.
        return {r: self._with_prefix(r, log, 0, None) for r, log in logs.items()}

    def _insert_now(self, append: Append) -> bool:
        """Commit on the caller's thread, or return False at once if that would wait.

        The event loop must never block on a lock: another connection (the writer
        thread's, or another process's) may hold SQLite's write lock for up to the
        30 s busy timeout. So inline commits use a connection of their own whose busy
        timeout is 0: if the lock is taken, the writer thread waits for it instead.
        """
        assert self.recorder is not None
        raw = self._inline
        if raw is None or not self._inline_lock.acquire(blocking=False):
            return False
        try:
            try:
                raw.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError:  # another connection holds the write lock
                return False
            try:
                self.recorder._insert_events(SQLiteCursor(raw.cursor()), append.stored,
                                             appends=[append])
                raw.commit()
            except sqlite3.IntegrityError as e:
                raw.rollback()
                raise IntegrityError(e) from e
            except BaseException:
                raw.rollback()
                raise
        finally:
            self._inline_lock.release()
        return True

    def _renew_sync(self, owner_id: str, run_ids: list[str], until: float) -> None:
        for i in range(0, len(run_ids), 500):
            chunk = run_ids[i : i + 500]
            self._execute(
                "UPDATE durable_runs SET lease_until = ? WHERE owner_id = ? AND run_id IN "
                f"({', '.join('?' for _ in chunk)})", (until, owner_id, *chunk))

    def changes(self) -> ChangeFeed:
        return DataVersionFeed(self.path)

"""PostgreSQL, for runs shared by many machines: the library's recorder plus our tables.

``postgresql://user[:password]@host[:port]/dbname[?schema=NAME]``. Every table lives in
the schema named (``public`` by default), so one database can hold several engines.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from eventsourcing.persistence import InterfaceError, OperationalError, StoredEvent
from eventsourcing.postgres import (
    PostgresAggregateRecorder,
    PostgresApplicationRecorder,
    PostgresDatastore,
)
from eventsourcing.utils import retry
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg_pool import PoolTimeout

from durable.events import RunLog, fold
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
from projections import POSTGRES, ListingFilter, ViewStatus
from projections.runs_index import RunsIndex
from projections.suspended import SuspendedListing, open_rows

EVENTS_TABLE = "durable_events"


def _heads_ddl(s: str) -> list[str]:
    """The head rows in schema ``s`` (already quoted). Times are epoch seconds, as in SQLite."""
    return [
        f"""CREATE TABLE IF NOT EXISTS {s}.durable_runs (
            run_id TEXT PRIMARY KEY, workflow TEXT NOT NULL, version TEXT,
            status TEXT NOT NULL, position BIGINT NOT NULL,
            resource_id TEXT, thread_id TEXT, parent_run_id TEXT,
            created_at DOUBLE PRECISION NOT NULL, updated_at DOUBLE PRECISION NOT NULL,
            suspended_at DOUBLE PRECISION,
            owner_id TEXT, owner_host TEXT, owner_pid BIGINT, owner_start BIGINT,
            lease_until DOUBLE PRECISION
        )""",
        f"CREATE INDEX IF NOT EXISTS durable_runs_status ON {s}.durable_runs (status)",
        BLOBS_DDL.format(t=f"{s}.durable_blobs", blob="BYTEA"),
    ]


def parse_url(url: str) -> dict[str, Any]:
    """The datastore's connection arguments; empty strings leave libpq its defaults."""
    parts = urlsplit(url)
    query = parse_qs(parts.query, keep_blank_values=True)
    unknown = set(query) - {"schema"}
    if unknown:
        raise ValueError(f"{url!r}: unknown parameter(s) {sorted(unknown)}; only 'schema' is read")
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"{url!r}: the port is not a number") from None
    schema = (query.get("schema") or [""])[-1].strip() or "public"
    # The library looks its composite type up by the unquoted name, which PostgreSQL
    # folds to lower case: any other schema name would fail on the first append.
    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", schema):
        raise ValueError(f"{url!r}: schema must be lower case letters, digits and '_'")
    return {
        "dbname": unquote(parts.path.lstrip("/")),
        "host": unquote(parts.hostname or ""),
        "port": str(port or ""),
        "user": unquote(parts.username or ""),
        "password": unquote(parts.password or ""),
        "schema": schema,
    }


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


class _Recorder(PostgresApplicationRecorder):
    """The library's recorder, writing our head and suspension rows in its transaction."""

    def __init__(self, datastore: PostgresDatastore) -> None:
        super().__init__(datastore, events_table_name=EVENTS_TABLE)
        s = _quote(datastore.schema)
        self.schema_name = s
        dialect = POSTGRES.in_schema(datastore.schema)
        self.listing = SuspendedListing(dialect)
        self.index = RunsIndex(dialect, EVENTS_TABLE, "notification_id")
        self.our_tables = [*_heads_ddl(s), *self.listing.ddl(), *self.index.ddl()]
        self.move_head = (f"UPDATE {s}.durable_runs SET position = %s, updated_at = %s, "
                          "lease_until = %s WHERE run_id = %s")
        self.upsert_head = (
            f"INSERT INTO {s}.durable_runs ({', '.join(HEAD_COLUMNS)}) "
            f"VALUES ({', '.join('%s' for _ in HEAD_COLUMNS)}) "
            "ON CONFLICT (run_id) DO UPDATE SET "
            + ", ".join(
                f"{c} = EXCLUDED.{c}" for c in HEAD_COLUMNS if c not in ("run_id", "created_at")
            )
        )

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        """One pipelined transaction: lock, our rows, the events; one sync, at COMMIT.

        The library's own path locks the table twice, sends a NOTIFY nobody
        listens to and syncs the pipeline mid-transaction to read back
        notification ids we do not use: about four round trips more per append.
        It also retries on a dropped connection, which after a commit that did
        land would report a false conflict; here the caller sees the error.
        """
        pg_events = [
            self.construct_pg_stored_event(
                e.originator_id, e.originator_version, e.topic, e.state
            )
            for e in stored_events
        ]
        exc: Exception | None = None
        with self.datastore.get_connection() as conn:
            with conn.pipeline(), conn.transaction(), conn.cursor() as curs:
                try:
                    self._insert_events(curs, stored_events, **kwargs)
                    curs.execute(self.insert_events_statement, (pg_events,))
                except Exception as e:  # re-raised once the pipeline has closed cleanly
                    exc = e
            if exc is not None:
                raise exc
        return None

    def create_table(self) -> None:
        # Workers starting at once on a fresh schema would race in CREATE ... IF NOT
        # EXISTS (it is not atomic); a session lock lets one of them create it all.
        with self.datastore.get_connection() as conn:
            key = f"durable:{self.datastore.schema}"
            conn.execute("SELECT pg_advisory_lock(hashtext(%s))", (key,))
            try:
                super().create_table()
            finally:
                conn.execute("SELECT pg_advisory_unlock(hashtext(%s))", (key,))

    def _create_table(self, curs: Cursor[DictRow]) -> None:
        super()._create_table(curs)
        for statement in self.our_tables:
            curs.execute(statement)

    def _insert_events(
        self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> None:
        # The library runs this before inserting the events, in the same transaction,
        # and takes the events table lock only afterwards. Taking it first means heads
        # are written in commit order (seq) and two processes' batches touching the
        # same runs cannot deadlock on head rows; the second LOCK is then a no-op.
        self._lock_table(curs)
        # Rows are locked in run_id order, as lease renewal locks them, so the two
        # cannot deadlock; the sort is stable, so a run's later head still wins.
        appends = sorted(kwargs.get("appends", ()), key=lambda a: a.run_id)
        full = [head_params(a.head) for a in appends if not a.head_moved_only]
        moved = [(a.head.position, a.head.updated_at, a.head.lease_until, a.run_id)
                 for a in appends if a.head_moved_only]
        if full:
            curs.executemany(self.upsert_head, full)
        if moved:
            curs.executemany(self.move_head, moved)
        self.listing.write(curs, listing_changes(appends))
        blobs = blob_rows(appends)
        if blobs:
            curs.executemany(f"INSERT INTO {self.schema_name}.durable_blobs (hash, data) "
                             "VALUES (%s, %s) ON CONFLICT (hash) DO NOTHING", blobs)


class PostgresStore(RecorderStore):
    # A commit is a network round trip (~1 ms): never hold the event loop for one.
    inline_commits = False

    def __init__(self, url: str, *, pool_size: int = 5) -> None:
        super().__init__(url)
        self.params = parse_url(url)
        self.pool_size = pool_size
        self.schema = _quote(self.params["schema"])
        self.datastore: PostgresDatastore | None = None
        self.recorder: _Recorder | None = None

    def _open_sync(self) -> None:
        # One writer thread and four reader threads: pool_size 5 covers them; the
        # overflow absorbs the table-creation lock and any future readers.
        ds = PostgresDatastore(
            **self.params,
            originator_id_type="text",  # run ids are the user's strings
            pool_size=self.pool_size,
            max_overflow=self.pool_size,
        )
        self.datastore = ds
        try:
            # Fail fast when the server is unreachable. Not via pool_open_timeout: the
            # library then waits for a full idle pool on every checkout, and times out.
            try:
                ds.pool.open(wait=True, timeout=10.0)
            except PoolTimeout as e:
                p = self.params
                raise OperationalError(
                    f"cannot connect to PostgreSQL at {p['host'] or 'localhost'}:"
                    f"{p['port'] or 5432}/{p['dbname']} as {p['user'] or '(default user)'} "
                    "within 10 s; is the server running and the URL right?"
                ) from e
            self.recorder = _Recorder(ds)
            self.recorder.create_table()
            self.snapshots = PostgresAggregateRecorder(ds, events_table_name="durable_snapshots")
            self.snapshots.create_table()
        except BaseException:
            ds.close()
            self.datastore = None
            raise

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
        return self.recorder.select_events(run_id, gt=after or None)  # type: ignore[no-any-return]

    # Reads and lease renewal are idempotent: retry them across a dropped connection
    # (a server restart leaves stale connections in the pool), as the library does.
    @retry((InterfaceError, OperationalError), max_attempts=3, wait=0.2)
    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[DictRow]:
        assert self.datastore is not None
        with self.datastore.transaction(commit=False) as c:
            c.execute(sql, params)
            return c.fetchall()

    @retry((InterfaceError, OperationalError), max_attempts=3, wait=0.2)
    def _execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        assert self.datastore is not None
        with self.datastore.transaction(commit=True) as c:
            c.execute(sql, params)

    def _head_sync(self, run_id: str) -> Head | None:
        rows = self._query(f"SELECT * FROM {self.schema}.durable_runs WHERE run_id = %s", (run_id,))
        return head_from_row(rows[0]) if rows else None

    def _running_sync(self) -> list[Head]:
        rows = self._query(f"SELECT * FROM {self.schema}.durable_runs WHERE status = 'running'")
        return [head_from_row(r) for r in rows]

    def _renew_sync(self, owner_id: str, until: float) -> None:
        self._execute(
            f"UPDATE {self.schema}.durable_runs SET lease_until = %s WHERE run_id IN ("
            f"SELECT run_id FROM {self.schema}.durable_runs "
            "WHERE owner_id = %s AND status = 'running' ORDER BY run_id FOR UPDATE)",
            (until, owner_id),
        )

    def _prune_snapshots_sync(self, run_id: str, below: int) -> None:
        self._execute(f"DELETE FROM {self.schema}.durable_snapshots WHERE originator_id = %s "
                      "AND originator_version < %s", (run_id, below))

    def _blobs_sync(self, hashes: list[str]) -> dict[str, bytes]:
        rows = self._query(f"SELECT hash, data FROM {self.schema}.durable_blobs "
                           "WHERE hash = ANY(%s)", (hashes,))
        return {r["hash"]: bytes(r["data"]) for r in rows}

    # -- views --------------------------------------------------------------------------
    @contextmanager
    def _writing(self, *, lock_events: bool = False) -> Iterator[Cursor[DictRow]]:
        assert self.datastore is not None and self.recorder is not None
        with self.datastore.get_connection() as conn, conn.transaction(), conn.cursor() as c:
            if lock_events:  # as appends do: no append can commit while we hold it
                self.recorder._lock_table(c)
            yield c

    @contextmanager
    def _reading(self) -> Iterator[Cursor[DictRow]]:
        assert self.datastore is not None
        with self.datastore.transaction(commit=False) as c:
            yield c

    def _to_event(self, row: Any) -> RunLog.Event:
        return self.mapper.to_domain_event(  # type: ignore[return-value]
            StoredEvent(row["originator_id"], row["originator_version"], row["topic"],
                        bytes(row["state"]))
        )

    def _catch_up_sync(self) -> int:
        assert self.recorder is not None
        index = self.recorder.index
        with self._reading() as c:  # the common case, nothing new: no lock taken
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
        assert self.recorder is not None
        with self._reading() as c:
            rows, total = self.recorder.index.query(c, f)
            waiting = self.recorder.listing.open_suspensions(c, [r.run_id for r in rows])
        return rows, total, waiting

    def _list_suspended_sync(self, f: ListingFilter) -> WaitingPage:
        assert self.recorder is not None
        with self._reading() as c:
            page, total = self.recorder.listing.query(c, f)
            ids = [w.run_id for w, _ in page]
            heads: dict[str, Head] = {}
            if ids:
                c.execute(f"SELECT {', '.join(PAGE_HEAD_COLUMNS)} FROM {self.schema}.durable_runs "
                          "WHERE run_id = ANY(%s)", (ids,))
                heads = {r["run_id"]: page_head([r[k] for k in PAGE_HEAD_COLUMNS])
                         for r in c.fetchall()}
        return page, total, heads

    def _view_status_sync(self) -> list[ViewStatus]:
        assert self.recorder is not None
        index, listing = self.recorder.index, self.recorder.listing
        with self._reading() as c:
            head, position = index.head(c), index.position(c)
            c.execute(f"SELECT COUNT(*) AS n FROM {self.schema}.{EVENTS_TABLE} "
                      "WHERE notification_id > %s", (position,))
            lag = int(c.fetchall()[0]["n"])
            return [
                ViewStatus(name=listing.name, position=head, head=head, lag=0,
                           rows=listing.count(c), consistency="inline"),
                ViewStatus(name=index.name, position=position, head=head, lag=lag,
                           rows=index.count(c), consistency="tracking"),
            ]

    def _rebuild_sync(self) -> None:
        assert self.recorder is not None
        listing = self.recorder.listing
        # The listing: cleared and refilled in one transaction holding the events table
        # lock, so no append can slip in between and no reader sees it half-built.
        with self._writing(lock_events=True) as c:
            listing.clear(c)
            c.execute(f"SELECT run_id FROM {self.schema}.durable_runs "
                      "WHERE status NOT IN ('succeeded', 'failed', 'cancelled')")
            for row in c.fetchall():
                c.execute(
                    "SELECT originator_id, originator_version, topic, state FROM "
                    f"{self.schema}.{EVENTS_TABLE} WHERE originator_id = %s "
                    "ORDER BY originator_version", (row["run_id"],))
                run = fold([self._to_event(r) for r in c.fetchall()])
                head = Head(run_id=run.id, workflow=run.workflow, status=run.status,
                            position=run.version, resource_id=run.resource_id,
                            thread_id=run.thread_id, created_at=0.0, updated_at=0.0)
                listing.write(c, [(head, open_rows(run))])
        with self._writing() as c:
            self.recorder.index.clear(c)
        self._catch_up_sync()

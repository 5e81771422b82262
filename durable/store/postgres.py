"""PostgreSQL, for runs shared by many machines: the library's recorder plus our tables.

``postgresql://user[:password]@host[:port]/dbname[?schema=NAME]``. Every table lives in
the schema named (``public`` by default), so one database can hold several engines.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from eventsourcing.persistence import InterfaceError, OperationalError, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from eventsourcing.utils import retry
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg_pool import PoolTimeout

from durable.codec import decode, encode
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

EVENTS_TABLE = "durable_events"


def _schema(s: str) -> list[str]:
    """Our tables in schema ``s`` (already quoted). Times are epoch seconds, as in SQLite."""

    def index(name: str, table: str, columns: str) -> str:
        return f"CREATE INDEX IF NOT EXISTS {name} ON {s}.{table} ({columns})"

    return [
        f"""CREATE TABLE IF NOT EXISTS {s}.durable_runs (
            run_id TEXT PRIMARY KEY, workflow TEXT NOT NULL, version TEXT,
            status TEXT NOT NULL, position BIGINT NOT NULL,
            resource_id TEXT, thread_id TEXT, parent_run_id TEXT,
            created_at DOUBLE PRECISION NOT NULL, updated_at DOUBLE PRECISION NOT NULL,
            suspended_at DOUBLE PRECISION,
            owner_id TEXT, owner_host TEXT, owner_pid BIGINT, owner_start BIGINT,
            lease_until DOUBLE PRECISION,
            seq BIGSERIAL NOT NULL  -- plays SQLite's rowid: ties list in creation order
        )""",
        index("durable_runs_created", "durable_runs", "created_at DESC, seq DESC"),
        index("durable_runs_status", "durable_runs", "status, created_at DESC"),
        index("durable_runs_workflow", "durable_runs", "workflow, created_at DESC"),
        index("durable_runs_resource", "durable_runs", "resource_id, created_at DESC"),
        f"""CREATE TABLE IF NOT EXISTS {s}.durable_suspensions (
            run_id TEXT NOT NULL, path_key TEXT NOT NULL,
            path BYTEA NOT NULL,  -- msgpack, as in SQLite
            kind TEXT NOT NULL, payload BYTEA, suspended_at DOUBLE PRECISION NOT NULL,
            PRIMARY KEY (run_id, path_key)
        )""",
        index("durable_suspensions_at", "durable_suspensions", "suspended_at DESC"),
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
        self.our_tables = _schema(s)
        self.upsert_head = (
            f"INSERT INTO {s}.durable_runs ({', '.join(HEAD_COLUMNS)}) "
            f"VALUES ({', '.join('%s' for _ in HEAD_COLUMNS)}) "
            "ON CONFLICT (run_id) DO UPDATE SET "
            + ", ".join(
                f"{c} = EXCLUDED.{c}" for c in HEAD_COLUMNS if c not in ("run_id", "created_at")
            )
        )
        self.delete_suspensions = f"DELETE FROM {s}.durable_suspensions WHERE run_id = %s"
        self.insert_suspension = (
            f"INSERT INTO {s}.durable_suspensions ({', '.join(SUSPENSION_COLUMNS)}) "
            "VALUES (%s, %s, %s, %s, %s, %s)"
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
        curs.executemany(self.upsert_head, [head_params(a.head) for a in appends])
        # Only a run's last list in the batch stands (each one replaces the one before).
        latest = {a.run_id: a.suspensions for a in appends if a.suspensions is not None}
        if latest:
            curs.executemany(self.delete_suspensions, [(r,) for r in latest])
            rows = [_suspension_params(s) for ss in latest.values() for s in ss]
            if rows:
                curs.executemany(self.insert_suspension, rows)


def _suspension_params(s: SuspensionRow) -> tuple[Any, ...]:
    return (s.run_id, s.path_key, encode(s.path), s.kind, s.payload, s.suspended_at)


class PostgresStore(RecorderStore):
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

    def _page(
        self, where: str, params: list[Any], f: RunFilter, order: str
    ) -> tuple[list[Head], int]:
        runs = f"{self.schema}.durable_runs h{where}"
        total = self._query(f"SELECT COUNT(*) AS n FROM {runs}", params)[0]["n"]
        rows = self._query(
            f"SELECT * FROM {runs} ORDER BY {order}, h.seq DESC LIMIT %s OFFSET %s",
            [*params, f.per_page, f.page * f.per_page],
        )
        return [head_from_row(r) for r in rows], total

    def _list_runs_sync(self, f: RunFilter) -> tuple[list[Head], int]:
        where, params = where_clause(f, date_column="h.created_at", ph="%s")
        return self._page(where, params, f, "h.created_at DESC")

    def _list_suspended_sync(
        self, f: RunFilter
    ) -> tuple[list[tuple[Head, list[SuspensionRow]]], int]:
        where, params = where_clause(f, date_column="h.suspended_at", ph="%s")
        where = (where + " AND " if where else " WHERE ") + "h.status IN ('suspended', 'running')"
        where += (
            f" AND EXISTS (SELECT 1 FROM {self.schema}.durable_suspensions s "
            "WHERE s.run_id = h.run_id)"
        )
        # NULLS LAST: where SQLite and the memory store put a run without suspended_at.
        heads, total = self._page(where, params, f, "h.suspended_at DESC NULLS LAST")
        by_run: dict[str, list[SuspensionRow]] = {h.run_id: [] for h in heads}
        if heads:  # one query for the whole page, not one per run
            for r in self._query(
                f"SELECT {', '.join(SUSPENSION_COLUMNS)} FROM {self.schema}.durable_suspensions "
                "WHERE run_id = ANY(%s) ORDER BY suspended_at, path_key",
                (list(by_run),),
            ):
                by_run[r["run_id"]].append(
                    SuspensionRow(
                        run_id=r["run_id"],
                        path_key=r["path_key"],
                        path=decode(r["path"]),
                        kind=r["kind"],
                        payload=r["payload"],
                        suspended_at=r["suspended_at"],
                    )
                )
        return [(h, by_run[h.run_id]) for h in heads], total

"""PostgreSQL's write side: the library's recorder, writing our head, listing and blob
rows in its transaction, and appends in as few round trips as they allow (one script,
one function call, or a pipelined transaction for large batches)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import psycopg
from eventsourcing.persistence import IntegrityError, OperationalError, StoredEvent
from eventsourcing.postgres import (
    PostgresApplicationRecorder,
    PostgresDatastore,
)
from psycopg import ClientCursor, Cursor
from psycopg.rows import DictRow

from durable.store.sql import BLOBS_DDL, HeadWrites, check_guards, migrate_heads
from durable.store.types import Append, limit_checks, listing_changes

if TYPE_CHECKING:
    from durable.store.postgres import PostgresStore

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
            lease_until DOUBLE PRECISION, queue TEXT, queue_key TEXT,
            forked_from TEXT, fork_position BIGINT,
            blocked TEXT, blocked_since DOUBLE PRECISION, redacted TEXT
        )""",
        f"CREATE INDEX IF NOT EXISTS durable_runs_status ON {s}.durable_runs (status)",
        f"CREATE INDEX IF NOT EXISTS durable_runs_parent ON {s}.durable_runs (parent_run_id) "
        "WHERE parent_run_id IS NOT NULL",
        BLOBS_DDL.format(t=f"{s}.durable_blobs", blob="BYTEA"),
    ]


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


class _Recorder(PostgresApplicationRecorder):
    """The library's recorder, writing our heads, listing rows and blobs in its transaction."""

    def __init__(self, datastore: PostgresDatastore, store: PostgresStore) -> None:
        super().__init__(datastore, events_table_name=EVENTS_TABLE)
        self.store = store
        d = store.dialect
        self.our_tables = [*_heads_ddl(_quote(datastore.schema)), *store.listing.ddl(),
                           *store.index.ddl()]
        self.heads = HeadWrites(d)
        self.notify = f"SELECT pg_notify('{store.channel}', %s)"
        schema = _quote(datastore.schema)
        self.append_events = f"SELECT {schema}.durable_append_events(%s, %s, %s, %s)"
        self.append_event = f"SELECT {schema}.durable_append_event(%s, %s, %s, %s)"
        self.insert_rows = (f"INSERT INTO {schema}.{EVENTS_TABLE} "
                            "(originator_id, originator_version, topic, state) VALUES ")
        # Most appends are a step's event and nothing else: one statement, one round
        # trip, in autocommit (psycopg prepares it after its fifth use).
        self.our_tables.append(f"""
            CREATE OR REPLACE FUNCTION {schema}.durable_append_events(
                ids text[], versions bigint[], topics text[], states bytea[]
            ) RETURNS void LANGUAGE plpgsql AS $$
            BEGIN
                LOCK TABLE {schema}.{EVENTS_TABLE} IN EXCLUSIVE MODE;
                INSERT INTO {schema}.{EVENTS_TABLE}
                    (originator_id, originator_version, topic, state)
                SELECT * FROM unnest(ids, versions, topics, states);
            END $$""")
        self.our_tables.append(f"""
            CREATE OR REPLACE FUNCTION {schema}.durable_append_event(
                id text, version bigint, topic text, state bytea
            ) RETURNS void LANGUAGE plpgsql AS $$
            BEGIN
                LOCK TABLE {schema}.{EVENTS_TABLE} IN EXCLUSIVE MODE;
                INSERT INTO {schema}.{EVENTS_TABLE}
                    (originator_id, originator_version, topic, state)
                VALUES (id, version, topic, state);
            END $$""")
        # A claim's queue limit, checked in the claim's own script (see _script_guards):
        # a full queue raises unique_violation, so the claim fails as a conflict.
        self.check_room = f"SELECT {schema}.durable_check_room(%s, %s, %s, %s)"
        self.our_tables.append(f"""
            CREATE OR REPLACE FUNCTION {schema}.durable_check_room(
                q text, k text, lim bigint, taken bigint
            ) RETURNS void LANGUAGE plpgsql AS $$
            DECLARE n bigint;
            BEGIN
                IF k IS NULL THEN
                    SELECT COUNT(*) INTO n FROM {schema}.durable_runs
                        WHERE queue = q AND status = 'running';
                ELSE
                    SELECT COUNT(*) INTO n FROM {schema}.durable_runs
                        WHERE queue = q AND queue_key = k AND status = 'running';
                END IF;
                IF n + taken >= lim THEN
                    RAISE EXCEPTION 'a claimed run''s queue has no room'
                        USING ERRCODE = 'unique_violation';
                END IF;
            END $$""")
        # Up to this many appends in a commit go as one script (see _append_in_one_trip).
        self.script_limit = 8
        # Used by the store's writer thread alone (appends; see _connection).
        self.fast: psycopg.Connection[Any] | None = None

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        """One round trip: a step's event alone is one prepared call of a schema
        function; a few appends, one script of statements (see _append_in_one_trip);
        a large group commit, one pipelined transaction.

        The library's own path locks the table twice, sends a NOTIFY nobody
        listens to and syncs mid-transaction to read back notification ids we do
        not use: about four round trips more per append.
        It also retries on a dropped connection, which after a commit that did
        land would report a false conflict; here the caller sees the error.

        Called as the library's recorder (no ``appends``: the library's own shared
        test suite does so), it is the library's path, notification ids and all.
        """
        if "appends" not in kwargs:
            return super().insert_events(stored_events, **kwargs)  # type: ignore[no-any-return]
        appends: Sequence[Append] = kwargs["appends"]
        if all(a.head is None and a.suspensions is None and not a.blobs and not a.notify
               for a in appends):
            self._append_events_only(stored_events)
            return None
        if len(appends) <= self.script_limit:
            self._append_in_one_trip(stored_events, appends)
        else:
            self._append_pipelined(stored_events, appends)
        return None

    def _append_pipelined(self, stored: Sequence[StoredEvent], appends: Sequence[Append]
                          ) -> None:
        """A large group commit: one pipelined transaction, bound on the server (binding a
        script of hundreds of statements here would hold the GIL longer than the round
        trips it saves)."""
        pg_events = [self.construct_pg_stored_event(
            e.originator_id, e.originator_version, e.topic, e.state) for e in stored]
        exc: Exception | None = None
        with self.datastore.get_connection() as conn:
            with conn.pipeline(), conn.transaction(), conn.cursor() as curs:
                try:
                    self._insert_events(curs, stored, appends=appends)
                    curs.execute(self.insert_events_statement, (pg_events,))
                except Exception as e:  # re-raised once the pipeline has closed cleanly
                    exc = e
            if exc is not None:
                raise exc

    def _connection(self) -> psycopg.Connection[Any]:
        """The writer thread's own connection, in autocommit (made again after an error)."""
        conn = self.fast
        if conn is None or conn.closed:
            conn = self.fast = psycopg.connect(self.store.conninfo, autocommit=True)
        return conn

    def _append_in_one_trip(self, stored: Sequence[StoredEvent], appends: Sequence[Append]
                            ) -> None:
        """Lock, head and listing rows, blobs, NOTIFYs and the events as one script of
        statements, bound on this side and sent as one query: PostgreSQL runs the
        statements of one query as one transaction, so all of it commits or none of it
        does, in one round trip (a pipelined transaction took three times a commit)."""
        conn = self._connection()
        script = _Script(ClientCursor(conn))
        self._insert_events(script, stored, appends=appends)
        script.add(self.insert_rows + ", ".join(
            script.bind("(%s, %s, %s, %s)", (e.originator_id, e.originator_version,
                                             e.topic, e.state))
            for e in stored))
        self._send(conn, script.text())

    def _send(self, conn: psycopg.Connection[Any], query: Any, params: Any = None,
              prepare: bool | None = None) -> None:
        try:
            conn.execute(query, params, prepare=prepare)
        except psycopg.IntegrityError as e:
            raise IntegrityError(str(e)) from e
        except psycopg.Error as e:
            conn.close()  # made again on the next append
            raise OperationalError(str(e)) from e

    def _append_events_only(self, stored: Sequence[StoredEvent]) -> None:
        """Events with no head, listing or blob rows: one prepared call of the schema's
        function, on the writer thread's own connection in autocommit: one round trip."""
        conn = self._connection()
        if len(stored) == 1:
            e = stored[0]
            self._send(conn, self.append_event,
                       (e.originator_id, e.originator_version, e.topic, e.state), prepare=True)
        else:
            self._send(conn, self.append_events, (
                [e.originator_id for e in stored], [e.originator_version for e in stored],
                [e.topic for e in stored], [e.state for e in stored]), prepare=True)

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
        self.store.index.migrate(curs)
        migrate_heads(curs, True, f"{_quote(self.datastore.schema)}.durable_runs")

    def _insert_events(
        self, curs: Cursor[DictRow] | _Script, stored_events: Sequence[StoredEvent],
        **kwargs: Any,
    ) -> None:
        # Taking the events table lock first (the library takes it only after this hook)
        # means two processes' batches touching the same runs cannot deadlock on head rows.
        self._lock_table(curs)  # type: ignore[arg-type]  # or a _Script: the same calls
        if isinstance(curs, _Script):  # checked on the server, in the script's transaction
            self._script_guards(curs, kwargs.get("appends", ()))
        else:
            check_guards(curs, kwargs.get("appends", ()),
                         f"{_quote(self.datastore.schema)}.durable_runs", "%s")
        # Rows are locked in run_id order, as lease renewal locks them, so the two
        # cannot deadlock; the sort is stable, so a run's later head still wins.
        appends: list[Append] = sorted(kwargs.get("appends", ()), key=lambda a: a.run_id)
        self.heads.write(curs, appends)
        self.store.listing.write(curs, listing_changes(appends))
        # Delivered at COMMIT, and only if it commits. Sent only when a status changes
        # or a non-holder appends (not per step): NOTIFY serialises committing sessions.
        notify = sorted({a.run_id for a in appends if a.notify})
        if notify:
            curs.executemany(self.notify, [(run_id,) for run_id in notify])

    def _script_guards(self, script: _Script, appends: Sequence[Append]) -> None:
        """The claims' queue limits as calls of ``durable_check_room`` after the lock and
        before the heads are written (as ``guards_admit`` checks them elsewhere). A queue
        without limits checks nothing."""
        for check in limit_checks(appends):
            script.execute(self.check_room, check)


class _Script:
    """Statements bound on the client, to send as one query (see _append_in_one_trip).
    Takes the place of a cursor for the writers of head, listing and blob rows."""

    def __init__(self, cursor: ClientCursor[Any]) -> None:
        self.cursor = cursor
        self.parts: list[str] = []

    def bind(self, sql: Any, params: Sequence[Any] = ()) -> str:
        return self.cursor.mogrify(sql, params)

    def add(self, statement: str) -> None:
        self.parts.append(statement)

    def execute(self, sql: Any, params: Sequence[Any] = (), *, prepare: bool | None = None
                ) -> None:
        self.parts.append(self.bind(sql, params))

    def executemany(self, sql: Any, params_seq: Iterable[Sequence[Any]]) -> None:
        self.parts.extend(self.bind(sql, p) for p in params_seq)

    def text(self) -> str:
        return ";\n".join(self.parts)

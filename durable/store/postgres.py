"""PostgreSQL, for runs shared by many machines: the library's recorder plus our tables.

``postgresql://user[:password]@host[:port]/dbname[?schema=NAME]``. Every table lives in
the schema named (``public`` by default), so one database can hold several engines.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from eventsourcing.persistence import InterfaceError, OperationalError
from eventsourcing.postgres import PostgresAggregateRecorder, PostgresDatastore
from eventsourcing.utils import retry
from psycopg import Cursor
from psycopg.conninfo import make_conninfo
from psycopg.rows import DictRow
from psycopg_pool import PoolTimeout

from durable.store.base import ChangeFeed
from durable.store.pg_notify import NotifyFeed
from durable.store.pg_recorder import EVENTS_TABLE, _Recorder
from durable.store.sql import SQLStore
from projections.dialect import POSTGRES
from projections.runs_index import RunsIndex
from projections.suspended import SuspendedListing

# A server that stops answering (a cut link, a host that vanished) is given up on in
# seconds, not after the kernel's quarter of an hour of retransmissions: the
# connection fails, the pool makes another, and a fenced holder learns it lost its runs.
UNREACHABLE: dict[str, Any] = {"connect_timeout": 10, "keepalives": 1, "keepalives_idle": 5,
                               "keepalives_interval": 2,
                               "keepalives_count": 3, "tcp_user_timeout": 10_000}


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


class PostgresStore(SQLStore):
    # A commit is a network round trip (~1 ms): never hold the event loop for one.
    inline_commits = False

    def __init__(self, url: str, *, pool_size: int = 5) -> None:
        super().__init__(url)
        self.params = parse_url(url)
        self.pool_size = pool_size
        self.dialect = POSTGRES.in_schema(self.params["schema"])
        # One channel per schema (a database may hold several engines' schemas).
        digest = hashlib.sha1(self.params["schema"].encode()).hexdigest()[:16]
        self.channel = f"durable_{digest}"
        self.listing = SuspendedListing(self.dialect)
        self.index = RunsIndex(self.dialect, EVENTS_TABLE, "notification_id")
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
            # A client cut off mid-transaction must not hold its locks for long.
            idle_in_transaction_session_timeout=10.0,
        )
        assert isinstance(ds.pool.kwargs, dict)  # the library passes a dict
        ds.pool.kwargs.update(UNREACHABLE)
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
            self.recorder = _Recorder(ds, self)
            self.recorder.create_table()
            self.snapshots = PostgresAggregateRecorder(ds, events_table_name="durable_snapshots")
            self.snapshots.create_table()
        except BaseException:
            ds.close()
            self.datastore = None
            raise

    def _close_sync(self) -> None:
        if self.recorder is not None and self.recorder.fast is not None:
            self.recorder.fast.close()
            self.recorder.fast = None
        if self.datastore is not None:
            self.datastore.close()
            self.datastore = None

    @contextmanager
    def _reading(self) -> Iterator[Cursor[DictRow]]:
        """Autocommit: each statement sees its own snapshot, as it would in a READ
        COMMITTED transaction, without the BEGIN and ROLLBACK round trips."""
        assert self.datastore is not None
        with self.datastore.get_connection() as conn, conn.cursor() as c:
            yield c

    @contextmanager
    def _writing(self, *, lock_events: bool = False) -> Iterator[Cursor[DictRow]]:
        assert self.datastore is not None and self.recorder is not None
        with self.datastore.get_connection() as conn, conn.transaction(), conn.cursor() as c:
            if lock_events:  # as appends do: no append can commit while we hold it
                self.recorder._lock_table(c)
            yield c

    # Reads and lease renewal are idempotent: retry them across a dropped connection
    # (a server restart leaves stale connections in the pool), as the library does.
    @retry((InterfaceError, OperationalError), max_attempts=3, wait=0.2)
    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        return super()._query(sql, params)

    def _renew_sync(self, owner_id: str, run_ids: list[str], until: float) -> None:
        runs = self._t("durable_runs")
        for i in range(0, len(run_ids), 500):  # rows locked in run_id order, as appends do
            chunk = run_ids[i : i + 500]
            self._retrying_execute(
                f"UPDATE {runs} SET lease_until = ? WHERE run_id IN (SELECT run_id FROM {runs} "
                f"WHERE owner_id = ? AND run_id IN ({', '.join('?' for _ in chunk)}) "
                "ORDER BY run_id FOR UPDATE)",
                (until, owner_id, *chunk),
            )

    @retry((InterfaceError, OperationalError), max_attempts=3, wait=0.2)
    def _retrying_execute(self, sql: str, params: Sequence[Any]) -> None:
        self._execute(sql, params)

    @property
    def conninfo(self) -> str:
        p = self.params
        return make_conninfo(**{k: p[k] for k in ("dbname", "host", "port", "user", "password")
                                if p[k]}, **UNREACHABLE)

    def changes(self) -> ChangeFeed:
        return NotifyFeed(self.conninfo, self.channel)

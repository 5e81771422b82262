"""What SQLite and PostgreSQL share: the heads, the read models, snapshots and blobs,
all in plain SQL over a dialect. The adapters give connections and transactions."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any

from eventsourcing.persistence import IntegrityError

from durable.bulk import without_gc
from durable.bulk_decode import decode_rows
from durable.events import TERMINAL, Event
from durable.fold import fold
from durable.store.recorder import RecorderStore
from durable.store.sql_history import SQLHistory
from durable.store.types import (
    HEAD_COLUMNS,
    OWNER_COLUMNS,
    Append,
    DueTimer,
    Head,
    ListingFilter,
    RunsPage,
    ViewStatus,
    WaitingPage,
    blob_rows,
    guards_admit,
    head_from_row,
    head_params,
    open_rows,
    printable,
)
from projections.dialect import Dialect
from projections.runs_index import RunsIndex
from projections.suspended import SuspendedListing

BLOBS_DDL = "CREATE TABLE IF NOT EXISTS {t} (hash TEXT PRIMARY KEY, data {blob} NOT NULL)"

# What a listing page shows of each run's head row: fetched by position, not by name.
PAGE_HEAD_COLUMNS = ("run_id", "workflow", "version", "status", "position", "parent_run_id",
                     "created_at", "updated_at", "forked_from", "fork_position", "blocked")


def page_head(row: Sequence[Any]) -> Head:
    (run_id, workflow, version, status, position, parent, created, updated, origin, at,
     blocked) = row
    return Head(run_id=run_id, workflow=workflow, version=version, status=status,
                position=position, parent_run_id=parent, created_at=created, updated_at=updated,
                forked_from=origin, fork_position=at, blocked=blocked)


class SQLStore(SQLHistory, RecorderStore):
    dialect: Dialect
    listing: SuspendedListing
    index: RunsIndex

    # -- what an adapter gives ----------------------------------------------------------
    @abstractmethod
    def _reading(self) -> AbstractContextManager[Any]:
        """A read transaction's cursor; rows are looked up by column name."""

    @abstractmethod
    def _writing(self, *, lock_events: bool = False) -> AbstractContextManager[Any]:
        """A write transaction's cursor that holds the write lock from its first statement
        (``lock_events``: also the lock appends take, so no append commits meanwhile)."""

    def _t(self, table: str) -> str:
        return self.dialect.t(table)

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        with self._reading() as c:
            c.execute(self.dialect.sql(sql), params)
            return list(c.fetchall())

    def _execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        with self._writing() as c:
            c.execute(self.dialect.sql(sql), params)

    @staticmethod
    def _to_events(rows: Sequence[Any]) -> list[Event]:
        """Stored rows (looked up by column name) as events, decoded in one call."""
        return decode_rows([(r["originator_id"], r["originator_version"], r["topic"],
                             r["state"]) for r in rows])

    def _events_of(self, c: Any, run_id: str, after: int = 0, upto: int | None = None,
                   limit: int | None = None) -> list[Event]:
        """The events stored under the run's own id in ``(after, upto]``."""
        bound = " AND originator_version <= ?" if upto is not None else ""
        first = f" LIMIT {int(limit)}" if limit is not None else ""
        c.execute(self.dialect.sql(
            "SELECT originator_id, originator_version, topic, state FROM "
            f"{self.index.events} WHERE originator_id = ? AND originator_version > ?{bound} "
            f"ORDER BY originator_version{first}"),
            (run_id, after) if upto is None else (run_id, after, upto))
        return self._to_events(c.fetchall())

    def _own_events_sync(self, run_id: str, after: int, upto: int | None = None,
                         limit: int | None = None) -> list[Event]:
        with self._reading() as c, without_gc():  # one query, one decode call
            return self._events_of(c, run_id, after, upto, limit)

    # -- heads, snapshots, blobs -------------------------------------------------------
    def _heads_sync(self, run_ids: list[str]) -> dict[str, Head]:
        found: dict[str, Head] = {}
        for i in range(0, len(run_ids), 500):
            chunk = run_ids[i : i + 500]
            rows = self._query(f"SELECT * FROM {self._t('durable_runs')} WHERE run_id IN "
                               f"({', '.join('?' for _ in chunk)})", chunk)
            found.update((r["run_id"], head_from_row(r)) for r in rows)
        return found

    def _forks_sync(self, run_id: str) -> list[Head]:
        rows = self._query(f"SELECT * FROM {self._t('durable_runs')} WHERE forked_from = ?",
                           (run_id,))
        return [head_from_row(r) for r in rows]

    def _children_sync(self, run_id: str) -> list[Head]:
        rows = self._query(f"SELECT * FROM {self._t('durable_runs')} WHERE parent_run_id = ? "
                           "ORDER BY created_at", (run_id,))
        return [head_from_row(r) for r in rows]

    def _running_sync(self) -> list[Head]:
        rows = self._query(f"SELECT * FROM {self._t('durable_runs')} WHERE status = 'running'")
        return [head_from_row(r) for r in rows]

    def _pending_sync(self, queue: str, limit: int) -> list[Head]:
        rows = self._query(
            f"SELECT * FROM {self._t('durable_runs')} WHERE queue = ? AND status = 'pending' "
            "ORDER BY created_at, run_id LIMIT ?", (queue, limit))
        return [head_from_row(r) for r in rows]

    async def pending_logs(self, queue: str, limit: int) -> list[tuple[str, list[Event]]]:
        return await self._read(self._pending_logs_sync, queue, limit)  # type: ignore[no-any-return]

    def _pending_logs_sync(self, queue: str, limit: int) -> list[tuple[str, list[Event]]]:
        """The oldest pending runs and their logs, in one statement (one snapshot)."""
        with self._reading() as c, without_gc():
            c.execute(self.dialect.sql(
                "SELECT e.originator_id, e.originator_version, e.topic, e.state FROM "
                f"(SELECT run_id, created_at FROM {self._t('durable_runs')} WHERE queue = ? "
                "AND status = 'pending' ORDER BY created_at, run_id LIMIT ?) p "
                f"JOIN {self.index.events} e ON e.originator_id = p.run_id "
                "ORDER BY p.created_at, p.run_id, e.originator_version"), (queue, limit))
            events = self._to_events(c.fetchall())
        logs: dict[str, list[Event]] = {}
        for e in events:
            logs.setdefault(e.run_id, []).append(e)
        return list(logs.items())

    def _unsettled_children_sync(self) -> list[Head]:
        runs = self._t("durable_runs")
        ended = "('succeeded', 'failed', 'cancelled')"
        rows = self._query(
            f"SELECT c.* FROM {runs} c JOIN {runs} p ON p.run_id = c.parent_run_id "
            f"WHERE c.parent_run_id IS NOT NULL AND ("
            f"(c.status <> 'running' AND p.status NOT IN {ended} "
            f"AND c.updated_at >= p.updated_at) "
            f"OR (c.status NOT IN {ended} AND p.status IN {ended}))")
        return [head_from_row(r) for r in rows]

    def _release_sync(self, run_id: str, owner_id: str) -> bool:
        with self._writing() as c:
            c.execute(self.dialect.sql(
                f"UPDATE {self._t('durable_runs')} SET "
                + ", ".join(f"{col} = NULL" for col in OWNER_COLUMNS)
                + " WHERE run_id = ? AND owner_id = ?"), (run_id, owner_id))
            return bool(c.rowcount)

    def _block_sync(self, run_id: str, error: str, length: int | None, since: float) -> bool:
        """The head row is locked first (PostgreSQL: FOR UPDATE; SQLite: the write lock),
        then the log is looked at: an append that continues the run either committed
        before (the log moved: nothing is written) or waits for this transaction and
        then rewrites the row, clearing the mark."""
        runs = self._t("durable_runs")
        lock = " FOR UPDATE" if self.dialect.name == "postgres" else ""
        with self._writing() as c:
            c.execute(self.dialect.sql(f"SELECT blocked FROM {runs} WHERE run_id = ?{lock}"),
                      (run_id,))
            rows = c.fetchall()
            if not rows:
                return False
            if length is not None:
                c.execute(self.dialect.sql(
                    f"SELECT originator_version FROM {self.index.events} WHERE originator_id = ? "
                    "AND originator_version > ? LIMIT 1"), (run_id, length))
                if c.fetchall():
                    return False
            c.execute(self.dialect.sql(
                f"UPDATE {runs} SET blocked = ?, blocked_since = COALESCE(blocked_since, ?) "
                "WHERE run_id = ?"), (printable(error), since, run_id))
            return rows[0]["blocked"] is None

    def _blocked_of(self, c: Any, run_ids: list[str]) -> dict[str, str]:
        """The blocked runs among ``run_ids``, with their errors (in transaction ``c``)."""
        if not run_ids:
            return {}
        c.execute(self.dialect.sql(
            f"SELECT run_id, blocked FROM {self._t('durable_runs')} WHERE blocked IS NOT NULL "
            f"AND run_id IN ({', '.join('?' for _ in run_ids)})"), run_ids)
        return {r["run_id"]: r["blocked"] for r in c.fetchall()}

    def _prune_snapshots_sync(self, run_id: str, since: int, below: int) -> None:
        self._execute(f"DELETE FROM {self._t('durable_snapshots')} WHERE originator_id = ? "
                      "AND originator_version >= ? AND originator_version < ?",
                      (run_id, since, below))

    def _blobs_sync(self, hashes: list[str]) -> dict[str, bytes]:
        rows = self._query(f"SELECT hash, data FROM {self._t('durable_blobs')} WHERE hash IN "
                           f"({', '.join('?' for _ in hashes)})", hashes)
        return {r["hash"]: bytes(r["data"]) for r in rows}

    def _read_logs_sync(self, run_ids: list[str]) -> dict[str, list[Event]]:
        """Several runs' logs in one query per 500 runs."""
        logs: dict[str, list[Event]] = {}
        with self._reading() as c, without_gc():
            for i in range(0, len(run_ids), 500):
                chunk = run_ids[i:i + 500]
                c.execute(self.dialect.sql(
                    "SELECT originator_id, originator_version, topic, state FROM "
                    f"{self.index.events} WHERE originator_id IN "
                    f"({', '.join('?' for _ in chunk)}) "
                    "ORDER BY originator_id, originator_version"), chunk)
                for e in self._to_events(c.fetchall()):
                    logs.setdefault(e.run_id, []).append(e)
        # A fork's log begins with its original's events.
        return {r: self._with_prefix(r, log, 0, None) for r, log in logs.items()}

    # -- the read models -----------------------------------------------------------------
    def _catch_up_sync(self, wait: bool = True) -> int:
        index = self.index
        with self._reading() as c:  # the common case, nothing new: no write lock taken
            if index.head(c) <= (index.position(c) or 0):
                return 0
        done = 0
        while True:
            with self._writing() as c:
                n = index.step(c, self._to_events, wait=wait)
            done += n
            if n == 0:
                return done

    def _list_runs_sync(self, f: ListingFilter) -> RunsPage:
        with self._reading() as c:
            rows, total = self.index.query(c, f, heads=self._t("durable_runs"))
            ids = [r.run_id for r in rows]
            waiting = self.listing.open_suspensions(c, ids)
            blocked = self._blocked_of(c, ids)
        return rows, total, waiting, blocked

    def _list_suspended_sync(self, f: ListingFilter) -> WaitingPage:
        with self._reading() as c:
            page, total, shown = self.listing.query(
                c, f, heads=self._t("durable_runs"), head_columns=PAGE_HEAD_COLUMNS)
        return page, total, {run_id: page_head(row) for run_id, row in shown.items()}

    def _due_sync(self, until: float, workflows: list[str], limit: int) -> list[DueTimer]:
        with self._reading() as c:
            return self.listing.due(c, until, workflows, limit)

    def _view_status_sync(self) -> list[ViewStatus]:
        index, listing = self.index, self.listing
        with self._reading() as c:
            head, position = index.head(c), index.position(c) or 0
            c.execute(self.dialect.sql(f"SELECT COUNT(*) AS n FROM {index.events} "
                                       f"WHERE {index.id_column} > ?"), (position,))
            lag = int(c.fetchall()[0]["n"])
            return [
                ViewStatus(name=listing.name, position=head, head=head, lag=0,
                           rows=listing.count(c), consistency="inline"),
                ViewStatus(name=index.name, position=position, head=head, lag=lag,
                           rows=index.count(c), consistency="tracking"),
            ]

    def _rebuild_sync(self) -> None:
        # The listing: cleared and refilled from the logs in one transaction holding the
        # lock appends take, so none slips in between and no reader sees it half-built.
        # Finished runs have no open suspension: only the others' logs are read.
        with self._writing(lock_events=True) as c:
            self.listing.clear(c)
            c.execute(self.dialect.sql(f"SELECT run_id FROM {self._t('durable_runs')} "
                                       "WHERE status NOT IN (?, ?, ?)"), tuple(TERMINAL))
            for row in c.fetchall():
                run = fold(self._with_prefix(row["run_id"], self._events_of(c, row["run_id"]),
                                             0, None))
                head = Head(run_id=run.id, workflow=run.workflow, status=run.status,
                            position=run.version, resource_id=run.resource_id,
                            thread_id=run.thread_id, created_at=0.0, updated_at=0.0)
                self.listing.write(c, [(head, open_rows(run))])
        # The index: emptied, then caught up batch by batch like any other catch-up.
        with self._writing() as c:
            self.index.clear(c)
        self._catch_up_sync()


def upsert_head_sql(dialect: Dialect, *, keep_owner: bool = False) -> str:
    """Write a run's head row; ``keep_owner``: leave its owner columns as they are."""
    kept = ("run_id", "created_at", *(OWNER_COLUMNS if keep_owner else ()))
    return dialect.sql(
        f"INSERT INTO {dialect.t('durable_runs')} ({', '.join(HEAD_COLUMNS)}) "
        f"VALUES ({', '.join('?' for _ in HEAD_COLUMNS)}) ON CONFLICT (run_id) DO UPDATE SET "
        + ", ".join(f"{c} = excluded.{c}" for c in HEAD_COLUMNS if c not in kept)
    )


class HeadWrites:
    """The head rows a batch of appends writes, inside the events' transaction."""

    def __init__(self, dialect: Dialect) -> None:
        self.upsert = upsert_head_sql(dialect)
        self.upsert_keeping_owner = upsert_head_sql(dialect, keep_owner=True)
        self.insert = dialect.sql(
            f"INSERT INTO {dialect.t('durable_runs')} ({', '.join(HEAD_COLUMNS)}) "
            f"VALUES ({', '.join('?' for _ in HEAD_COLUMNS)})")
        self.insert_blob = blobs_insert_sql(dialect)

    def write(self, cur: Any, appends: Sequence[Append]) -> None:
        """In order: a run appended to twice in one batch ends with its later head. A log's
        first append (``expected == 0``) inserts the row: a run whose id is taken (a
        fork has no event at position 1 of its own) makes it fail as a conflict."""
        for a in appends:
            if a.head is not None:
                sql = (self.insert if a.expected == 0 else
                       self.upsert_keeping_owner if a.keep_owner else self.upsert)
                cur.execute(sql, head_params(a.head))
        blobs = blob_rows(appends)
        if blobs:
            cur.executemany(self.insert_blob, blobs)


def check_guards(cur: Any, appends: Sequence[Append], table: str, ph: str) -> None:
    """Refuse (IntegrityError: the batch's appends are then written one by one, and this
    claim fails as a conflict) claims whose queue has no room. Call it holding the write
    lock, before the heads are written."""
    if not any(a.guard is not None for a in appends):
        return

    def running(queue: str, key: str | None) -> int:
        if key is None:
            cur.execute(f"SELECT COUNT(*) AS n FROM {table} WHERE queue = {ph} "
                        "AND status = 'running'", (queue,))
        else:
            cur.execute(f"SELECT COUNT(*) AS n FROM {table} WHERE queue = {ph} "
                        f"AND queue_key = {ph} AND status = 'running'", (queue, key))
        return int(cur.fetchall()[0]["n"])

    if not guards_admit(appends, running):
        raise IntegrityError("a claimed run's queue has no room")


def migrate_heads(cur: Any, postgres: bool, table: str) -> None:
    """Add the head columns a table made by an older version lacks, then their index.
    Looked up first: ALTER TABLE locks the table even with nothing to do."""
    if postgres:
        cur.execute("SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass "
                    "AND NOT attisdropped", (table,))
        have = {r["attname"] for r in cur.fetchall()}
    else:
        cur.execute(f"PRAGMA table_info({table})")
        have = {r[1] for r in cur.fetchall()}
    real = "DOUBLE PRECISION" if postgres else "REAL"
    for column, kind in (("queue", "TEXT"), ("queue_key", "TEXT"), ("forked_from", "TEXT"),
                         ("fork_position", "BIGINT"), ("blocked", "TEXT"),
                         ("blocked_since", real), ("redacted", "TEXT")):
        if column not in have:
            cur.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")
    cur.execute(f"CREATE INDEX IF NOT EXISTS durable_runs_queue ON {table} "
                "(queue, status, created_at) WHERE queue IS NOT NULL")
    # list_runs(blocked=...) looks blocked runs up here: few rows, so a small index.
    cur.execute(f"CREATE INDEX IF NOT EXISTS durable_runs_blocked ON {table} (run_id) "
                "WHERE blocked IS NOT NULL")


def blobs_insert_sql(dialect: Dialect) -> str:
    return dialect.sql(f"INSERT INTO {dialect.t('durable_blobs')} (hash, data) VALUES (?, ?) "
                       "ON CONFLICT (hash) DO NOTHING")

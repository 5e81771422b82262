"""What SQLite and PostgreSQL share for audits and erasure: the end of every log in one
statement, many runs' snapshots at once, and a finished run's payloads erased in one
transaction. A base of :class:`durable.store.sql.SQLStore`."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any

from eventsourcing.persistence import Mapper, StoredEvent

from durable.bulk import without_gc
from durable.events import Event
from durable.fold import RunSnapshot
from projections.dialect import Dialect
from projections.runs_index import RunsIndex


class SQLHistory:
    dialect: Dialect
    index: RunsIndex
    mapper: Mapper[str]

    @abstractmethod
    def _reading(self) -> AbstractContextManager[Any]: ...

    @abstractmethod
    def _writing(self, *, lock_events: bool = False) -> AbstractContextManager[Any]: ...

    @abstractmethod
    def _t(self, table: str) -> str: ...

    @abstractmethod
    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[Any]: ...

    @staticmethod
    @abstractmethod
    def _to_events(rows: Sequence[Any]) -> list[Event]: ...

    def _read_snapshots_sync(self, run_ids: list[str]) -> dict[str, RunSnapshot]:
        """The latest snapshot of each run, one query per 500 runs."""
        found: dict[str, RunSnapshot] = {}
        for i in range(0, len(run_ids), 500):
            chunk = run_ids[i:i + 500]
            rows = self._query(
                "SELECT originator_id, originator_version, topic, state FROM "
                f"{self._t('durable_snapshots')} WHERE originator_id IN "
                f"({', '.join('?' for _ in chunk)}) ORDER BY originator_id, "
                "originator_version DESC", chunk)
            for r in rows:
                if r["originator_id"] not in found:
                    found[r["originator_id"]] = self.mapper.to_domain_event(StoredEvent(
                        r["originator_id"], r["originator_version"], r["topic"],
                        bytes(r["state"])))  # type: ignore[assignment]
        return found

    # -- audit: the ends of every log, erasing a run's payloads -----------------------------
    def _log_ends_sync(self) -> dict[str, tuple[int, str]]:
        ev = self.index.events
        with self._reading() as c, without_gc():  # one statement: one moment
            c.execute(
                "SELECT e.originator_id, e.originator_version, e.topic, e.state FROM "
                f"{ev} e JOIN (SELECT originator_id, MAX(originator_version) AS v FROM {ev} "
                "GROUP BY originator_id) m ON e.originator_id = m.originator_id "
                "AND e.originator_version = m.v")
            events = self._to_events(c.fetchall())
        return {e.run_id: (e.position, e.hash) for e in events}

    def _redact_sync(self, run_id: str, rewritten: dict[int, bytes], blobs: list[str],
                     index: tuple[bytes | None, bytes | None], reason: str) -> None:
        d, ev = self.dialect, self.index.events
        # Is a large result also another run's (stored once by content hash)? Its hash is
        # written verbatim in the events that refer to it.
        found = ("instr(state, CAST(? AS BLOB)) > 0" if d.name == "sqlite"
                 else "position(%s::bytea in state) > 0")
        with self._writing(lock_events=True) as c:
            if d.name == "sqlite":  # the old content is overwritten, not left in free pages
                c.execute("PRAGMA secure_delete = ON")
            c.executemany(d.sql(f"UPDATE {ev} SET state = ? WHERE originator_id = ? "
                                "AND originator_version = ?"),
                          [(state, run_id, at) for at, state in rewritten.items()])
            c.execute(d.sql(f"DELETE FROM {self._t('durable_snapshots')} "
                            "WHERE originator_id = ?"), (run_id,))
            c.execute(d.sql(f"UPDATE {self.index.table} SET output = ?, state = ? "
                            "WHERE run_id = ?"), (*index, run_id))
            c.execute(d.sql(f"UPDATE {self._t('durable_runs')} SET redacted = ? "
                            "WHERE run_id = ?"), (reason, run_id))
            for h in blobs:
                c.execute(d.sql(f"SELECT 1 AS used FROM {ev} WHERE originator_id <> ? "
                                f"AND {found} LIMIT 1"), (run_id, h.encode()))
                if not c.fetchall():
                    c.execute(d.sql(f"DELETE FROM {self._t('durable_blobs')} WHERE hash = ?"),
                              (h,))
            if d.name == "sqlite":
                c.execute("PRAGMA secure_delete = OFF")

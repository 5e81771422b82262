"""The ``eventsourcing`` library's own recorder test suite, run on our recorder subclasses.

Our recorders override the library's hooks (``_insert_events``, table creation,
the PostgreSQL pipeline): should a library upgrade move one, these fail here
rather than in production. Timing-only cases (performance, throughput) are left
to ``benchmarks/``; they print figures and assert nothing.
"""

from __future__ import annotations

import tempfile
import uuid
from pathlib import Path
from typing import Any

import pytest
from eventsourcing.tests.persistence import (
    ApplicationRecorderTestCase,
    NonInterleavingNotificationIDsBaseCase,
)

from durable.store.memory import MemoryStore
from durable.store.postgres import PostgresStore
from durable.store.recorder import RecorderStore
from durable.store.sqlite import SQLiteStore
from tests.conftest import IN_CI, PG_ADMIN_URL, pg_reason


class _OnOurStore:
    """Makes a fresh store per test and hands out its application recorder."""

    store: RecorderStore

    def new_originator_id(self) -> str:
        return str(uuid.uuid4())  # our stores keep run ids as text

    def make_store(self) -> RecorderStore:
        raise NotImplementedError

    def setUp(self) -> None:
        self.store = self.make_store()
        self.store._open_sync()

    def tearDown(self) -> None:
        self.store._close_sync()

    def create_recorder(self) -> Any:
        return self.store.recorder


class _SQLite(_OnOurStore):
    def make_store(self) -> RecorderStore:
        self._tmp = tempfile.TemporaryDirectory()
        path = str(Path(self._tmp.name) / "recorder.db")
        return SQLiteStore(f"sqlite:///{path}", path)

    def tearDown(self) -> None:
        super().tearDown()
        self._tmp.cleanup()


class _Postgres(_OnOurStore):
    def make_store(self) -> RecorderStore:
        reason = pg_reason()
        if reason is not None:
            if IN_CI:
                pytest.fail(reason)
            pytest.skip(reason)
        import psycopg

        self.schema = f"durable_rec_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{self.schema}"')
        sep = "&" if "?" in PG_ADMIN_URL else "?"
        return PostgresStore(f"{PG_ADMIN_URL}{sep}schema={self.schema}")

    def tearDown(self) -> None:
        super().tearDown()
        import psycopg

        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{self.schema}" CASCADE')


class _Memory(_OnOurStore):
    def make_store(self) -> RecorderStore:
        return MemoryStore()


class _NoTimings:
    def test_performance(self) -> None:
        pytest.skip("timing only, no assertion: see benchmarks/")

    def test_concurrent_throughput(self) -> None:
        pytest.skip("timing only, no assertion: see benchmarks/")


class TestMemoryApplicationRecorder(_NoTimings, _Memory, ApplicationRecorderTestCase[Any]):
    pass


class TestSQLiteApplicationRecorder(_NoTimings, _SQLite, ApplicationRecorderTestCase[Any]):
    pass


class TestSQLiteNonInterleaving(_SQLite, NonInterleavingNotificationIDsBaseCase):
    pass


@pytest.mark.postgres
class TestPostgresApplicationRecorder(_NoTimings, _Postgres, ApplicationRecorderTestCase[Any]):
    pass


@pytest.mark.postgres
class TestPostgresNonInterleaving(_Postgres, NonInterleavingNotificationIDsBaseCase):
    pass

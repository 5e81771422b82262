"""Shared fixtures: every behaviour test runs on each store (memory, SQLite, PostgreSQL).

PostgreSQL: tests use DURABLE_TEST_POSTGRES_URL, else postgresql://postgres@127.0.0.1:5432/postgres.
Each test gets its own schema, dropped afterwards. Without a server the PostgreSQL
tests skip, saying how to enable them; under CI=true they must run, and fail instead.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import durable
from durable.codec import decode
from durable.store.types import IndexRow

PG_ADMIN_URL = os.environ.get(
    "DURABLE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _pg_unavailable_reason() -> str | None:
    try:
        import psycopg
    except ImportError:
        return "psycopg is not installed: pip install -e '.[dev]'"
    try:
        with psycopg.connect(PG_ADMIN_URL, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except Exception as e:  # any failure to connect means: no server here
        return (
            f"PostgreSQL is not reachable at {PG_ADMIN_URL} ({e.__class__.__name__}). Start it "
            "(pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start) or set "
            "DURABLE_TEST_POSTGRES_URL; under CI=true these tests are required"
        )
    return None


_PG_REASON: list[str | None] = []


def pg_reason() -> str | None:
    if not _PG_REASON:
        _PG_REASON.append(_pg_unavailable_reason())
    return _PG_REASON[0]


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh schema in the test server, as a store URL; dropped afterwards."""
    reason = pg_reason()
    if reason is not None:
        if IN_CI:
            pytest.fail(reason)
        pytest.skip(reason)
    import psycopg

    schema = f"durable_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    sep = "&" if "?" in PG_ADMIN_URL else "?"
    try:
        yield f"{PG_ADMIN_URL}{sep}schema={schema}"
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Every store the engine supports."""
    kind = request.param
    if kind == "memory":
        return "memory://"
    if kind == "sqlite":
        return f"sqlite:///{tmp_path / 'durable.db'}"
    return request.getfixturevalue("postgres_url")  # type: ignore[no-any-return]


@pytest.fixture(params=["sqlite", "postgres"])
def shared_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Stores that several engines (and processes) can open at once."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'durable.db'}"
    return request.getfixturevalue("postgres_url")  # type: ignore[no-any-return]


Registrar = Callable[[durable.Engine], None]


@pytest.fixture
async def open_engine() -> AsyncIterator[Callable[..., Any]]:
    """``await open_engine(url, register)``: an open engine, closed after the test."""
    engines: list[durable.Engine] = []

    async def make(url: str, register: Registrar | None = None, **options: Any) -> durable.Engine:
        engine = durable.Engine(url, **options)
        if register is not None:
            register(engine)
        await engine.open()
        engines.append(engine)
        return engine

    yield make
    for e in engines:
        await e.close()


def row_values(row: IndexRow) -> dict[str, Any]:
    """A runs-index row's output and state, decoded."""
    return {
        "output": decode(row.output) if row.output is not None else None,
        "state": decode(row.state) if row.state is not None else {},
    }

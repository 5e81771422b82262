"""Reaching into a store's tables behind the engine's back, as an attacker (or a careless
operator) with write access to the database would: for the audit and redaction tests."""

from __future__ import annotations

import sqlite3
from typing import Any
from urllib.parse import parse_qs, urlsplit

import msgspec

from tests.conftest import PG_ADMIN_URL


class RawDB:
    """``sql`` uses ``?`` placeholders and ``{events}``, ``{runs}``, ``{snapshots}``,
    ``{blobs}``, ``{index}`` for the store's tables."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.sqlite = url.startswith("sqlite:///")
        if self.sqlite:
            self.path = url.removeprefix("sqlite:///")
            self.tables = {"events": "stored_events", "runs": "durable_runs",
                           "snapshots": "durable_snapshots", "blobs": "durable_blobs",
                           "index": "durable_runs_index"}
        else:
            schema = parse_qs(urlsplit(url).query)["schema"][0]
            self.schema = schema
            self.tables = {k: f'"{schema}".{t}' for k, t in (
                ("events", "durable_events"), ("runs", "durable_runs"),
                ("snapshots", "durable_snapshots"), ("blobs", "durable_blobs"),
                ("index", "durable_runs_index"))}

    def execute(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        sql = sql.format(**self.tables)
        if self.sqlite:
            with sqlite3.connect(self.path) as conn:
                return conn.execute(sql, params).fetchall()
        import psycopg

        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            cur = conn.execute(sql.replace("?", "%s"), params)  # type: ignore[arg-type]
            return cur.fetchall() if cur.description else []

    def envelope(self, run_id: str, position: int) -> dict[str, Any]:
        (state,) = self.execute("SELECT state FROM {events} WHERE originator_id = ? "
                                "AND originator_version = ?", (run_id, position))[0]
        return msgspec.msgpack.decode(bytes(state))  # type: ignore[no-any-return]

    def set_envelope(self, run_id: str, position: int, body: dict[str, Any]) -> None:
        self.execute("UPDATE {events} SET state = ? WHERE originator_id = ? "
                     "AND originator_version = ?",
                     (msgspec.msgpack.encode(body), run_id, position))

    def all_text(self) -> list[str]:
        """Every value of every row of every table of the store, as text (bytes decoded
        leniently, msgpack payloads included verbatim)."""
        out: list[str] = []
        if self.sqlite:
            names = [r[0] for r in self.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'")]
            for name in names:
                for row in self.execute(f'SELECT * FROM "{name}"'):
                    out += [_text(v) for v in row]
        else:
            names = [r[0] for r in self.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = ?",
                (self.schema,))]
            for name in names:
                for row in self.execute(f'SELECT * FROM "{self.schema}"."{name}"'):
                    out += [_text(v) for v in row]
        return out


def _text(value: Any) -> str:
    if isinstance(value, bytes | memoryview):
        return bytes(value).decode("latin-1")
    return str(value)

"""Hearing of PostgreSQL appends: ``LISTEN`` on the schema's channel (see ``postgres.py``,
whose appends ``NOTIFY`` it in their transaction)."""

from __future__ import annotations

import asyncio
from typing import Any

import psycopg

from durable.store.base import ChangeFeed


class NotifyFeed(ChangeFeed):
    """LISTEN on the schema's channel: each NOTIFY names a run whose status changed or
    that someone who does not hold it appended to. A dropped connection is made again;
    what was sent meanwhile is lost, so the first wait after it says "check all"."""

    def __init__(self, conninfo: str, channel: str) -> None:
        self.conninfo, self.channel = conninfo, channel
        self._conn: psycopg.AsyncConnection[Any] | None = None

    async def _connect(self) -> psycopg.AsyncConnection[Any]:
        conn = await psycopg.AsyncConnection.connect(self.conninfo, autocommit=True,
                                                     connect_timeout=10)
        await conn.execute(f'LISTEN "{self.channel}"')
        return conn

    async def wait(self, timeout: float) -> set[str] | None:
        if self._conn is None or self._conn.closed:
            try:
                self._conn = await self._connect()
            except psycopg.Error:
                await asyncio.sleep(min(timeout, 1.0))
            return None
        ids: set[str] = set()
        try:
            async for note in self._conn.notifies(timeout=timeout, stop_after=1):
                ids.add(note.payload)
        except psycopg.Error:
            await self.close()
            return None
        return ids or None  # none: a timeout

    async def close(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            await conn.close()

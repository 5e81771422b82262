"""How an SQLite engine hears that others appended (PostgreSQL's LISTEN/NOTIFY is in
``pg_notify``): ``PRAGMA data_version``, polled, and the notices table."""

from __future__ import annotations

import asyncio
import sqlite3

from durable.store.base import ChangeFeed


class DataVersionFeed(ChangeFeed):
    """SQLite's ``PRAGMA data_version`` changes whenever another connection commits.

    Reading it touches no page (it compares the WAL index header), so it is polled
    on the event loop's own thread every ``every`` seconds, on a connection of its own.
    When it moved, the notices written since the last look name the runs that a
    non-holder appended to (``durable_notices``, PostgreSQL's NOTIFY in a table): a
    busy engine's own commits move the version too, and name nothing.
    """

    def __init__(self, path: str, every: float = 0.05) -> None:
        self.path, self.every = path, every
        self._conn: sqlite3.Connection | None = None
        self._version: int | None = None
        self._seq: int | None = None  # the newest notice seen
        self._last = 0.0  # when a change was last reported (event loop time)

    def _notices(self) -> set[str] | None:
        """The runs named by notices since the last look; None if they cannot be read."""
        try:
            assert self._conn is not None
            rows = self._conn.execute(
                "SELECT run_id, seq FROM durable_notices WHERE seq > ? ORDER BY seq",
                (self._seq or 0,)).fetchall()
        except sqlite3.Error:
            return None
        if rows:
            self._seq = rows[-1][1]
        return {r[0] for r in rows}

    def _start(self) -> None:
        self._version = self._read()
        try:
            assert self._conn is not None
            self._seq = int(self._conn.execute(
                "SELECT COALESCE(MAX(seq), 0) FROM durable_notices").fetchone()[0])
        except (sqlite3.Error, AssertionError):
            self._seq = None  # the first look names nothing it can trust: look at all

    def _read(self) -> int | None:
        try:
            if self._conn is None:
                self._conn = sqlite3.connect(self.path, timeout=0, isolation_level=None,
                                             check_same_thread=False)
            return int(self._conn.execute("PRAGMA data_version").fetchone()[0])
        except sqlite3.Error:  # busy, or the file is gone: say "something may have changed"
            return None

    async def wait(self, timeout: float) -> set[str] | None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        if self._version is None:
            self._start()
        # Under a stream of commits, report at most once every `every` seconds: a busy
        # engine's own commits change the version too, and each report costs a read.
        await asyncio.sleep(max(0.0, min(self._last + self.every - loop.time(), timeout)))
        while True:
            version = self._read()
            if version is None or version != self._version:
                self._version = version
                self._last = loop.time()
                if version is None or self._seq is None:
                    self._start()
                    return None
                return self._notices()
            remaining = deadline - loop.time()
            if remaining <= 0:
                return None  # a timeout: the caller looks at everything it watches
            await asyncio.sleep(min(self.every, remaining))

    async def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

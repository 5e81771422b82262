"""Stores by URL: ``sqlite:///file`` (the default), ``memory://``, ``postgresql://...``."""

from __future__ import annotations

import os
from typing import Any

from durable.store.base import Append, Head, Store

DEFAULT_URL = "sqlite:///durable.db"


def resolve_url(url: str | None) -> str:
    return url or os.environ.get("DURABLE_DATABASE_URL") or DEFAULT_URL


def open_store(url: str, **options: Any) -> Store:
    """Build the store a URL names. Nothing is opened until ``await store.open()``."""
    if url.startswith("sqlite:///"):
        from durable.store.sqlite import SQLiteStore

        path = url[len("sqlite:///") :]
        if not path:
            raise ValueError("a sqlite URL needs a file: sqlite:///relative.db or sqlite:////abs.db")
        return SQLiteStore(url, path, synchronous=options.get("synchronous", "FULL"))
    if url.startswith("memory://"):
        from durable.store.memory import MemoryStore

        return MemoryStore(url)
    if url.startswith(("postgresql://", "postgres://")):
        try:
            from durable.store.postgres import PostgresStore
        except ImportError as e:  # psycopg is an optional extra
            raise ValueError(
                f"{url!r} needs PostgreSQL support: pip install 'durable[postgres]' ({e})"
            ) from None
        return PostgresStore(url, **{k: v for k, v in options.items() if k == "pool_size"})
    raise ValueError(
        f"unknown store URL {url!r}: use sqlite:///file.db, memory:// or postgresql://user@host/db"
    )


__all__ = ["DEFAULT_URL", "Append", "Head", "Store", "open_store", "resolve_url"]

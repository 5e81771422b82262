"""Stores by URL: ``sqlite:///file`` (the default), ``memory://``, ``postgresql://...``."""

from __future__ import annotations

import os

from durable.store.base import ChangeFeed, Store
from durable.store.types import Append, Head

DEFAULT_URL = "sqlite:///durable.db"


def resolve_url(url: str | None) -> str:
    return url or os.environ.get("DURABLE_DATABASE_URL") or DEFAULT_URL


def sqlite_path(url: str) -> str | None:
    """The file a ``sqlite:///`` URL names, or None for another kind of store."""
    if not url.startswith("sqlite:///"):
        return None
    path = url[len("sqlite:///") :]
    if not path:
        raise ValueError("a sqlite URL needs a file: sqlite:///relative.db or sqlite:////abs.db")
    return path


def open_store(url: str, *, synchronous: str = "FULL", pool_size: int = 5) -> Store:
    """Build the store a URL names. Nothing is opened until ``await store.open()``."""
    path = sqlite_path(url)
    if path is not None:
        from durable.store.sqlite import SQLiteStore

        return SQLiteStore(url, path, synchronous=synchronous)
    if url.startswith("memory://"):
        from durable.store.memory import MemoryStore

        return MemoryStore(url)
    if url.startswith(("postgresql://", "postgres://")):
        try:
            from durable.store.postgres import PostgresStore
        except ImportError as e:  # psycopg is an optional extra
            raise ValueError(
                f"{url!r} needs PostgreSQL support: pip install 'durable-engine[postgres]' ({e})"
            ) from None
        return PostgresStore(url, pool_size=pool_size)
    raise ValueError(
        f"unknown store URL {url!r}: use sqlite:///file.db, memory:// or postgresql://user@host/db"
    )


__all__ = ["DEFAULT_URL", "Append", "ChangeFeed", "Head", "Store", "open_store", "resolve_url",
           "sqlite_path"]

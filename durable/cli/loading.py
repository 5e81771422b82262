"""Loading workflow code for the commands that run it (``--app MODULE:ENGINE``)."""

from __future__ import annotations

import dataclasses
import importlib
import sys
from typing import Any

from durable.engine import Engine


def load_app(spec: str) -> Any:
    """Import ``MODULE:ATTR`` (the working directory is importable) and return the attribute."""
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise ValueError(f"--app {spec!r} must look like MODULE:ENGINE, e.g. myapp.flows:engine")
    if "" not in sys.path:
        sys.path.insert(0, "")
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        raise ValueError(f"--app {spec!r}: cannot import {module_name!r}: {e}") from None
    try:
        return getattr(module, attr)
    except AttributeError:
        raise ValueError(f"--app {spec!r}: module {module_name!r} has no {attr!r}") from None


def engine_for_app(spec: str, db: str | None) -> Engine:
    """The engine that runs the workflows named by ``--app``.

    ``MODULE:ENGINE`` naming an :class:`Engine`: without ``--db`` that engine is
    used as it is (its own store URL); with ``--db`` its workflows are registered
    again, under the same names and versions, on a new ``Engine(db)`` made with the
    same options (its lease, pool size...), so the code runs against the store the
    command points at. ``MODULE:FUNCTION`` naming a
    callable: it is called with a new ``Engine(db)`` to register its workflows on
    (like ``durable.examples.orders:register``).
    """
    target = load_app(spec)
    if isinstance(target, Engine):
        if db is None:
            return target
        engine = Engine(db, **dataclasses.asdict(target.options))
        for wf in target.definitions():  # the definitions, with their functions
            engine.workflow(wf.name, version=wf.version, webhook_secret=wf.webhook_secret)(wf.fn)
        engine._queues = target._queues  # its queues' limits, as declared
        return engine
    if callable(target):
        engine = Engine(db)
        target(engine)
        return engine
    raise ValueError(f"--app {spec!r} names a {type(target).__name__}, not an Engine or a "
                     "function that registers workflows on one")

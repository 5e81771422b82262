"""Where today's code and a run's log part: what a :class:`NonDeterminismError` names.

Looked up only once a replay has failed, so the log is not indexed for it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from durable.events import Event
from durable.paths import path_key


def place(log: Iterable[Event], key: str) -> int | None:
    """The position of the log's first event at path ``key`` (a step, a suspension, a
    child); None if the log holds nothing there."""
    for e in log:
        path = getattr(e.payload, "path", None)
        if path is not None and path_key(path) == key:
            return e.position
    return None


def instead(requests: Iterable[str], kinds: Mapping[str, str], held: Mapping[str, Any]
            ) -> str | None:
    """What the code asks for where the log holds something else: the first path it
    requests that the log does not hold (a new or renamed step), else the first it
    requests that the log does not hold open (a step moved from later: a reordered or
    removed one); None when it asks for nothing (it returns, fails or waits elsewhere)."""
    fallback = None
    for key in requests:
        if key not in kinds:
            return key
        if fallback is None and key not in held:
            fallback = key
    return fallback

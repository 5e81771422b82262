"""Bulk work without the cyclic garbage collector.

Reading and replaying a long log makes hundreds of thousands of small objects
that all live until the replay ends. Python's cyclic collector is triggered by
allocations and rescans every live container each time its oldest generation
grows by a quarter, so with it on, a cold resume of 100,000 steps cost 13-20
times one of 10,000 instead of 10 (``python -m benchmarks.replay``). None of
these objects form reference cycles (events and payloads are ``gc=False``
structs), so nothing is lost by pausing the collector while they are made; it
is turned back on, as it was, when the outermost pause ends.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_depth = 0
_was_enabled = False


@contextmanager
def without_gc() -> Iterator[None]:
    """Pause the cyclic collector for the block (nests, and across threads)."""
    global _depth, _was_enabled
    with _lock:
        if _depth == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _was_enabled:
                gc.enable()

"""Following a run's log as it grows: what ``GET /v1/runs/{id}/stream`` and
``durable runs watch`` both read.

The events after a position, looked for every ``look`` seconds (one indexed read of
the events after the last one handed out), until the run's terminal event; ``None``
whenever ``idle`` seconds pass with nothing new (a stream's keep-alive, a display's
tick). Whoever stops listening and starts again from the last position it saw
misses nothing and sees nothing twice.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from durable.events import TERMINAL
from durable.results import Event

if TYPE_CHECKING:
    from durable.engine import Engine


async def follow(engine: Engine, run_id: str, after: int = 0, *, look: float = 0.1,
                 idle: float | None = None) -> AsyncIterator[Event | None]:
    quiet = 0.0
    while True:
        events = await engine.history(run_id, after=after)
        for event in events:
            yield event
            after = event.position
            if event.type in TERMINAL:
                return
        if events:
            quiet = 0.0
        elif idle is not None and quiet >= idle:
            yield None
            quiet = 0.0
        await asyncio.sleep(look)
        quiet += look

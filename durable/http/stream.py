"""``GET /v1/runs/{run_id}/stream``: a run's log as Server-Sent Events, live.

One message per event (``id:`` its position, ``data:`` the event as one line of
JSON), from the first event or after ``Last-Event-ID``, until the run's terminal
event (see :mod:`durable.follow`); a comment every ``KEEP_ALIVE`` seconds keeps
proxies from closing an idle stream.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

import msgspec
from litestar import get
from litestar.datastructures import State
from litestar.params import FromPath, HeaderParameter
from litestar.response import ServerSentEvent, ServerSentEventMessage

from durable.engine import Engine
from durable.follow import follow
from durable.http.errors import ERRORS

KEEP_ALIVE = 10.0


async def messages(engine: Engine, run_id: str, after: int,
                   keep_alive: float = KEEP_ALIVE) -> AsyncIterator[ServerSentEventMessage]:
    encode = msgspec.json.Encoder().encode
    async for event in follow(engine, run_id, after, idle=keep_alive):
        if event is None:
            yield ServerSentEventMessage(comment="keep-alive")
        else:
            yield ServerSentEventMessage(data=encode(event).decode(), id=event.position)


@get("/runs/{run_id:str}/stream", responses=ERRORS,
     summary="The run's events, live (Server-Sent Events)")
async def stream(
    state: State, run_id: FromPath[str],
    last_event_id: Annotated[int | None, HeaderParameter(
        name="Last-Event-ID", ge=0, description="the last position received")] = None,
) -> ServerSentEvent:
    """Every event of the run from the first (or after ``Last-Event-ID``) until it ends;
    ``id:`` is the event's position."""
    engine: Engine = state.engine
    await engine.get_run(run_id)  # 404 before the stream starts
    return ServerSentEvent(messages(engine, run_id, last_event_id or 0))

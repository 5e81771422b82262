"""``GET /v1/runs/{run_id}/stream``: a run's log as Server-Sent Events, live.

One message per event (``id:`` its position, ``data:`` the event as one line of
JSON), from the first event or after ``Last-Event-ID``, until the run's terminal
event (see :mod:`durable.follow`); a comment every ``KEEP_ALIVE`` seconds keeps
proxies from closing an idle stream.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated

import msgspec
from litestar import get
from litestar.datastructures import State
from litestar.params import FromPath, HeaderParameter, QueryParameter
from litestar.response import ServerSentEvent, ServerSentEventMessage

from durable.engine import Engine
from durable.follow import follow
from durable.http.errors import ERRORS
from durable.results import Event

KEEP_ALIVE = 10.0


async def messages(engine: Engine, run_id: str, after: int, keep_alive: float = KEEP_ALIVE,
                   stop: asyncio.Event | None = None
                   ) -> AsyncIterator[ServerSentEventMessage]:
    """The stream's messages; it ends with the run, or when ``stop`` is set (the server
    is shutting down: a client reconnects with ``Last-Event-ID`` and misses nothing)."""
    encode = msgspec.json.Encoder().encode
    events = follow(engine, run_id, after, idle=keep_alive).__aiter__()
    stopping = asyncio.ensure_future((stop or asyncio.Event()).wait())
    nxt: asyncio.Future[Event | None] | None = None
    try:
        while True:
            nxt = asyncio.ensure_future(events.__anext__())
            await asyncio.wait({nxt, stopping}, return_when=asyncio.FIRST_COMPLETED)
            if not nxt.done():
                return
            try:
                event = nxt.result()
            except StopAsyncIteration:
                return
            if event is None:
                yield ServerSentEventMessage(comment="keep-alive")
            else:
                yield ServerSentEventMessage(data=encode(event).decode(), id=event.position)
    finally:
        # However the stream ends (the run ended, the server is stopping, the client
        # went away and the response was cancelled mid-wait), the read in flight is
        # cancelled and awaited: left running, it would go on polling an engine that
        # is about to close.
        stopping.cancel()
        if nxt is not None and not nxt.done():
            nxt.cancel()
            await asyncio.gather(nxt, return_exceptions=True)


@get("/runs/{run_id:str}/stream", responses=ERRORS,
     summary="The run's events, live (Server-Sent Events)")
async def stream(
    state: State, run_id: FromPath[str],
    last_event_id: Annotated[int | None, HeaderParameter(
        name="Last-Event-ID", ge=0, description="the last position received")] = None,
    after: Annotated[int | None, QueryParameter(
        ge=0, description="the last position already seen (a browser's EventSource "
        "cannot send Last-Event-ID on its first request); the header wins if larger")
    ] = None,
) -> ServerSentEvent:
    """Every event of the run from the first (or after ``Last-Event-ID``) until it ends;
    ``id:`` is the event's position."""
    engine: Engine = state.engine
    await engine.get_run(run_id)  # 404 before the stream starts
    return ServerSentEvent(messages(engine, run_id, max(last_event_id or 0, after or 0),
                                    stop=state.get("stopping")))

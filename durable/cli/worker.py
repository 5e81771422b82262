"""``durable worker``: an engine that works its queues as a process of its own."""

from __future__ import annotations

import asyncio
import logging
import signal
from typing import Annotated

import typer

from durable.cli.app import AppOpt, DbOpt, app, call, db_url, fail
from durable.cli.loading import engine_for_app
from durable.engine import Engine

QueueOpt = Annotated[list[str] | None, typer.Option(
    "--queue", help="A queue to work (repeat for more); all declared ones if none.")]


@app.command()
def worker(
    ctx: typer.Context, app_spec: AppOpt = None, queue: QueueOpt = None,
    concurrency: Annotated[int, typer.Option(
        "--concurrency", min=1, help="Runs executing at once in this process.")] = 10,
    grace: Annotated[float, typer.Option(
        "--grace", min=0, help="Seconds runs in flight get to settle on SIGTERM; then "
        "they are left for other workers.")] = 30.0,
    db: DbOpt = None,
) -> None:
    """Work queues: claim pending runs, fire due timers, recover runs whose holder died.
    SIGTERM or Ctrl-C stops it cleanly (exit 0)."""
    if app_spec is None:
        fail("a worker runs the workflows' code: pass --app MODULE:ENGINE (or set $DURABLE_APP)",
             code=2)
    try:
        engine = engine_for_app(app_spec, db_url(ctx, db))
    except (ValueError, TypeError) as e:
        fail(str(e), code=2)
    logging.getLogger("durable.worker").setLevel(logging.INFO)
    call(engine, lambda e: _work(e, queue or None, concurrency, grace))


async def _work(engine: Engine, queues: list[str] | None, concurrency: int, grace: float
                ) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    working = asyncio.create_task(engine.work(queues=queues, concurrency=concurrency,
                                              grace=grace))
    stopping = asyncio.create_task(stop.wait())
    logging.getLogger("durable.worker").info("worker_started")
    await asyncio.wait({working, stopping}, return_when=asyncio.FIRST_COMPLETED)
    if working.done():
        stopping.cancel()
        working.result()  # a worker that ended by itself: say why
        return
    working.cancel()  # stop claiming; runs in flight get `grace`, then are released
    await asyncio.gather(working, return_exceptions=True)
    logging.getLogger("durable.worker").info("worker_stopped")

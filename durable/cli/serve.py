"""``durable serve``: the HTTP API (and a worker) as a process of its own."""

from __future__ import annotations

import logging
import os
from types import FrameType
from typing import Annotated, Any

import typer

from durable.cli.app import AppOpt, DbOpt, app, db_url, fail
from durable.cli.loading import engine_for_app


def _server_class() -> type:
    import asyncio

    import uvicorn

    class Server(uvicorn.Server):
        """uvicorn, save that SIGTERM or Ctrl-C, having shut the server down gracefully,
        exits 0 (uvicorn raises the signal again as it returns, which kills the process)."""

        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            super().handle_exit(sig, frame)
            self._captured_signals.clear()
            # Open event streams end now rather than hold the shutdown for --grace.
            app: Any = self.config.app
            stopping = getattr(getattr(app, "state", None), "stopping", None)
            if stopping is not None:
                asyncio.get_event_loop().call_soon_threadsafe(stopping.set)

    return Server


@app.command()
def serve(
    ctx: typer.Context, app_spec: AppOpt = None,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="Port.")] = 8000,
    concurrency: Annotated[int, typer.Option(
        "--concurrency", min=1, help="Queued runs this server executes at once.")] = 10,
    max_body: Annotated[int, typer.Option(
        "--max-body", min=1, help="Bytes past which a request body is refused (413).")
    ] = 10 * 1024 * 1024,
    grace: Annotated[float, typer.Option(
        "--grace", min=0, help="Seconds requests in flight get to finish on SIGTERM.")] = 30.0,
    db: DbOpt = None,
) -> None:
    """Serve the HTTP API under /v1 (OpenAPI at /schema/openapi.json). With
    $DURABLE_API_TOKEN set, every request needs Authorization: Bearer <token>.
    The server is a worker too: it executes queued runs and fires due timers."""
    if app_spec is None:
        fail("the server runs the workflows' code: pass --app MODULE:ENGINE (or set "
             "$DURABLE_APP)", code=2)
    try:
        engine = engine_for_app(app_spec, db_url(ctx, db))
    except (ValueError, TypeError) as e:
        fail(str(e), code=2)
    import uvicorn

    from durable.http.app import create_app

    _Server = _server_class()
    token = os.environ.get("DURABLE_API_TOKEN") or None
    asgi = create_app(engine, token=token, concurrency=concurrency, max_body=max_body)
    logging.getLogger("durable.worker").setLevel(logging.INFO)
    config = uvicorn.Config(asgi, host=host, port=port, lifespan="on", log_level="info",
                            timeout_graceful_shutdown=int(grace), access_log=False)
    server = _Server(config)
    try:
        server.run()
    except OSError as e:  # the port is taken, say
        fail(f"cannot serve on {host}:{port}: {e}")
    if not server.started:
        fail(f"the server did not start on {host}:{port}; its log above says why")

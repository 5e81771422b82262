"""The HTTP API as an ASGI application: ``create_app(engine)``.

``durable serve`` runs it under uvicorn; a host service may mount it under a prefix
of its own ASGI application, sharing its engine. While the application runs it is a
worker too (``work=True``): it claims queued runs (``wait: false`` hands a run to
it), fires due timers and recovers runs whose holder died.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import msgspec
from litestar import Litestar, Response
from litestar.datastructures import State
from litestar.exceptions import HTTPException, ValidationException
from litestar.openapi import OpenAPIConfig

from durable.engine import Engine
from durable.errors import DurableError, EngineClosed
from durable.http.bodies import Problem
from durable.http.errors import (
    RequestInvalid,
    on_bug,
    on_durable,
    on_http,
    on_invalid,
    on_validation,
)
from durable.http.routes import v1
from durable.inspector.auth import csrf_secret, guard, same_origin
from durable.inspector.routes import inspector
from durable.logs import get_logger

log = get_logger("durable.http")
MAX_BODY = 10 * 1024 * 1024


def _version() -> str:
    try:
        return version("durable-engine")
    except PackageNotFoundError:
        return "0"


def create_app(engine: Engine, *, token: str | None = None, work: bool = True,
               concurrency: int = 10, max_body: int = MAX_BODY) -> Litestar:
    """The API for ``engine``. The engine is opened when the application starts (and
    closed when it stops) unless it is open already (a host service's own).
    ``token``: required as a bearer token on every route. ``work``: be a worker while
    running, with ``concurrency`` runs claimed at once. ``max_body``: bytes past which
    a request body is refused (413)."""

    @contextlib.asynccontextmanager
    async def lifespan(instance: Litestar) -> AsyncIterator[None]:
        instance.state.stopping = asyncio.Event()  # set when the server begins to shut down
        opened = not engine.is_open
        if opened:
            await engine.open()
        worker = asyncio.create_task(engine.work(concurrency=concurrency)) if work else None
        try:
            yield
        finally:
            if worker is not None:
                worker.cancel()
                await asyncio.gather(worker, return_exceptions=True)
            if opened:
                await engine.close()

    def closing(_: Any, exc: EngineClosed) -> Response[Problem]:
        return Response(Problem("the server is shutting down; try again"), status_code=503)

    app = Litestar(
        route_handlers=[v1, inspector],
        state=State({"engine": engine, "token": token, "csrf_secret": csrf_secret(token)}),
        lifespan=[lifespan],
        middleware=[same_origin(), *([guard(token)] if token else [])],
        request_max_body_size=max_body,
        exception_handlers={
            ValidationException: on_validation,
            RequestInvalid: on_invalid,
            HTTPException: on_http,
            DurableError: on_durable,
            EngineClosed: closing,
            Exception: on_bug,
        },
        openapi_config=OpenAPIConfig(title="durable", version=_version(), path="/schema"),
        debug=False,
    )
    # Bodies that refuse unknown fields say so (Litestar leaves it out of the schemas).
    strict = _refusing_unknown_fields()
    for name, schema in (app.openapi_schema.components.schemas or {}).items():
        if name in strict:
            schema.additional_properties = False
    return app


def _refusing_unknown_fields() -> set[str]:
    """The names of this package's structs declared ``forbid_unknown_fields`` (the
    OpenAPI document names a body's schema after its struct)."""
    found: set[str] = set()
    todo: list[type] = [msgspec.Struct]
    while todo:
        subclasses: list[type] = todo.pop().__subclasses__()
        for sub in subclasses:
            todo.append(sub)
            config = getattr(sub, "__struct_config__", None)
            if sub.__module__.startswith("durable.") and config is not None and (
                    config.forbid_unknown_fields):
                found.add(sub.__name__)
    return found

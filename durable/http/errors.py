"""How the HTTP API answers errors: 422 with ``{"detail": [{"loc", "msg", "type"}]}``
for anything invalid in the request, ``{"detail": "..."}`` for the other 4xx, and a
500 that says nothing of the code (logged with its traceback) for a bug."""

from __future__ import annotations

import re
from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.openapi.datastructures import ResponseSpec

from durable.errors import (
    AmbiguousResume,
    DurableError,
    InvalidResumeData,
    RunNotFound,
    StoreUnavailable,
    WorkflowNotFound,
)
from durable.http.bodies import ErrorItem, Invalid, Problem
from durable.logs import get_logger

log = get_logger("durable.http")


ERRORS: dict[int, ResponseSpec] = {
    401: ResponseSpec(Problem, description="A bearer token (or webhook secret) is needed",
                      generate_examples=False),
    404: ResponseSpec(Problem, description="No such run or workflow", generate_examples=False),
    409: ResponseSpec(Problem, description="The run is not in a state that allows this",
                      generate_examples=False),
    413: ResponseSpec(Problem, description="The body is past the server's limit",
                      generate_examples=False),
    422: ResponseSpec(Invalid, description="Something in the request is invalid",
                      generate_examples=False),
    503: ResponseSpec(Problem, description="The database is unavailable, or the server "
                      "is shutting down", generate_examples=False),
}
"""Every error a route may answer, for the OpenAPI document."""


def loc(source: str | None, key: str | None) -> list[str | int]:
    """``("body", "y[0].name")`` -> ``["body", "y", 0, "name"]``; the whole body is
    ``data`` to Litestar, and ``["body"]`` here."""
    where: list[str | int] = [source or "body"]
    if key and key != "data":
        for part in re.findall(r"[^.\[\]]+", key):
            where.append(int(part) if part.isdigit() else part)
    return where


class RequestInvalid(Exception):
    """Raised by a route for a value the engine refused: answered 422 at ``loc``."""

    def __init__(self, where: list[str | int], msg: str) -> None:
        super().__init__(msg)
        self.where, self.msg = where, msg


def invalid(where: list[str | int], msg: str, kind: str = "value_error") -> Response[Invalid]:
    return Response(Invalid([ErrorItem(where, msg, kind)]), status_code=422)


def on_invalid(_: Request[Any, Any, Any], exc: RequestInvalid) -> Response[Invalid]:
    return invalid(exc.where, exc.msg)


def on_validation(_: Request[Any, Any, Any], exc: ValidationException) -> Response[Invalid]:
    extra = exc.extra if isinstance(exc.extra, list) else []
    items = []
    for e in extra:
        if isinstance(e, dict):
            msg = str(e.get("message", exc.detail))
            where = loc(e.get("source"), e.get("key"))
            unknown = re.search(r"unknown field `([^`]+)`", msg)
            if unknown:  # name the field, as the other errors do
                where.append(unknown.group(1))
            items.append(ErrorItem(where, msg, "value_error"))
    return Response(Invalid(items or [ErrorItem(["body"], str(exc.detail), "value_error")]),
                    status_code=422)


def on_http(_: Request[Any, Any, Any], exc: HTTPException) -> Response[Problem]:
    return Response(Problem(str(exc.detail)), status_code=exc.status_code,
                    headers=exc.headers or None)


def on_durable(_: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """The engine's refusals, each as what a client can act on."""
    if isinstance(exc, RunNotFound | WorkflowNotFound):
        return Response(Problem(str(exc)), status_code=404)
    if isinstance(exc, InvalidResumeData):
        return invalid(["body", "data"], str(exc))
    if isinstance(exc, AmbiguousResume):
        return invalid(["body", "step"], str(exc))
    if isinstance(exc, StoreUnavailable):
        return Response(Problem("the database is unavailable; try again shortly"),
                        status_code=503)
    if isinstance(exc, DurableError):
        # RunAlreadyStarted, NotSuspended, and NonDeterminismError (the server's code no
        # longer replays this run: nothing was written, and the same request succeeds
        # once code that does is deployed): the run's state refuses the request.
        return Response(Problem(str(exc)), status_code=409)
    return on_bug(_, exc)


def on_bug(request: Request[Any, Any, Any], exc: Exception) -> Response[Problem]:
    log.error("http_request_failed", method=request.method, path=request.url.path,
              exc_info=exc)
    return Response(Problem("the server failed to answer this request; its log says why"),
                    status_code=500)

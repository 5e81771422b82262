"""The ``/v1`` routes about runs' histories: fork, audit, export and import, redact."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Request, Response, get, post
from litestar.datastructures import State
from litestar.params import FromPath, JSONBody

from durable.engine import Engine
from durable.http.bodies import Step
from durable.http.errors import ERRORS, RequestInvalid
from durable.paths import addressable
from durable.results import Audit, RunInfo

NDJSON = "application/x-ndjson"


class Fork(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """``POST /v1/runs/{run_id}/fork``: where (a position before the terminal event, or a
    step: just before it), and what-if results by step path joined with ``"."``."""

    at: Annotated[int, msgspec.Meta(ge=1, le=2**53)] | Step
    results: dict[str, Any] | None = None


class Redact(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """``POST /v1/runs/{run_id}/redact``: the erasure request this answers."""

    reason: Annotated[str, msgspec.Meta(min_length=1, max_length=1000)]


def engine_of(state: State) -> Engine:
    return state.engine  # type: ignore[no-any-return]


@post("/runs/{run_id:str}/fork", responses=ERRORS, status_code=201, summary="Fork a run")
async def fork(state: State, run_id: FromPath[str], data: JSONBody[Fork]) -> RunInfo:
    """A new run whose log begins with the original's events up to ``at`` (the original
    is not touched): suspended where the original waited, else paused (resume it to
    continue under today's code). ``results`` are recorded instead of running those
    steps."""
    engine = engine_of(state)
    try:
        run = await engine.fork(run_id, at=data.at, results=data.results)
    except ValueError as e:
        raise RequestInvalid(["body", "results" if "result" in str(e) else "at"],
                             str(e)) from None
    return await engine.get_run(run.run_id)


@get("/runs/{run_id:str}/audit", responses=ERRORS, summary="Audit a run's stored history")
async def audit(state: State, run_id: FromPath[str]) -> Audit:
    """The run's hash chain, head row, large results and snapshot checked: ``ok``, or the
    first altered, missing or reordered position and why."""
    return await engine_of(state).audit(run_id)


@get("/runs/{run_id:str}/export", responses=ERRORS, summary="Export a run as JSON lines",
     media_type=NDJSON)
async def export(state: State, run_id: FromPath[str]) -> Response[bytes]:
    """A header line with the run's fields, then one line per event with its payload
    (large results inline) and its chain fields; ``POST /v1/runs/import`` takes it."""
    data = await engine_of(state).export_run(run_id)
    return Response(data, media_type=NDJSON, headers={
        "Content-Disposition": f'attachment; filename="run-{run_id}.jsonl"'})


@post("/runs/import", responses=ERRORS, status_code=201, summary="Import an exported run")
async def import_run(state: State, request: Request[Any, Any, Any]) -> RunInfo:
    """The body is an export (``GET /v1/runs/{run_id}/export``). It is written with the
    same id once its chain and every line check out; 422 (nothing written) if they do
    not, or if the run exists."""
    engine = engine_of(state)
    body = await request.body()
    named = _export_names(body)
    if named is not None and not addressable(named):
        raise RequestInvalid(["body"], f"the export holds run {named!r}, an id no URL can "
                             "address (it holds '/' or is a dot segment): import it with "
                             "'durable runs import FILE' or engine.import_run instead")
    try:
        run_id = await engine.import_run(body)
    except ValueError as e:
        raise RequestInvalid(["body"], str(e)) from None
    return await engine.get_run(run_id)


@post("/runs/{run_id:str}/redact", responses=ERRORS, status_code=200,
      summary="Erase a finished run's payloads")
async def redact(state: State, run_id: FromPath[str], data: JSONBody[Redact]) -> RunInfo:
    """Erases the input, step results, resume data, state and output of a finished run,
    keeping its events and hashes (its audit still passes)."""
    try:
        return await engine_of(state).redact(run_id, reason=data.reason)
    except ValueError as e:
        raise RequestInvalid(["path", "run_id"], str(e)) from None


ROUTES = [fork, audit, export, import_run, redact]


class _Named(msgspec.Struct):
    run_id: str


def _export_names(body: bytes) -> str | None:
    """The run id an export's first line names (None if it names none: the engine's
    import says what is wrong with it)."""
    try:
        return msgspec.json.decode(body.lstrip().split(b"\n", 1)[0], type=_Named).run_id
    except msgspec.DecodeError:
        return None

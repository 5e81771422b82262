"""The ``/v1`` routes: each is a thin translation of one engine call (see API.md)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

import msgspec
from litestar import Router, get, post
from litestar.datastructures import State
from litestar.params import FromPath, JSONBody, QueryParameter

from durable.engine import Engine
from durable.errors import NotSuspended, WaitsOnTimer
from durable.http import history
from durable.http.bodies import NAME_PATTERN, EventsPage, Resume, Resumed, StartRun
from durable.http.errors import ERRORS, RequestInvalid
from durable.http.stream import stream
from durable.http.webhook import resume_node
from durable.paths import MAX_NAME
from durable.reads import when_from_text
from durable.results import Page, RunInfo, WorkflowInfo

RUN_FIELDS = frozenset(f for f in RunInfo.__struct_fields__)
Status = Annotated[Literal["pending", "running", "suspended", "paused", "succeeded", "failed",
                           "cancelled"] | None, QueryParameter()]
Text = Annotated[str | None, QueryParameter(min_length=1, max_length=MAX_NAME,
                                            pattern=NAME_PATTERN)]
When = Annotated[str | None, QueryParameter(
    min_length=1, max_length=64, description="inclusive: a date (2026-12-01: the whole day, "
    "UTC) or an ISO 8601 date-time (UTC if naive)")]
PageNo = Annotated[int, QueryParameter(ge=0, le=2**53 // 1000, description="0-based")]
PerPage = Annotated[int, QueryParameter(ge=1, le=1000)]


def engine_of(state: State) -> Engine:
    return state.engine  # type: ignore[no-any-return]


@get("/workflows", responses=ERRORS, summary="The registered workflows")
async def list_workflows(state: State) -> list[WorkflowInfo]:
    return engine_of(state).workflows()


@post("/workflows/{name:str}/runs", responses=ERRORS, status_code=201, summary="Start a run")
async def start_run(state: State, name: FromPath[str], data: JSONBody[StartRun]) -> RunInfo:
    """Starts a run of workflow ``name`` and answers once it settles (succeeded,
    failed, cancelled, suspended or paused); ``wait: false`` queues it for this
    server's worker and answers at once (status ``pending``)."""
    engine = engine_of(state)
    try:
        if not data.wait:
            run = await engine.enqueue(
                name, data.input, run_id=data.run_id, resource_id=data.resource_id,
                thread_id=data.thread_id, initial_state=data.initial_state,
                request_context=data.request_context)
            return await engine.get_run(run.run_id)
        handle = await engine.create_run(name, run_id=data.run_id,
                                         resource_id=data.resource_id, thread_id=data.thread_id)
        return await handle.start(data.input, initial_state=data.initial_state,
                                  request_context=data.request_context)
    except ValueError as e:  # input that cannot be stored, a run id of another workflow...
        raise RequestInvalid(["body"], str(e)) from None


async def _filtered(state: State, suspended: bool, status: str | None, workflow: str | None,
                    resource_id: str | None, thread_id: str | None, from_text: str | None,
                    to_text: str | None, page: int, per_page: int,
                    blocked: bool | None = None) -> Page:
    engine = engine_of(state)
    dates: dict[str, date | datetime | None] = {}
    for name, text in (("from_date", from_text), ("to_date", to_text)):
        try:
            dates[name] = when_from_text(text) if text is not None else None
        except ValueError as e:
            raise RequestInvalid(["query", name], str(e)) from None
    from_date, to_date = dates["from_date"], dates["to_date"]
    try:
        if suspended:
            return await engine.list_suspended_runs(
                workflow=workflow, resource_id=resource_id, thread_id=thread_id,
                from_date=from_date, to_date=to_date, page=page, per_page=per_page)
        return await engine.list_runs(
            status=status, workflow=workflow, resource_id=resource_id, thread_id=thread_id,
            from_date=from_date, to_date=to_date, blocked=blocked, page=page, per_page=per_page)
    except ValueError as e:  # a filter the engine refuses (an unknown status, say)
        raise RequestInvalid(["query"], str(e)) from None


@get("/runs", responses=ERRORS, summary="Runs, newest first")
async def list_runs(
    state: State, status: Status = None, workflow: Text = None, resource_id: Text = None,
    thread_id: Text = None, from_date: When = None, to_date: When = None,
    page: PageNo = 0, per_page: PerPage = 50,
    blocked: Annotated[bool | None, QueryParameter(
        description="true: only runs today's code could not replay in the background; "
        "false: only the others")] = None,
) -> Page:
    return await _filtered(state, False, status, workflow, resource_id, thread_id, from_date,
                           to_date, page, per_page, blocked)


@get("/runs/suspended", responses=ERRORS,
     summary="Runs waiting for someone, newest suspension first")
async def list_suspended(
    state: State, workflow: Text = None, resource_id: Text = None, thread_id: Text = None,
    from_date: When = None, to_date: When = None, page: PageNo = 0, per_page: PerPage = 50,
) -> Page:
    return await _filtered(state, True, None, workflow, resource_id, thread_id, from_date,
                           to_date, page, per_page)


@get("/runs/{run_id:str}", responses=ERRORS, summary="One run")
async def get_run(
    state: State, run_id: FromPath[str],
    fields: Annotated[str | None, QueryParameter(
        description="Comma-separated fields to answer with, and only those, e.g. "
        "status,output (run_id among them to have it)")] = None,
) -> RunInfo | dict[str, Any]:
    info = await engine_of(state).get_run(run_id)
    if fields is None:
        return info
    wanted = [f.strip() for f in fields.split(",") if f.strip()]
    if not wanted:
        raise RequestInvalid(["query", "fields"], "name at least one field, e.g. "
                             "fields=status,output (or leave fields out for the whole run)")
    unknown = sorted(set(wanted) - RUN_FIELDS)
    if unknown:
        raise RequestInvalid(["query", "fields"], f"unknown field(s) {', '.join(unknown)}; "
                             f"a run has {', '.join(sorted(RUN_FIELDS))}")
    whole = msgspec.to_builtins(info)
    return {f: whole.get(f) for f in wanted}


@get("/runs/{run_id:str}/events", responses=ERRORS, summary="A page of the run's log")
async def list_events(
    state: State, run_id: FromPath[str],
    after: Annotated[int, QueryParameter(ge=0, description="the last position already seen")] = 0,
    limit: Annotated[int, QueryParameter(ge=1, le=1000)] = 100,
) -> EventsPage:
    events = await engine_of(state).history(run_id, after=after, limit=limit + 1)
    more = len(events) > limit
    events = events[:limit]
    return EventsPage(events=events, next=events[-1].position if more else None)


@get("/runs/{run_id:str}/state", responses=ERRORS, summary="The run as it stood after an event")
async def state_at(state: State, run_id: FromPath[str],
                   at: Annotated[int, QueryParameter(ge=1, description="an event's position")]
                   ) -> RunInfo:
    engine = engine_of(state)
    try:
        return await engine.state_at(run_id, at)
    except ValueError as e:
        raise RequestInvalid(["query", "at"], str(e)) from None


@post("/runs/{run_id:str}/resume", responses=ERRORS,
      status_code=200, summary="Answer a suspended step")
async def resume(state: State, run_id: FromPath[str], data: JSONBody[Resume]) -> Resumed:
    """Resumes the run at ``step`` and answers once it settles again: ``resumed``; or
    ``skipped`` (200) with the reason when that step is not waiting, so a retry is
    harmless."""
    engine = engine_of(state)
    try:
        run = await engine.resume_run(run_id, data.data, data.step)
    except ValueError as e:  # a step path no run can have, data that cannot be stored
        raise RequestInvalid(["body", "step" if str(e).startswith("step") else "data"],
                             str(e)) from None
    except WaitsOnTimer as e:  # a mistake in the request, not a duplicate
        raise RequestInvalid(["body", "step"], str(e)) from None
    except NotSuspended as e:
        return Resumed(action="skipped", reason=str(e), run=await engine.get_run(run_id))
    return Resumed(action="resumed", run=run)


@post("/runs/{run_id:str}/cancel", responses=ERRORS, status_code=200, summary="Cancel a run")
async def cancel(state: State, run_id: FromPath[str]) -> RunInfo:
    return await engine_of(state).cancel_run(run_id, None)


@post("/runs/{run_id:str}/pause", responses=ERRORS,
      status_code=200, summary="Pause a run at its next step")
async def pause(state: State, run_id: FromPath[str]) -> RunInfo:
    return await engine_of(state).pause_run(run_id)


v1 = Router("/v1", route_handlers=[
    list_workflows, start_run, list_runs, list_suspended, get_run, list_events, state_at,
    resume, cancel, pause, stream, resume_node, *history.ROUTES,
])

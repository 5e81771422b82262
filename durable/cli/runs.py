"""``durable runs ...``: inspect runs, answer their suspensions, cancel and verify them."""

from __future__ import annotations

import json
from typing import Annotated

import msgspec
import typer

from durable.cli.app import (
    AppOpt,
    DbOpt,
    FromOpt,
    JsonOpt,
    OptionalRunIdArg,
    PageOpt,
    PerPageOpt,
    ResourceOpt,
    RunIdArg,
    ThreadOpt,
    ToOpt,
    WorkflowOpt,
    call,
    check_status,
    db_url,
    emit_json,
    fail,
    must_exist,
    runs_app,
    when,
    with_engine,
)
from durable.cli.loading import engine_for_app
from durable.demo import (
    describe_event,
    events_table,
    fmt_time,
    run_table,
    runs_table,
    suspended_table,
    waiting_on,
)
from durable.demo import make_console as console
from durable.engine import Engine
from durable.follow import follow
from durable.results import RunInfo
from durable.run import Run


def app_engine(ctx: typer.Context, app_spec: str, db: str | None) -> Engine:
    """The ``--app`` engine on the store the command names, else on its own store; the
    store must exist (a command that answers or checks runs never creates one)."""
    try:
        engine = engine_for_app(app_spec, db_url(ctx, db))
    except ValueError as e:
        fail(str(e))
    must_exist(engine.url)
    return engine


# -- runs: reading ------------------------------------------------------------------
@runs_app.command("list")
def runs_list(
    ctx: typer.Context,
    status: Annotated[str | None, typer.Option("--status", help="Only this status.")] = None,
    workflow: WorkflowOpt = None,
    resource: ResourceOpt = None,
    thread: ThreadOpt = None,
    from_date: FromOpt = None,
    to_date: ToOpt = None,
    page: PageOpt = 0,
    per_page: PerPageOpt = 50,
    blocked: Annotated[bool, typer.Option(
        "--blocked", help="Only runs today's code could not replay in the background "
        "(blocked until code that replays them is deployed).")] = False,
    as_json: JsonOpt = False,
    db: DbOpt = None,
) -> None:
    """List runs, newest first."""
    check_status(status)
    since, until = when(from_date, "--from"), when(to_date, "--to")
    result = with_engine(ctx, db, lambda e: e.list_runs(
        status=status, workflow=workflow, resource_id=resource, thread_id=thread,
        from_date=since, to_date=until, blocked=True if blocked else None, page=page,
        per_page=per_page))
    if as_json:
        return emit_json(result)
    out = console()
    if not result.runs:
        none = "No blocked runs." if blocked else "No runs found."
        out.print(none if result.total == 0 else f"No runs on page {page}.")
        return
    out.print(runs_table(result.runs, title=f"{len(result.runs)} of {result.total} runs "
                                              f"(page {page})"))


@runs_app.command("suspended")
def runs_suspended(
    ctx: typer.Context,
    workflow: WorkflowOpt = None,
    resource: ResourceOpt = None,
    thread: ThreadOpt = None,
    from_date: FromOpt = None,
    to_date: ToOpt = None,
    page: PageOpt = 0,
    per_page: PerPageOpt = 50,
    as_json: JsonOpt = False,
    db: DbOpt = None,
) -> None:
    """List runs waiting on a suspension (input, approval, event, timer), newest first."""
    since, until = when(from_date, "--from"), when(to_date, "--to")
    result = with_engine(ctx, db, lambda e: e.list_suspended_runs(
        workflow=workflow, resource_id=resource, thread_id=thread,
        from_date=since, to_date=until, page=page, per_page=per_page))
    if as_json:
        return emit_json(result)
    if not result.runs:
        console().print("No runs are waiting.")
        return
    plural = "" if result.total == 1 else "s"
    console().print(suspended_table(result.runs, title=f"{result.total} waiting run{plural}"))


@runs_app.command("show")
def runs_show(ctx: typer.Context, run_id: RunIdArg, as_json: JsonOpt = False,
              db: DbOpt = None) -> None:
    """Show one run: status, output or error, and what it waits on."""
    info = with_engine(ctx, db, lambda e: e.get_run(run_id))
    if as_json:
        return emit_json(info)
    console().print(run_table(info))


@runs_app.command("history")
def runs_history(ctx: typer.Context, run_id: RunIdArg, as_json: JsonOpt = False,
                 db: DbOpt = None) -> None:
    """Print a run's event log, oldest first."""
    events = with_engine(ctx, db, lambda e: e.history(run_id))
    if as_json:
        return emit_json(events)
    console().print(events_table(events, title=f"History of run {run_id}"))


@runs_app.command("state")
def runs_state(
    ctx: typer.Context,
    run_id: RunIdArg,
    at: Annotated[int, typer.Option("--at", help="Event position (1-based).",
                                    show_default=False)],
    as_json: JsonOpt = False,
    db: DbOpt = None,
) -> None:
    """Show the run as it stood right after event number --at."""
    info = with_engine(ctx, db, lambda e: e.state_at(run_id, at))
    if as_json:
        return emit_json(info)
    console().print(run_table(info, title=f"Run {run_id} after event {at}"))


@runs_app.command("watch")
def runs_watch(ctx: typer.Context, run_id: RunIdArg, as_json: JsonOpt = False,
               db: DbOpt = None) -> None:
    """Follow a run live: each event as it is appended, and where the run stands, until
    it ends (exit 0 if it succeeded, 1 otherwise). Ctrl-C stops watching; the run goes
    on. With --json, one line of JSON per event (as the HTTP stream's data)."""
    try:
        status = with_engine(ctx, db, lambda e: _watch(e, run_id, as_json))
    except KeyboardInterrupt:
        fail("stopped watching; the run goes on", code=130)
    raise typer.Exit(0 if status == "succeeded" else 1)


async def _watch(engine: Engine, run_id: str, as_json: bool) -> str:
    info = await engine.get_run(run_id)  # RunNotFound: one line, before anything else
    if as_json:
        async for event in follow(engine, run_id):
            if event is not None:
                typer.echo(msgspec.json.encode(event).decode())
        return (await engine.get_run(run_id)).status
    out = console()

    def line(i: RunInfo) -> str:
        waiting = f", waiting on {waiting_on(i)}" if i.suspended else ""
        return f"run {run_id} ({i.workflow}): {i.status} at event {i.position}{waiting}"

    with out.status(line(info)) as shown:
        async for event in follow(engine, run_id, idle=1.0):
            if event is not None:
                out.print(f"{event.position:>5}  {fmt_time(event.timestamp, ms=True)}  "
                          f"{event.type:<16} {describe_event(event)}", highlight=False)
            info = await engine.get_run(run_id)
            shown.update(line(info))
    out.print(line(info))
    return info.status


async def all_runs(engine: Engine, per_page: int = 500) -> list[RunInfo]:
    """Every run in the store, paging through ``list_runs``."""
    runs: list[RunInfo] = []
    page = 0
    while True:
        result = await engine.list_runs(page=page, per_page=per_page)
        runs.extend(result.runs)
        if not result.runs or len(runs) >= result.total:
            return runs
        page += 1


# -- runs: acting -------------------------------------------------------------------
@runs_app.command("cancel")
def runs_cancel(
    ctx: typer.Context,
    run_id: RunIdArg,
    reason: Annotated[str | None, typer.Option("--reason", help="Why; kept in the log.")] = None,
    as_json: JsonOpt = False,
    db: DbOpt = None,
) -> None:
    """Cancel a run (a finished run is left as it is)."""

    async def cancel(engine: Engine) -> tuple[str, RunInfo]:
        before = await engine.get_run(run_id)
        result = await Run(engine, run_id, before.workflow).cancel(reason)
        return before.status, result

    before, result = with_engine(ctx, db, cancel)
    if as_json:
        return emit_json(result)
    if before in ("succeeded", "failed", "cancelled"):
        console().print(f"Run {run_id} had already {before}; nothing to cancel.")
    else:
        console().print(f"Run {run_id} is now {result.status}.")


@runs_app.command("resume")
def runs_resume(
    ctx: typer.Context,
    run_id: RunIdArg,
    step: Annotated[str | None, typer.Option(
        "--step", help="Which suspension: a step id or a path like review.2.approve. "
        "Needed only when the run waits on more than one.")] = None,
    data: Annotated[str | None, typer.Option("--data", help="Resume data, as JSON.")] = None,
    app_spec: AppOpt = None,
    as_json: JsonOpt = False,
    db: DbOpt = None,
) -> None:
    """Answer a run's suspension (or continue a paused run) and execute it, here or
    wherever it executes; prints the run once it settles again."""
    try:
        value = json.loads(data) if data is not None else None
    except json.JSONDecodeError as e:
        fail(f"--data is not valid JSON: {e}", 2)
    if not app_spec:
        fail("resuming runs the workflow's code: pass --app MODULE:ENGINE (or set $DURABLE_APP)",
             2)
    engine = app_engine(ctx, app_spec, db)

    async def resume(engine: Engine) -> RunInfo:
        info = await engine.get_run(run_id)
        run = await engine.create_run(info.workflow, run_id=run_id)
        return await run.resume(value, step=step)

    result = call(engine, resume)
    if as_json:
        return emit_json(result)
    console().print(run_table(result, title=f"Run {run_id} after the resume"))


@runs_app.command("replay")
def runs_replay(
    ctx: typer.Context,
    run_id: OptionalRunIdArg = None,
    all_runs_: Annotated[bool, typer.Option("--all", help="Check every run.")] = False,
    workflow: Annotated[str | None, typer.Option("--workflow", help="Only this workflow's runs."
                                                 )] = None,
    app_spec: AppOpt = None,
    as_json: JsonOpt = False,
    db: DbOpt = None,
) -> None:
    """Replay stored runs (finished, suspended, paused and unfinished alike) against
    today's code, read-only: catches non-determinism before a deploy. Calls no step and
    writes nothing. For each run that would no longer replay, prints the first diverging
    event and both step ids (logged, and requested by the code now); exits 1 if any.
    With no run id and no --workflow, every run is checked (as with --all)."""
    if sum([run_id is not None, all_runs_, workflow is not None]) > 1:
        fail("give one of: a run id, --all, or --workflow W (none: every run)", 2)
    if not app_spec:
        fail("replaying runs the workflow's code: pass --app MODULE:ENGINE (or set $DURABLE_APP)",
             2)
    engine = app_engine(ctx, app_spec, db)
    checks = call(engine, lambda e: e.check_replays(
        [run_id] if run_id is not None else None, workflow=workflow))
    bad = [c for c in checks if not c.ok]
    if as_json:
        emit_json(checks)
    else:
        out = console()
        for c in checks:
            if c.ok:  # (every run's line only for one run: thousands pass at once)
                if run_id is not None:
                    out.print(f"ok {c.run_id} ({c.status})", highlight=False)
                continue
            at = (f" at event {c.position}: logged {c.logged!r}, requested {c.requested!r}"
                  if c.position is not None else "")
            out.print(f"FAIL {c.run_id} ({c.status}){at}\n  {c.error}", highlight=False)
        out.print(f"{len(checks) - len(bad)} of {len(checks)} run(s) replay cleanly.")
    if bad:
        fail(f"{len(bad)} run(s) no longer replay against this code")

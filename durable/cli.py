"""The ``durable`` command line: look at runs, answer them, and run the demo.

Every command opens the store named by ``--db`` (default as ``Engine()``:
``$DURABLE_DATABASE_URL``, else ``sqlite:///durable.db`` in the working
directory). Commands that only read or cancel runs need no workflow code;
``runs resume`` executes the workflow and so loads it from ``--app`` (see
:func:`engine_for_app`). Errors print one ``error: ...`` line on stderr and
exit non-zero; ``--json`` prints machine-readable JSON on stdout.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import logging
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, NoReturn, TypeVar

import msgspec
import typer
from rich import box
from rich.table import Table

from durable.demo import (
    events_table,
    run_demo,
    run_table,
    runs_table,
    suspended_table,
    verify_table,
)
from durable.demo import (
    make_console as console,
)
from durable.engine import Engine, Run
from durable.errors import DurableError, NotSuspended
from durable.results import RunInfo

T = TypeVar("T")

STATUSES = ("pending", "running", "suspended", "paused", "succeeded", "failed", "cancelled")

app = typer.Typer(
    help="durable: an event-sourced durable execution engine. Start with 'durable demo'.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
runs_app = typer.Typer(
    help="Inspect runs, answer their suspensions, cancel and verify them.",
    no_args_is_help=True,
)
app.add_typer(runs_app, name="runs")
projections_app = typer.Typer(
    help="The read models behind the listings: where they stand, and rebuilding them.",
    no_args_is_help=True,
)
app.add_typer(projections_app, name="projections")

DbOpt = Annotated[
    str | None,
    typer.Option(
        "--db",
        help="Store URL (sqlite:///file.db, memory://, postgresql://...). "
        "Default: $DURABLE_DATABASE_URL, else sqlite:///durable.db.",
        show_default=False,
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
OptionalRunIdArg = Annotated[
    str | None, typer.Argument(metavar="RUN_ID", help="The run's id.", show_default=False)
]
RunIdArg = Annotated[
    str, typer.Argument(metavar="RUN_ID", help="The run's id.", show_default=False)
]
WorkflowOpt = Annotated[str | None, typer.Option("--workflow", help="Only this workflow.")]
ResourceOpt = Annotated[str | None, typer.Option("--resource", help="Only this resource id.")]
ThreadOpt = Annotated[str | None, typer.Option("--thread", help="Only this thread id.")]
FromOpt = Annotated[datetime | None, typer.Option("--from", help="Not before (UTC if naive).")]
ToOpt = Annotated[datetime | None, typer.Option("--to", help="Not after (UTC if naive).")]
PageOpt = Annotated[int, typer.Option("--page", min=0, help="Page number, from 0.")]
PerPageOpt = Annotated[int, typer.Option("--per-page", min=1, help="Runs per page.")]


class StoreUnavailable(Exception):
    """The store named by --db could not be opened."""


@dataclass
class Settings:
    """Options given before the command (``durable --db URL runs ...``)."""

    db: str | None = None


# -- plumbing -------------------------------------------------------------------
def fail(message: str, code: int = 1) -> NoReturn:
    """Print one ``error:`` line on stderr and exit with ``code``."""
    typer.echo(f"error: {' '.join(str(message).split())}", err=True)
    raise typer.Exit(code)


def db_url(ctx: typer.Context, db: str | None) -> str | None:
    """The command's ``--db``, else the global one, else None (``Engine()``'s default)."""
    if db is not None:
        return db
    settings = ctx.find_root().obj
    return settings.db if isinstance(settings, Settings) else None


def call(engine: Engine, fn: Callable[[Engine], Awaitable[T]]) -> T:
    """Open ``engine``, await ``fn(engine)``, close it; expected errors become ``fail``."""

    async def go() -> T:
        try:
            await engine.open()
        except Exception as e:  # any driver's error: the store cannot be reached
            raise StoreUnavailable(f"cannot open the store {engine.url}: {e}") from e
        try:
            return await fn(engine)
        finally:
            await engine.close()

    try:
        return asyncio.run(go())
    except (DurableError, ValueError, OSError, StoreUnavailable) as e:
        fail(str(e))


def with_engine(ctx: typer.Context, db: str | None, fn: Callable[[Engine], Awaitable[T]]) -> T:
    """Run ``fn`` on an engine with no workflows registered, on the selected store."""
    try:
        engine = Engine(db_url(ctx, db))
    except ValueError as e:
        fail(str(e))
    return call(engine, fn)


def emit_json(value: Any) -> None:
    """Print ``value`` (structs, lists, dicts) as indented JSON; datetimes in ISO 8601."""
    raw = msgspec.json.encode(value)
    typer.echo(msgspec.json.format(raw, indent=2).decode())


def check_status(status: str | None) -> None:
    if status is not None and status not in STATUSES:
        raise typer.BadParameter(f"{status!r} is not one of {', '.join(STATUSES)}")


# -- root -----------------------------------------------------------------------
@app.callback()
def root(ctx: typer.Context, db: DbOpt = None) -> None:
    """durable: an event-sourced durable execution engine. Start with 'durable demo'."""
    ctx.obj = Settings(db)


@app.command()
def demo(ctx: typer.Context, db: DbOpt = None) -> None:
    """Run the bundled order-approval example end to end and show what happened."""
    with_engine(ctx, db, lambda e: run_demo(e, console()))


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
    as_json: JsonOpt = False,
    db: DbOpt = None,
) -> None:
    """List runs, newest first."""
    check_status(status)
    result = with_engine(ctx, db, lambda e: e.list_runs(
        status=status, workflow=workflow, resource_id=resource, thread_id=thread,
        from_date=from_date, to_date=to_date, page=page, per_page=per_page))
    if as_json:
        return emit_json(result)
    out = console()
    if not result.runs:
        out.print("No runs found." if result.total == 0 else f"No runs on page {page}.")
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
    result = with_engine(ctx, db, lambda e: e.list_suspended_runs(
        workflow=workflow, resource_id=resource, thread_id=thread,
        from_date=from_date, to_date=to_date, page=page, per_page=per_page))
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


@runs_app.command("verify")
def runs_verify(
    ctx: typer.Context,
    run_id: OptionalRunIdArg = None,
    all_runs: Annotated[bool, typer.Option("--all", help="Verify every run.")] = False,
    as_json: JsonOpt = False,
    db: DbOpt = None,
) -> None:
    """Check runs' tamper-evident hash chains; exits 1 if any was altered."""
    if (run_id is None) == (not all_runs):
        fail("give either a run id or --all", 2)
    results = with_engine(ctx, db, lambda e: verify_runs(e, run_id))
    bad = [r for r, ok in results.items() if not ok]
    if as_json:
        emit_json([{"run_id": r, "valid": ok} for r, ok in results.items()])
    else:
        console().print(verify_table(results))
    if bad:
        fail(f"{len(bad)} of {len(results)} run(s) failed verification: their stored "
             f"history was altered ({', '.join(bad[:5])}{' ...' if len(bad) > 5 else ''})")


async def verify_runs(engine: Engine, run_id: str | None) -> dict[str, bool]:
    """``{run_id: chain is intact}`` for one run, or every run when ``run_id`` is None."""
    if run_id is not None:
        return {run_id: await engine.verify(run_id)}
    ids = [info.run_id for info in await all_runs(engine)]
    return {rid: await engine.verify(rid) for rid in ids}


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
    app_spec: Annotated[str | None, typer.Option(
        "--app", envvar="DURABLE_APP", help="MODULE:ENGINE holding the workflow code "
        "(or MODULE:FUNCTION taking an Engine to register on).", show_default=False)] = None,
    as_json: JsonOpt = False,
    db: DbOpt = None,
) -> None:
    """Answer a run's suspension (or continue a paused run) and execute it on here."""
    try:
        value = json.loads(data) if data is not None else None
    except json.JSONDecodeError as e:
        fail(f"--data is not valid JSON: {e}", 2)
    url = db_url(ctx, db)
    try:
        engine = engine_for_app(app_spec, url) if app_spec else Engine(url)
    except ValueError as e:
        fail(str(e))

    async def resume(engine: Engine) -> RunInfo:
        info = await engine.get_run(run_id)
        if info.status not in ("suspended", "paused"):
            raise NotSuspended(run_id, info.status, step)
        if not app_spec:
            raise ValueError("resuming runs the workflow's code: pass --app MODULE:ENGINE "
                             "(or set $DURABLE_APP)")
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
    app_spec: Annotated[str | None, typer.Option(
        "--app", envvar="DURABLE_APP", help="MODULE:ENGINE holding today's workflow code.",
        show_default=False)] = None,
    as_json: JsonOpt = False,
    db: DbOpt = None,
) -> None:
    """Replay stored runs against today's code, read-only: catches non-determinism before a
    deploy. Calls no step and writes nothing; exits 1 if any run would no longer replay."""
    if sum([run_id is not None, all_runs_, workflow is not None]) != 1:
        fail("give one of: a run id, --all, or --workflow W", 2)
    if not app_spec:
        fail("replaying runs the workflow's code: pass --app MODULE:ENGINE (or set $DURABLE_APP)",
             2)
    try:
        engine = engine_for_app(app_spec, db_url(ctx, db))
    except ValueError as e:
        fail(str(e))

    async def replay(engine: Engine) -> list[Any]:
        if run_id is not None:
            ids = [run_id]
        else:
            ids = [r.run_id for r in await all_runs(engine)
                   if workflow is None or r.workflow == workflow]
        return [await engine.check_replay(i) for i in ids]

    checks = call(engine, replay)
    bad = [c for c in checks if not c.ok]
    if as_json:
        emit_json(checks)
    else:
        for c in checks:
            mark = "ok " if c.ok else "FAIL"
            console().print(f"{mark} {c.run_id} ({c.status}){'' if c.ok else ': ' + str(c.error)}")
        console().print(f"{len(checks) - len(bad)} of {len(checks)} run(s) replay cleanly.")
    if bad:
        fail(f"{len(bad)} run(s) no longer replay against this code")


# -- projections ---------------------------------------------------------------------
@projections_app.command("status")
def projections_status(ctx: typer.Context, as_json: JsonOpt = False, db: DbOpt = None) -> None:
    """Each view's position in the event log, and how far behind it is."""
    views = with_engine(ctx, db, lambda e: e.projections())
    if as_json:
        return emit_json(views)
    console().print(views_table(views))


@projections_app.command("rebuild")
def projections_rebuild(ctx: typer.Context, as_json: JsonOpt = False, db: DbOpt = None) -> None:
    """Drop the views and build them again from the logs (runs may go on meanwhile)."""
    views = with_engine(ctx, db, lambda e: e.rebuild_projections())
    if as_json:
        return emit_json(views)
    console().print(views_table(views, title="Rebuilt from the logs"))


def views_table(views: list[Any], title: str = "Projections") -> Table:
    table = Table(title=title, box=box.SIMPLE_HEAD)
    for column in ("view", "kept", "position", "log head", "lag", "rows"):
        table.add_column(column, justify="left" if column in ("view", "kept") else "right")
    for v in views:
        kept = "with the events" if v.consistency == "inline" else "tracking"
        table.add_row(v.name, kept, str(v.position), str(v.head), str(v.lag), str(v.rows))
    return table


# -- loading workflow code ----------------------------------------------------------
def load_app(spec: str) -> Any:
    """Import ``MODULE:ATTR`` (the working directory is importable) and return the attribute."""
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise ValueError(f"--app {spec!r} must look like MODULE:ENGINE, e.g. myapp.flows:engine")
    if "" not in sys.path:
        sys.path.insert(0, "")
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        raise ValueError(f"--app {spec!r}: cannot import {module_name!r}: {e}") from None
    try:
        return getattr(module, attr)
    except AttributeError:
        raise ValueError(f"--app {spec!r}: module {module_name!r} has no {attr!r}") from None


def engine_for_app(spec: str, db: str | None) -> Engine:
    """The engine that runs the workflows named by ``--app``.

    ``MODULE:ENGINE`` naming an :class:`Engine`: without ``--db`` that engine is
    used as it is (its own store URL); with ``--db`` its workflows are registered
    again, under the same names and versions, on a new ``Engine(db)``, so the code
    runs against the store the command points at. ``MODULE:FUNCTION`` naming a
    callable: it is called with a new ``Engine(db)`` to register its workflows on
    (like ``durable.examples.orders:register``).
    """
    target = load_app(spec)
    if isinstance(target, Engine):
        if db is None:
            return target
        engine = Engine(db)
        for wf in target.definitions():  # the definitions, with their functions
            engine.workflow(wf.name, version=wf.version, webhook_secret=wf.webhook_secret)(wf.fn)
        return engine
    if callable(target):
        engine = Engine(db)
        target(engine)
        return engine
    raise ValueError(f"--app {spec!r} names a {type(target).__name__}, not an Engine or a "
                     "function that registers workflows on one")


# -- entry point ----------------------------------------------------------------------
def configure_logging() -> None:
    """The CLI is an application: it shows the engine's warnings on stderr, keeping stdout clean."""
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format="%(levelname)s %(name)s: %(message)s")


def main(argv: list[str] | None = None) -> None:
    """Console entry point: usage errors are one line too, and the exit code is kept."""
    configure_logging()
    command = typer.main.get_command(app)
    try:
        code = command.main(args=argv, prog_name="durable", standalone_mode=False)
    except typer.TyperException as e:  # usage errors (typer's bundled click)
        if type(e).__name__ == "NoArgsIsHelpError":
            typer.echo(e.format_message())
            sys.exit(0)
        ctx = getattr(e, "ctx", None)
        hint = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
        typer.echo(f"error: {' '.join(e.format_message().split())}{hint}", err=True)
        sys.exit(getattr(e, "exit_code", 2))
    except typer.Abort:
        typer.echo("error: aborted", err=True)
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()

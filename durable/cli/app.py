"""The ``durable`` command line's frame: the apps, shared options and the plumbing.

Every command opens the store named by ``--db`` (default as ``Engine()``:
``$DURABLE_DATABASE_URL``, else ``sqlite:///durable.db`` in the working
directory). Errors print one ``error: ...`` line on stderr and exit non-zero,
never a traceback; ``--json`` prints machine-readable JSON on stdout. A command
that only reads never creates a database: pointed at a SQLite file that does
not exist, it says so.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Any, NoReturn, TypeVar

import msgspec
import typer

from durable.engine import Engine
from durable.errors import DurableError, EngineClosed, StoreUnavailable
from durable.reads import STATUSES, when_from_text
from durable.store import resolve_url, sqlite_path

T = TypeVar("T")

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
AppOpt = Annotated[str | None, typer.Option(
    "--app", envvar="DURABLE_APP", help="MODULE:ENGINE holding the workflow code "
    "(or MODULE:FUNCTION taking an Engine to register on).", show_default=False)]
WorkflowOpt = Annotated[str | None, typer.Option("--workflow", help="Only this workflow.")]
ResourceOpt = Annotated[str | None, typer.Option("--resource", help="Only this resource id.")]
ThreadOpt = Annotated[str | None, typer.Option("--thread", help="Only this thread id.")]
FromOpt = Annotated[str | None, typer.Option(
    "--from", help="Not before: a date (its whole day, UTC) or an ISO 8601 date-time (UTC if "
    "naive).")]
ToOpt = Annotated[str | None, typer.Option(
    "--to", help="Not after: a date (its whole day, UTC) or an ISO 8601 date-time (UTC if "
    "naive).")]
PageOpt = Annotated[int, typer.Option("--page", min=0, help="Page number, from 0.")]
PerPageOpt = Annotated[int, typer.Option("--per-page", min=1, help="Runs per page.")]


@dataclass
class Settings:
    """Options given before the command (``durable --db URL runs ...``)."""

    db: str | None = None


@app.callback()
def root(ctx: typer.Context, db: DbOpt = None) -> None:
    """durable: an event-sourced durable execution engine. Start with 'durable demo'."""
    ctx.obj = Settings(db)


# -- plumbing -------------------------------------------------------------------------------
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


def must_exist(url: str | None) -> None:
    """A command that only reads must not create the database it was pointed at."""
    path = sqlite_path(resolve_url(url))
    if path is not None and not os.path.exists(path):
        fail(f"no database at {os.path.abspath(path)}: nothing has run on this store yet. "
             "Point --db (or $DURABLE_DATABASE_URL) at an existing store, or run "
             "'durable demo' to make one")


def call(engine: Engine, fn: Callable[[Engine], Awaitable[T]]) -> T:
    """Open ``engine``, await ``fn(engine)``, close it; every error becomes one line."""

    async def go() -> T:
        async with engine:
            return await fn(engine)

    try:
        return asyncio.run(go())
    except typer.Exit:
        raise
    except StoreUnavailable as e:
        fail(str(e))
    except (DurableError, EngineClosed, ValueError, TypeError, OSError) as e:
        fail(str(e))
    except Exception as e:  # never a traceback: what went wrong, in one line
        fail(f"{type(e).__name__}: {e}")


def with_engine(ctx: typer.Context, db: str | None, fn: Callable[[Engine], Awaitable[T]],
                *, reads_only: bool = True) -> T:
    """Run ``fn`` on an engine with no workflows registered, on the selected store."""
    url = db_url(ctx, db)
    if reads_only:
        must_exist(url)
    try:
        engine = Engine(url)
    except (ValueError, TypeError) as e:
        fail(str(e))
    return call(engine, fn)


def emit_json(value: Any) -> None:
    """Print ``value`` (structs, lists, dicts) as indented JSON; datetimes in ISO 8601."""
    raw = msgspec.json.encode(value)
    typer.echo(msgspec.json.format(raw, indent=2).decode())


def when(text: str | None, option: str) -> date | datetime | None:
    """A --from/--to value: a date (its whole day) or an ISO 8601 date-time."""
    try:
        return when_from_text(text) if text is not None else None
    except ValueError as e:
        raise typer.BadParameter(str(e), param_hint=option) from None


def check_status(status: str | None) -> None:
    if status is not None and status not in STATUSES:
        raise typer.BadParameter(f"{status!r} is not one of {', '.join(STATUSES)}")

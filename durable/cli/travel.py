"""``durable runs fork|export|import``: taking a run's history elsewhere."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from durable.cli.app import DbOpt, JsonOpt, RunIdArg, emit_json, fail, runs_app, with_engine
from durable.demo import make_console as console
from durable.demo import run_table
from durable.engine import Engine
from durable.results import RunInfo


@runs_app.command("fork")
def runs_fork(
    ctx: typer.Context,
    run_id: RunIdArg,
    at: Annotated[str, typer.Option("--at", help="An event position, or a step path (just "
                                    "before that step).", show_default=False)],
    result: Annotated[list[str] | None, typer.Option(
        "--result", help="A what-if result, STEP=JSON (repeatable): recorded instead of "
        "running that step.")] = None,
    as_json: JsonOpt = False,
    db: DbOpt = None,
) -> None:
    """Fork a run: a new run whose log begins with the original's first events (which is
    never touched), suspended where it waited, else paused ('runs resume' continues it)."""
    results: dict[str, Any] = {}
    for item in result or []:
        step, sep, value = item.partition("=")
        if not sep or not step:
            fail(f"--result {item!r}: write STEP=JSON, e.g. --result 'pay={{\"ok\": false}}'", 2)
        try:
            results[step] = json.loads(value)
        except json.JSONDecodeError as e:
            fail(f"--result {step}: the result is not valid JSON: {e}", 2)
    where: int | str = int(at) if at.isdigit() else at

    async def fork(engine: Engine) -> RunInfo:
        run = await engine.fork(run_id, at=where, results=results or None)
        return await engine.get_run(run.run_id)

    info = with_engine(ctx, db, fork)
    if as_json:
        return emit_json(info)
    console().print(run_table(info, title=f"Fork of {run_id} at event {info.fork_position}"))


@runs_app.command("export")
def runs_export(ctx: typer.Context, run_id: RunIdArg, as_json: JsonOpt = False,
                db: DbOpt = None) -> None:
    """Print a run as JSON lines (its fields, then every event with its chain fields and
    large results inline): 'durable runs export ID > run.jsonl'. The output is JSON with
    or without --json (taken, like every runs command)."""
    data = with_engine(ctx, db, lambda e: e.export_run(run_id))
    sys.stdout.buffer.write(data)
    sys.stdout.flush()


@runs_app.command("import")
def runs_import(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="An export ('-' for standard input).",
                                         show_default=False)],
    as_json: JsonOpt = False,
    db: DbOpt = None,
) -> None:
    """Write an exported run into this store with the same id, once its chain checks out;
    refuses (writing nothing) a broken export or an id the store holds."""
    try:
        data = sys.stdin.buffer.read() if str(file) == "-" else file.read_bytes()
    except OSError as e:
        fail(f"cannot read {file}: {e.strerror}")

    async def load(engine: Engine) -> RunInfo:
        return await engine.get_run(await engine.import_run(data))

    info = with_engine(ctx, db, load, reads_only=False)
    if as_json:
        return emit_json(info)
    console().print(f"Imported run {info.run_id} ({info.workflow}, {info.status}, "
                    f"{info.position} events).")

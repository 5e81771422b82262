"""``durable projections ...``: the read models behind the listings."""

from __future__ import annotations

from typing import Any

import typer
from rich import box
from rich.table import Table

from durable.cli.app import DbOpt, JsonOpt, emit_json, projections_app, with_engine
from durable.demo import make_console as console


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



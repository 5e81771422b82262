"""``durable runs verify|redact`` and ``durable audit seal``: checking histories, sealing
them, and erasing a finished run's payloads."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from durable.cli.app import (
    DbOpt,
    JsonOpt,
    OptionalRunIdArg,
    RunIdArg,
    app,
    emit_json,
    fail,
    runs_app,
    with_engine,
)
from durable.demo import audit_table, run_table
from durable.demo import make_console as console
from durable.engine import Engine
from durable.results import Audit
from durable.seal import Seal

audit_app = typer.Typer(help="Seal every run's history, to audit it later against the seal.",
                        no_args_is_help=True)
app.add_typer(audit_app, name="audit")


@runs_app.command("verify")
def runs_verify(
    ctx: typer.Context,
    run_id: OptionalRunIdArg = None,
    all_runs_: Annotated[bool, typer.Option("--all", help="Verify every run.")] = False,
    against: Annotated[Path | None, typer.Option(
        "--against", help="A seal file ('durable audit seal > seal.json'): also catch a log "
        "cut short or rewritten together with its head since.", dir_okay=False)] = None,
    as_json: JsonOpt = False,
    db: DbOpt = None,
) -> None:
    """Audit runs: their hash chains, head rows, large results and snapshots (and a seal);
    prints the first altered, missing or reordered event of each; exits 1 if any."""
    if (run_id is None) == (not all_runs_):
        fail("give either a run id or --all", 2)
    seal = None
    if against is not None:
        try:
            seal = Seal.from_json(against.read_bytes())
        except OSError as e:
            fail(f"cannot read the seal {against}: {e.strerror}")
        except ValueError as e:
            fail(f"{against}: {e}")

    async def audit(engine: Engine) -> list[Audit]:
        if run_id is None:
            return await engine.audit_all(against=seal)
        return [await engine.audit(run_id, against=seal)]

    audits = with_engine(ctx, db, audit)
    bad = [a for a in audits if not a.ok]
    if as_json:
        emit_json(audits)
    else:
        console().print(audit_table(audits))
    if seal is not None and run_id is None:
        seen = {a.run_id for a in audits}
        gone = [r for r in seal.runs if r not in seen]
        if gone:
            fail(f"{len(gone)} sealed run(s) are missing from the store: deleted since the "
                 f"seal ({', '.join(gone[:5])}{' ...' if len(gone) > 5 else ''})")
    if bad:
        fail(f"{len(bad)} of {len(audits)} run(s) failed the audit: their stored history was "
             f"altered ({', '.join(a.run_id for a in bad[:5])}{' ...' if len(bad) > 5 else ''})")


@runs_app.command("redact")
def runs_redact(
    ctx: typer.Context,
    run_id: RunIdArg,
    reason: Annotated[str, typer.Option("--reason", help="The erasure request this answers; "
                                        "shown in place of each payload.", show_default=False)],
    as_json: JsonOpt = False,
    db: DbOpt = None,
) -> None:
    """Erase a finished run's payloads (input, step results, resume data, state, output),
    keeping its events, times and hashes: 'runs verify' still passes."""
    info = with_engine(ctx, db, lambda e: e.redact(run_id, reason=reason))
    if as_json:
        return emit_json(info)
    console().print(run_table(info, title=f"Run {run_id}, redacted"))


@audit_app.command("seal")
def audit_seal(ctx: typer.Context, db: DbOpt = None) -> None:
    """Print a seal of every run's length and head hash (JSON; signed with HMAC-SHA256 when
    $DURABLE_AUDIT_KEY is set). Keep it outside the database, then check the store with
    'durable runs verify --all --against SEAL_FILE'."""
    seal = with_engine(ctx, db, lambda e: e.seal())
    typer.echo(seal.to_json())

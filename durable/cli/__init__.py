"""The ``durable`` command line: look at runs, answer them, and run the demo.

Commands that only read or cancel runs need no workflow code; ``runs resume``
and ``runs replay`` execute the workflow and so load it from ``--app`` (see
:func:`durable.cli.loading.engine_for_app`).
"""

from __future__ import annotations

import logging
import sys

import typer

from durable.cli import audit as _audit  # noqa: F401 - registers its commands
from durable.cli import projections as _projections  # noqa: F401 - registers its commands
from durable.cli import runs as _runs  # noqa: F401 - registers its commands
from durable.cli import serve as _serve  # noqa: F401 - registers its command
from durable.cli import travel as _travel  # noqa: F401 - registers its commands
from durable.cli import worker as _worker  # noqa: F401 - registers its command
from durable.cli.app import DbOpt, app, with_engine
from durable.demo import make_console as console
from durable.demo import run_demo

__all__ = ["app", "main"]


@app.command()
def demo(ctx: typer.Context, db: DbOpt = None) -> None:
    """Run the bundled order-approval example end to end and show what happened."""
    with_engine(ctx, db, lambda e: run_demo(e, console()), reads_only=False)


class _FieldsFormatter(logging.Formatter):
    """The engine hands its fields (run_id, step_id, ...) to logging as record attributes;
    a person at a terminal wants to see them after the message."""

    _standard = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
        "message", "asctime", "taskName"}

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        fields = {k: v for k, v in vars(record).items() if k not in self._standard}
        if fields:
            text += " " + " ".join(f"{k}={v!r}" for k, v in fields.items())
        return text


def configure_logging() -> None:
    """The CLI is an application: it shows the engine's warnings on stderr, keeping stdout
    clean. (A library never does this; the command line is the host here.)"""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_FieldsFormatter("%(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.WARNING, handlers=[handler])


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

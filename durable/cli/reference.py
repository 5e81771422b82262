"""``python -m durable.cli.reference``: the command line's reference page
(``docs/reference/cli.md``), written from the commands' own help, so the page and
``durable COMMAND --help`` cannot disagree (a test checks the committed page)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import typer

from durable.cli import app


def _commands(command: Any, path: list[str]) -> Iterator[tuple[list[str], Any]]:
    subcommands = getattr(command, "commands", None)
    if subcommands is None:
        yield path, command
        return
    for name in sorted(subcommands):
        yield from _commands(subcommands[name], [*path, name])


def _option(param: Any) -> str:
    names = ", ".join(f"`{o}`" for o in [*param.opts, *param.secondary_opts])
    kind = "" if param.is_flag else f" {param.name.upper()}"
    default = param.default
    shown = "" if default in (None, False, (), []) or param.is_flag else f" (default: {default})"
    return f"- {names}{kind}: {' '.join((param.help or '').split())}{shown}"


def page() -> str:
    root = typer.main.get_command(app)
    lines = ["# Command line reference", "",
             "Every `durable` command, from its own `--help` (regenerate with "
             "`python -m durable.cli.reference > docs/reference/cli.md`). Errors are one "
             "line on stderr and a non-zero exit; `--json` prints the same shapes as the "
             "HTTP API's bodies ([http.md](http.md)).", ""]
    for path, command in _commands(root, ["durable"]):
        arguments = [p for p in command.params if p.param_type_name == "argument"]
        usage = " ".join([*path, *(a.name.upper() if a.required else f"[{a.name.upper()}]"
                                   for a in arguments)])
        lines += [f"## `{usage}`", "", " ".join((command.help or "").split()), ""]
        options = [p for p in command.params if p.param_type_name == "option"
                   and p.name != "help"]
        lines += [_option(p) for p in options]
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


if __name__ == "__main__":
    print(page(), end="")

"""Paths name places in a run: ``("review", 2, "approve")`` is step ``approve``
inside iteration 2 of the for-each ``review``. Also the rules for the names a
user gives (run ids, step ids, workflow names). Pure functions, no I/O."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

Path = tuple[str | int, ...]

MAX_NAME = 512


def check_name(what: str, value: Any, *, optional: bool = False) -> None:
    """Refuse a name every store cannot keep as it is: not a string, empty, too long,
    holding a NUL character (PostgreSQL's text refuses it) or a lone surrogate (no
    UTF-8 for it). ``what`` says which name, e.g. "a run id"."""
    if value is None and optional:
        return
    if not isinstance(value, str) or not value:
        raise ValueError(f"{what} must be a non-empty string, not {value!r}")
    if len(value) > MAX_NAME:
        raise ValueError(f"{what} may be at most {MAX_NAME} characters, not {len(value)}")
    if "\x00" in value:
        raise ValueError(f"{what} may not contain a NUL character: {value!r}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(f"{what} is not valid Unicode text (a lone surrogate): {value!r}"
                         ) from None


# A run id a URL path segment can hold as it is (decision 0015): no "/" (servers decode
# "%2F" before routing) and not "." or ".." (dot segments, removed by every URL parser
# even when written "%2E"). The same rule as a pattern, without lookarounds (the
# OpenAPI document carries it, and test generators read it).
ADDRESSABLE_RUN_ID = "^([^\\x00/.][^\\x00/]*|\\.[^\\x00/.][^\\x00/]*|\\.\\.[^\\x00/]+)$"


def addressable(run_id: str) -> bool:
    """Whether ``/v1/runs/{run_id}`` (and the inspector's page) can reach this run."""
    return "/" not in run_id and run_id not in (".", "..")


def check_step_id(step_id: str) -> None:
    check_name("a step id", step_id)
    if "." in step_id or "#" in step_id:
        raise ValueError(
            f"step id {step_id!r} contains '.' or '#', which durable reserves for paths "
            "('a.b') and repeats ('id#2'); choose an id without them"
        )


def path_key(path: Sequence[str | int]) -> str:
    """The string form used as a dict key: parts joined with ``.``."""
    if len(path) == 1 and isinstance(path[0], str):
        return path[0]  # the common case, a top-level step
    return ".".join(str(p) for p in path)


def parse_path(step: Any) -> Path:
    """Accept ``"approval"``, ``"review.approve"``, ``"items.1.approve"`` or a tuple/list
    of strings and integers; anything else is a ``ValueError`` saying what would do."""
    if isinstance(step, str):
        check_name("a step", step)
        parts: list[str | int] = []
        for part in step.split("."):
            parts.append(int(part) if part.isdigit() else part)
        return tuple(parts)
    if isinstance(step, tuple | list) and step and all(
        (isinstance(p, str) and p) or (isinstance(p, int) and not isinstance(p, bool) and p >= 0)
        for p in step
    ):
        for p in step:
            if isinstance(p, str):
                check_name("a step id in a path", p)
        return tuple(step)
    raise ValueError(
        f"step must be a step id ('approval'), a dotted path ('review.2.approve') or a "
        f"tuple or list of step ids and iteration numbers (('review', 2, 'approve')), "
        f"not {step!r}"
    )

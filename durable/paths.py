"""Paths name places in a run: ``("review", 2, "approve")`` is step ``approve``
inside iteration 2 of the for-each ``review``. Pure functions, no I/O."""

from __future__ import annotations

from collections.abc import Sequence

Path = tuple[str | int, ...]


def check_step_id(step_id: str) -> None:
    if not isinstance(step_id, str) or not step_id:
        raise ValueError(f"a step id must be a non-empty string, not {step_id!r}")
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


def parse_path(step: str | Sequence[str | int]) -> Path:
    """Accept ``"approval"``, ``"review.approve"``, ``"items.1.approve"`` or a tuple/list."""
    if isinstance(step, str):
        parts: list[str | int] = []
        for part in step.split("."):
            parts.append(int(part) if part.isdigit() else part)
        return tuple(parts)
    return tuple(step)


def from_wire(path: Sequence[str | int]) -> Path:
    return tuple(path)

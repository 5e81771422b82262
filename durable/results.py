"""What the engine hands back: plain msgspec structs, safe to serialise."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec

from durable.paths import Path


class Suspension(msgspec.Struct, frozen=True):
    """One open suspension: where the run waits, and for what."""

    path: Path
    kind: str  # "input" | "approval" | "event" | "timer"
    payload: Any
    suspended_at: datetime


class RunInfo(msgspec.Struct, kw_only=True):
    """A run as it stands. ``RunResult`` is the same shape, returned by commands."""

    run_id: str
    workflow: str
    status: str
    output: Any = None
    error: str | None = None
    suspended: list[Path] = msgspec.field(default_factory=list)
    suspend_payloads: dict[str, Any] = msgspec.field(default_factory=dict)
    suspensions: list[Suspension] = msgspec.field(default_factory=list)
    state: dict[str, Any] = msgspec.field(default_factory=dict)
    resource_id: str | None = None
    thread_id: str | None = None
    parent_run_id: str | None = None
    continued_from: str | None = None
    forked_from: str | None = None  # engine.fork: the original, and the position forked at
    fork_position: int | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    suspended_at: datetime | None = None
    version: str | None = None
    position: int = 0
    # Today's code could not replay the run where the engine's background work met it
    # (a recovery, a timer, a worker's claim): the error; None otherwise. Nothing was
    # appended; once code that replays it is deployed, that work continues it.
    blocked: str | None = None


class RunResult(RunInfo, kw_only=True):
    """What ``start``, ``resume``, ``cancel`` and ``pause`` return."""


class Event(msgspec.Struct, frozen=True):
    """One entry of a run's log."""

    position: int
    type: str
    timestamp: datetime
    data: dict[str, Any]


class Page(msgspec.Struct):
    """One page of a listing: its runs, and how many match in all (before paging)."""

    runs: list[RunInfo]
    total: int


class WorkflowInfo(msgspec.Struct, frozen=True):
    """A registered workflow: its name, version and description (its docstring)."""

    name: str
    version: str | None
    description: str | None


class Approval(msgspec.Struct, frozen=True):
    """The answer to ``ctx.request_approval``: approved or not, and why."""

    approved: bool
    reason: str | None = None


class Audit(msgspec.Struct, frozen=True, kw_only=True):
    """What ``engine.audit`` found: ``ok``, or the first bad position and why.

    ``length`` and ``head_hash`` are where the run's chain ends now; ``redacted``
    counts the events whose payload was erased (their hash is kept, their
    content can no longer be checked)."""

    run_id: str
    ok: bool
    length: int
    head_hash: str | None
    first_bad: int | None = None
    reason: str | None = None
    redacted: int = 0


class ReplayCheck(msgspec.Struct, frozen=True):
    """The verdict of replaying a stored run against today's code. When it fails,
    ``position`` is the log's event where the code and the log part, ``logged`` the
    step id the log holds there and ``requested`` the one the code asks for instead
    (None where there is none: the code returns, or the log ended there). A run that
    passes unchecked (its payloads were erased) says why in ``error``."""

    run_id: str
    status: str
    ok: bool
    error: str | None = None
    position: int | None = None
    logged: str | None = None
    requested: str | None = None


class EngineStats(msgspec.Struct, frozen=True):
    """What an open engine holds in memory now."""

    executing: int  # runs executing here
    parked: int  # suspended runs kept for a hot resume
    cached_runs: int  # folded runs kept for reads
    background: int  # tasks off the request path (snapshots, releases, recovered runs)

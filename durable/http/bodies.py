"""The HTTP API's request and answer bodies (msgspec structs: decoded, validated and
described in the OpenAPI document from these definitions alone)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

from durable.paths import ADDRESSABLE_RUN_ID, MAX_NAME
from durable.results import Event, RunInfo

NAME_PATTERN = "^[^\\x00]+$"
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_NAME, pattern=NAME_PATTERN,
                                   description="non-empty, no NUL character")]
RunId = Annotated[str, msgspec.Meta(
    min_length=1, max_length=MAX_NAME, pattern=ADDRESSABLE_RUN_ID,
    description="non-empty, no NUL character, no '/', not '.' or '..' (run ids are part "
    "of URLs)")]
Step = Annotated[str | list[str | Annotated[int, msgspec.Meta(ge=0)]], msgspec.Meta(
    description="A suspended step: its id, or its path as a list of ids and indexes")]


class StartRun(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """``POST /v1/workflows/{name}/runs``. ``wait: false`` answers at once (the run is
    queued for this server's worker); otherwise once the run settles."""

    input: Any = None
    run_id: RunId | None = None
    resource_id: Name | None = None
    thread_id: Name | None = None
    initial_state: dict[str, Any] | None = None
    request_context: dict[str, Any] | None = None
    wait: bool = True


class Resume(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """``POST /v1/runs/{run_id}/resume``: the data for the suspended ``step`` (which may
    be left out when exactly one step waits)."""

    data: Any = None
    step: Step | None = None


class Resumed(msgspec.Struct, kw_only=True):
    """What a resume did: ``resumed`` (the run continued and settled again), or
    ``skipped`` with the ``reason`` (nothing waited there: a retry is harmless)."""

    action: Literal["resumed", "skipped"]
    reason: str | None = None
    run: RunInfo


class EventsPage(msgspec.Struct, kw_only=True):
    """A page of a run's log; ``next`` is the ``after`` of the next page (None: the end)."""

    events: list[Event]
    next: int | None = None


class ErrorItem(msgspec.Struct):
    loc: list[str | int]
    msg: str
    type: str


class Invalid(msgspec.Struct):
    """422: what was wrong, where (``loc``: ``body``, ``query`` or ``path`` first)."""

    detail: list[ErrorItem]


class Problem(msgspec.Struct):
    """Any other error: a sentence saying what went wrong and what to do."""

    detail: str

"""What a run's ``started`` event records: checked here, before anything is written."""

from __future__ import annotations

import random
import uuid
from typing import Any

from durable.codec import canonical
from durable.events import Started

_CONTINUED = uuid.UUID("6f1c1c3e-8a53-4a5e-9d55-2f0c4a1f3b7e")  # names continued runs
_CHILD = uuid.UUID("0b8e4a52-3d7f-4c1e-a6b9-5f2d8c7e1a43")  # names child runs


def child_id(parent_id: str, key: str) -> str:
    """The id of the child run that ``ctx.child`` at path ``key`` of ``parent_id`` starts:
    derived, so a replay, a retry or a recovery of the parent finds the same run."""
    return str(uuid.uuid5(_CHILD, f"{parent_id}/{key}"))


def continued_id(run_id: str) -> str:
    """The id of the run that ``run_id`` continues as (``ctx.continue_as_new``): derived,
    so a replay or a retry after a crash names the same run."""
    return str(uuid.uuid5(_CONTINUED, run_id))


def started_data(
    workflow: str, version: str | None, input: Any, initial_state: Any, request_context: Any,
    resource_id: str | None, thread_id: str | None, *, parent_run_id: str | None = None,
    continued_from: str | None = None, parent_path: list[str | int] | None = None,
    queue: str | None = None, key: str | None = None,
) -> Started:
    """The ``started`` event's payload; a ``ValueError`` for what cannot be stored."""
    for name, value in (("initial_state", initial_state), ("request_context", request_context)):
        if value is not None and not isinstance(value, dict):
            raise ValueError(f"{name} must be a dict (or None), not a {type(value).__name__}")
    try:
        return Started(
            workflow=workflow,
            version=version,
            input=canonical(input),
            state=canonical(initial_state or {}),
            request_context=canonical(request_context or {}),
            resource_id=resource_id,
            thread_id=thread_id,
            parent_run_id=parent_run_id,
            seed=random.getrandbits(63),
            continued_from=continued_from,
            parent_path=parent_path,
            queue=queue,
            key=key,
        )
    except (TypeError, ValueError, OverflowError, UnicodeError) as e:
        raise ValueError(f"the run's input cannot be stored: {e}") from None

"""A step's body, run on the host's event loop: its attempts, retries and result.

The body reports into the driver's inbox; the driver appends what it reports
(persist before deliver) and hands the result to the workflow. A result is
encoded here, once: the stored form is what the workflow gets back, live and
on replay alike. A result that cannot be stored fails the step at once, with
a message naming its type, and is never retried: running the body again
would repeat its side effect (charge the card twice) for nothing.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import structlog

from durable.codec import decode, encode
from durable.paths import Path, path_key

# The attempt number of the step body running in the current host task.
current_attempt: contextvars.ContextVar[int] = contextvars.ContextVar(
    "durable_attempt", default=0
)
# The run whose step body runs in the current host task (None outside step bodies).
current_run: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "durable_run", default=None
)
# The runs whose drivers wait on the current host task: a child run is driven inside a
# task of its parent's driver (see durable.children), so its steps run there too.
driving: contextvars.ContextVar[frozenset[str]] = contextvars.ContextVar(
    "durable_driving", default=frozenset()
)


def inside(run_id: str) -> bool:
    """Does the current task run on behalf of ``run_id`` (one of its steps, or a step of
    a child it drives)? Then waiting for that run to settle would wait for ourselves."""
    return current_run.get() == run_id or run_id in driving.get()

MAX_BACKOFF = 60.0


@dataclass(slots=True)
class Request:
    """Something the workflow awaits: a step's result or a resume."""

    path: Path
    kind: str  # "step" | "suspend"
    future: asyncio.Future[Any]
    fn: Callable[..., Any] | None = None
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    retries: int = 0
    backoff: float = 1.0
    suspend_kind: str = "input"
    payload: Any = None
    schema: type[Any] | None = None
    due: float | None = None  # a timer's due time (epoch seconds)
    started: bool = False


class ContinueAsNew(BaseException):
    """Raised by ``ctx.continue_as_new``: ends the workflow function (not an error, and
    not an ``Exception``, so workflow code's ``except Exception`` lets it through)."""

    def __init__(self, input: Any) -> None:
        super().__init__("continue as new")
        self.input = input


class UnstorableResult(TypeError):
    """A step returned a value that cannot be stored in the log."""


async def run_step(
    run_id: str, req: Request, inbox: asyncio.Queue[tuple[Any, ...]], failures: int, bump: int
) -> None:
    """Run ``req``'s body until it succeeds or runs out of attempts, reporting each.

    ``failures``: attempts the log already holds as failed; ``bump``: how many
    times the run was recovered while this step was in flight.
    """
    assert req.fn is not None
    key = path_key(req.path)
    attempt = failures + bump
    current_run.set(run_id)
    while True:
        current_attempt.set(attempt)
        structlog.contextvars.bind_contextvars(step_id=key, attempt=attempt)
        try:
            value = req.fn(*req.args, **req.kwargs)
            if inspect.isawaitable(value):
                value = await value
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the step failed: record, maybe retry
            failures += 1
            final = failures > req.retries
            inbox.put_nowait(("failed", req, exc, attempt, final))
            if final:
                return
            await asyncio.sleep(min(req.backoff * 2 ** (failures - 1), MAX_BACKOFF))
            attempt += 1
            continue
        try:
            raw = encode(value)  # the stored form; the workflow gets it back decoded
        except (TypeError, ValueError, OverflowError, UnicodeError) as exc:
            error = UnstorableResult(
                f"step {key!r} returned a {type(value).__name__} that cannot be stored in the "
                f"run's log ({exc}); the step is not retried, so its effect is not repeated. "
                "Return dicts, lists, scalars, datetimes, msgspec.Struct or dataclass values"
            )
            inbox.put_nowait(("failed", req, error, attempt, True))
            return
        inbox.put_nowait(("done", req, decode(raw), attempt, raw))
        return

"""Every error the engine raises on purpose.

Each one says what went wrong and what to do next. A call that raises a
:class:`DurableError` has appended no event and changed no projection.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class DurableError(Exception):
    """Base class of every error raised by durable."""


class WorkflowNotFound(DurableError, LookupError):
    """No workflow of that name is registered in this engine."""

    def __init__(self, name: str, known: Sequence[str] = ()) -> None:
        self.name = name
        hint = f" Registered workflows: {', '.join(sorted(known))}." if known else ""
        super().__init__(
            f"no workflow named {name!r} is registered in this engine.{hint} "
            f"Register it with @engine.workflow({name!r}) before creating or resuming its runs."
        )


class RunNotFound(DurableError, LookupError):
    """No run with that id exists in this store."""

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        super().__init__(
            f"no run with id {run_id!r} exists in this store. "
            "Check the id, and that the engine points at the database the run was started on."
        )


class RunAlreadyStarted(DurableError):
    """``start`` on a run that has started already (a run starts once)."""

    def __init__(self, run_id: str, status: str) -> None:
        self.run_id = run_id
        self.status = status = str(status)  # a Status reads as its value
        super().__init__(
            f"run {run_id!r} was already started (status {status!r}); a run starts once. "
            "Use run.resume() to continue it, or create a new run."
        )


class NotSuspended(DurableError):
    """A resume that nothing waits for: the run (or that step) is not suspended, or was
    answered already (over HTTP: ``skipped``)."""

    def __init__(self, run_id: str, status: str, step: object = None) -> None:
        self.run_id = run_id
        self.status = status = str(status)  # a Status reads as its value
        self.step = step
        what = f"step {step!r} of run {run_id!r} is not waiting" if step else (
            f"run {run_id!r} is not waiting for a resume"
        )
        super().__init__(
            f"{what} (status {status!r}). Nothing was written. "
            "If that suspension was already answered, this resume is a duplicate and can be "
            "dropped."
        )


class RunEnded(NotSuspended):
    """Something was sent to a run that has ended (``engine.send_event``)."""

    def __init__(self, run_id: str, status: str, what: str) -> None:
        status = str(status)
        DurableError.__init__(
            self, f"run {run_id!r} has ended (status {status!r}), so {what} would never "
            "be taken. Nothing was written.")
        self.run_id = run_id
        self.status = status
        self.step = None


class WaitsOnTimer(NotSuspended):
    """A resume named a step that waits on a timer: the engine fires it, a resume cannot
    answer it. Unlike a duplicate resume, a mistake in the request (HTTP: 422)."""

    def __init__(self, run_id: str, status: str, step: object, due: object) -> None:
        DurableError.__init__(
            self, f"step {step!r} of run {run_id!r} waits on a timer (due {due}), which the "
            "engine fires when it falls due: a resume cannot answer it. Nothing was "
            "written. Name a step that waits for input, or cancel the run.")
        self.run_id = run_id
        self.status = str(status)
        self.step = step


class AmbiguousResume(DurableError):
    """A resume with no ``step`` while several steps wait: name one."""

    def __init__(self, run_id: str, paths: Sequence[tuple[str | int, ...]]) -> None:
        self.run_id = run_id
        self.paths = list(paths)
        listed = ", ".join(repr(p) for p in self.paths)
        super().__init__(
            f"run {run_id!r} waits on {len(self.paths)} suspensions ({listed}); "
            "pass step= with one of these paths to say which one to resume."
        )


class InvalidResumeData(DurableError, ValueError):
    """Resume data that does not match the waiting step's schema (nothing written)."""

    def __init__(self, run_id: str, path: tuple[str | int, ...], reason: str) -> None:
        self.run_id = run_id
        self.path = path
        self.reason = reason
        super().__init__(
            f"resume data for {'.'.join(map(str, path))!r} of run {run_id!r} is invalid: {reason}. "
            "Nothing was written; the run still waits. Send data that matches the step's schema."
        )


class NonDeterminismError(DurableError):
    """Today's code does not replay a run's log; nothing was written.

    ``position``: the log's event where the code and the log part (None when no one
    event says so); ``logged``: the step id the log holds there; ``requested``: the
    step id the code asks for instead (None when it asks for nothing: it returns,
    fails or waits elsewhere); ``length``: how many events the replayed log held.
    """

    def __init__(self, run_id: str, logged: str | None, requested: str | None, detail: str,
                 *, position: int | None = None, length: int | None = None) -> None:
        self.run_id = run_id
        self.logged = logged
        self.requested = requested
        self.position = position
        self.length = length
        at = f"at event {position}: " if position is not None else ""
        super().__init__(
            f"run {run_id!r} no longer replays against its log: {detail} "
            f"({at}logged: {logged!r}; requested now: {requested!r}). Nothing was written. "
            "The workflow code changed in a way that alters recorded history: restore the old "
            "code for runs already in flight (or branch on ctx.patched(...) so they keep the "
            "old path), and check stored runs first with 'durable runs replay'."
        )


class StepFailed(DurableError):
    """A step ran out of attempts. Raised inside the workflow, live and on replay alike."""

    def __init__(self, step: str, error_type: str, message: str, attempts: int = 1) -> None:
        self.step = step
        self.error_type = error_type
        self.message = message
        self.attempts = attempts
        super().__init__(
            f"step {step!r} failed after {attempts} attempt(s): {error_type}: {message}"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (StepFailed, (self.step, self.error_type, self.message, self.attempts))


class WaitTimeout(DurableError, TimeoutError):
    """``ctx.wait_for_event(..., timeout=)`` ran out with no event (raised in the
    workflow, where it can be caught)."""

    def __init__(self, step: str, timeout: float) -> None:
        self.step = step
        self.timeout = timeout
        super().__init__(f"{step!r} waited {timeout} s and no event arrived")


class StoreUnavailable(DurableError, OSError):
    """The database cannot be opened or reached (its URL, file or server)."""

    def __init__(self, url: str, cause: BaseException) -> None:
        self.url = url
        super().__init__(
            f"cannot open the store {url!r}: {type(cause).__name__}: {cause}. Check the URL, "
            "that the file's folder exists and is writable, or that the database server runs."
        )


class EngineClosed(RuntimeError):
    """The engine was closed while the run executed in it.

    Not a :class:`DurableError`: the run's log may have moved before the close.
    Nothing is lost: the run stopped at its last recorded event and any engine
    may continue it (``engine.recover()``, a worker).
    """

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        super().__init__(
            f"the engine was closed while run {run_id!r} executed in it; the run stopped at "
            "its last recorded event and is left for any engine to continue "
            "(engine.recover(), or a worker)"
        )


class PositionConflict(DurableError):
    """Another writer appended to the run first (internal: the log settles races)."""

    def __init__(self, run_id: str, expected: int) -> None:
        self.run_id = run_id
        self.expected = expected
        super().__init__(
            f"run {run_id!r} moved past position {expected} while this engine held it; "
            "another writer won. Re-read the run and try again."
        )


__all__ = [
    "AmbiguousResume",
    "DurableError",
    "EngineClosed",
    "InvalidResumeData",
    "NonDeterminismError",
    "NotSuspended",
    "PositionConflict",
    "RunAlreadyStarted",
    "RunNotFound",
    "StepFailed",
    "StoreUnavailable",
    "WaitTimeout",
    "WorkflowNotFound",
]

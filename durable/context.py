"""What a workflow sees: ``ctx``. Every call here is recorded or replayed."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar, overload

from durable.codec import canonical
from durable.events import Kind
from durable.paths import Path, check_name, check_step_id
from durable.results import Approval
from durable.steps import ContinueAsNew, current_attempt

if TYPE_CHECKING:
    from durable.replay import Replay

T = TypeVar("T")


class Context:
    """The handle a workflow function receives as its first argument.

    Steps are matched to the log by path: the scope (for-each iterations) plus
    the step id; an id used again in one scope becomes ``id#2``, ``id#3``.
    """

    def __init__(self, execution: Replay, scope: Path = ()) -> None:
        self._ex = execution
        self._scope = scope

    # -- identity and recorded values -------------------------------------------
    @property
    def run_id(self) -> str:
        """The id of the run this workflow executes."""
        return self._ex.run_id

    @property
    def request_context(self) -> dict[str, Any]:
        """What the run's creator passed as ``request_context`` (a copy)."""
        return canonical(self._ex.run.request_context)  # type: ignore[no-any-return]

    @property
    def attempt(self) -> int:
        """Inside a step body: 0 on the first attempt, then 1, 2, ..."""
        return current_attempt.get()

    @property
    def cancelled(self) -> bool:
        """True once the run is being cancelled (a running step's task is cancelled too)."""
        return self._ex.cancel_reason is not None

    @property
    def state(self) -> dict[str, Any]:
        """The run's state, as a copy: change it with :meth:`set_state`, which records it."""
        return canonical(self._ex.state)  # type: ignore[no-any-return]

    def set_state(self, state: dict[str, Any]) -> None:
        """Replace the run's state; recorded as a ``state_set`` event."""
        self._ex.set_state(state)

    def now(self) -> datetime:
        """The time of the latest delivery to this run (recorded, so it replays)."""
        return self._ex.now

    def random(self) -> float:
        """A random float in [0, 1), drawn from the run's recorded seed: replays the same."""
        return self._ex.rng.random()

    def uuid(self) -> uuid.UUID:
        """A UUID drawn from the run's recorded seed: replays the same."""
        return uuid.UUID(int=self._ex.rng.getrandbits(128), version=4)

    def patched(self, patch_id: str) -> bool:
        """Has this run taken the code changed under ``patch_id``?

        True when the run reaches this call for the first time under code that has it
        (a ``patched`` marker is recorded, so its replays take the new path again);
        False when a run that passed this point under older code is replayed (its log
        holds what the old path did, and no marker)::

            if ctx.patched("v2-tax"):
                tax = await ctx.step("tax-v2", vat, order)
            else:
                tax = await ctx.step("tax", old_tax, order)

        One answer per run and id: later calls of the id get the first one. Once no
        run that took the old path can be replayed any more, delete the old path and
        the call (a marker nothing asks for is ignored). See docs/decisions/0012.
        """
        check_name("a patch id", patch_id)
        return self._ex.patched(patch_id)

    # -- durable operations --------------------------------------------------
    def _path(self, step_id: str) -> Path:
        ex = self._ex
        if step_id not in ex.step_ids:  # checked once per id, not once per call in a loop
            check_step_id(step_id)
            ex.step_ids.add(step_id)
        key = (self._scope, step_id)
        n = ex.counters.get(key, 0) + 1
        ex.counters[key] = n
        return (*self._scope, step_id if n == 1 else f"{step_id}#{n}")

    @overload
    def step(
        self,
        step_id: str,
        fn: Callable[..., Awaitable[T]],
        *args: Any,
        retries: int = ...,
        backoff: float = ...,
        **kwargs: Any,
    ) -> asyncio.Future[T]: ...

    @overload
    def step(
        self,
        step_id: str,
        fn: Callable[..., T],
        *args: Any,
        retries: int = ...,
        backoff: float = ...,
        **kwargs: Any,
    ) -> asyncio.Future[T]: ...

    def step(
        self,
        step_id: str,
        fn: Callable[..., Any],
        *args: Any,
        retries: int = 0,
        backoff: float = 1.0,
        **kwargs: Any,
    ) -> asyncio.Future[Any]:
        """Run ``fn(*args, **kwargs)`` once and record its result.

        On replay the recorded result is returned and ``fn`` is not called.
        ``retries`` counts extra attempts, ``backoff`` seconds apart, doubling,
        capped at 60 s. ``fn`` may be sync or async.
        """
        if retries < 0:
            raise ValueError("retries counts extra attempts and cannot be negative")
        return self._ex.request_step(self._path(step_id), fn, args, kwargs, retries, backoff)

    def suspend(
        self, step_id: str, payload: Any = None, *, schema: type[Any] | None = None
    ) -> asyncio.Future[Any]:
        """Record a suspension and wait; returns the resume data (as ``schema`` if given)."""
        return self._ex.request_suspend(self._path(step_id), "input", payload, schema)

    async def request_approval(
        self, step_id: str, *, action: str, args: Any = None
    ) -> Approval:
        """Suspend until ``engine.approve`` or ``engine.decline`` answers."""
        payload = {"action": action, "args": args, "requires_approval": True}
        return await self._ex.request_suspend(  # type: ignore[no-any-return]
            self._path(step_id), "approval", payload, Approval
        )

    def sleep(self, step_id: str, seconds: float) -> asyncio.Future[None]:
        """A durable timer: wait ``seconds`` after :meth:`now`. The run is suspended (kind
        ``timer``) and holds no task while it waits; any open engine whose registry holds
        this workflow fires it when it falls due, even after every process was down."""
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not (
                seconds == seconds and abs(seconds) != float("inf")):
            raise ValueError(f"ctx.sleep takes a finite number of seconds, not {seconds!r}")
        return self._timer(step_id, self.now() + timedelta(seconds=seconds))

    def sleep_until(self, step_id: str, when: datetime | float) -> asyncio.Future[None]:
        """A durable timer due at ``when``: a timezone-aware datetime, or epoch seconds."""
        if isinstance(when, datetime):
            if when.tzinfo is None:
                raise ValueError(
                    "ctx.sleep_until needs a timezone-aware datetime (a naive one means a "
                    "different instant on each machine): use datetime.now(UTC) + ..., or "
                    "when.replace(tzinfo=UTC)")
            due = when.astimezone(UTC)
        elif isinstance(when, int | float) and not isinstance(when, bool):
            due = datetime.fromtimestamp(when, UTC)
        else:
            raise ValueError(f"ctx.sleep_until takes a datetime or epoch seconds, not {when!r}")
        return self._timer(step_id, due)

    def _timer(self, step_id: str, due: datetime) -> asyncio.Future[None]:
        path = self._path(step_id)
        if due <= self.now():  # already due when asked (deterministic: now() is recorded)
            done: asyncio.Future[None] = self._ex.loop.create_future()
            done.set_result(None)
            return done
        return self._ex.request_suspend(
            path, Kind.TIMER, {"until": due.isoformat()}, None, due=due.timestamp())

    def wait_for_event(
        self, step_id: str, name: str, *, timeout: float | None = None
    ) -> asyncio.Future[Any]:
        """Wait until ``engine.send_event(run_id, name, data)``; returns ``data``. An
        event sent before the code waits is kept in the run's mailbox and taken here,
        once. After ``timeout`` seconds (from :meth:`now`) with no event, raises
        :class:`~durable.WaitTimeout`; the run is suspended (kind ``event``) meanwhile."""
        check_name("an event name", name)
        path = self._path(step_id)
        payload: dict[str, Any] = {"name": name}
        due = None
        if timeout is not None:
            if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not (
                    0 < timeout < float("inf")):
                raise ValueError(
                    f"wait_for_event's timeout is a positive number of seconds, not {timeout!r}")
            until = self.now() + timedelta(seconds=timeout)
            payload |= {"timeout": timeout, "until": until.isoformat()}
            due = until.timestamp()
        return self._ex.request_suspend(path, Kind.EVENT, payload, None, due=due)

    def child(self, step_id: str, workflow: str, input: Any = None) -> asyncio.Future[Any]:
        """Run ``workflow`` as a child run (its own log and id, ``parent_run_id`` set) and
        return its output; its suspensions surface in this run under ``step_id`` and are
        resumed through it by their full path. A child that fails (or is cancelled)
        raises :class:`~durable.StepFailed` here; cancelling this run cancels it."""
        check_name("a workflow name", workflow)
        try:
            value = canonical(input)
        except (TypeError, ValueError, OverflowError, UnicodeError) as e:
            raise ValueError(f"the child run's input cannot be stored: {e}") from None
        return self._ex.request_child(self._path(step_id), workflow, value)

    async def continue_as_new(self, input: Any = None) -> NoReturn:
        """End this run as ``succeeded`` with output ``{"continued_as": NEW_RUN_ID}``, and
        start a new run of this workflow with ``input`` (``continued_from`` set), which
        executes at once in this engine: how an endless loop keeps its history short."""
        try:
            value = canonical(input)
        except (TypeError, ValueError, OverflowError, UnicodeError) as e:
            raise ValueError(f"the new run's input cannot be stored: {e}") from None
        raise ContinueAsNew(value)

    async def map(
        self,
        step_id: str,
        fn: Callable[[Context, Any], Awaitable[T]],
        items: Sequence[Any],
        *,
        concurrency: int | None = None,
    ) -> list[T]:
        """For-each: iteration ``i`` runs ``fn(ctx_i, item)`` in scope ``(step_id, i)``."""
        base = self._path(step_id)
        limit = asyncio.Semaphore(concurrency) if concurrency else None

        async def one(i: int, item: Any) -> T:
            sub = Context(self._ex, (*base, i))
            if limit is None:
                return await fn(sub, item)
            async with limit:
                return await fn(sub, item)

        return list(await asyncio.gather(*(one(i, it) for i, it in enumerate(items))))

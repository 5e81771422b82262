"""A deterministic event loop for workflow code.

The workflow coroutine never runs on the host's event loop. It runs on this
loop, which the engine steps by hand: ``run_until_idle`` runs ready callbacks
in FIFO order until none is left. Nothing in it depends on time or I/O, so
the same deliveries in the same order always give the same interleaving of
branches under ``asyncio.gather`` — live and on replay alike. This is the
approach of Temporal's Python SDK (a workflow instance is an event loop).
"""

from __future__ import annotations

import asyncio
import collections
import contextvars
from collections.abc import Callable, Coroutine, Generator
from typing import Any, TypeVar

from durable.logs import get_logger

log = get_logger("durable.loop")

T = TypeVar("T")


class WorkflowLoopError(RuntimeError):
    pass


class WorkflowLoop(asyncio.AbstractEventLoop):
    """Runs ready callbacks only; timers and I/O are refused with a clear message."""

    def __init__(self) -> None:
        self._ready: collections.deque[asyncio.Handle] = collections.deque()
        self._closed = False
        self._running = False
        self.unhandled: list[BaseException] = []

    # -- what asyncio's futures, tasks and gather need --------------------------
    def call_soon(  # type: ignore[override]
        self,
        callback: Callable[..., object],
        *args: Any,
        context: contextvars.Context | None = None,
    ) -> asyncio.Handle:
        handle = asyncio.Handle(callback, args, self, context)
        self._ready.append(handle)
        return handle

    def create_future(self) -> asyncio.Future[Any]:
        return asyncio.Future(loop=self)

    def create_task(
        self,
        coro: Coroutine[Any, Any, T] | Generator[Any, None, T],
        *,
        name: str | None = None,
        context: contextvars.Context | None = None,
    ) -> asyncio.Task[T]:
        return asyncio.Task(coro, loop=self, name=name, context=context)

    def get_debug(self) -> bool:
        return False

    def is_running(self) -> bool:
        return self._running

    def is_closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        self._closed = True
        self._ready.clear()

    def time(self) -> float:
        return 0.0

    def call_exception_handler(self, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        if isinstance(exc, BaseException):
            self.unhandled.append(exc)
        log.debug("workflow_loop_exception", message=context.get("message"), exc=repr(exc))

    def default_exception_handler(self, context: dict[str, Any]) -> None:
        self.call_exception_handler(context)

    def get_exception_handler(self) -> None:
        return None

    # -- what workflow code may not do -----------------------------------------
    def call_later(  # type: ignore[override]
        self, delay: float, *args: Any, **kwargs: Any
    ) -> asyncio.TimerHandle:
        raise WorkflowLoopError(
            "workflow code cannot wait on the clock (asyncio.sleep, asyncio.wait_for, timeouts): "
            "its waits must be durable. Do the waiting inside a step, or use durable helpers."
        )

    def call_at(  # type: ignore[override]
        self, when: float, *args: Any, **kwargs: Any
    ) -> asyncio.TimerHandle:
        return self.call_later(0)

    def call_soon_threadsafe(  # type: ignore[override]
        self, *args: Any, **kwargs: Any
    ) -> asyncio.Handle:
        raise WorkflowLoopError("workflow code runs on its own loop; threads cannot reach it")

    def run_in_executor(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        raise WorkflowLoopError(
            "workflow code cannot do I/O or start threads; put that work in ctx.step(...)"
        )

    # -- driving ---------------------------------------------------------------
    def has_ready(self) -> bool:
        """Is a callback waiting to run (would the loop not be idle)?"""
        return bool(self._ready)

    def run_until_idle(self) -> None:
        """Run every ready callback, and the ones they schedule, until none is left."""
        previous = asyncio.events._get_running_loop()
        asyncio.events._set_running_loop(self)
        self._running = True
        try:
            ready = self._ready
            while ready:
                handle = ready.popleft()
                if not handle._cancelled:
                    handle._run()
        finally:
            self._running = False
            asyncio.events._set_running_loop(previous)

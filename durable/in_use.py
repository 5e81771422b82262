"""Calls that use an open engine: ``close()`` waits for them to finish."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Coroutine
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar

P = ParamSpec("P")
R = TypeVar("R")


class Usable(Protocol):
    """What :func:`in_use` needs of an engine: its open check and its call count."""

    _calls: int
    _quiet: asyncio.Event

    def _runtime(self) -> Any: ...


S = TypeVar("S", bound=Usable)


def in_use(method: Callable[Concatenate[S, P], Coroutine[Any, Any, R]]
           ) -> Callable[Concatenate[S, P], Coroutine[Any, Any, R]]:
    """A call that uses the open engine: ``close()`` waits for it to finish."""

    @functools.wraps(method)
    async def call(self: S, /, *args: P.args, **kwargs: P.kwargs) -> R:
        self._runtime()  # open, and not closing
        self._calls += 1
        self._quiet.clear()
        try:
            return await method(self, *args, **kwargs)
        finally:
            self._calls -= 1
            if not self._calls:
                self._quiet.set()

    return call

"""Calls that use an open engine: ``close()`` waits for them to finish."""

from __future__ import annotations

import functools
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, TypeVar

if TYPE_CHECKING:
    from durable.engine import Engine

P = ParamSpec("P")
R = TypeVar("R")


def in_use(method: Callable[Concatenate[Engine, P], Coroutine[Any, Any, R]]
            ) -> Callable[Concatenate[Engine, P], Coroutine[Any, Any, R]]:
    """A call that uses the open engine: ``close()`` waits for it to finish."""

    @functools.wraps(method)
    async def call(self: Engine, /, *args: P.args, **kwargs: P.kwargs) -> R:
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



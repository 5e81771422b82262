"""The workflows an engine knows: registered by name, looked up by name."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from durable.errors import WorkflowNotFound
from durable.paths import check_name
from durable.results import WorkflowInfo

WorkflowFn = Callable[..., Awaitable[Any]]


@dataclass(frozen=True)
class WorkflowDef:
    """A registered workflow: its name, its function and what was said about it."""

    name: str
    fn: WorkflowFn
    version: str | None
    description: str | None
    webhook_secret: str | None = None


class Registry:
    """Workflows by name. One engine's; two engines never share one."""

    def __init__(self) -> None:
        self._by_name: dict[str, WorkflowDef] = {}

    def register(
        self, name: str, fn: WorkflowFn, *, version: str | None = None,
        webhook_secret: str | None = None,
    ) -> WorkflowDef:
        check_name("a workflow name", name)
        if version is not None:
            check_name("a workflow version", version)
        if name in self._by_name:
            raise ValueError(f"a workflow named {name!r} is already registered in this engine")
        if not inspect.iscoroutinefunction(fn):
            raise TypeError(f"workflow {name!r} must be an 'async def' function")
        wf = WorkflowDef(name, fn, version, inspect.getdoc(fn), webhook_secret)
        self._by_name[name] = wf
        return wf

    def get(self, name: str) -> WorkflowDef:
        """The workflow called ``name``; :class:`WorkflowNotFound` if there is none."""
        try:
            return self._by_name[name]
        except KeyError:
            raise WorkflowNotFound(name, list(self._by_name)) from None

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def all(self) -> list[WorkflowDef]:
        return list(self._by_name.values())

    def infos(self) -> list[WorkflowInfo]:
        return [WorkflowInfo(w.name, w.version, w.description) for w in self._by_name.values()]

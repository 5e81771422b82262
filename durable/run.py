"""A handle on one run: what ``engine.create_run`` returns. It writes nothing by itself."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from durable.ids import new_run_id
from durable.paths import Path
from durable.results import RunInfo, RunResult

if TYPE_CHECKING:
    from durable.engine import Engine


class Run:
    """A handle on one run. ``engine.create_run`` makes one; it writes nothing."""

    def __init__(
        self, engine: Engine, run_id: str | None, workflow: str,
        resource_id: str | None = None, thread_id: str | None = None,
    ) -> None:
        self.engine = engine
        self.run_id = run_id if run_id is not None else new_run_id()
        self.workflow = workflow
        self.resource_id = resource_id
        self.thread_id = thread_id

    def __repr__(self) -> str:
        return f"Run(run_id={self.run_id!r}, workflow={self.workflow!r})"

    async def start(
        self, input: Any = None, *, initial_state: dict[str, Any] | None = None,
        request_context: dict[str, Any] | None = None,
    ) -> RunResult:
        """Execute until the run succeeds, fails, is cancelled, or every branch waits."""
        return await self.engine.start_run(self, input, initial_state, request_context)

    async def resume(self, data: Any = None, *, step: str | Path | list[str | int] | None = None
                     ) -> RunResult:
        """Answer an open suspension (or continue a paused run) and execute on, here or
        wherever the run executes; returns once the run settles again."""
        return await self.engine.resume_run(self.run_id, data, step)

    async def cancel(self, reason: str | None = None) -> RunResult:
        """Cancel the run: a running step's task is cancelled, nothing runs after."""
        return await self.engine.cancel_run(self.run_id, reason)

    async def pause(self) -> RunResult:
        """Stop the run at its next step boundary (see ``API.md``)."""
        return await self.engine.pause_run(self.run_id)

    async def wait(self, timeout: float | None = None) -> RunInfo:
        """The run once it settles, wherever it executes; ``TimeoutError`` after
        ``timeout`` seconds."""
        return await self.engine.wait(self.run_id, timeout)

"""How a run ends: it succeeds, fails, is cancelled, or continues as a new run.

The driver (:class:`durable.execution.Execution`) calls these once the workflow
function is done, or a cancel came; each appends the run's last event (``None``:
others appended first, and the driver looks again).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from durable.codec import canonical, storable_text
from durable.errors import PositionConflict
from durable.errors import StepFailed as StepFailedError
from durable.events import Cancelled, Event, EventType, Failed, Succeeded
from durable.replay import Replay
from durable.starts import continued_id, started_data
from durable.steps import ContinueAsNew
from durable.writer import Item, Tail


class Ending(Replay):
    """The ends of a run, for the driver that subclasses it."""

    tasks: dict[str, asyncio.Task[None]]
    continued: tuple[Tail, Event] | None  # the run this one continued as

    async def _append(self, items: list[Item], blobs: dict[str, bytes] | None = None
                      ) -> list[Event] | None:
        raise NotImplementedError

    def ending_item(self) -> Item | None:
        """The event that ends the run, once the workflow function is done: ``succeeded``
        or ``failed``; None when it continues as a new run (see :meth:`_finish`)."""
        assert self.main is not None and self.main.done()
        if self.main.cancelled():
            return _failed("the workflow was cancelled from inside")
        exc = self.main.exception()
        if isinstance(exc, ContinueAsNew):
            return None
        if exc is not None:
            if isinstance(exc, StepFailedError):
                return _failed(str(exc), exc.error_type)
            return _failed(f"{type(exc).__name__}: {exc}", type(exc).__name__)
        try:
            output = canonical(self.main.result())
        except (TypeError, ValueError, OverflowError, UnicodeError) as e:
            return _failed(f"the workflow's output cannot be stored: {e}")
        return EventType.SUCCEEDED, Succeeded(output=output)

    async def _finish(self) -> str | None:
        item = self.ending_item()
        if item is None:
            exc = self.main.exception()  # type: ignore[union-attr]
            return await self._continue_as_new(exc.input)  # type: ignore[union-attr]
        if await self._append([item]) is None:
            return None
        self.close()
        return item[0].value

    async def _continue_as_new(self, input: Any) -> str | None:
        """Start the run this one continues as, then end this one naming it. In that
        order: a crash between the two leaves a run ``running`` that recovery continues,
        never an end that names a run which does not exist; the id is derived, so a retry
        finds the run it started (a conflict) and only ends this one."""
        new_id = continued_id(self.run_id)
        if self.continued is None:
            run = self.run
            data = started_data(self.wf.name, self.wf.version, input, None,
                                run.request_context, run.resource_id, run.thread_id,
                                parent_run_id=run.parent_run_id, continued_from=self.run_id,
                                parent_path=list(run.parent_path) if run.parent_path else None,
                                queue=run.queue, key=run.queue_key)
            with contextlib.suppress(PositionConflict):  # started by an earlier try
                # an enqueued run continues in its queue (pending, for a worker)
                self.continued = await self.writer.start(new_id, data,
                                                         hold=run.queue is None)
        ended = Succeeded(output={"continued_as": new_id})
        if await self._append([(EventType.SUCCEEDED, ended)]) is None:
            return None
        self.close()
        return "succeeded"

    async def _fail(self, error: str, error_type: str = "WorkflowError") -> str | None:
        if await self._append([_failed(error, error_type)]) is None:
            return None
        self.close()
        return "failed"

    async def _cancel(self) -> str:
        for t in self.tasks.values():
            t.cancel()
        await asyncio.gather(*self.tasks.values(), return_exceptions=True)
        self.tasks.clear()
        self.pending = []
        while await self._append(
                [(EventType.CANCELLED, Cancelled(reason=self.cancel_reason))]) is None:
            pass
        self.close()
        return "cancelled"


def _failed(error: str, error_type: str = "WorkflowError") -> Item:
    return EventType.FAILED, Failed(error=storable_text(error), error_type=error_type)

"""The engine's calls that travel through, move and erase runs' histories: fork a
run, export and import it, redact a finished one.

A base of :class:`durable.engine.Engine`, over :class:`durable.engine_reads.RunReads`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from durable import redaction, transfer, travel
from durable.engine_reads import RunReads
from durable.in_use import in_use as _in_use
from durable.results import RunInfo
from durable.run import Run

if TYPE_CHECKING:
    from durable.engine import Engine


class RunHistory(RunReads):
    """The history calls of :class:`durable.engine.Engine` (beside its read calls)."""

    @_in_use
    async def fork(self, run_id: str, *, at: travel.At,
                   results: dict[Any, Any] | None = None) -> Run:
        """A new run whose log begins with events ``1..at`` of ``run_id`` (read from there,
        never copied: the original is not touched), linked to it (``forked_from``,
        ``fork_position``). ``at``: a position before the terminal event, or a step path
        (just before that step). Suspended where the original was, else paused:
        ``resume()`` continues it under today's code. ``results`` maps step paths to
        results recorded instead of running those steps ("what if it had declined?")."""
        run = await travel.fork(self._runtime(), run_id, at, results)
        return Run(self._engine(), run.id, run.workflow, run.resource_id, run.thread_id)

    @_in_use
    async def export_run(self, run_id: str) -> bytes:
        """The run as JSON lines: a header with its own fields, then one line per event
        with its payload (large results inline) and its chain fields."""
        return await transfer.export_run(self._runtime(), run_id)

    @_in_use
    async def import_run(self, data: bytes | str) -> str:
        """Write an exported run into this store, with the same id and positions, once its
        chain and every line check out; ``ValueError`` (nothing written) if they do not, or
        if the id exists. Returns the run's id."""
        return await transfer.import_run(self._runtime(), data)

    @_in_use
    async def redact(self, run_id: str, *, reason: str) -> RunInfo:
        """Erase a finished run's payloads (input, step results, resume data, events sent,
        state, output), keeping each event's type, time, place and hashes: ``verify``
        still passes, ``history`` shows ``{"redacted": reason}``."""
        await redaction.redact(self._runtime(), run_id, reason)
        self._read().forget(run_id)
        return await self._read().get_run(run_id)

    def _engine(self) -> Engine:
        return cast("Engine", self)  # (this class is only ever a base of Engine)

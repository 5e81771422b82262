"""Today's code against stored runs, read-only: what ``durable runs replay`` checks
before a deploy.

Each run's log is replayed against the workflow registered under its name, as a
cold resume would replay it: no step is called and nothing is written. A run
fails the check where the replay raises :class:`NonDeterminismError` (a step
renamed, reordered or removed; a suspension the log holds open that the code no
longer reaches), or where the log's ending and the code's disagree (the log says
succeeded and the code now waits, fails or returns another output). Runs in any
status are checked: finished, suspended, paused, running and pending alike.

Logs are read in batches (one query per batch where the store can), with the
large results they refer to, so checking costs a replay per run and little else.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from durable.bulk import without_gc
from durable.codec import canonical, decode
from durable.errors import NonDeterminismError, RunNotFound, WorkflowNotFound
from durable.events import Event, Status
from durable.fold import fold
from durable.recorded import blob_refs
from durable.replay import Replay
from durable.results import ReplayCheck
from durable.runtime import Runtime
from durable.starts import continued_id
from durable.steps import ContinueAsNew
from durable.store.types import ListingFilter

BATCH = 250  # logs read per query (the next batch is read while one is replayed)


async def check_runs(rt: Runtime, run_ids: Sequence[str]) -> list[ReplayCheck]:
    """The verdict on each run, in the order given; :class:`RunNotFound` for an id that
    has no log. The next batch of logs is read while this one is replayed."""
    chunks = [list(run_ids[i:i + BATCH]) for i in range(0, len(run_ids), BATCH)]
    verdicts: list[ReplayCheck] = []
    reading = asyncio.ensure_future(_read(rt, chunks[0])) if chunks else None
    try:
        for i, chunk in enumerate(chunks):
            assert reading is not None
            logs, blobs = await reading
            reading = asyncio.ensure_future(_read(rt, chunks[i + 1])) if i + 1 < len(
                chunks) else None
            with without_gc():  # many objects, few cycles (see durable.bulk): one pause
                verdicts.extend(check_log(rt, run_id, *logs[run_id], blobs) for run_id in chunk)
    finally:
        if reading is not None:  # given up: the read ahead too (its error read, if any)
            reading.cancel()
            await asyncio.gather(reading, return_exceptions=True)
    return verdicts


async def _read(rt: Runtime, chunk: list[str]
                ) -> tuple[dict[str, tuple[list[Event], list[str]]], dict[str, Any]]:
    """A batch of logs (with the large results they refer to), in one query each."""
    logs = await rt.store.read_logs(chunk)
    missing = [r for r in chunk if r not in logs]
    if missing:
        raise RunNotFound(missing[0])
    refs = {r: blob_refs(log) for r, log in logs.items()}
    wanted = list(dict.fromkeys(h for hs in refs.values() for h in hs))
    stored = await rt.store.read_blobs(wanted) if wanted else {}
    return ({r: (log, refs[r]) for r, log in logs.items()},
            {h: decode(raw) for h, raw in stored.items()})


def check_log(rt: Runtime, run_id: str, events: list[Event], refs: list[str],
              blobs: dict[str, Any]) -> ReplayCheck:
    """Replay one stored log (its large results' hashes ``refs``, among ``blobs``)
    against today's code and judge it."""
    run = fold(events)
    if any(e.data_hash is not None for e in events):  # nothing left to replay it with
        return ReplayCheck(run_id, run.status, True, "not replayed: its payloads were erased "
                           "(engine.redact), and a finished run is not executed again")
    try:
        wf = rt.registry.get(run.workflow)
    except WorkflowNotFound as e:
        return ReplayCheck(run_id, run.status, False, str(e))
    missing = [h for h in refs if h not in blobs]
    if missing:
        return ReplayCheck(run_id, run.status, False,
                           f"the large results {missing} the log refers to are missing")
    ex = Replay(rt.writer, wf, run, events, blobs)
    try:
        ex.replay()
        return _ending(ex, len(events))
    except NonDeterminismError as e:
        return ReplayCheck(run_id, run.status, False, str(e), position=e.position,
                           logged=e.logged, requested=e.requested)
    except (ValueError, TypeError) as e:  # a path asked for twice; an output not stored
        return ReplayCheck(run_id, run.status, False, str(e))
    finally:
        ex.close()


def _ending(ex: Replay, length: int) -> ReplayCheck:
    """Replayed to its log's end: does the code end where the log ended?"""
    run, main = ex.run, ex.main
    run_id, status = run.id, run.status

    def fail(why: str, requested: str | None = None) -> ReplayCheck:
        return ReplayCheck(run_id, status, False, f"run {run_id!r}: {why}", position=length,
                           requested=requested)

    if status == Status.SUCCEEDED:
        if main is None or not main.done() or main.cancelled():
            return fail("the log says succeeded, but the code does not finish (it waits at "
                        f"{ex.instead()!r})", ex.instead())
        raised = main.exception()
        if raised is not None and not isinstance(raised, ContinueAsNew):
            return fail("the log says succeeded, but the code now raises "
                        f"{type(raised).__name__}: {raised}")
        output = ({"continued_as": continued_id(run_id)} if isinstance(raised, ContinueAsNew)
                  else canonical(main.result()))
        if output != run.output:
            return fail("the code now returns another output than the log holds")
    elif status == Status.FAILED and main is not None and main.done() and not (
            main.cancelled() or main.exception()):
        return fail("the log says failed, but the code now succeeds")
    return ReplayCheck(run_id, status, True, None)


PAGE = 1000  # run ids listed per query


async def stored_runs(rt: Runtime, workflow: str | None = None) -> list[str]:
    """The ids of every run in the store (of ``workflow`` only, if given), oldest first."""
    await rt.store.catch_up()  # the runs index has seen every run written so far
    ids: list[str] = []
    page = 0
    while True:
        rows, total, *_ = await rt.store.list_runs(
            ListingFilter(workflow=workflow, page=page, per_page=PAGE))
        ids.extend(r.run_id for r in rows)
        if not rows or len(ids) >= total:
            break
        page += 1
    return list(dict.fromkeys(reversed(ids)))  # (a run created meanwhile may show twice)

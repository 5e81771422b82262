"""The read models (projections/) hold what the logs say, on every store.

- The suspended listing is written with the events: a run leaves it the moment
  its last open suspension is answered, it is cancelled or it finishes.
- The runs index is a tracking projection: list_runs catches it up first, its
  lag is visible meanwhile, it survives a restart, catches up from where it
  stood, applies every event exactly once even when engines race to catch it
  up, and a rebuild from the logs gives the same rows.
- Property: after any interleaving of starts, resumes, approvals, cancels,
  pauses, restarts and crashes (an engine abandoned mid-step), both listings
  equal the fold of the logs, before and after a rebuild, and in a new engine.

DURABLE_PROPERTY_EXAMPLES sets the property's number of examples (25).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import durable
from durable.events import TERMINAL, Event
from durable.fold import RunLog, fold
from durable.paths import path_key
from durable.results import Page, RunInfo
from durable.steps import current_attempt
from durable.store.base import Store
from durable.store.recorder import RecorderStore
from durable.store.types import ListingFilter
from tests.conftest import row_values

ROOT = Path(__file__).resolve().parent.parent
EVERYTHING = 10_000


# -- workflows ----------------------------------------------------------------------
class Stalls:
    """A step that does not end on its first attempt: the engine running it is closed
    meanwhile (it "crashes"), and the run is left for any engine to recover; run again
    (attempt 1, after a recovery) the step ends."""

    def __init__(self) -> None:
        self.entered = asyncio.Event()

    async def stall(self) -> None:
        if current_attempt.get() > 0:
            return
        self.entered.set()
        await asyncio.Event().wait()


def register(engine: durable.Engine, stalls: Stalls | None = None) -> None:
    """single: one suspension; pair: two under gather; each: one in each of two
    iterations of a map (paths ("each", i, "ok")); chain: an input, then an approval.

    Resume data ``{"how": "fail"}`` makes the workflow raise, ``{"how": "stall"}``
    makes it run a step that never ends; an input with ``stall`` does so before
    the first suspension.
    """
    stalls = stalls or Stalls()

    def double(n: int) -> int:
        return 2 * n

    async def after(ctx: durable.Context, got: Any, tag: str = "") -> None:
        how = got.get("how") if isinstance(got, dict) else None
        if how == "fail":
            raise ValueError(f"told to fail at {tag or 'the end'}")
        if how == "stall":
            await ctx.step(f"stall{tag}", stalls.stall)

    @engine.workflow("single", version="1")
    async def single(ctx: durable.Context, inp: dict[str, Any]) -> dict[str, Any]:
        a = await ctx.step("a", double, inp["n"])
        ctx.set_state({"a": a})
        if inp.get("stall"):
            await ctx.step("stall", stalls.stall)
        got = await ctx.suspend("ask", {"a": a, "n": inp["n"]})
        await after(ctx, got)
        return {"a": a, "got": got}

    @engine.workflow("pair")
    async def pair(ctx: durable.Context, inp: dict[str, Any]) -> list[Any]:
        a = await ctx.step("a", double, inp["n"])
        if inp.get("stall"):
            await ctx.step("stall", stalls.stall)

        async def branch(name: str) -> Any:
            got = await ctx.suspend(name, {"branch": name, "a": a})
            await after(ctx, got, name)
            return got

        x, y = await asyncio.gather(branch("x"), branch("y"))
        ctx.set_state({"x": x, "y": y})
        return [x, y]

    @engine.workflow("each")
    async def each(ctx: durable.Context, inp: dict[str, Any]) -> list[Any]:
        async def item(sub: durable.Context, x: int) -> Any:
            got = await sub.suspend("ok", {"item": x})
            await after(sub, got, str(x))
            return got

        return await ctx.map("each", item, [inp["n"], inp["n"] + 1])

    @engine.workflow("chain")
    async def chain(ctx: durable.Context, inp: dict[str, Any]) -> dict[str, Any]:
        if inp.get("stall"):
            await ctx.step("stall", stalls.stall)
        first = await ctx.suspend("first", {"n": inp["n"]})
        await after(ctx, first, "1")
        ctx.set_state({"first": first})
        second = await ctx.request_approval("second", action="ship", args={"first": first})
        if not second.approved:
            raise ValueError(f"declined: {second.reason}")
        return {"first": first, "second": second.approved}


# -- what the logs say, and what the views say --------------------------------------
def suspensions_of(info: RunInfo) -> list[tuple[Any, ...]]:
    return sorted(
        ((path_key(s.path), s.path, s.kind, s.payload, s.suspended_at) for s in info.suspensions),
        key=lambda s: s[0],
    )


def folded(run: RunLog) -> dict[str, Any]:
    """What a listing's RunInfo must say of a run, from the fold of its log."""
    return {
        "status": run.status,
        "workflow": run.workflow,
        "resource_id": run.resource_id,
        "thread_id": run.thread_id,
        "output": run.output,
        "error": run.error,
        "state": run.state,
        "position": run.version,
        "created_at": run.created_on,
        "updated_at": run.modified_on,
        "suspensions": sorted(
            (
                (path_key(s["path"]), tuple(s["path"]), s["kind"], s["payload"],
                 s["suspended_at"])
                for s in run.suspensions.values()
            ),
            key=lambda s: s[0],
        ),
    }


def shown(info: RunInfo) -> dict[str, Any]:
    return {
        "status": info.status,
        "workflow": info.workflow,
        "resource_id": info.resource_id,
        "thread_id": info.thread_id,
        "output": info.output,
        "error": info.error,
        "state": info.state,
        "position": info.position,
        "created_at": info.created_at,
        "updated_at": info.updated_at,
        "suspensions": suspensions_of(info),
    }


async def folds(engine: durable.Engine, run_ids: list[str]) -> dict[str, RunLog]:
    out = {}
    for run_id in run_ids:
        events = await engine.store.read_events(run_id)
        if events:
            out[run_id] = fold(events)
    return out


async def check_views(
    engine: durable.Engine, resource_id: str, run_ids: list[str]
) -> tuple[Page, Page]:
    """Both listings, filtered to ``resource_id``, equal the folds of the logs of
    ``run_ids`` (in the order runs were started). Returns the two pages."""
    runs = await engine.list_runs(resource_id=resource_id, per_page=EVERYTHING)
    waiting = await engine.list_suspended_runs(resource_id=resource_id, per_page=EVERYTHING)
    logs = await folds(engine, run_ids)
    expected = {run_id: folded(run) for run_id, run in logs.items()}

    # list_runs: every run, as its log folds, newest created_at first, ties in creation order
    assert runs.total == len(runs.runs) == len(expected)
    assert {r.run_id: shown(r) for r in runs.runs} == expected
    started = [r for r in run_ids if r in logs]
    assert [r.run_id for r in runs.runs] == sorted(
        started, key=lambda r: (-logs[r].created_on.timestamp(), started.index(r))
    )

    # list_suspended_runs: exactly the runs with open suspensions, with exactly those
    open_ = {r: e for r, e in expected.items() if e["suspensions"]}
    assert waiting.total == len(waiting.runs) == len(open_)
    fields = ("status", "workflow", "resource_id", "thread_id", "position", "created_at",
              "updated_at", "suspensions")
    assert {r.run_id: {f: shown(r)[f] for f in fields} for r in waiting.runs} == {
        r: {f: e[f] for f in fields} for r, e in open_.items()
    }
    for r in waiting.runs:
        assert r.suspended_at == max(s.suspended_at for s in r.suspensions)
        assert r.suspend_payloads == {path_key(s.path): s.payload for s in r.suspensions}
    # newest suspended_at first, ties by run id
    order = sorted(waiting.runs, key=lambda r: r.run_id)
    order.sort(key=lambda r: r.suspended_at or datetime.min.replace(tzinfo=UTC), reverse=True)
    assert [r.run_id for r in waiting.runs] == [r.run_id for r in order]
    return runs, waiting


async def index_status(engine: durable.Engine) -> Any:
    return {v.name: v for v in await engine.projections()}["runs_index"]


# -- the property -------------------------------------------------------------------
N_RUNS = 8
ANY = st.integers(0, 63)  # picks among the runs started so far (modulo their number)
RESUME = st.tuples(st.just("resume"), ANY, st.integers(0, 1),
                   st.sampled_from(["go", "go", "go", "go", "fail", "stall"]))
START = st.tuples(st.just("start"), st.sampled_from(["single", "pair", "each", "chain"]),
                 st.sampled_from([False, False, False, True]))
OPS = st.tuples(
    st.lists(START, min_size=1, max_size=4),
    st.lists(
        st.one_of(
            START,
            RESUME,
            RESUME,
            RESUME,
            st.tuples(st.just("cancel"), ANY),
            st.tuples(st.just("pause"), ANY),
            st.tuples(st.just("again"), ANY),
            st.tuples(st.just("restart")),
            st.tuples(st.just("recover")),
        ),
        min_size=2,
        max_size=24,
    ),
).map(lambda two: two[0] + two[1])


class Scenario:
    """One example: its own run ids and resource id, engines that come and go."""

    def __init__(self, url: str) -> None:
        self.url = url
        tag = uuid.uuid4().hex[:10]
        self.resource_id = f"prop-{tag}"
        self.run_ids = [f"{tag}-{i}" for i in range(N_RUNS)]
        self.stalls = Stalls()
        self.engine: durable.Engine | None = None
        self.crashes = 0
        self.started: list[str] = []

    async def fresh(self) -> durable.Engine:
        engine = durable.Engine(self.url, synchronous="NORMAL")
        register(engine, self.stalls)
        return await engine.open()

    async def settle(self, coro: Coroutine[Any, Any, Any]) -> None:
        """Run a command; if it reaches a step that never ends, abandon the engine
        mid-step (a crash: the run stays 'running' in its log) and open a new one."""
        assert self.engine is not None
        self.stalls.entered = asyncio.Event()
        task = asyncio.ensure_future(coro)
        entered = asyncio.ensure_future(self.stalls.entered.wait())
        await asyncio.wait({task, entered}, return_when=asyncio.FIRST_COMPLETED, timeout=30)
        if task.done():
            entered.cancel()
            task.result()
            return
        assert entered.done(), "the command neither settled nor stalled"
        await self.engine.close()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        self.crashes += 1
        self.engine = await self.fresh()

    async def apply(self, op: tuple[Any, ...]) -> None:
        engine = self.engine
        assert engine is not None
        kind = op[0]
        if kind == "restart":
            await engine.close()
            self.engine = await self.fresh()
        elif kind == "recover":
            # Runs left running by a crash were released: this engine claims exactly
            # those, and each then settles (the stalled step ends on its second attempt).
            crashed = {h.run_id for h in await engine.store.running_heads()}
            claimed = await engine.recover()
            assert set(claimed) == crashed
            for run_id in claimed:
                assert (await engine.wait(run_id, timeout=30)).status != "running"
        elif kind == "start":
            if len(self.started) == N_RUNS:
                return
            _, workflow, stall = op
            i = len(self.started)
            run = await engine.create_run(
                workflow, run_id=self.run_ids[i], resource_id=self.resource_id,
                thread_id=f"t{i % 2}",
            )
            self.started.append(run.run_id)
            await self.settle(run.start({"n": i, "stall": stall}))
        elif not self.started:
            return
        elif kind == "again":
            run_id = self.started[op[1] % len(self.started)]
            head = await engine.store.read_head(run_id)
            assert head is not None
            run = await engine.create_run(head.workflow, run_id=run_id)
            with pytest.raises(durable.RunAlreadyStarted):
                await run.start({"n": -1})
        elif kind == "resume":
            _, j, k, how = op
            run_id = self.started[j % len(self.started)]
            info = await engine.get_run(run_id)
            if not info.suspensions:
                # running (crashed, no branch open), finished or cancelled
                with pytest.raises(durable.NotSuspended):
                    await engine.resume_run(run_id, {"how": "go"}, None)
                return
            # suspended, or running after a crash with a branch still open: a resume of
            # that branch claims the run and continues it (its stalled step runs again)
            target = sorted(info.suspensions, key=lambda s: path_key(s.path))[
                k % len(info.suspensions)
            ]
            if target.kind == "approval":
                if how == "fail":
                    await engine.decline(run_id, step=target.path, reason=f"no {k}")
                else:
                    await engine.approve(run_id, step=target.path)
                return
            await self.settle(engine.resume_run(run_id, {"how": how, "k": k}, target.path))
        elif kind == "cancel":
            run_id = self.started[op[1] % len(self.started)]
            result = await engine.cancel_run(run_id, "prop")
            assert result.status in TERMINAL
        elif kind == "pause":
            # a run left running by a crash gets a pause request in its log; others stay
            run_id = self.started[op[1] % len(self.started)]
            before = await engine.get_run(run_id)
            after = await engine.pause_run(run_id)
            assert after.status == before.status


def property_examples() -> int:
    return int(os.environ.get("DURABLE_PROPERTY_EXAMPLES", "25"))


@settings(
    max_examples=property_examples(),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=OPS)
def test_views_equal_the_fold_of_the_logs(shared_url: str, ops: list[tuple[Any, ...]]) -> None:
    async def check() -> None:
        s = Scenario(shared_url)
        s.engine = await s.fresh()
        try:
            for op in ops:
                await s.apply(op)
                await check_views(s.engine, s.resource_id, s.run_ids)
            runs, waiting = await check_views(s.engine, s.resource_id, s.run_ids)
            event(f"crashes: {min(s.crashes, 3)}")
            event(f"runs: {len(runs.runs)}, waiting: {len(waiting.runs)}")
            for r in runs.runs:
                event(f"status {r.status}{' with open suspensions' if r.suspensions else ''}")
            assert (await index_status(s.engine)).lag == 0
            # Rebuilt from the logs: the very same pages.
            await s.engine.rebuild_projections()
            assert (await index_status(s.engine)).lag == 0
            assert await check_views(s.engine, s.resource_id, s.run_ids) == (runs, waiting)
            # And a new engine, caught up from the tracking row, agrees.
            await s.engine.close()
            s.engine = await s.fresh()
            assert await check_views(s.engine, s.resource_id, s.run_ids) == (runs, waiting)
            status = await index_status(s.engine)
            assert (status.lag, status.position) == (0, status.head)
        finally:
            if s.engine is not None:
                await s.engine.close()

    asyncio.run(check())


# -- a restart in a new process ---------------------------------------------------
IN_ANOTHER_PROCESS = """
import asyncio, sys
import durable

async def main():
    engine = durable.Engine(sys.argv[1], project_every=3600)

    @engine.workflow("ask")
    async def ask(ctx, inp):
        n = await ctx.step("n", lambda: inp["n"] * 10)
        return await ctx.suspend("approval", {"n": n, "who": inp["who"]})

    async with engine:
        first = await engine.create_run("ask", resource_id="proc")
        await first.start({"n": 1, "who": "first"})
        await engine.list_runs()  # the index catches up to here, and no further
        second = await engine.create_run("ask", resource_id="proc")
        await second.start({"n": 2, "who": "second"})
        print(first.run_id, second.run_id)

asyncio.run(main())
"""


def register_ask(engine: durable.Engine) -> None:
    @engine.workflow("ask")
    async def ask(ctx: durable.Context, inp: dict[str, Any]) -> Any:
        n = await ctx.step("n", lambda: inp["n"] * 10)
        return await ctx.suspend("approval", {"n": n, "who": inp["who"]})


async def test_the_listings_survive_a_restart_in_a_new_process(
    shared_url: str, open_engine: Any
) -> None:
    done = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-c", IN_ANOTHER_PROCESS, shared_url],
        capture_output=True, text=True, timeout=60, cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    first, second = done.stdout.split()

    engine = await open_engine(shared_url, register_ask, project_every=3600)
    # The index stands where the other process left it: after the first run's 3 events.
    status = await index_status(engine)
    assert (status.position, status.lag, status.rows) == (status.head - 3, 3, 1)
    # The listing was written with the events: both runs are there, newest first.
    waiting = await engine.list_suspended_runs(resource_id="proc")
    assert [(r.run_id, r.status, r.suspend_payloads) for r in waiting.runs] == [
        (second, "suspended", {"approval": {"n": 20, "who": "second"}}),
        (first, "suspended", {"approval": {"n": 10, "who": "first"}}),
    ]
    # The index catches up from its tracking row on the first list call.
    runs = await engine.list_runs(resource_id="proc")
    assert [(r.run_id, r.status, r.position) for r in runs.runs] == [
        (second, "suspended", 3), (first, "suspended", 3)
    ]
    assert [r.suspend_payloads for r in runs.runs] == [r.suspend_payloads for r in waiting.runs]
    status = await index_status(engine)
    assert (status.position, status.lag, status.rows) == (status.head, 0, 2)
    await check_views(engine, "proc", [first, second])
    # This process answers the other's run: it leaves the listing at once.
    assert (await engine.resume_run(second, "yes", None)).output == "yes"
    assert [r.run_id for r in (await engine.list_suspended_runs()).runs] == [first]


# -- leaving the listing at once ------------------------------------------------------
async def test_cancelled_and_finished_runs_leave_the_listing_at_once(
    store_url: str, open_engine: Any
) -> None:
    engine = await open_engine(store_url, register, project_every=3600)

    async def start(workflow: str, run_id: str) -> durable.Run:
        run = await engine.create_run(workflow, run_id=run_id, resource_id="now")
        assert (await run.start({"n": 1})).status == "suspended"
        return run

    async def waiting() -> dict[str, list[str]]:
        page = await engine.list_suspended_runs()
        assert page.total == len(page.runs)
        return {r.run_id: sorted(r.suspend_payloads) for r in page.runs}

    cancelled = await start("single", "c")
    finished = await start("single", "f")
    failed = await start("single", "x")
    both = await start("pair", "p")
    assert await waiting() == {"c": ["ask"], "f": ["ask"], "x": ["ask"], "p": ["x", "y"]}

    assert (await cancelled.cancel("no")).status == "cancelled"
    assert await waiting() == {"f": ["ask"], "x": ["ask"], "p": ["x", "y"]}
    assert (await finished.resume({"how": "go"})).status == "succeeded"
    assert await waiting() == {"x": ["ask"], "p": ["x", "y"]}
    assert (await failed.resume({"how": "fail"})).status == "failed"
    assert await waiting() == {"p": ["x", "y"]}
    assert (await both.resume({"how": "go"}, step="y")).status == "suspended"
    assert await waiting() == {"p": ["x"]}
    assert (await both.resume({"how": "go"}, step="x")).status == "succeeded"
    assert await waiting() == {}

    # An approval: a refused answer changes nothing, a decline ends the run.
    asked = await start("chain", "a")
    assert (await asked.resume({"how": "go"})).status == "suspended"
    assert await waiting() == {"a": ["second"]}
    before = await engine.list_runs(resource_id="now")
    with pytest.raises(durable.InvalidResumeData):
        await asked.resume({"how": "go"})
    with pytest.raises(durable.NotSuspended):
        await asked.resume({"approved": True}, step="first")
    assert await waiting() == {"a": ["second"]}
    assert await engine.list_runs(resource_id="now") == before
    assert (await engine.decline("a", reason="too dear")).status == "failed"
    assert await waiting() == {}

    runs = await engine.list_runs(resource_id="now")
    assert {r.run_id: (r.status, r.error) for r in runs.runs} == {
        "c": ("cancelled", "no"), "f": ("succeeded", None),
        "x": ("failed", "ValueError: told to fail at the end"), "p": ("succeeded", None),
        "a": ("failed", "ValueError: declined: too dear"),
    }
    assert all(r.suspensions == [] for r in runs.runs)
    await check_views(engine, "now", ["c", "f", "x", "p", "a"])


# -- two engines, one database --------------------------------------------------------
async def test_two_engines_on_one_database_see_the_same_listings(
    shared_url: str, open_engine: Any
) -> None:
    a = await open_engine(shared_url, register, project_every=3600)
    b = await open_engine(shared_url, register)

    async def pages(engine: durable.Engine, **kw: Any) -> tuple[Page, Page]:
        return (await engine.list_runs(per_page=EVERYTHING, **kw),
                await engine.list_suspended_runs(per_page=EVERYTHING, **kw))

    async def same(**kw: Any) -> tuple[Page, Page]:
        seen_a, seen_b = await pages(a, **kw), await pages(b, **kw)
        assert seen_a == seen_b
        return seen_a

    ids = []
    for i, (engine, workflow) in enumerate(
        [(a, "single"), (b, "pair"), (a, "chain"), (b, "single"), (a, "pair")]
    ):
        run = await engine.create_run(workflow, run_id=f"r{i}", resource_id="two",
                                      thread_id=f"t{i % 2}")
        await run.start({"n": i})
        ids.append(run.run_id)
        await same()
    # Each answers the other's runs.
    await a.resume_run("r1", {"how": "go"}, "x")
    await b.resume_run("r2", {"how": "go"}, None)
    await b.cancel_run("r0", "from b")
    await a.resume_run("r3", {"how": "go"}, None)
    runs, waiting = await same()
    assert [r.run_id for r in waiting.runs] == ["r2", "r4", "r1"]  # r1's y is the oldest
    assert {r.run_id: r.status for r in runs.runs} == {
        "r0": "cancelled", "r1": "suspended", "r2": "suspended", "r3": "succeeded",
        "r4": "suspended",
    }
    assert await same(workflow="pair") == await pages(b, workflow="pair")
    assert (await same(thread_id="t1"))[0].total == 2
    await check_views(a, "two", ids)
    await check_views(b, "two", ids)
    # A run B finishes leaves the listing A reads at once.
    await b.resume_run("r1", {"how": "go"}, "y")
    assert [r.run_id for r in (await a.list_suspended_runs()).runs] == ["r2", "r4"]
    assert await same() == await pages(a)
    assert (await a.list_runs(status="succeeded")).total == 2


# -- exactly once ----------------------------------------------------------------------
async def test_racing_catch_ups_apply_every_event_exactly_once(
    shared_url: str, open_engine: Any
) -> None:
    a = await open_engine(shared_url, register, project_every=3600)
    b = await open_engine(shared_url, register, project_every=3600)
    ids = [f"r{i}" for i in range(16)]

    async def write() -> None:
        for i, run_id in enumerate(ids):
            engine = (a, b)[i % 2]
            workflow = ("single", "pair", "chain")[i % 3]
            run = await engine.create_run(workflow, run_id=run_id, resource_id="once")
            result = await run.start({"n": i})
            while result.status == "suspended":
                other = (b, a)[i % 2]
                if result.suspensions[0].kind == "approval":
                    result = await other.approve(run_id)
                else:
                    result = await other.resume_run(run_id, {"how": "go"}, result.suspended[0])
            assert result.status == "succeeded"

    writer = asyncio.ensure_future(write())
    applied, rounds = 0, 0
    seen: dict[str, int] = {}
    f = ListingFilter(per_page=EVERYTHING)
    try:
        while not writer.done() or rounds < 3:
            rounds += 1
            applied += sum(await asyncio.gather(a.store.catch_up(), b.store.catch_up()))
            for rows, total, *_ in await asyncio.gather(a.store.list_runs(f), b.store.list_runs(f)):
                assert total == len(rows)
                for row in rows:
                    # never behind what was seen before, always an exact prefix of the log
                    assert row.position >= seen.get(row.run_id, 0)
                    seen[row.run_id] = row.position
                    run = fold((await a.store.read_events(row.run_id))[: row.position])
                    assert (row.status, row.error, row_values(row)) == (
                        run.status, run.error, {"output": run.output, "state": run.state}
                    )
            await asyncio.sleep(0)
        await writer
    finally:
        writer.cancel()
    applied += sum(await asyncio.gather(a.store.catch_up(), b.store.catch_up()))
    logs = {r: await a.store.read_events(r) for r in ids}
    assert applied == sum(len(events) for events in logs.values())
    assert rounds > 3
    pages = await asyncio.gather(a.list_runs(per_page=EVERYTHING), b.list_runs(per_page=EVERYTHING))
    assert pages[0] == pages[1]
    assert {r.run_id: (r.position, r.status) for r in pages[0].runs} == {
        r: (len(events), "succeeded") for r, events in logs.items()
    }
    await check_views(a, "once", ids)


class Abort(Exception):
    """Stands for a catch-up killed half-way: its transaction never commits."""


def catch_up_step(store: Store, *, commit: bool) -> Callable[[], int]:
    """One batch of the runs index's catch-up, in its own transaction, as the store runs it."""

    def step() -> int:
        index = store.index  # type: ignore[attr-defined]
        with store._writing() as cur:  # type: ignore[attr-defined]
            n: int = index.step(cur, store._to_events)  # type: ignore[attr-defined]
            if not commit:
                raise Abort(n)
        return n

    return step


async def test_a_catch_up_killed_half_way_leaves_no_trace(
    shared_url: str, open_engine: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = await open_engine(shared_url, register, project_every=3600)
    store = engine.store
    assert isinstance(store, RecorderStore)
    ids = []
    for i, workflow in enumerate(["single", "pair", "chain", "single"]):
        run = await engine.create_run(workflow, run_id=f"k{i}", resource_id="kill")
        result = await run.start({"n": i})
        if i % 2:
            await run.resume({"how": "go"}, step=result.suspended[0])
        ids.append(run.run_id)
    total = sum([len(await store.read_events(r)) for r in ids])
    monkeypatch.setattr(store.index, "batch", 4)  # type: ignore[attr-defined]

    assert await store._on_writer(catch_up_step(store, commit=True)) == 4
    before = await store.view_status()
    for _ in range(2):  # killed with its rows written: nothing of them is kept
        with pytest.raises(Abort):
            await store._on_writer(catch_up_step(store, commit=False))
        assert await store.view_status() == before
    index = {v.name: v for v in before}["runs_index"]
    assert (index.lag, index.rows) == (total - 4, 1)

    assert await store.catch_up() == total - 4  # from where the last commit left it
    runs, waiting = await check_views(engine, "kill", ids)
    assert [r.position for r in runs.runs] == [len(await store.read_events(r.run_id))
                                               for r in runs.runs]
    await engine.rebuild_projections()
    assert await check_views(engine, "kill", ids) == (runs, waiting)


async def test_rebuild_while_another_engine_catches_up(
    postgres_url: str, open_engine: Any
) -> None:
    a = await open_engine(postgres_url, register, project_every=3600)
    b = await open_engine(postgres_url, register, project_every=3600)
    run = await a.create_run("single", run_id="d", resource_id="dl")
    await run.start({"n": 1})
    await a.list_runs()  # the index holds d's row
    await run.resume({"how": "go"})  # and has not seen d's last events

    # B's catch-up is held inside its transaction, after it locked the tracking row.
    store = b.store
    assert isinstance(store, RecorderStore)
    inside, go = threading.Event(), threading.Event()

    def held(rows: Any) -> list[Event]:
        inside.set()
        go.wait(10)
        return store._to_events(rows)  # type: ignore[attr-defined,no-any-return]

    def step() -> int:
        with store._writing() as cur:  # type: ignore[attr-defined]
            return store.index.step(cur, held)  # type: ignore[attr-defined,no-any-return]

    catching_up = asyncio.ensure_future(store._on_writer(step))
    assert await asyncio.to_thread(inside.wait, 10)
    rebuilding = asyncio.ensure_future(a.rebuild_projections())  # meanwhile, from A
    await waiting_on_a_lock(postgres_url)
    go.set()
    results = await asyncio.gather(catching_up, rebuilding, return_exceptions=True)
    assert not [r for r in results if isinstance(r, BaseException)], results
    await check_views(a, "dl", ["d"])


async def waiting_on_a_lock(url: str) -> None:
    """Until some session of this database waits for a lock (at most 5 s)."""
    import psycopg

    admin = url.split("?")[0]
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        async with await psycopg.AsyncConnection.connect(admin, autocommit=True) as conn:
            cur = await conn.execute(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE wait_event_type = 'Lock' AND datname = current_database()"
            )
            row = await cur.fetchone()
            if row and row[0]:
                return
        await asyncio.sleep(0.05)


# -- lag -------------------------------------------------------------------------------
async def test_the_index_lag_is_visible_until_a_list_call(
    store_url: str, open_engine: Any
) -> None:
    engine = await open_engine(store_url, register, project_every=3600)

    async def status() -> dict[str, Any]:
        return {v.name: v for v in await engine.projections()}

    for i in range(2):
        run = await engine.create_run("single", run_id=f"lag{i}", resource_id="lag")
        await run.start({"n": i})
    written = len(await engine.history("lag0")) + len(await engine.history("lag1"))
    views = await status()
    listing, index = views["suspended_runs"], views["runs_index"]
    assert (listing.lag, listing.rows, listing.consistency) == (0, 2, "inline")
    assert (index.position, index.lag, index.rows, index.consistency) == (
        0, written, 0, "tracking"
    )
    assert index.head >= written
    # The listing needs no catch-up, and does not move the index.
    assert (await engine.list_suspended_runs()).total == 2
    assert (await status())["runs_index"].lag == written

    assert (await engine.list_runs()).total == 2
    index = (await status())["runs_index"]
    assert (index.position, index.lag, index.rows) == (index.head, 0, 2)

    await engine.resume_run("lag0", {"how": "go"}, None)  # resumed, succeeded
    views = await status()
    assert (views["runs_index"].lag, views["suspended_runs"].rows) == (2, 1)
    assert [r.run_id for r in (await engine.list_suspended_runs()).runs] == ["lag1"]
    assert (await engine.list_runs(status="succeeded")).total == 1
    assert (await status())["runs_index"].lag == 0


async def test_the_background_catch_up_closes_the_lag(store_url: str, open_engine: Any) -> None:
    engine = await open_engine(store_url, register, project_every=0.05)
    run = await engine.create_run("single", run_id="bg")
    await run.start({"n": 1})
    deadline = time.monotonic() + 10
    while (await index_status(engine)).lag:
        assert time.monotonic() < deadline, "the background catch-up never ran"
        await asyncio.sleep(0.02)
    assert (await index_status(engine)).rows == 1


# -- filters ---------------------------------------------------------------------------
async def test_filters_of_both_listings(
    store_url: str, open_engine: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = await open_engine(store_url, register, project_every=3600)
    specs = [  # run, workflow, resource, thread
        ("r0", "chain", "u1", "t1"),
        ("r1", "pair", "u1", "t2"),
        ("r2", "single", "u2", "t1"),
        ("r3", "single", "u2", None),
        ("r4", "single", None, "t2"),
    ]
    for run_id, workflow, resource, thread in specs:
        run = await engine.create_run(workflow, run_id=run_id, resource_id=resource,
                                      thread_id=thread)
        await run.start({"n": 1})
        await asyncio.sleep(0.005)  # distinct times
    await engine.resume_run("r3", {"how": "go"}, None)
    await engine.cancel_run("r4", None)
    await engine.resume_run("r0", {"how": "go"}, None)  # now waits at "second", the newest
    created = {r: (await engine.get_run(r)).created_at for r, *_ in specs}
    waiting = {r.run_id: r.suspended_at for r in (await engine.list_suspended_runs()).runs}
    assert list(waiting) == ["r0", "r2", "r1"]

    async def runs(**kw: Any) -> tuple[list[str], int]:
        page = await engine.list_runs(**kw)
        return [r.run_id for r in page.runs], page.total

    async def susp(**kw: Any) -> tuple[list[str], int]:
        page = await engine.list_suspended_runs(**kw)
        return [r.run_id for r in page.runs], page.total

    assert await runs() == (["r4", "r3", "r2", "r1", "r0"], 5)
    assert await runs(status="suspended") == (["r2", "r1", "r0"], 3)
    assert await runs(status="succeeded") == (["r3"], 1)
    assert await runs(status="cancelled") == (["r4"], 1)
    assert await runs(status="failed") == ([], 0)
    assert await runs(workflow="single") == (["r4", "r3", "r2"], 3)
    assert await runs(resource_id="u1") == (["r1", "r0"], 2)
    assert await runs(thread_id="t2") == (["r4", "r1"], 2)
    assert await runs(workflow="single", resource_id="u2", status="suspended") == (["r2"], 1)
    assert await runs(per_page=2) == (["r4", "r3"], 5)
    assert await runs(per_page=2, page=2) == (["r0"], 5)
    assert await runs(per_page=2, page=3) == ([], 5)
    assert await runs(thread_id="t1", per_page=1, page=1) == (["r0"], 2)

    assert await susp() == (["r0", "r2", "r1"], 3)
    assert await susp(workflow="pair") == (["r1"], 1)
    assert await susp(resource_id="u1") == (["r0", "r1"], 2)
    assert await susp(thread_id="t1") == (["r0", "r2"], 2)
    assert await susp(resource_id="u2", thread_id="t1", workflow="single") == (["r2"], 1)
    assert await susp(resource_id="nobody") == ([], 0)
    assert await susp(per_page=1) == (["r0"], 3)
    assert await susp(per_page=2, page=1) == (["r1"], 3)

    # Dates are inclusive; runs filter on created_at, the listing on suspended_at.
    assert await runs(from_date=created["r1"], to_date=created["r3"]) == (["r3", "r2", "r1"], 3)
    assert await runs(from_date=created["r4"]) == (["r4"], 1)
    assert await runs(to_date=created["r0"]) == (["r0"], 1)
    assert await runs(to_date=created["r0"] - timedelta(microseconds=1)) == ([], 0)
    assert await susp(from_date=waiting["r2"]) == (["r0", "r2"], 2)
    assert await susp(from_date=waiting["r1"], to_date=waiting["r2"]) == (["r2", "r1"], 2)
    assert await susp(to_date=waiting["r1"]) == (["r1"], 1)
    assert await susp(from_date=waiting["r0"] + timedelta(microseconds=1)) == ([], 0)
    assert await runs(from_date=created["r0"], status="suspended", per_page=1, page=2) == (
        ["r0"], 3
    )
    # A date is its whole day (UTC): as to_date it keeps the runs made during that day.
    assert created["r0"] is not None and created["r4"] is not None
    day = created["r0"].astimezone(UTC).date()
    if created["r4"].astimezone(UTC).date() == day:  # (not across midnight UTC)
        assert (await runs(from_date=day, to_date=day))[1] == 5
        assert (await susp(to_date=day))[1] == 3
    assert await runs(to_date=day - timedelta(days=1)) == ([], 0)
    assert await runs(from_date=day + timedelta(days=1)) == ([], 0)

    # Naive datetimes are UTC, whatever the local time zone says.
    monkeypatch.setenv("TZ", "Asia/Kathmandu")  # UTC+05:45
    time.tzset()
    try:
        def naive(d: datetime | None) -> datetime:
            assert d is not None and d.tzinfo is not None
            return d.astimezone(UTC).replace(tzinfo=None)

        assert await runs(from_date=naive(created["r1"]), to_date=naive(created["r3"])) == (
            ["r3", "r2", "r1"], 3
        )
        assert await susp(from_date=naive(waiting["r1"]), to_date=naive(waiting["r2"])) == (
            ["r2", "r1"], 2
        )
        # The same instant in another zone selects the same runs.
        assert created["r1"] is not None
        india = created["r1"].astimezone(timezone(timedelta(hours=5, minutes=30)))
        assert await runs(from_date=india, status="suspended") == (["r2", "r1"], 2)
    finally:
        monkeypatch.undo()
        time.tzset()

    with pytest.raises(ValueError):
        await engine.list_runs(per_page=0)
    with pytest.raises(ValueError):
        await engine.list_suspended_runs(page=-1)


# -- the command line --------------------------------------------------------------------
def durable_cli(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DURABLE_DATABASE_URL", "DURABLE_APP")}
    env["PYTHONIOENCODING"] = "utf-8"
    return subprocess.run(
        [sys.executable, "-m", "durable", *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=60,
    )


@pytest.mark.slow
def test_cli_projections_status_and_rebuild(tmp_path: Path) -> None:
    assert durable_cli(tmp_path, "demo").returncode == 0

    def views(*args: str) -> dict[str, dict[str, Any]]:
        done = durable_cli(tmp_path, *args, "--json")
        assert done.returncode == 0, done.stderr
        return {v["name"]: v for v in json.loads(done.stdout)}

    status = views("projections", "status")
    assert set(status) == {"suspended_runs", "runs_index"}
    assert status["suspended_runs"]["consistency"] == "inline"
    assert status["runs_index"]["consistency"] == "tracking"
    head = status["runs_index"]["head"]
    assert head > 0 and status["suspended_runs"]["lag"] == 0
    assert status["runs_index"]["lag"] == head - status["runs_index"]["position"]
    listed = json.loads(durable_cli(tmp_path, "runs", "list", "--json").stdout)

    rebuilt = views("projections", "rebuild")
    assert rebuilt["runs_index"] == {
        "name": "runs_index", "position": head, "head": head, "lag": 0,
        "rows": listed["total"], "consistency": "tracking",
    }
    assert rebuilt["suspended_runs"]["rows"] == status["suspended_runs"]["rows"]
    assert views("projections", "status") == rebuilt
    assert views("--db", "sqlite:///durable.db", "projections", "status") == rebuilt
    again = json.loads(durable_cli(tmp_path, "runs", "list", "--json").stdout)
    assert again == listed

    table = durable_cli(tmp_path, "projections", "status")
    assert table.returncode == 0 and "runs_index" in table.stdout and "tracking" in table.stdout


# -- importing -----------------------------------------------------------------------------
def test_projections_can_be_imported_first() -> None:
    done = subprocess.run([sys.executable, "-c", "import projections.suspended"],
                          capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert done.returncode == 0, done.stderr


def test_a_date_filter_is_its_whole_day_and_odd_forms_are_refused() -> None:
    from datetime import date

    from durable.reads import _ts, when_from_text

    day = date(2026, 12, 1)
    first = datetime(2026, 12, 1, tzinfo=UTC).timestamp()
    last = datetime(2026, 12, 1, 23, 59, 59, 999999, tzinfo=UTC).timestamp()
    following = datetime(2026, 12, 2, tzinfo=UTC).timestamp()
    assert _ts(day) == first
    end = _ts(day, end=True)
    assert end is not None and last <= end < following  # inclusive of the last microsecond
    assert _ts(date.max, end=True) is not None and _ts(date.min) is not None  # no overflow
    assert when_from_text("2026-12-01") == day
    assert when_from_text("2026-12-01T09:30:00Z") == datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
    assert when_from_text("2026-12-01 09:30+05:45").utcoffset() == timedelta(hours=5,
                                                                           minutes=45)
    # Forms Python would read as midnight (dropping the day), or read past junk: refused.
    for odd in ("20261201", "2026-W49-2", "2026W492", "20261201XY", "2026-12-01T",
                "2026-02-30", "\uff12\uff10\uff12\uff16-12-01", "yesterday", ""):
        with pytest.raises(ValueError, match="is not a date"):
            when_from_text(odd)

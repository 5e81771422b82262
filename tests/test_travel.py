"""Time travel: history pages, state_at from the nearest snapshot, forks with lineage and
what-if results, and export/import between stores."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import durable
from durable.fold import fold
from durable.results import RunInfo
from durable.run_info import info_from
from tests.raw_db import RawDB

CALLS: list[str] = []


def register(engine: durable.Engine) -> None:
    @engine.workflow("order")
    async def order(ctx: durable.Context, n: int) -> dict[str, Any]:
        total = 0
        for i in range(n):
            total += await ctx.step("add", lambda i=i: CALLS.append("add") or i)
            if i % 3 == 0:
                ctx.set_state({"total": total, "i": i})
        pay = await ctx.step("pay", lambda: CALLS.append("pay") or {"approved": True})
        if not pay["approved"]:
            return {"status": "declined", "total": total}
        answer = await ctx.suspend("ship", {"total": total})
        await ctx.step("ship", lambda: CALLS.append("ship") or "shipped")
        return {"status": "shipped", "total": total, "answer": answer}

    @engine.workflow("parent")
    async def parent(ctx: durable.Context, _: Any) -> Any:
        await ctx.step("before", lambda: 1)
        return await ctx.child("kid", "order", 2)


def public(events: list[durable.Event]) -> list[tuple[int, str, Any]]:
    return [(e.position, e.type, e.data) for e in events]


async def test_history_pages_are_slices_of_the_log(store_url: str, open_engine: Any) -> None:
    engine = await open_engine(store_url, register)
    run = await engine.create_run("order")
    await run.start(7)
    whole = await engine.history(run.run_id)
    pages = [await engine.history(run.run_id, after=a, limit=4) for a in range(0, 20, 4)]
    assert public([e for p in pages for e in p]) == public(whole)
    assert await engine.history(run.run_id, after=len(whole)) == []
    with pytest.raises(durable.RunNotFound):
        await engine.history("nope", after=3)
    with pytest.raises(ValueError, match="limit"):
        await engine.history(run.run_id, limit=0)


@settings(max_examples=15, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(n=st.integers(0, 40), every=st.integers(2, 9), answer=st.booleans())
def test_state_at_every_position_is_the_fold_of_the_prefix(
        tmp_path_factory: pytest.TempPathFactory, n: int, every: int, answer: bool) -> None:
    url = f"sqlite:///{tmp_path_factory.mktemp('at')}/at.db"

    async def check() -> None:
        engine = durable.Engine(url, snapshot_every=every)
        register(engine)
        async with engine:
            run = await engine.create_run("order")
            await run.start(n)
            if answer:
                await run.resume({"ok": 1})
            await engine.flush()  # its snapshots are stored
            log = await engine._runtime().events(run.run_id)
            fork = await engine.fork(run.run_id, at=max(1, len(log) // 2))
            forked_log = await engine._runtime().events(fork.run_id)
            for run_id, events in ((run.run_id, log), (fork.run_id, forked_log)):
                for p in range(1, len(events) + 1):
                    expected = info_from(fold(events[:p]), RunInfo)
                    expected.run_id = run_id
                    assert await engine.state_at(run_id, p) == expected, (run_id, p)
                with pytest.raises(ValueError, match="outside"):
                    await engine.state_at(run_id, len(events) + 1)
                with pytest.raises(ValueError):
                    await engine.state_at(run_id, 0)

    asyncio.run(check())


async def test_a_fork_leaves_the_original_untouched_and_runs_no_what_if_step(
        shared_url: str, open_engine: Any) -> None:
    engine = await open_engine(shared_url, register)
    run = await engine.create_run("order")
    await run.start(4)
    db = RawDB(shared_url)
    rows = "SELECT originator_version, topic, state FROM {events} WHERE originator_id = ? " \
           "ORDER BY originator_version"
    before = db.execute(rows, (run.run_id,))

    CALLS.clear()
    fork = await engine.fork(run.run_id, at="pay", results={"pay": {"approved": False}})
    info = await engine.get_run(fork.run_id)
    pay_at = next(e.position for e in await engine.history(run.run_id)
                  if e.type == "step_completed" and e.data["path"] == ["pay"])
    assert (info.status, info.forked_from, info.fork_position) == (
        "paused", run.run_id, pay_at - 1)
    assert len(db.execute(rows, (fork.run_id,))) == 1  # its own "forked": nothing copied
    result = await fork.resume()
    assert result.status == "succeeded" and result.output == {"status": "declined", "total": 6}
    assert CALLS == []  # the what-if step was recorded, not run
    pay = [e for e in await engine.history(fork.run_id) if e.type == "step_completed"][-1]
    assert pay.data["what_if"] is True and pay.data["result"] == {"approved": False}
    assert await engine.verify(fork.run_id) and await engine.verify(run.run_id)
    assert db.execute(rows, (run.run_id,)) == before  # byte for byte
    assert (await engine.get_run(run.run_id)).status == "suspended"
    listed = {r.run_id: r for r in (await engine.list_runs()).runs}
    assert listed[fork.run_id].forked_from == run.run_id
    assert listed[fork.run_id].fork_position == pay_at - 1


async def test_a_fork_where_the_run_waited_waits_too_and_forks_chain(
        store_url: str, open_engine: Any) -> None:
    engine = await open_engine(store_url, register)
    run = await engine.create_run("order", resource_id="r1")
    await run.start(2)
    await run.resume({"ok": 1})
    suspended_at = next(e.position for e in await engine.history(run.run_id)
                        if e.type == "suspended")
    fork = await engine.fork(run.run_id, at=suspended_at)
    info = await engine.get_run(fork.run_id)
    assert info.status == "suspended" and info.suspended == [("ship",)]
    assert info.resource_id == "r1"
    waiting = {r.run_id: r for r in (await engine.list_suspended_runs()).runs}
    assert waiting[fork.run_id].forked_from == run.run_id
    CALLS.clear()
    done = await fork.resume({"ok": "fork"})
    assert done.output == {"status": "shipped", "total": 1, "answer": {"ok": "fork"}}
    assert CALLS == ["ship"]
    # A fork of the fork, before its own first event: read through two originals.
    again = await engine.fork(fork.run_id, at=suspended_at - 1)
    assert (await engine.get_run(again.run_id)).forked_from == fork.run_id
    resumed = await again.resume()  # paused before the suspension: it waits there again
    assert (resumed.status, resumed.suspended) == ("suspended", [("ship",)])
    assert await engine.verify(again.run_id)
    assert public(await engine.history(again.run_id))[:suspended_at - 1] == public(
        await engine.history(run.run_id))[:suspended_at - 1]


async def test_a_fork_refuses_what_would_not_make_sense(store_url: str, open_engine: Any
                                                        ) -> None:
    engine = await open_engine(store_url, register)
    run = await engine.create_run("order")
    await run.start(2)
    done = await run.resume({"ok": 1})
    end = len(await engine.history(run.run_id))
    assert done.status == "succeeded"
    for at, match in ((end, "before its terminal event"), (end + 5, "1.."), (0, "1 or more"),
                      ("nosuch", "holds no step")):
        with pytest.raises(ValueError, match=match):
            await engine.fork(run.run_id, at=at)
    with pytest.raises(ValueError, match="completed at event"):
        await engine.fork(run.run_id, at="pay", results={"add": 5})
    with pytest.raises(durable.RunNotFound):
        await engine.fork("nope", at=1)
    parent = await engine.create_run("parent")
    await parent.start(None)  # its child waits at "ship"
    with pytest.raises(ValueError, match="child"):
        await engine.fork(parent.run_id, at=len(await engine.history(parent.run_id)))
    assert len((await engine.list_runs()).runs) == 3  # no fork was written


async def test_export_import_round_trips_and_refuses_tampering(
        tmp_path: Any, shared_url: str, open_engine: Any) -> None:
    source = await open_engine(f"sqlite:///{tmp_path}/source.db", register,
                               blob_threshold=64)
    run = await source.create_run("order", thread_id="t")
    await run.start(5)
    exported = await source.export_run(run.run_id)
    fork = await source.fork(run.run_id, at=4)
    exported_fork = await source.export_run(fork.run_id)

    target = await open_engine(shared_url, register)
    for bad, match in (
        (exported.replace(b'"total":10', b'"total":11'), "edited"),
        (b"\n".join(exported.splitlines()[:-1]), "cut short"),
        (exported.replace(exported.splitlines()[3], exported.splitlines()[4]), "line"),
        (b"not json", "header"),
        (b"", "empty"),
    ):
        with pytest.raises(ValueError, match=match):
            await target.import_run(bad)
    assert (await target.list_runs()).total == 0  # nothing written

    assert await target.import_run(exported) == run.run_id
    assert public(await target.history(run.run_id)) == public(await source.history(run.run_id))
    assert await target.verify(run.run_id)
    assert (await target.get_run(run.run_id)).thread_id == "t"
    with pytest.raises(ValueError, match="exists"):
        await target.import_run(exported)
    assert await target.import_run(exported_fork) == fork.run_id
    imported = await target.get_run(fork.run_id)
    assert (imported.forked_from, imported.fork_position) == (run.run_id, 4)
    assert await target.verify(fork.run_id)
    done = await target.get_run(run.run_id)
    assert done.status == "suspended"
    result = await target.create_run("order", run_id=run.run_id)
    assert (await result.resume({"ok": 2})).status == "succeeded"  # it moved, and goes on

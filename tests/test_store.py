"""The store interface, exercised directly: every adapter must pass the same suite.

The engine's correctness rests on these promises: an append is all or nothing,
a lost race for a position writes nothing and surfaces as PositionConflict,
one run's lost race never fails the other runs of a group-committed batch, and
the head and suspension rows always agree with the log.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from typing import Any

import pytest
from eventsourcing.persistence import IntegrityError

import durable
from durable.codec import encode
from durable.errors import PositionConflict
from durable.events import GENESIS_HASH, RunLog, new_event
from durable.store import open_store
from durable.store.base import Append, Head, RecorderStore, RunFilter, Store, SuspensionRow

T0 = 1_700_000_000.0


def event(run_id: str, position: int, prev_hash: str = GENESIS_HASH, **data: Any) -> RunLog.Event:
    if position == 1:
        return new_event(
            run_id,
            1,
            "started",
            {"workflow": "wf", "input": data or None},
            prev_hash,
            datetime.fromtimestamp(T0, UTC),
        )
    return new_event(
        run_id,
        position,
        "step_completed",
        {"path": [f"s{position}"], "result": data or None, "attempt": 0},
        prev_hash,
        datetime.fromtimestamp(T0 + position, UTC),
    )


def head(run_id: str, position: int, **kw: Any) -> Head:
    fields: dict[str, Any] = {
        "workflow": "wf",
        "status": "running",
        "created_at": T0,
        "updated_at": T0 + position,
    }
    fields.update(kw)
    return Head(run_id=run_id, position=position, **fields)


def suspension(
    run_id: str, *path: str | int, at: float = T0, kind: str = "input", payload: Any = None
) -> SuspensionRow:
    return SuspensionRow(
        run_id=run_id,
        path_key=".".join(map(str, path)),
        path=list(path),
        kind=kind,
        payload=encode(payload),
        suspended_at=at,
    )


def append(
    run_id: str,
    expected: int,
    n: int = 1,
    *,
    suspensions: list[SuspensionRow] | None = None,
    **head_kw: Any,
) -> Append:
    events = [event(run_id, expected + i + 1) for i in range(n)]
    return Append(
        run_id=run_id,
        expected=expected,
        events=events,
        head=head(run_id, expected + n, **head_kw),
        suspensions=suspensions,
    )


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[Store]:
    s = open_store(store_url)
    await s.open()
    yield s
    await s.close()


async def open_suspensions(store: Store, run_id: str) -> list[SuspensionRow]:
    rows, _ = await store.list_suspended(RunFilter(per_page=1000))
    return next((s for h, s in rows if h.run_id == run_id), [])


async def test_append_then_read_events_round_trip(store: Store) -> None:
    a = append(
        "run-1",
        0,
        3,
        status="suspended",
        suspended_at=T0 + 3,
        suspensions=[suspension("run-1", "approval", at=T0 + 3, payload={"p": 1})],
    )
    await store.append(a)
    events = await store.read_events("run-1")
    assert events == list(a.events)
    assert [type(e) for e in events] == [RunLog.Started, RunLog.StepCompleted, RunLog.StepCompleted]
    assert await store.read_events("run-1", after=2) == [a.events[2]]
    assert await store.read_events("run-1", after=3) == []
    assert await store.read_head("run-1") == a.head
    assert await store.read_events("nobody") == []
    assert await store.read_head("nobody") is None


async def test_conflicting_append_raises_and_writes_nothing(store: Store) -> None:
    await store.append(
        append("r", 0, 2, status="suspended", suspended_at=T0, suspensions=[suspension("r", "a")])
    )
    before_events = await store.read_events("r")
    before_head = await store.read_head("r")
    # A racer that saw position 1 too: its events, head and suspensions must all vanish.
    loser = Append(
        run_id="r",
        expected=1,
        events=[event("r", 2, x=1), event("r", 3)],
        head=head("r", 3, status="failed"),
        suspensions=[suspension("r", "zzz")],
    )
    with pytest.raises(PositionConflict) as info:
        await store.append(loser)
    assert (info.value.run_id, info.value.expected) == ("r", 1)
    assert await store.read_events("r") == before_events
    assert await store.read_head("r") == before_head
    assert [s.path_key for s in await open_suspensions(store, "r")] == ["a"]
    # The winner's next append still goes through.
    await store.append(append("r", 2, status="running", suspensions=[]))
    assert len(await store.read_events("r")) == 3
    assert await open_suspensions(store, "r") == []


async def test_failed_batch_rolls_back_every_run_in_it(store: Store) -> None:
    assert isinstance(store, RecorderStore)
    await store.append(append("taken", 0))
    good = append(
        "good", 0, suspensions=[suspension("good", "s")], status="suspended", suspended_at=T0
    )
    bad = append(
        "taken", 0, suspensions=[suspension("taken", "s")], status="suspended", suspended_at=T0
    )
    for a in (good, bad):
        a.stored = [store.mapper.to_stored_event(e) for e in a.events]
    with pytest.raises(IntegrityError):
        await asyncio.to_thread(store._insert_sync, [good, bad])
    assert await store.read_events("good") == []
    assert await store.read_head("good") is None
    assert (await store.list_suspended(RunFilter()))[1] == 0
    assert (await store.read_head("taken")) == head("taken", 1)


async def in_one_batch(store: Store, appends: list[Append]) -> tuple[list[int], list[Any]]:
    """Append concurrently, holding the writer in a prior transaction meanwhile so that
    all of them queue up and are committed as one batch. Returns the batch sizes."""
    assert isinstance(store, RecorderStore)
    gate, sizes = threading.Event(), []
    insert = store._insert_sync

    def gated_insert(batch: Sequence[Append]) -> None:
        sizes.append(len(batch))
        gate.wait(10)
        insert(batch)

    store._insert_sync = gated_insert  # type: ignore[method-assign]
    try:
        first = asyncio.ensure_future(store.append(append(f"gate-{id(appends)}", 0)))
        await asyncio.sleep(0.05)
        pending = asyncio.gather(*(store.append(a) for a in appends), return_exceptions=True)
        await asyncio.sleep(0.05)
        gate.set()
        await first
        results = await pending
        return sizes[1:], results
    finally:
        store._insert_sync = insert  # type: ignore[method-assign]


async def test_group_commit_one_conflict_does_not_fail_the_others(store: Store) -> None:
    await store.append(append("x", 0))
    appends = [append(f"r{i}", 0) for i in range(10)]
    appends.insert(5, append("x", 0, status="failed"))  # lost race for position 1
    sizes, results = await in_one_batch(store, appends)
    assert sizes == [11] + [1] * 11  # the batch, then one by one after the conflict
    assert isinstance(results[5], PositionConflict)
    assert [r for i, r in enumerate(results) if i != 5] == [None] * 10
    for i in range(10):
        assert len(await store.read_events(f"r{i}")) == 1
        assert (await store.read_head(f"r{i}")) == head(f"r{i}", 1)
    assert await store.read_head("x") == head("x", 1)
    assert len(await store.read_events("x")) == 1


async def test_group_commit_keeps_each_runs_last_head_and_suspensions(store: Store) -> None:
    y1 = append("y", 0, status="suspended", suspended_at=T0, suspensions=[suspension("y", "a")])
    y2 = append(
        "y",
        1,
        status="suspended",
        suspended_at=T0 + 2,
        suspensions=[suspension("y", "b", at=T0 + 2)],
    )
    y2.events = [event("y", 2)]
    y3 = append("y", 2, status="suspended", suspended_at=T0 + 2)  # leaves them as they are
    y3.events = [event("y", 3)]
    z = append("z", 0, suspensions=[suspension("z", "c")], status="suspended", suspended_at=T0)
    sizes, results = await in_one_batch(store, [z, y1, y2, y3])
    assert (sizes, results) == ([4], [None] * 4)
    assert await store.read_head("y") == y3.head
    assert [s.path_key for s in await open_suspensions(store, "y")] == ["b"]
    assert [s.path_key for s in await open_suspensions(store, "z")] == ["c"]


async def test_racing_stores_on_one_database(shared_url: str) -> None:
    stores = [open_store(shared_url), open_store(shared_url)]
    await asyncio.gather(*(s.open() for s in stores))  # creating the schema at once too
    try:
        for round_ in range(5):
            run = f"race-{round_}"
            results = await asyncio.gather(
                *(s.append(append(run, 0, owner_id=f"o{i}")) for i, s in enumerate(stores)),
                return_exceptions=True,
            )
            assert sorted(type(r).__name__ for r in results) == ["NoneType", "PositionConflict"]
            winner = results.index(None)
            h = await stores[1 - winner].read_head(run)
            assert h is not None and h.owner_id == f"o{winner}"
    finally:
        for s in stores:
            await s.close()


async def test_heads_running_and_leases(store: Store) -> None:
    big = 2**40  # process start times in clock ticks outgrow 32 bits
    await store.append(
        append(
            "a",
            0,
            owner_id="o1",
            owner_host="h",
            owner_pid=7,
            owner_start=big,
            lease_until=10.0,
            version="1",
            resource_id="res",
            thread_id="th",
            parent_run_id="p",
        )
    )
    await store.append(append("b", 0, owner_id="o2", lease_until=10.0))
    await store.append(append("c", 0, owner_id="o1", lease_until=10.0, status="suspended"))
    a = await store.read_head("a")
    assert a == head(
        "a",
        1,
        owner_id="o1",
        owner_host="h",
        owner_pid=7,
        owner_start=big,
        lease_until=10.0,
        version="1",
        resource_id="res",
        thread_id="th",
        parent_run_id="p",
    )
    assert sorted(h.run_id for h in await store.running_heads()) == ["a", "b"]
    await store.renew_leases("o1", 99.5)
    leases = {r: (await store.read_head(r)).lease_until for r in "abc"}  # type: ignore[union-attr]
    assert leases == {"a": 99.5, "b": 10.0, "c": 10.0}
    # A later head replaces everything but created_at.
    await store.append(append("a", 1, status="succeeded", created_at=T0 + 500, owner_id=None))
    a = await store.read_head("a")
    assert a is not None and (a.status, a.position, a.created_at, a.owner_id) == (
        "succeeded",
        2,
        T0,
        None,
    )
    assert sorted(h.run_id for h in await store.running_heads()) == ["b"]


async def test_list_runs_filters_paging_and_total(store: Store) -> None:
    specs = [  # run, status, workflow, resource, thread, created_at offset
        ("r0", "succeeded", "alpha", "u1", "t1", 0),
        ("r1", "running", "alpha", "u1", "t2", 10),
        ("r2", "suspended", "beta", "u2", "t1", 10),  # ties r1: created later, listed first
        ("r3", "failed", "beta", None, None, 20),
        ("r4", "succeeded", "alpha", "u2", "t2", 30),
    ]
    for run, status, wf, res, th, dt in specs:
        await store.append(
            append(
                run,
                0,
                status=status,
                workflow=wf,
                resource_id=res,
                thread_id=th,
                created_at=T0 + dt,
            )
        )

    async def ids(**kw: Any) -> tuple[list[str], int]:
        heads, total = await store.list_runs(RunFilter(**kw))
        return [h.run_id for h in heads], total

    assert await ids() == (["r4", "r3", "r2", "r1", "r0"], 5)
    assert await ids(status="succeeded") == (["r4", "r0"], 2)
    assert await ids(workflow="beta") == (["r3", "r2"], 2)
    assert await ids(resource_id="u2") == (["r4", "r2"], 2)
    assert await ids(thread_id="t1") == (["r2", "r0"], 2)
    assert await ids(workflow="alpha", thread_id="t2") == (["r4", "r1"], 2)
    assert await ids(from_date=T0 + 10, to_date=T0 + 20) == (["r3", "r2", "r1"], 3)  # inclusive
    assert await ids(from_date=T0 + 25) == (["r4"], 1)
    assert await ids(to_date=T0 + 5) == (["r0"], 1)
    assert await ids(status="cancelled") == ([], 0)
    assert await ids(per_page=2) == (["r4", "r3"], 5)
    assert await ids(per_page=2, page=1) == (["r2", "r1"], 5)
    assert await ids(per_page=2, page=2) == (["r0"], 5)
    assert await ids(per_page=2, page=9) == ([], 5)
    assert await ids(workflow="alpha", per_page=1, page=1) == (["r1"], 3)


async def test_list_suspended(store: Store) -> None:
    await store.append(
        append(
            "s1",
            0,
            status="suspended",
            suspended_at=T0 + 5,
            suspensions=[
                suspension(
                    "s1", "review", 2, "approve", at=T0 + 5, kind="approval", payload={"a": 1}
                ),
                suspension("s1", "ask", at=T0 + 1, payload=[1, "x"]),
            ],
        )
    )
    await store.append(
        append(
            "s2",
            0,
            status="suspended",
            suspended_at=T0 + 9,
            workflow="other",
            suspensions=[suspension("s2", "wait", at=T0 + 9, kind="event")],
        )
    )
    # A run whose other branch still executes lists its open suspension.
    await store.append(
        append(
            "busy",
            0,
            status="running",
            suspended_at=T0 + 7,
            suspensions=[suspension("busy", "timer", at=T0 + 7, kind="timer")],
        )
    )
    await store.append(
        append(
            "done",
            0,
            status="suspended",
            suspended_at=T0 + 8,
            suspensions=[suspension("done", "x", at=T0 + 8)],
        )
    )
    await store.append(append("done", 1, status="succeeded", suspended_at=T0 + 8, suspensions=[]))
    await store.append(append("plain", 0))
    # suspensions=None leaves a run's rows as they are.
    await store.append(append("s1", 1, status="suspended", suspended_at=T0 + 5))

    async def ids(**kw: Any) -> tuple[list[str], int]:
        rows, total = await store.list_suspended(RunFilter(**kw))
        return [h.run_id for h, _ in rows], total

    rows, total = await store.list_suspended(RunFilter())
    assert ([h.run_id for h, _ in rows], total) == (["s2", "busy", "s1"], 3)
    s1 = dict((h.run_id, s) for h, s in rows)["s1"]
    # SQL stores give a run's rows oldest first; the memory store in append order.
    assert sorted(s1, key=lambda s: (s.suspended_at, s.path_key)) == [
        suspension("s1", "ask", at=T0 + 1, payload=[1, "x"]),
        suspension("s1", "review", 2, "approve", at=T0 + 5, kind="approval", payload={"a": 1}),
    ]
    assert rows[0][0] == await store.read_head("s2")
    assert await ids(workflow="other") == (["s2"], 1)
    assert await ids(workflow="wf", status="suspended") == (["s1"], 1)
    assert await ids(from_date=T0 + 6, to_date=T0 + 7) == (["busy"], 1)  # on suspended_at
    assert await ids(per_page=2, page=1) == (["s1"], 3)
    # Answering the last open suspension drops the run from the listing.
    await store.append(append("s2", 1, status="running", suspended_at=T0 + 9, suspensions=[]))
    assert await ids() == (["busy", "s1"], 2)


def test_postgres_url_parsing() -> None:
    pytest.importorskip("psycopg")
    from durable.store.postgres import parse_url

    assert parse_url("postgresql://u%40x:p%2Fw@db.example:6543/app?schema=tenant_1") == {
        "dbname": "app",
        "host": "db.example",
        "port": "6543",
        "user": "u@x",
        "password": "p/w",
        "schema": "tenant_1",
    }
    assert parse_url("postgres://localhost/app") == {
        "dbname": "app",
        "host": "localhost",
        "port": "",
        "user": "",
        "password": "",
        "schema": "public",
    }
    with pytest.raises(ValueError, match="lower case"):
        parse_url("postgresql://localhost/app?schema=Tenant")
    with pytest.raises(ValueError, match="sslmode"):
        parse_url("postgresql://localhost/app?sslmode=require")


async def test_engine_suspend_resume_history_verify(store_url: str, open_engine: Any) -> None:
    def register(engine: durable.Engine) -> None:
        @engine.workflow("approve-order", version="1")
        async def approve(ctx: durable.Context, order: dict[str, Any]) -> dict[str, Any]:
            price = await ctx.step("price", lambda o: o["qty"] * 10, order)
            decision = await ctx.suspend("approval", {"price": price})
            if not decision["approved"]:
                return {"status": "rejected"}
            return {"status": "shipped", "price": price}

    engine = await open_engine(store_url, register)
    run = await engine.create_run("approve-order", resource_id="user-1")
    result = await run.start({"sku": "A-1", "qty": 2})
    assert (result.status, result.suspended) == ("suspended", [("approval",)])
    page = await engine.list_suspended_runs()
    assert [(r.run_id, r.suspend_payloads) for r in page.runs] == [
        (run.run_id, {"approval": {"price": 20}})
    ]
    result = await run.resume({"approved": True})
    assert (result.status, result.output) == ("succeeded", {"status": "shipped", "price": 20})
    assert [e.type for e in await engine.history(run.run_id)] == [
        "started",
        "step_completed",
        "suspended",
        "resumed",
        "succeeded",
    ]
    assert await engine.verify(run.run_id)
    assert (await engine.list_suspended_runs()).total == 0
    if not store_url.startswith("memory://"):  # another engine sees it all
        other = await open_engine(store_url, register)
        info = await other.get_run(run.run_id)
        assert (info.status, info.resource_id) == ("succeeded", "user-1")
        assert (await other.list_runs(resource_id="user-1")).total == 1

"""The store interface, exercised directly: every adapter must pass the same suite.

The engine's correctness rests on these promises: an append is all or nothing,
a lost race for a position writes nothing (no event, no head, no row of the
suspended listing) and surfaces as PositionConflict, one run's lost race never
fails the other runs of a group-committed batch, the head and the suspended
listing always agree with the log, and the runs index, caught up, holds the
fold of every log.
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
from durable.errors import PositionConflict
from durable.events import Event, new_event
from durable.fold import fold
from durable.hashing import genesis_hash
from durable.store import open_store
from durable.store.base import Store
from durable.store.recorder import RecorderStore
from durable.store.types import (
    Append,
    Head,
    IndexRow,
    ListingFilter,
    OpenSuspension,
    open_rows,
    to_stored,
)
from tests.conftest import row_values

T0 = 1_700_000_000.0


def event(run_id: str, position: int, prev_hash: str | None = None, **data: Any) -> Event:
    if position == 1:
        return new_event(
            run_id,
            1,
            "started",
            {"workflow": "wf", "input": data or None},
            prev_hash if prev_hash is not None else genesis_hash(run_id),
            datetime.fromtimestamp(T0, UTC),
        )
    return new_event(
        run_id,
        position,
        "step_completed",
        {"path": [f"s{position}"], "result": data or None, "attempt": 0},
        prev_hash or "",
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
) -> OpenSuspension:
    return OpenSuspension(
        run_id=run_id,
        path_key=".".join(map(str, path)),
        path=list(path),
        kind=kind,
        payload=payload,
        requires_approval=kind == "approval",
        suspended_at=at,
    )


def append(
    run_id: str,
    expected: int,
    n: int = 1,
    *,
    suspensions: list[OpenSuspension] | None = None,
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


class Logs:
    """Hand-written logs whose heads and listing rows are their folds, as the engine's are."""

    def __init__(self) -> None:
        self.events: dict[str, list[Event]] = {}

    def next(self, run_id: str, *items: tuple[str, dict[str, Any], float]) -> Append:
        """The append of ``(type, data, timestamp)`` items after what ``run_id`` holds."""
        prior = self.events.setdefault(run_id, [])
        prev = prior[-1].hash if prior else genesis_hash(run_id)
        events = []
        for type_, data, at in items:
            e = new_event(run_id, len(prior) + len(events) + 1, type_, data, prev,
                          datetime.fromtimestamp(at, UTC))
            prev = e.hash
            events.append(e)
        run = fold([*prior, *events])
        a = Append(
            run_id=run_id,
            expected=len(prior),
            events=events,
            head=Head(
                run_id=run_id, workflow=run.workflow, version=run.workflow_version,
                status=run.status, position=run.version, resource_id=run.resource_id,
                thread_id=run.thread_id, parent_run_id=run.parent_run_id,
                created_at=run.created_on.timestamp(), updated_at=run.modified_on.timestamp(),
                suspended_at=run.suspended_at.timestamp() if run.suspended_at else None,
            ),
            suspensions=open_rows(run),
        )
        prior.extend(events)
        return a


def started(at: float, workflow: str = "wf", **data: Any) -> tuple[str, dict[str, Any], float]:
    return "started", {"workflow": workflow, "input": None, "state": {}, **data}, at


def ask(
    path: str, payload: Any, at: float, kind: str = "input"
) -> tuple[str, dict[str, Any], float]:
    return "suspended", {"path": [path], "kind": kind, "payload": payload}, at


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[Store]:
    s = open_store(store_url)
    await s.open()
    yield s
    await s.close()


async def open_suspensions(store: Store, run_id: str) -> list[OpenSuspension]:
    rows, _, _ = await store.list_suspended(ListingFilter(per_page=1000))
    return next((s for w, s in rows if w.run_id == run_id), [])


async def views(store: Store) -> tuple[Any, ...]:
    """Everything both views show, the runs index caught up first."""
    await store.catch_up()
    everything = ListingFilter(per_page=10_000)
    status = {v.name: (v.position, v.head, v.lag, v.rows) for v in await store.view_status()}
    return await store.list_suspended(everything), await store.list_runs(everything), status


async def index_rows(store: Store) -> dict[str, IndexRow]:
    await store.catch_up()
    rows, *_ = await store.list_runs(ListingFilter(per_page=10_000))
    return {r.run_id: r for r in rows}


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
    assert [e.type for e in events] == ["started", "step_completed", "step_completed"]
    assert await store.read_events("run-1", after=2) == [a.events[2]]
    assert await store.read_events("run-1", after=3) == []
    assert await store.read_head("run-1") == a.head
    assert await store.read_events("nobody") == []
    assert await store.read_head("nobody") is None
    # The listing hands the payload back decoded.
    assert await open_suspensions(store, "run-1") == a.suspensions


async def test_read_logs_reads_several_runs_as_read_events_does(store: Store) -> None:
    runs = [f"run-{i}" for i in range(3)]
    for i, run_id in enumerate(runs):
        await store.append(append(run_id, 0, 2 + i))
    logs = await store.read_logs([*runs, "nobody"])
    assert sorted(logs) == runs  # a run without a log is left out
    for run_id in runs:
        assert logs[run_id] == await store.read_events(run_id)
        assert [e.position for e in logs[run_id]] == list(range(1, len(logs[run_id]) + 1))
    assert await store.read_logs([]) == {}


async def test_conflicting_append_raises_and_writes_nothing(store: Store) -> None:
    await store.append(
        append(
            "r", 0, 2, status="suspended", suspended_at=T0,
            suspensions=[suspension("r", "a", payload={"mine": True})],
        )
    )
    before_events = await store.read_events("r")
    before_head = await store.read_head("r")
    before_views = await views(store)
    # A racer that saw position 1 too: its events, head, listing rows must all vanish.
    loser = Append(
        run_id="r",
        expected=1,
        events=[event("r", 2, x=1), event("r", 3)],
        head=head("r", 3, status="failed", workflow="other", resource_id="thief"),
        suspensions=[suspension("r", "zzz", at=T0 + 99, kind="approval", payload="lost")],
    )
    with pytest.raises(PositionConflict) as info:
        await store.append(loser)
    assert (info.value.run_id, info.value.expected) == ("r", 1)
    assert await store.read_events("r") == before_events
    assert await store.read_head("r") == before_head
    assert [s.path_key for s in await open_suspensions(store, "r")] == ["a"]
    # Neither the listing's tables (waiting run and its rows) nor the index moved.
    assert await views(store) == before_views
    ((waiting, _),) = before_views[0][0]
    assert (waiting.workflow, waiting.resource_id, waiting.suspended_at) == ("wf", None, T0)
    assert (await index_rows(store))["r"].position == 2
    # The winner's next append still goes through.
    await store.append(append("r", 2, status="running", suspensions=[]))
    assert len(await store.read_events("r")) == 3
    assert await open_suspensions(store, "r") == []
    assert (await store.list_suspended(ListingFilter()))[1] == 0
    assert (await index_rows(store))["r"].position == 3


async def test_failed_batch_rolls_back_every_run_in_it(store: Store) -> None:
    assert isinstance(store, RecorderStore)
    await store.append(append("taken", 0))
    before = await views(store)
    good = append(
        "good", 0, suspensions=[suspension("good", "s")], status="suspended", suspended_at=T0
    )
    bad = append(
        "taken", 0, suspensions=[suspension("taken", "s")], status="suspended", suspended_at=T0
    )
    for a in (good, bad):
        a.stored = [to_stored(e) for e in a.events]
    with pytest.raises(IntegrityError):
        await asyncio.to_thread(store._insert_sync, [good, bad])
    assert await store.read_events("good") == []
    assert await store.read_head("good") is None
    assert (await store.list_suspended(ListingFilter()))[1] == 0
    assert (await store.read_head("taken")) == head("taken", 1)
    assert await views(store) == before
    assert list(await index_rows(store)) == ["taken"]


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
    appends.insert(
        5, append("x", 0, status="failed", suspensions=[suspension("x", "lost")])
    )  # lost race for position 1
    sizes, results = await in_one_batch(store, appends)
    assert sizes == [11] + [1] * 11  # the batch, then one by one after the conflict
    assert isinstance(results[5], PositionConflict)
    assert [r for i, r in enumerate(results) if i != 5] == [None] * 10
    for i in range(10):
        assert len(await store.read_events(f"r{i}")) == 1
        assert (await store.read_head(f"r{i}")) == head(f"r{i}", 1)
    assert await store.read_head("x") == head("x", 1)
    assert len(await store.read_events("x")) == 1
    assert (await store.list_suspended(ListingFilter()))[1] == 0
    index = await index_rows(store)
    assert len(index) == 12  # the gate's run, x and r0..r9, each once
    assert {(r.status, r.position) for r in index.values()} == {("running", 1)}


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
    rows, total, _ = await store.list_suspended(ListingFilter())
    assert [(w.run_id, w.suspended_at) for w, _ in rows] == [("y", T0 + 2), ("z", T0)]
    assert total == 2
    assert (await index_rows(store))["y"].position == 3


async def test_racing_stores_on_one_database(shared_url: str) -> None:
    stores = [open_store(shared_url), open_store(shared_url)]
    await asyncio.gather(*(s.open() for s in stores))  # creating the schema at once too
    try:
        for round_ in range(5):
            run = f"race-{round_}"
            results = await asyncio.gather(
                *(
                    s.append(append(run, 0, owner_id=f"o{i}",
                                    suspensions=[suspension(run, f"by{i}")]))
                    for i, s in enumerate(stores)
                ),
                return_exceptions=True,
            )
            assert sorted(type(r).__name__ for r in results) == ["NoneType", "PositionConflict"]
            winner = results.index(None)
            h = await stores[1 - winner].read_head(run)
            assert h is not None and h.owner_id == f"o{winner}"
            assert [s.path_key for s in await open_suspensions(stores[1 - winner], run)] == [
                f"by{winner}"
            ]
        # Both catch up at once: each event lands in the index once.
        await asyncio.gather(*(s.catch_up() for s in stores))
        for s in stores:
            index = await index_rows(s)
            assert sorted(index) == [f"race-{i}" for i in range(5)]
            assert {r.position for r in index.values()} == {1}
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
    await store.renew_leases("o1", ["a", "b"], 99.5)  # only runs named and held by o1
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
    logs = Logs()
    specs = [  # run, status, workflow, resource, thread, created_at offset
        ("r0", "succeeded", "alpha", "u1", "t1", 0),
        ("r2", "suspended", "beta", "u2", "t1", 10),  # ties r1, created first: listed first
        ("r1", "running", "alpha", "u1", "t2", 10),
        ("r3", "failed", "beta", None, None, 20),
        ("r4", "succeeded", "alpha", "u2", "t2", 30),
    ]
    for run, status, wf, res, th, dt in specs:
        at = T0 + dt
        await store.append(logs.next(
            run, started(at, wf, resource_id=res, thread_id=th, state={"of": run})
        ))
        end = {
            "succeeded": [("succeeded", {"output": {"run": run}}, at + 1)],
            "suspended": [ask("ask", {"q": run}, at + 1)],
            "failed": [("failed", {"error": "boom", "error_type": "X"}, at + 1)],
            "running": [("state_set", {"state": {"n": 1}}, at + 1),
                        ("step_completed", {"path": ["s"], "result": 1, "attempt": 0}, at + 2)],
        }[status]
        await store.append(logs.next(run, *end))

    # The index is a tracking projection: it holds nothing until it catches up.
    assert await store.list_runs(ListingFilter()) == ([], 0, {}, {})
    assert await store.catch_up() == 11
    assert await store.catch_up() == 0

    async def ids(**kw: Any) -> tuple[list[str], int]:
        rows, total, *_ = await store.list_runs(ListingFilter(**kw))
        return [r.run_id for r in rows], total

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

    # Each row is the fold of its log; the page carries its runs' open suspensions.
    rows, _, waiting, _ = await store.list_runs(ListingFilter())
    by_id = {r.run_id: r for r in rows}
    for run_id, row in by_id.items():
        run = fold(logs.events[run_id])
        assert (row.status, row.workflow, row.resource_id, row.thread_id, row.error) == (
            run.status, run.workflow, run.resource_id, run.thread_id, run.error
        )
        assert row_values(row) == {"output": run.output, "state": run.state}
        assert row.position == len(logs.events[run_id])
        assert (row.created_at, row.updated_at) == (
            run.created_on.timestamp(), run.modified_on.timestamp()
        )
    assert row_values(by_id["r1"])["state"] == {"n": 1}
    assert row_values(by_id["r0"])["state"] == {"of": "r0"}
    assert by_id["r1"].seq > by_id["r2"].seq  # creation order
    assert waiting == {"r2": [suspension("r2", "ask", at=T0 + 11, payload={"q": "r2"})]}


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
            resource_id="u2",
            thread_id="t2",
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
        rows, total, _ = await store.list_suspended(ListingFilter(**kw))
        return [w.run_id for w, _ in rows], total

    rows, total, heads = await store.list_suspended(ListingFilter())
    assert ([w.run_id for w, _ in rows], total) == (["s2", "busy", "s1"], 3)
    s1 = dict((w.run_id, s) for w, s in rows)["s1"]
    # Every store gives a run's rows oldest first (then by path).
    assert s1 == [
        suspension("s1", "ask", at=T0 + 1, payload=[1, "x"]),
        suspension("s1", "review", 2, "approve", at=T0 + 5, kind="approval", payload={"a": 1}),
    ]
    w = rows[0][0]
    assert (w.workflow, w.resource_id, w.thread_id, w.suspended_at) == (
        "other", "u2", "t2", T0 + 9
    )
    # What the page shows of each run's head comes along: status, version, times, position.
    shown = ("run_id", "workflow", "version", "status", "position", "parent_run_id",
             "created_at", "updated_at")

    def part(h: Head | None) -> tuple[object, ...]:
        assert h is not None
        return tuple(getattr(h, f) for f in shown)

    assert {r: part(h) for r, h in heads.items()} == {
        r: part(await store.read_head(r)) for r in ("s2", "busy", "s1")
    }
    assert await ids(workflow="other") == (["s2"], 1)
    assert await ids(workflow="wf") == (["busy", "s1"], 2)
    assert await ids(resource_id="u2") == (["s2"], 1)
    assert await ids(thread_id="t2", workflow="wf") == ([], 0)
    assert await ids(from_date=T0 + 6, to_date=T0 + 7) == (["busy"], 1)  # on suspended_at
    assert await ids(from_date=T0 + 5, to_date=T0 + 9) == (["s2", "busy", "s1"], 3)  # inclusive
    assert await ids(per_page=2) == (["s2", "busy"], 3)
    assert await ids(per_page=2, page=1) == (["s1"], 3)
    assert await ids(per_page=2, page=2) == ([], 3)
    # Answering the last open suspension drops the run from the listing.
    await store.append(append("s2", 1, status="running", suspended_at=T0 + 9, suspensions=[]))
    assert await ids() == (["busy", "s1"], 2)
    # Ties on suspended_at are broken by run id.
    await store.append(append("a-tie", 0, suspensions=[suspension("a-tie", "x", at=T0 + 7)]))
    assert await ids() == (["a-tie", "busy", "s1"], 3)


async def test_list_suspended_status_filter_is_the_same_on_every_store(
    store: Store, store_url: str, request: pytest.FixtureRequest
) -> None:
    """The listing has no status column: every store ignores ListingFilter.status there."""
    await store.append(append("s", 0, status="suspended", suspensions=[suspension("s", "a")]))
    rows, total, _ = await store.list_suspended(ListingFilter(status="suspended"))
    assert ([w.run_id for w, _ in rows], total) == (["s"], 1)


async def test_view_status_and_catch_up(store: Store) -> None:
    logs = Logs()
    await store.append(logs.next("a", started(T0), ask("ask", 1, T0 + 1), ask("b", 2, T0 + 2)))
    await store.append(logs.next("b", started(T0 + 2)))
    status = {v.name: v for v in await store.view_status()}
    assert set(status) == {"suspended_runs", "runs_index"}
    listing, index = status["suspended_runs"], status["runs_index"]
    assert (listing.consistency, listing.lag, listing.rows) == ("inline", 0, 2)
    assert (index.consistency, index.position, index.lag, index.rows) == ("tracking", 0, 4, 0)
    assert index.head == listing.head == listing.position >= 4
    assert await store.catch_up() == 4
    assert await store.catch_up() == 0
    index = {v.name: v for v in await store.view_status()}["runs_index"]
    assert (index.position, index.lag, index.rows) == (index.head, 0, 2)
    await store.append(logs.next("a", ("resumed", {"path": ["ask"], "data": 1}, T0 + 3)))
    status = {v.name: v for v in await store.view_status()}
    assert (status["runs_index"].lag, status["suspended_runs"].rows) == (1, 1)
    assert await store.catch_up() == 1
    assert {v.name: v for v in await store.view_status()}["runs_index"].lag == 0


async def test_rebuild_views_gives_the_same_views(store: Store) -> None:
    logs = Logs()
    writes = [
        logs.next("two", started(T0, resource_id="u"), ask("a", {"x": 1}, T0 + 1),
                  ask("b", [2], T0 + 1, kind="approval")),
        logs.next("one", started(T0 + 1, "other", thread_id="t"), ask("w", None, T0 + 3, "event")),
        logs.next("two", ("resumed", {"path": ["a"], "data": 5}, T0 + 4)),
        logs.next("gone", started(T0 + 2), ask("a", 1, T0 + 2)),
        logs.next("gone", ("cancelled", {"reason": "no"}, T0 + 5)),
        logs.next("ok", started(T0 + 2), ("state_set", {"state": {"s": 1}}, T0 + 2),
                  ("succeeded", {"output": [1, 2]}, T0 + 3)),
        logs.next("bad", started(T0 + 3), ("failed", {"error": "e", "error_type": "E"}, T0 + 4)),
    ]
    for a in writes:
        await store.append(a)
    before = await views(store)
    (waiting, _, _), (index, total, *_), _ = before
    assert [w.run_id for w, _ in waiting] == ["one", "two"]
    assert total == 5 and len(index) == 5
    await store.rebuild_views()
    assert await views(store) == before
    # And again after rebuilding from an index that was behind.
    await store.append(logs.next("one", ("resumed", {"path": ["w"], "data": 1}, T0 + 6)))
    await store.rebuild_views()
    after = await views(store)
    assert [w.run_id for w, _ in after[0][0]] == ["two"]
    assert {r.run_id: r.position for r in after[1][0]}["one"] == 3


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


async def test_awkward_strings_and_bytes_round_trip(store_url: str, open_engine: Any) -> None:
    """Quotes, backslashes, placeholders, statement separators and every byte value
    survive heads, listing rows and events (PostgreSQL binds a run's rows on the
    client and sends them as one script: nothing in them may read as SQL)."""
    odd = "it's 50% off; %s %(x)s $$ \\' \\\\ \" -- /* ñ 名 \U0001F600"

    def register(engine: durable.Engine) -> None:
        @engine.workflow("odd")
        async def wf(ctx: durable.Context, data: Any) -> Any:
            raw = await ctx.step(odd, lambda: bytes(range(256)))
            answer = await ctx.suspend(odd + "?", {odd: data})
            return [raw, answer]

    engine = await open_engine(store_url, register)
    run = await engine.create_run("odd", run_id=odd, resource_id=odd, thread_id=odd)
    assert (await run.start(odd)).suspended == [(odd + "?",)]
    [waiting] = (await engine.list_suspended_runs(resource_id=odd)).runs
    assert (waiting.run_id, waiting.suspend_payloads) == (odd, {odd + "?": {odd: odd}})
    done = await run.resume(odd)
    assert done.output == [bytes(range(256)), odd]
    info = await engine.get_run(odd)
    assert (info.resource_id, info.thread_id, info.status) == (odd, odd, "succeeded")
    assert await engine.verify(odd)


async def test_a_feed_names_the_runs_others_appended_to(shared_url: str) -> None:
    """What a holder must take in is named (a non-holder's append, PostgreSQL's NOTIFY,
    SQLite's notices); a holder's own steps name nothing; a quiet feed times out (None)."""
    watching, writing = open_store(shared_url), open_store(shared_url)
    await watching.open()
    await writing.open()
    feed = watching.changes()
    try:
        assert await feed.wait(0.2) is None  # first look (or a timeout): look at everything
        await writing.append(append("mine", 0))  # a holder's own start: names nothing
        quiet = await feed.wait(0.5)
        assert quiet is None or "mine" not in quiet
        for_holder = append("theirs", 0)
        for_holder.notify = True  # appended by a non-holder
        await writing.append(for_holder)
        named: set[str] = set()
        for _ in range(20):  # SQLite coalesces looks; PostgreSQL delivers at commit
            got = await feed.wait(0.5)
            named |= got or set()
            if "theirs" in named:
                break
        assert "theirs" in named and "mine" not in named
    finally:
        await feed.close()
        await watching.close()
        await writing.close()


async def test_a_block_is_kept_beside_the_log_and_the_next_head_write_clears_it(
    store: Store,
) -> None:
    """``Store.block``: a mark on the run's head row (the log is not touched), refused
    when the log moved past what the blocker read, cleared by the append that
    continues the run, and what ``list_runs(blocked=...)`` filters on."""
    await store.append(append("r", 0, 2))
    await store.append(append("other", 0))
    before = [e.stored() for e in await store.read_events("r")]
    assert not await store.block("r", "moved on", 1)  # the log holds 2 events by now
    assert (await store.read_head("r")).blocked is None  # type: ignore[union-attr]
    assert await store.block("r", "code \x00 changed", 2)
    head = await store.read_head("r")
    assert head is not None and head.blocked is not None and "changed" in head.blocked
    since = head.blocked_since
    assert not await store.block("r", "again", None)  # blocked already: not news
    again = await store.read_head("r")
    assert again is not None and again.blocked == "again" and again.blocked_since == since
    assert [e.stored() for e in await store.read_events("r")] == before
    assert not await store.block("nobody", "x", None)
    await store.catch_up()
    rows, total, _, blocked = await store.list_runs(ListingFilter(blocked=True))
    assert ([r.run_id for r in rows], total, blocked) == (["r"], 1, {"r": "again"})
    rows, total, _, blocked = await store.list_runs(ListingFilter(blocked=False))
    assert ([r.run_id for r in rows], total, blocked) == (["other"], 1, {})
    await store.append(append("r", 2))  # the run continues: its head row is written
    cleared = await store.read_head("r")
    assert cleared is not None and (cleared.blocked, cleared.blocked_since) == (None, None)
    assert (await store.list_runs(ListingFilter(blocked=True)))[1] == 0

"""Snapshots, the read cache, parked runs and large results: fast paths that must
give exactly what the slow path gives."""

from __future__ import annotations

import hashlib
import sqlite3
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from eventsourcing.persistence import Mapper
from hypothesis import given, settings
from hypothesis import strategies as st

import durable
from durable.codec import MsgpackTranscoder
from durable.events import Event, new_event
from durable.fold import RunLog, RunSnapshot, fold

MAPPER: Mapper[str] = Mapper(transcoder=MsgpackTranscoder())  # type: ignore[arg-type]
T0 = datetime(2026, 1, 1, tzinfo=UTC)

EVENT_KINDS = st.sampled_from(["step", "suspend", "resume", "state", "pause", "continue"])


def build_log(kinds: list[str]) -> list[Event]:
    """A well-formed log from a list of event kinds (invalid moves are skipped)."""
    events = [new_event("r", 1, "started", {"workflow": "w", "input": 1, "state": {}}, "", T0)]
    open_paths: list[str] = []
    for i, kind in enumerate(kinds):
        data: dict[str, Any]
        if kind == "step":
            type_, data = "step_completed", {"path": [f"s{i}"], "result": i, "attempt": 0}
        elif kind == "suspend":
            type_, data = "suspended", {"path": [f"q{i}"], "kind": "input", "payload": {"i": i}}
            open_paths.append(f"q{i}")
        elif kind == "resume" and open_paths:
            type_, data = "resumed", {"path": [open_paths.pop(0)], "data": i}
        elif kind == "state":
            type_, data = "state_set", {"state": {"n": i}}
        elif kind == "pause":
            type_, data = "pause_requested", {}
        elif kind == "continue":
            type_, data = "continued", {}
        else:
            continue
        prev = events[-1]
        events.append(new_event("r", prev.position + 1, type_, data, prev.hash,
                                T0.replace(second=i % 60)))
    return events


def as_dict(run: RunLog) -> dict[str, Any]:
    state = {k: v for k, v in vars(run).items() if k != "_pending_events"}
    state["suspensions"] = {k: {**v, "path": tuple(v["path"])} for k, v in run.suspensions.items()}
    return state


@settings(max_examples=60, deadline=None)
@given(st.lists(EVENT_KINDS, max_size=30), st.data())
def test_snapshot_plus_tail_equals_the_full_fold_at_every_position(
    kinds: list[str], data: st.DataObject
) -> None:
    events = build_log(kinds)
    for position in range(1, len(events) + 1):
        full = fold(events[:position])
        at = data.draw(st.integers(1, position), label="snapshot at")
        snapshot = RunSnapshot.of(fold(events[:at]), T0)
        stored = MAPPER.to_domain_event(MAPPER.to_stored_event(snapshot))  # as the store keeps it
        resumed = fold(events[at:position], stored.load())  # type: ignore[attr-defined]
        assert as_dict(resumed) == as_dict(full)


def test_an_old_snapshot_loads_after_the_run_state_gains_a_field(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    events = build_log(["step", "suspend"])
    now = RunLog.class_version
    old = MAPPER.to_stored_event(RunSnapshot.of(fold(events), T0))  # written by today's version

    def upcast(state: dict[str, Any]) -> None:
        state["priority"] = "normal"

    monkeypatch.setattr(RunLog, "class_version", now + 1, raising=False)
    monkeypatch.setattr(RunLog, f"upcast_v{now}_v{now + 1}", staticmethod(upcast),
                        raising=False)
    run = MAPPER.to_domain_event(old).load()  # type: ignore[attr-defined]
    assert run.priority == "normal"
    assert run.status == "suspended" and run.version == 3


def steps_then_wait(calls: Counter[str]) -> Any:
    def register(engine: durable.Engine) -> None:
        @engine.workflow("long")
        async def long(ctx: durable.Context, n: int) -> dict[str, Any]:
            total = 0
            for i in range(n):
                total += await ctx.step("add", lambda i=i: calls.update(["add"]) or i)
            answer = await ctx.suspend("confirm", {"total": total})
            return {"total": total, "answer": answer}

    return register


async def test_snapshots_are_taken_every_n_events_and_pruned(
    shared_url: str, open_engine: Any
) -> None:
    calls: Counter[str] = Counter()
    engine = await open_engine(shared_url, steps_then_wait(calls), snapshot_every=10)
    run = await engine.create_run("long")
    await run.start(35)  # started + 35 steps + suspended = 37 events
    await engine.flush()  # snapshots are written off the request path
    snapshot, tail = await engine.store.read_run(run.run_id)
    assert snapshot is not None and snapshot.originator_version == 30
    assert [e.position for e in tail] == [31, 32, 33, 34, 35, 36, 37]
    if shared_url.startswith("sqlite:///"):
        with sqlite3.connect(shared_url[len("sqlite:///"):]) as conn:
            kept = conn.execute("SELECT originator_version FROM durable_snapshots "
                                "WHERE originator_id = ?", (run.run_id,)).fetchall()
        assert kept == [(30,)]  # older snapshots pruned
    info = await engine.get_run(run.run_id)
    assert info.status == "suspended" and info.suspend_payloads == {"confirm": {"total": 595}}
    assert info.position == 37

    other = await open_engine(shared_url, steps_then_wait(calls))
    result = await (await other.create_run("long", run_id=run.run_id)).resume("yes")
    assert result.output == {"total": 595, "answer": "yes"}
    assert calls["add"] == 35


async def test_the_read_cache_sees_other_writers_and_hands_out_copies(
    shared_url: str, open_engine: Any
) -> None:
    calls: Counter[str] = Counter()
    reader = await open_engine(shared_url, steps_then_wait(calls))
    writer = await open_engine(shared_url, steps_then_wait(calls))
    run = await writer.create_run("long")
    await run.start(2)
    first = await reader.get_run(run.run_id)
    assert first.status == "suspended"
    first.suspend_payloads["confirm"]["total"] = -1  # a caller scribbling on a result
    await run.resume("ok")  # written by the other engine
    second = await reader.get_run(run.run_id)
    assert second.status == "succeeded"
    assert second.output == {"total": 1, "answer": "ok"}
    assert (await reader.state_at(run.run_id, 4)).suspend_payloads == {"confirm": {"total": 1}}


async def test_evicting_every_parked_run_gives_the_same_runs(
    store_url: str, open_engine: Any
) -> None:
    """max_parked=0: every resume takes the cold path (replay); the logs must not differ."""
    logs = []
    for max_parked in (10_000, 0):
        calls: Counter[str] = Counter()
        engine = await open_engine(store_url, steps_then_wait(calls), max_parked=max_parked)
        runs = [await engine.create_run("long", run_id=f"{max_parked}-{i}") for i in range(5)]
        for i, run in enumerate(runs):
            await run.start(i + 1)
        assert engine.stats().parked == (5 if max_parked else 0)
        outputs = [(await run.resume(f"answer-{i}")).output for i, run in enumerate(runs)]
        shapes = [[(e.type, repr(sorted(e.data.items()))) for e in await engine.history(r.run_id)
                   if e.type != "started"] for r in runs]
        logs.append((outputs, shapes, calls))
    assert logs[0] == logs[1]


async def test_large_results_are_stored_once_by_content_hash(tmp_path: Path,
                                                             open_engine: Any) -> None:
    db = tmp_path / "blobs.db"
    big = {"rows": [{"id": i, "text": "x" * 40} for i in range(2000)]}  # ~100 kB

    def register(engine: durable.Engine) -> None:
        @engine.workflow("big")
        async def wf(ctx: durable.Context, _: Any) -> int:
            report = await ctx.step("report", lambda: big)
            again = await ctx.step("report-again", lambda: big)
            await ctx.suspend("read-it")
            return len(report["rows"]) + len(again["rows"])

    engine = await open_engine(f"sqlite:///{db}", register)
    run = await engine.create_run("big")
    await run.start()
    steps = [e for e in await engine.history(run.run_id) if e.type == "step_completed"]
    refs = {e.data["ref"] for e in steps}  # history shows the result inline, and where it is
    assert len(refs) == 1 and all(e.data["result"] == big for e in steps)
    stored = [e for e in await engine.store.read_events(run.run_id)
              if e.type == "step_completed"]
    assert all(e.payload.ref in refs and not e.payload.result for e in stored)
    with sqlite3.connect(db) as conn:
        (count,) = conn.execute("SELECT COUNT(*) FROM durable_blobs").fetchone()
        (longest,) = conn.execute("SELECT MAX(LENGTH(state)) FROM stored_events").fetchone()
    assert count == 1  # the same content is stored once
    assert longest < 1000  # the events themselves stay small
    await engine.close()

    cold = await open_engine(f"sqlite:///{db}", register)
    assert (await (await cold.create_run("big", run_id=run.run_id)).resume()).output == 4000
    assert await cold.verify(run.run_id)
    (digest,) = refs
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE durable_blobs SET data = ? WHERE hash = ?", (b"\x90", digest))
    assert not await cold.verify(run.run_id)
    assert hashlib.sha256(b"\x90").hexdigest() != digest

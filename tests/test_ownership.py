"""Many engines, one store: whoever holds a run executes it, anyone may append to it.

Each test names the defect of issue 7 it pins down; each failed on the engine
before the ownership model (a parked copy trusted without looking at the log,
a resume refused while another branch executed elsewhere, runs stranded
``running`` by a holder that stopped, hot and cold paths that diverged).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import pytest

import durable
from tests.process_worker import register


async def until(predicate: Any, timeout: float = 10.0) -> None:
    """Wait (polling) for ``predicate()`` to hold: for an effect in another engine."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not await predicate():
        assert asyncio.get_running_loop().time() < deadline, "timed out waiting"
        await asyncio.sleep(0.01)


def types(history: list[durable.Event]) -> list[str]:
    return [e.type for e in history]


# -- 1. a parked copy is used only if the log has not moved ---------------------------------
two_questions = register  # 'two-questions': suspends at 'first', then at 'second'


async def test_a_parked_copy_is_not_trusted_after_another_engine_moved_the_run(
    shared_url: str, open_engine: Any
) -> None:
    """Defect 1: A parked the run at 'first'; B answered 'first'; A is asked 'second'."""
    a = await open_engine(shared_url, two_questions)
    b = await open_engine(shared_url, two_questions)
    run = await a.create_run("two-questions")
    assert (await run.start()).suspended == [("first",)]  # parked, hot, in A
    moved = await b.resume_run(run.run_id, "one", "first")
    assert moved.suspended == [("second",)]
    done = await a.resume_run(run.run_id, "two", "second")  # A's copy is stale: look again
    assert done.status == "succeeded" and done.output == {"first": "one", "second": "two"}
    # and a stale answer to 'first' through A is refused, writing nothing
    n = len(await a.history(run.run_id))
    with pytest.raises(durable.NotSuspended):
        await a.resume_run(run.run_id, "again", "first")
    assert len(await a.history(run.run_id)) == n


# -- 2. a resume reaches a run while another branch executes elsewhere ------------------------
class Gate:
    """A step body that waits until the test opens the gate."""

    def __init__(self) -> None:
        self.open = asyncio.Event()
        self.calls: Counter[str] = Counter()

    def register(self, engine: durable.Engine) -> None:
        gate = self

        @engine.workflow("two-branches")
        async def two_branches(ctx: durable.Context, _: Any) -> list[Any]:
            async def branch(name: str) -> Any:
                got = await ctx.suspend(name)

                async def work() -> str:
                    gate.calls[name] += 1
                    if name == "a":
                        await gate.open.wait()
                    return f"{name}:{got}"

                return await ctx.step(f"work-{name}", work)

            return list(await asyncio.gather(branch("a"), branch("b")))


async def test_a_resume_is_taken_in_while_another_branch_runs_in_another_engine(
    shared_url: str, open_engine: Any
) -> None:
    """Defect 2: A answers 'a' and runs its step; B answers 'b' meanwhile."""
    gate = Gate()
    a = await open_engine(shared_url, gate.register)
    b = await open_engine(shared_url, gate.register)
    run = await a.create_run("two-branches")
    assert sorted((await run.start()).suspended) == [("a",), ("b",)]
    in_a = asyncio.ensure_future(a.resume_run(run.run_id, 1, "a"))
    await until(lambda: _true(gate.calls["a"] == 1))
    in_b = asyncio.ensure_future(b.resume_run(run.run_id, 2, "b"))
    # A takes B's answer in while its own step still runs: b's step runs in A
    await until(lambda: _true(gate.calls["b"] == 1))
    assert not in_b.done()  # B waits for the run to settle where it executes
    gate.open.set()
    result_a, result_b = await asyncio.wait_for(asyncio.gather(in_a, in_b), 10)
    for result in (result_a, result_b):
        assert result.status == "succeeded" and result.output == ["a:1", "b:2"]
    history = await b.history(run.run_id)
    assert types(history).count("resumed") == 2
    assert sorted(tuple(e.data["path"]) for e in history if e.type == "step_completed") == [
        ("work-a",), ("work-b",)]
    assert gate.calls == {"a": 1, "b": 1}
    assert await b.verify(run.run_id)


async def test_a_resume_in_the_engine_that_runs_the_other_branch(
    store_url: str, open_engine: Any
) -> None:
    """The same within one engine: the answer goes to the run's driver, not to a queue
    behind it."""
    gate = Gate()
    engine = await open_engine(store_url, gate.register)
    run = await engine.create_run("two-branches")
    await run.start()
    in_a = asyncio.ensure_future(engine.resume_run(run.run_id, 1, "a"))
    await until(lambda: _true(gate.calls["a"] == 1))
    in_b = asyncio.ensure_future(engine.resume_run(run.run_id, 2, "b"))
    await until(lambda: _true(gate.calls["b"] == 1))
    gate.open.set()
    results = await asyncio.wait_for(asyncio.gather(in_a, in_b), 10)
    assert [r.output for r in results] == [["a:1", "b:2"]] * 2


async def _true(value: bool) -> bool:
    return value


# -- 3. a holder that stops leaves the run claimable at once ---------------------------------
def blocking(calls: Counter[str], release: asyncio.Event) -> Any:
    def register(engine: durable.Engine) -> None:
        @engine.workflow("blocking")
        async def wf(ctx: durable.Context, _: Any) -> str:
            async def slow() -> str:
                calls[f"slow:{ctx.attempt}"] += 1
                if ctx.attempt == 0:
                    await release.wait()
                return "done"

            await ctx.step("first", lambda: "x")
            return await ctx.step("slow", slow)

    return register


async def owner_of(engine: durable.Engine, run_id: str) -> str | None:
    head = await engine.store.read_head(run_id)
    assert head is not None
    return head.owner_id


async def test_a_cancelled_caller_leaves_the_run_claimable_at_once(
    shared_url: str, open_engine: Any
) -> None:
    """Defect 3: start() under a timeout that fires mid-step."""
    calls: Counter[str] = Counter()
    register = blocking(calls, asyncio.Event())
    a = await open_engine(shared_url, register)
    b = await open_engine(shared_url, register, lease_seconds=3600)
    run = await a.create_run("blocking")
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(run.start(), 0.5)
    await a.flush()  # the release is written off the caller's (cancelled) path
    assert await owner_of(a, run.run_id) is None
    assert (await a.get_run(run.run_id)).status == "running"
    # another engine on this host claims it now, not after a lease
    assert await b.recover() == [run.run_id]
    assert (await b.wait(run.run_id, timeout=10)).status == "succeeded"
    assert calls == {"slow:0": 1, "slow:1": 1}


async def test_closing_the_engine_mid_step_ends_start_and_releases_the_run(
    shared_url: str, open_engine: Any
) -> None:
    """Defect 3: close() during start() no longer leaves start() waiting forever."""
    calls: Counter[str] = Counter()
    register = blocking(calls, asyncio.Event())
    a = durable.Engine(shared_url)
    register(a)
    await a.open()
    run = await a.create_run("blocking")
    starting = asyncio.ensure_future(run.start())
    await until(lambda: _true(calls["slow:0"] == 1))
    await asyncio.wait_for(a.close(), 10)
    with pytest.raises(durable.EngineClosed):
        await asyncio.wait_for(starting, 10)
    b = await open_engine(shared_url, register)
    assert await owner_of(b, run.run_id) is None
    assert await b.recover() == [run.run_id]
    assert (await b.wait(run.run_id, timeout=10)).status == "succeeded"


async def test_the_same_engine_recovers_a_run_its_caller_gave_up_on(
    store_url: str, open_engine: Any
) -> None:
    calls: Counter[str] = Counter()
    register = blocking(calls, asyncio.Event())
    engine = await open_engine(store_url, register)
    run = await engine.create_run("blocking")
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(run.start(), 0.5)
    assert await engine.recover() == [run.run_id]
    assert (await engine.wait(run.run_id, timeout=10)).status == "succeeded"
    assert await engine.recover() == []


async def test_a_resume_of_a_run_whose_holder_stopped_continues_it(
    shared_url: str, open_engine: Any
) -> None:
    """A resume that finds the run 'running' with nobody executing it claims it."""
    gate = Gate()
    a = await open_engine(shared_url, gate.register)
    run = await a.create_run("two-branches")
    await run.start()
    with pytest.raises(TimeoutError):  # a's step blocks; its caller gives up
        await asyncio.wait_for(a.resume_run(run.run_id, 1, "a"), 0.5)
    gate.open.set()
    b = await open_engine(shared_url, gate.register)
    result = await asyncio.wait_for(b.resume_run(run.run_id, 2, "b"), 10)
    assert result.status == "succeeded" and result.output == ["a:1", "b:2"]
    assert types(await b.history(run.run_id)).count("recovered") == 1
    assert gate.calls == {"a": 2, "b": 1}  # a's step, interrupted, ran again


# -- 6. a paused run answered on the hot path continues, as on the cold one ------------------
def pausable(gate: asyncio.Event) -> Any:
    def register(engine: durable.Engine) -> None:
        @engine.workflow("pausable")
        async def wf(ctx: durable.Context, _: Any) -> list[Any]:
            async def ask() -> Any:
                return await ctx.suspend("ask")

            async def work() -> str:
                async def s1() -> str:
                    await gate.wait()
                    return "one"

                await ctx.step("s1", s1)
                return await ctx.step("s2", lambda: "two")

            return list(await asyncio.gather(ask(), work()))

    return register


@pytest.mark.parametrize("max_parked", [10_000, 0], ids=["hot", "cold"])
async def test_answering_a_paused_run_continues_it_hot_and_cold_alike(
    store_url: str, open_engine: Any, max_parked: int
) -> None:
    """Defect 6: the hot path wrote a second 'paused' where the cold path continued."""
    gate = asyncio.Event()
    engine = await open_engine(store_url, pausable(gate), max_parked=max_parked)
    run = await engine.create_run("pausable")
    starting = asyncio.ensure_future(run.start())
    await until(lambda: _true(engine.stats().executing == 1))
    pausing = asyncio.ensure_future(run.pause())
    await asyncio.sleep(0.05)
    gate.set()
    assert (await pausing).status == "paused"
    assert (await starting).status == "paused"
    result = await run.resume("yes", step="ask")
    assert result.status == "succeeded" and result.output == ["yes", "two"]
    assert types(await engine.history(run.run_id)) == [
        "started", "suspended", "step_completed", "paused", "resumed", "step_completed",
        "succeeded"]


# -- 9. a suspension the workflow stopped waiting for is withdrawn ---------------------------
def first_answer(engine: durable.Engine) -> None:
    @engine.workflow("first-answer")
    async def wf(ctx: durable.Context, _: Any) -> Any:
        fast = asyncio.ensure_future(ctx.suspend("fast"))
        slow = asyncio.ensure_future(ctx.suspend("slow"))
        done, pending = await asyncio.wait({fast, slow}, return_when=asyncio.FIRST_COMPLETED)
        for loser in pending:
            loser.cancel()
        winner = done.pop().result()
        confirm = await ctx.suspend("confirm", {"winner": winner})
        return {"winner": winner, "confirm": confirm}


@pytest.mark.parametrize("max_parked", [10_000, 0], ids=["hot", "cold"])
async def test_the_loser_of_a_first_completed_wait_is_withdrawn(
    store_url: str, open_engine: Any, max_parked: int
) -> None:
    engine = await open_engine(store_url, first_answer, max_parked=max_parked)
    run = await engine.create_run("first-answer")
    assert sorted((await run.start()).suspended) == [("fast",), ("slow",)]
    after = await run.resume("quick", step="fast")
    assert after.suspended == [("confirm",)]  # 'slow' is no longer listed ...
    waiting = await engine.list_suspended_runs()
    assert [s.path for r in waiting.runs for s in r.suspensions] == [("confirm",)]
    n = len(await engine.history(run.run_id))
    with pytest.raises(durable.NotSuspended):  # ... nor answerable
        await run.resume("late", step="slow")
    assert len(await engine.history(run.run_id)) == n
    done = await run.resume("ok")  # one open suspension: no step needed, no ambiguity
    assert done.output == {"winner": "quick", "confirm": "ok"}
    history = await engine.history(run.run_id)
    assert [e.data["path"] for e in history if e.type == "withdrawn"] == [["slow"]]
    assert (await engine.check_replay(run.run_id)).ok


# -- 3. a database error on an append leaves the run claimable -------------------------------
def add_failing_trigger(url: str) -> None:
    """Make the database refuse every event past position 2 (as a full disk would)."""
    if url.startswith("sqlite:///"):
        import sqlite3

        with sqlite3.connect(url[len("sqlite:///"):]) as conn:
            conn.execute("CREATE TRIGGER fail_append BEFORE INSERT ON stored_events "
                         "WHEN NEW.originator_version > 2 "
                         "BEGIN SELECT RAISE(ABORT, 'simulated disk failure'); END")
        return
    import psycopg

    base, schema = url.split("?schema=")
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f"""CREATE FUNCTION "{schema}".fail_append() RETURNS trigger AS $$
            BEGIN IF NEW.originator_version > 2 THEN
                RAISE EXCEPTION 'simulated disk failure'; END IF; RETURN NEW; END
            $$ LANGUAGE plpgsql""")
        conn.execute(f'CREATE TRIGGER fail_append BEFORE INSERT ON "{schema}".durable_events '
                     f'FOR EACH ROW EXECUTE FUNCTION "{schema}".fail_append()')


def drop_failing_trigger(url: str) -> None:
    if url.startswith("sqlite:///"):
        import sqlite3

        with sqlite3.connect(url[len("sqlite:///"):]) as conn:
            conn.execute("DROP TRIGGER fail_append")
        return
    import psycopg

    base, schema = url.split("?schema=")
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'DROP TRIGGER fail_append ON "{schema}".durable_events')


async def test_a_database_error_on_an_append_releases_the_run(
    shared_url: str, open_engine: Any
) -> None:
    """Defect 3: the append of the second step fails; nothing retries it forever, the
    run is released, and once the database takes writes again it is recovered."""
    calls: Counter[str] = Counter()
    release = asyncio.Event()
    release.set()
    register = blocking(calls, release)
    a = await open_engine(shared_url, register)
    add_failing_trigger(shared_url)
    run = await a.create_run("blocking")
    with pytest.raises(Exception, match="simulated disk failure"):
        await asyncio.wait_for(run.start(), 10)
    await a.flush()
    assert (await a.get_run(run.run_id)).status == "running"
    assert await owner_of(a, run.run_id) is None
    drop_failing_trigger(shared_url)
    b = await open_engine(shared_url, register, lease_seconds=3600)
    assert await b.recover() == [run.run_id]
    assert (await b.wait(run.run_id, timeout=10)).status == "succeeded"
    assert await b.verify(run.run_id)


# -- 10. a held SQLite write lock does not freeze the event loop -----------------------------
async def test_a_held_sqlite_lock_does_not_block_the_event_loop(
    tmp_path: Any, open_engine: Any
) -> None:
    """Defect 10: a lone run's inline commit waited on the lock on the loop's thread."""
    import sqlite3
    import threading

    url = f"sqlite:///{tmp_path / 'locked.db'}"
    engine = await open_engine(url, two_questions)
    run = await engine.create_run("two-questions")
    await run.start()
    held, done = threading.Event(), threading.Event()

    def hold_the_lock() -> None:
        conn = sqlite3.connect(tmp_path / "locked.db", isolation_level=None)
        conn.execute("BEGIN IMMEDIATE")
        held.set()
        done.wait(1.5)
        conn.execute("ROLLBACK")
        conn.close()

    threading.Thread(target=hold_the_lock, daemon=True).start()
    await asyncio.to_thread(held.wait, 5)
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while not done.is_set():
            ticks += 1
            await asyncio.sleep(0.01)

    ticking = asyncio.ensure_future(tick())
    resumed = await run.resume("one")  # waits for the lock off the loop, then commits
    done.set()
    await ticking
    assert resumed.suspended == [("second",)]
    assert ticks >= 10, f"the event loop stood still while the lock was held ({ticks} ticks)"

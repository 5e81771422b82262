"""Bad input gets a clear error, and nothing is lost or half-written.

Each test names the defect of issue 7 it pins down.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import msgspec
import pytest

import durable
from durable.fold import fold


# -- 4. text PostgreSQL cannot hold never breaks a projection --------------------------------
def nul_workflows(engine: durable.Engine) -> None:
    @engine.workflow("nul-error")
    async def nul_error(ctx: durable.Context, _: Any) -> None:
        def broken() -> None:
            raise ValueError("bad\x00byte and a lone \ud800 surrogate")

        await ctx.step("broken", broken)

    @engine.workflow("nul-step")
    async def nul_step(ctx: durable.Context, _: Any) -> None:
        await ctx.step("a\x00b", lambda: 1)

    @engine.workflow("waits")
    async def waits(ctx: durable.Context, _: Any) -> Any:
        return await ctx.suspend("here")


async def test_nul_characters_never_break_the_listings(
    store_url: str, open_engine: Any
) -> None:
    """Defect 4: one NUL in an error, a reason, a step id or a resource id."""
    engine = await open_engine(store_url, nul_workflows)
    failed = await (await engine.create_run("nul-error")).start()
    assert failed.status == "failed"
    assert "bad\x00byte" in (failed.error or "")  # the log keeps what was said
    bad_step = await (await engine.create_run("nul-step")).start()
    assert bad_step.status == "failed" and "NUL" in (bad_step.error or "")
    waiting = await engine.create_run("waits")
    await waiting.start()
    assert (await waiting.cancel("why\x00not")).status == "cancelled"
    with pytest.raises(ValueError, match="NUL"):
        await engine.create_run("waits", resource_id="res\x00ource")
    with pytest.raises(ValueError, match="NUL"):
        await engine.create_run("waits", run_id="id\x00")

    listed = await engine.list_runs()  # every later listing still works ...
    assert listed.total == 3
    errors = {r.workflow: r.error for r in listed.runs}
    assert errors["nul-error"] is not None and "\x00" not in errors["nul-error"]
    assert errors["waits"] == "why\\x00not"
    assert (await engine.rebuild_projections())[1].lag == 0  # ... and so does a rebuild
    assert (await engine.list_runs()).total == 3
    for r in listed.runs:
        assert await engine.verify(r.run_id)
    assert (await engine.get_run(waiting.run_id)).error == "why\x00not"


# -- 7. code that no longer reaches an open suspension ----------------------------------------
async def test_code_that_no_longer_waits_where_the_log_waits_fails_the_replay_check(
    shared_url: str, open_engine: Any
) -> None:
    def v1(engine: durable.Engine) -> None:
        @engine.workflow("approve")
        async def approve(ctx: durable.Context, _: Any) -> Any:
            await ctx.step("price", lambda: 10)
            return await ctx.suspend("approval")

    def v2(engine: durable.Engine) -> None:  # the suspension was deleted
        @engine.workflow("approve")
        async def approve(ctx: durable.Context, _: Any) -> Any:
            await ctx.step("price", lambda: 10)
            return "auto-approved"

    old = await open_engine(shared_url, v1)
    run = await old.create_run("approve")
    await run.start()
    new = await open_engine(shared_url, v2, max_parked=0)
    check = await new.check_replay(run.run_id)
    assert not check.ok and "approval" in (check.error or "")
    n = len(await new.history(run.run_id))
    with pytest.raises(durable.NonDeterminismError, match="approval"):
        await new.resume_run(run.run_id, "yes", None)
    assert len(await new.history(run.run_id)) == n
    assert (await old.check_replay(run.run_id)).ok


# -- 8. a result that cannot be stored fails the step once --------------------------------------
class Receipt:
    def __init__(self, amount: int) -> None:
        self.amount = amount


async def test_a_result_that_cannot_be_stored_is_not_retried(
    store_url: str, open_engine: Any
) -> None:
    charges: Counter[str] = Counter()

    def register(engine: durable.Engine) -> None:
        @engine.workflow("charge")
        async def charge(ctx: durable.Context, _: Any) -> Any:
            def card() -> Receipt:
                charges["card"] += 1
                return Receipt(42)

            try:
                return await ctx.step("card", card, retries=2, backoff=0.01)
            except durable.StepFailed as e:
                return {"failed": e.error_type, "attempts": e.attempts, "message": e.message}

    engine = await open_engine(store_url, register)
    result = await (await engine.create_run("charge")).start()
    assert charges["card"] == 1  # charged once, not three times
    assert result.output["attempts"] == 1
    assert "Receipt" in result.output["message"] and "not retried" in result.output["message"]
    failures = [e for e in await engine.history(result.run_id) if e.type == "step_failed"]
    assert [e.data["final"] for e in failures] == [True]


# -- 11. the smaller ones ---------------------------------------------------------------------
def asks(engine: durable.Engine) -> None:
    @engine.workflow("asks")
    async def wf(ctx: durable.Context, n: Any) -> Any:
        return await ctx.suspend("q", {"n": n})


async def test_an_unknown_engine_option_is_a_type_error_naming_the_valid_ones() -> None:
    with pytest.raises(TypeError, match=r"max_parkd.*did you mean 'max_parked'.*lease_seconds"):
        durable.Engine("memory://", max_parkd=5)
    with pytest.raises(TypeError, match="lease_seconds"):
        durable.Engine("memory://", lease_seconds="soon")
    with pytest.raises(ValueError, match="positive"):
        durable.Engine("memory://", lease_seconds=0)


async def test_bad_arguments_are_value_errors_and_write_nothing(
    store_url: str, open_engine: Any
) -> None:
    engine = await open_engine(store_url, asks)
    run = await engine.create_run("asks")
    with pytest.raises(ValueError, match="cannot be stored"):
        await run.start(2**64)
    with pytest.raises(ValueError, match="initial_state must be a dict"):
        await run.start(1, initial_state=[1, 2])  # type: ignore[arg-type]
    assert (await engine.list_runs()).total == 0
    await run.start(1)
    with pytest.raises(ValueError, match="step must be"):
        await run.resume("x", step=5)  # type: ignore[arg-type]
    with pytest.raises(durable.InvalidResumeData):
        await run.resume(2**64)
    with pytest.raises(ValueError, match="position must be"):
        await engine.state_at(run.run_id, "2")  # type: ignore[arg-type]
    assert [e.type for e in await engine.history(run.run_id)] == ["started", "suspended"]


async def test_concurrent_reads_with_a_tiny_cache(store_url: str, open_engine: Any) -> None:
    """A cached run is brought up to date while another read evicts it: no KeyError."""
    engine = await open_engine(store_url, asks, max_cached_runs=1)
    runs = [await engine.create_run("asks") for _ in range(3)]
    for i, run in enumerate(runs):
        await run.start(i)
    for _ in range(30):
        await engine.get_run(runs[0].run_id)  # cached: the next read of it is a hit
        infos = await asyncio.gather(*(engine.get_run(r.run_id) for r in runs))
        assert [i.suspend_payloads["q"]["n"] for i in infos] == [0, 1, 2]


async def test_changing_ctx_state_in_place_changes_nothing_recorded(
    store_url: str, open_engine: Any
) -> None:
    def register(engine: durable.Engine) -> None:
        @engine.workflow("scribbler")
        async def wf(ctx: durable.Context, _: Any) -> Any:
            for i in range(12):
                ctx.state["scribbled"] = i  # not set_state: must not reach the log
                await ctx.step(f"s{i}", lambda: None)
            ctx.set_state({**ctx.state, "set": True})
            return await ctx.suspend("end")

    engine = await open_engine(store_url, register, snapshot_every=5)
    run = await engine.create_run("scribbler")
    await run.start(initial_state={"given": 1})
    await engine.flush()
    events = await engine.store.read_events(run.run_id)
    assert fold(events).state == {"given": 1, "set": True}
    assert (await engine.get_run(run.run_id)).state == {"given": 1, "set": True}
    assert events[0].payload.state == {"given": 1}
    assert await engine.verify(run.run_id)


async def test_pause_and_resume_from_inside_the_runs_own_step(
    store_url: str, open_engine: Any
) -> None:
    def register(engine: durable.Engine) -> None:
        @engine.workflow("self-pausing")
        async def pausing(ctx: durable.Context, _: Any) -> Any:
            async def pause_me() -> str:
                return (await engine.pause_run(ctx.run_id)).status

            seen = await ctx.step("pause-me", pause_me)
            return await ctx.step("after", lambda: seen)

        @engine.workflow("self-answering")
        async def answering(ctx: durable.Context, _: Any) -> Any:
            async def answer() -> str:
                return (await engine.resume_run(ctx.run_id, "from-step", "q")).status

            return list(await asyncio.gather(ctx.suspend("q"), ctx.step("answer", answer)))

    engine = await open_engine(store_url, register)
    paused = await asyncio.wait_for((await engine.create_run("self-pausing")).start(), 10)
    assert paused.status == "paused"
    done = await paused_run(engine, paused.run_id).resume()
    assert done.output == "running"
    answered = await asyncio.wait_for((await engine.create_run("self-answering")).start(), 10)
    assert answered.status == "succeeded" and answered.output == ["from-step", "running"]


def paused_run(engine: durable.Engine, run_id: str) -> durable.Run:
    return durable.Run(engine, run_id, "self-pausing")


async def test_verify_covers_the_snapshot_that_reads_stand_on(
    shared_url: str, open_engine: Any
) -> None:
    def register(engine: durable.Engine) -> None:
        @engine.workflow("steps")
        async def wf(ctx: durable.Context, n: int) -> Any:
            for i in range(n):
                await ctx.step(f"s{i}", lambda i=i: i)
            return await ctx.suspend("end")

    engine = await open_engine(shared_url, register, snapshot_every=5)
    run = await engine.create_run("steps")
    await run.start(7)
    await engine.flush()
    assert await engine.verify(run.run_id)
    await tamper_snapshot(shared_url, run.run_id)
    assert not await engine.verify(run.run_id)


async def tamper_snapshot(url: str, run_id: str) -> None:
    """Rewrite the stored snapshot's folded status, as an attacker with SQL would."""

    def edit(state: bytes) -> bytes:
        stored = msgspec.msgpack.decode(state)
        stored["state"]["status"] = "succeeded"
        return msgspec.msgpack.encode(stored)

    if url.startswith("sqlite:///"):
        import sqlite3

        with sqlite3.connect(url[len("sqlite:///"):]) as conn:
            (state,) = conn.execute("SELECT state FROM durable_snapshots WHERE originator_id = ?",
                                    (run_id,)).fetchone()
            conn.execute("UPDATE durable_snapshots SET state = ? WHERE originator_id = ?",
                         (edit(state), run_id))
        return
    import psycopg

    base, schema = url.split("?schema=")
    with psycopg.connect(base, autocommit=True) as conn:
        table = f'"{schema}".durable_snapshots'
        row = conn.execute(f"SELECT state FROM {table} WHERE originator_id = %s",
                           (run_id,)).fetchone()
        assert row is not None
        conn.execute(f"UPDATE {table} SET state = %s WHERE originator_id = %s",
                     (edit(bytes(row[0])), run_id))

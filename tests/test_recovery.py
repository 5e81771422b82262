"""Crash recovery: a real process is killed with SIGKILL mid-step, another continues its runs."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

import durable
from tests.crash_worker import make_engine

WORKER = Path(__file__).with_name("crash_worker.py")


def start_and_kill(url: str, log: Path, run_id: str) -> None:
    env = {**os.environ, "PYTHONPATH": str(WORKER.parent.parent)}
    proc = subprocess.Popen([sys.executable, str(WORKER), url, str(log), run_id], env=env)
    try:
        deadline = time.monotonic() + 30
        while not (log.exists() and "b:0" in log.read_text()):
            assert proc.poll() is None, "the worker exited before step b started"
            assert time.monotonic() < deadline, "the worker never reached step b"
            time.sleep(0.02)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL


async def test_kill_9_mid_step_then_recover_in_another_process(
    shared_url: str, tmp_path: Path
) -> None:
    log = tmp_path / "calls.log"
    start_and_kill(shared_url, log, "order-42")

    engine = make_engine(shared_url, str(log))
    async with engine:
        assert (await engine.get_run("order-42")).status == "running"
        assert await engine.recover() == ["order-42"]
        info = await engine.wait("order-42", timeout=10)
        assert info.status == "succeeded"
        assert info.output == {"a": "A", "b": "B", "c": "C"}
        assert await engine.recover() == []  # nothing left to claim
        history = await engine.history("order-42")
        assert await engine.verify("order-42")

    calls = log.read_text().split()
    assert calls == ["a", "b:0", "b:1", "c"]  # a not re-run; b again with its attempt raised
    completed = [e.data["path"] for e in history if e.type == "step_completed"]
    assert completed == [["a"], ["b"], ["c"]]
    assert [e.type for e in history].count("recovered") == 1


async def test_a_live_owner_elsewhere_is_left_alone_until_its_lease_lapses(
    tmp_path: Path,
) -> None:
    import sqlite3

    db = tmp_path / "lease.db"
    url = f"sqlite:///{db}"
    log = tmp_path / "calls.log"
    start_and_kill(url, log, "far-away")

    def owner_elsewhere(lease_until: float) -> None:
        with sqlite3.connect(db) as conn:
            conn.execute(
                "UPDATE durable_runs SET owner_host = 'another-host', lease_until = ? "
                "WHERE run_id = 'far-away'", (lease_until,)
            )

    engine = make_engine(url, str(log))
    async with engine:
        owner_elsewhere(time.time() + 60)
        assert await engine.recover() == []  # its owner's lease still holds
        owner_elsewhere(time.time() - 1)
        assert await engine.recover() == ["far-away"]
        assert (await engine.wait("far-away", timeout=10)).status == "succeeded"


async def test_a_slow_owner_is_fenced_by_the_log(tmp_path: Path) -> None:
    """Engine A still runs a step when B recovers the run: A's late append loses."""
    url = f"sqlite:///{tmp_path / 'fence.db'}"
    gate = asyncio.Event()
    calls: list[str] = []

    def register(engine: durable.Engine) -> None:
        @engine.workflow("fenced")
        async def wf(ctx: durable.Context, _: Any) -> str:
            async def slow() -> str:
                calls.append(f"slow:{ctx.attempt}")
                if ctx.attempt == 0:
                    await gate.wait()
                return "done"

            return await ctx.step("slow", slow)

    a = durable.Engine(url)
    b = durable.Engine(url)
    register(a)
    register(b)
    async with a, b:
        run = await a.create_run("fenced")
        running = asyncio.create_task(run.start())
        while not calls:
            await asyncio.sleep(0.01)
        import sqlite3

        with sqlite3.connect(tmp_path / "fence.db") as conn:  # A looks dead from B's side
            conn.execute("UPDATE durable_runs SET owner_host = 'gone', lease_until = 0")
        assert await b.recover() == [run.run_id]
        assert (await b.wait(run.run_id, timeout=10)).status == "succeeded"
        gate.set()
        late = await running  # A's append conflicts; it gives up and reports the log
        assert late.status == "succeeded"
        history = await b.history(run.run_id)
        assert [e.type for e in history].count("step_completed") == 1
        assert calls == ["slow:0", "slow:1"]


@pytest.mark.parametrize("n", [3])
async def test_recover_ignores_runs_of_live_processes(tmp_path: Path, n: int) -> None:
    url = f"sqlite:///{tmp_path / 'live.db'}"
    gate = asyncio.Event()

    a = durable.Engine(url)
    b = durable.Engine(url)
    for e in (a, b):
        @e.workflow("waits-on-gate")
        async def wf(ctx: durable.Context, _: Any) -> None:
            await ctx.step("gate", gate.wait)

    async with a, b:
        tasks = []
        for _ in range(n):
            run = await a.create_run("waits-on-gate")
            tasks.append(asyncio.create_task(run.start()))
        await asyncio.sleep(0.1)
        assert await b.recover() == []  # same host, A's process is alive
        gate.set()
        assert all(r.status == "succeeded" for r in await asyncio.gather(*tasks))

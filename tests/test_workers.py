"""``durable worker`` processes: enqueued runs finish exactly once when a worker is
killed with ``kill -9`` mid-step; SIGTERM stops a worker cleanly (exit 0) and its
run is finished by another; a timer of a run whose process exited is fired by a
worker. Steps wait on files (see tests/process_worker.py)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import durable
from tests.process_worker import register
from tests.test_processes import calls_include

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parent.parent


class WorkerProcess:
    def __init__(self, url: str, *args: str) -> None:
        # Its log goes to a file: a pipe read only at the end could fill and stop it.
        self.log_file = tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed in log()
            prefix="durable-worker-", suffix=".log")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "durable", "worker", "--app", "tests.process_worker:register",
             "--db", url, *args],
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=self.log_file,
            env={**os.environ, "PYTHONPATH": str(ROOT)})

    def stop(self, sig: int) -> int:
        self.proc.send_signal(sig)
        return self.proc.wait(30)

    def log(self) -> str:
        text = Path(self.log_file.name).read_text()
        self.log_file.close()
        return text


@pytest.fixture
def processes() -> Iterator[list[WorkerProcess]]:
    started: list[WorkerProcess] = []
    yield started
    for w in started:
        if w.proc.poll() is None:
            w.proc.kill()
        w.proc.wait(10)


async def finished(url: str, run_id: str, timeout: float = 60) -> durable.RunInfo:
    """The run once it ended, read by an engine that registers nothing (so it fires no
    timer and executes nothing itself)."""
    async with durable.Engine(url) as looker:
        deadline = time.monotonic() + timeout
        while True:
            info = await looker.get_run(run_id)
            if info.status in ("succeeded", "failed", "cancelled"):
                return info
            assert time.monotonic() < deadline, f"run {run_id} is still {info.status}"
            await asyncio.sleep(0.1)


async def enqueue(url: str, workflow: str, input: object) -> str:
    async with durable.Engine(url) as client:
        register(client)
        return (await client.enqueue(workflow, input)).run_id


async def test_a_worker_killed_mid_step_leaves_its_run_to_another(
    shared_url: str, tmp_path: Path, processes: list[WorkerProcess]
) -> None:
    run_id = await enqueue(shared_url, "gated", str(tmp_path))
    first = WorkerProcess(shared_url)
    processes.append(first)
    await calls_include(tmp_path, "slow:0")  # taken, mid-step
    first.proc.kill()  # kill -9
    first.proc.wait(10)
    second = WorkerProcess(shared_url)
    processes.append(second)
    info = await finished(shared_url, run_id)
    assert (info.status, info.output) == ("succeeded", "done")
    calls = (tmp_path / "calls.log").read_text().split()
    assert calls.count("first") == 1  # a completed step never runs again
    assert calls.count("slow:0") == 1 and calls.count("slow:1") == 1
    async with durable.Engine(shared_url) as looker:
        types = [e.type for e in await looker.history(run_id)]
    assert types.count("claimed") == 1 and types.count("recovered") == 1


async def test_sigterm_stops_a_worker_cleanly_and_another_finishes_its_run(
    shared_url: str, tmp_path: Path, processes: list[WorkerProcess]
) -> None:
    run_id = await enqueue(shared_url, "gated", str(tmp_path))
    first = WorkerProcess(shared_url, "--grace", "0.5")
    processes.append(first)
    await calls_include(tmp_path, "slow:0")
    assert await asyncio.to_thread(first.stop, signal.SIGTERM) == 0
    log = first.log()
    assert "run_taken" in log and "worker_stopped" in log
    assert "Traceback" not in log
    second = WorkerProcess(shared_url)
    processes.append(second)
    info = await finished(shared_url, run_id, timeout=60)
    assert info.status == "succeeded"
    assert (tmp_path / "calls.log").read_text().split().count("slow:1") == 1


async def test_a_timer_of_a_run_whose_process_exited_is_fired_by_a_worker(
    shared_url: str, processes: list[WorkerProcess]
) -> None:
    async with durable.Engine(shared_url) as starter:
        register(starter)
        run = await starter.create_run("nap")
        assert (await run.start(1.0)).status == "suspended"
    worker = WorkerProcess(shared_url)
    processes.append(worker)
    info = await finished(shared_url, run.run_id)
    assert (info.status, info.output) == ("succeeded", "rested")


def most_at_once(lines: list[str], prefix: str = "") -> int:
    now = most = 0
    for line in lines:
        if line.startswith(f"start:{prefix}"):
            now += 1
            most = max(most, now)
        elif line.startswith(f"end:{prefix}"):
            now -= 1
    return most


async def test_queue_limits_hold_across_two_worker_processes(
    shared_url: str, tmp_path: Path, processes: list[WorkerProcess]
) -> None:
    async with durable.Engine(shared_url) as client:
        register(client)
        narrow = [(await client.enqueue("limited", [str(tmp_path), f"n{i}"], queue="narrow"))
                  for i in range(6)]
        keyed = [(await client.enqueue("limited", [str(tmp_path), f"{key}{i}"],
                                       queue="tenants", key=key))
                 for i in range(3) for key in ("acme-", "globex-")]
    for _ in range(2):
        processes.append(WorkerProcess(shared_url, "--concurrency", "5"))
    for run in [*narrow, *keyed]:
        assert (await finished(shared_url, run.run_id)).status == "succeeded"
    lines = (tmp_path / "calls.log").read_text().split()
    assert most_at_once(lines, "n") == 2  # capped across both processes, and used
    assert most_at_once(lines, "acme-") == 1 and most_at_once(lines, "globex-") == 1
    assert sorted(line for line in lines if line.startswith("start:")) == sorted(
        {line for line in lines if line.startswith("start:")})  # each ran once


async def test_run_wait_returns_a_run_settled_by_a_worker_and_a_repeated_enqueue_runs_once(
    shared_url: str, tmp_path: Path, processes: list[WorkerProcess]
) -> None:
    async with durable.Engine(shared_url) as client:  # executes nothing: no worker here
        register(client)
        args = [str(tmp_path), "once"]
        run = await client.enqueue("limited", args, run_id="order-17")
        again = await client.enqueue("limited", args, run_id="order-17")  # a retried submit
        assert again.run_id == run.run_id
        processes.append(WorkerProcess(shared_url))
        done = await run.wait(timeout=60)
        assert (done.status, done.output) == ("succeeded", "once")
        assert await client.enqueue("limited", args, run_id="order-17")  # after: still one
        types = [e.type for e in await client.history(run.run_id)]
    assert types.count("started") == 1 and types.count("claimed") == 1
    await asyncio.sleep(0.5)  # a second copy, had one been enqueued, would be claimed by now
    assert (tmp_path / "calls.log").read_text().split() == ["start:once", "end:once"]

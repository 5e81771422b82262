"""Issue 7's many-process cases, with real processes: the other engine is another process.

The worker is ``tests/process_worker.py``; steps wait on files the test creates.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.process_worker import register

pytestmark = pytest.mark.slow

WORKER = Path(__file__).with_name("process_worker.py")
ROOT = WORKER.parent.parent


class Worker:
    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(WORKER), *args], cwd=ROOT, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
        )

    async def line(self, timeout: float = 30) -> dict[str, Any]:
        """The worker's next JSON line."""
        assert self.proc.stdout is not None
        text = await asyncio.wait_for(asyncio.to_thread(self.proc.stdout.readline), timeout)
        if not text:
            self.proc.wait(5)
            assert self.proc.stderr is not None
            raise AssertionError(f"the worker exited: {self.proc.stderr.read()[-3000:]}")
        return json.loads(text)  # type: ignore[no-any-return]

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)


@pytest.fixture
def workers() -> Iterator[list[Worker]]:
    started: list[Worker] = []
    yield started
    for w in started:
        w.kill()


async def calls_include(gate_dir: Path, line: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    log = gate_dir / "calls.log"
    while not (log.exists() and line in log.read_text().split()):
        assert time.monotonic() < deadline, f"{line!r} never appeared in {log}"
        await asyncio.sleep(0.02)


async def test_a_forked_worker_killed_mid_step_is_recovered_on_this_host(
    shared_url: str, tmp_path: Path, workers: list[Worker], open_engine: Any
) -> None:
    """Defect 5: an engine made at import, then forked: its runs were recorded under the
    parent's pid, so a killed child's runs were never recovered while the parent lived."""
    run_id = f"forked-{uuid.uuid4().hex[:8]}"
    parent = Worker("fork", shared_url, run_id, str(tmp_path),
                    env={"DURABLE_FORK_URL": shared_url})
    workers.append(parent)
    child = (await parent.line())["child"]
    await calls_include(tmp_path, "waiting:never")  # (after slow:0: mid-step, on its gate)
    os.kill(child, signal.SIGKILL)
    engine = await open_engine(shared_url, register, lease_seconds=3600)
    head = await engine.store.read_head(run_id)
    assert head is not None and head.owner_pid == child  # the child's pid, not the parent's
    assert parent.proc.poll() is None  # the parent lives on
    assert await engine.recover() == [run_id]  # dead, though nobody has reaped it yet
    assert (await engine.wait(run_id, timeout=10)).status == "succeeded"
    assert (tmp_path / "calls.log").read_text().split() == [
        "first", "slow:0", "waiting:never", "slow:1"]


async def test_a_resume_from_another_process_after_a_parked_copy_went_stale(
    shared_url: str, tmp_path: Path, workers: list[Worker], open_engine: Any
) -> None:
    """Defect 1, two processes: this one parked the run at 'first'; another answered it."""
    engine = await open_engine(shared_url, register)
    run = await engine.create_run("two-questions")
    await run.start()
    other = Worker("resume", shared_url, run.run_id, "first", '"one"')
    workers.append(other)
    assert (await other.line())["suspended"] == [["second"]]
    done = await engine.resume_run(run.run_id, "two", "second")
    assert done.output == {"first": "one", "second": "two"}


async def test_a_resume_from_another_process_reaches_a_run_executing_here(
    shared_url: str, tmp_path: Path, workers: list[Worker], open_engine: Any
) -> None:
    """Defect 2, two processes: 'a' runs its step here; another process answers 'b'."""
    engine = await open_engine(shared_url, register)
    run = await engine.create_run("two-branches")
    await run.start(str(tmp_path))
    here = asyncio.ensure_future(engine.resume_run(run.run_id, 1, "a"))
    await calls_include(tmp_path, "work-a:0")
    other = Worker("resume", shared_url, run.run_id, "b", "2")
    workers.append(other)
    await calls_include(tmp_path, "work-b:0")  # taken in here, while a's step still runs
    (tmp_path / "open-a").touch()
    theirs = await other.line()
    ours = await asyncio.wait_for(here, 30)
    assert theirs["status"] == ours.status == "succeeded"
    assert theirs["output"] == ours.output == ["a:1", "b:2"]
    history = await engine.history(run.run_id)
    assert [e.type for e in history].count("resumed") == 2
    assert sorted((tmp_path / "calls.log").read_text().split()) == [
        "waiting:open-a", "work-a:0", "work-b:0"]


async def test_an_event_sent_while_the_run_executes_in_another_process(
    shared_url: str, tmp_path: Path, workers: list[Worker], open_engine: Any
) -> None:
    """The run executes its step in a worker process; the event is sent from here before
    the code waits for it: kept in the mailbox, taken once the code gets there."""
    run_id = str(uuid.uuid4())
    holder = Worker("start", shared_url, run_id, "gated-event", str(tmp_path))
    workers.append(holder)
    await calls_include(tmp_path, "waiting:open-slow")
    engine = await open_engine(shared_url, register)
    await engine.send_event(run_id, "go", {"from": "afar"})  # appended for its holder
    assert (await engine.get_run(run_id)).status == "running"
    (tmp_path / "open-slow").touch()
    assert (await holder.line())["status"] == "succeeded"
    info = await engine.get_run(run_id)
    assert info.output == {"first": "slow", "got": {"from": "afar"}}
    types = [e.type for e in await engine.history(run_id)]
    assert types.index("event_sent") < types.index("step_completed") < types.index(
        "event_received")
    assert "recovered" not in types  # the worker kept the run
    assert (await engine.check_replay(run_id)).ok


async def test_a_grandchild_waiting_in_another_process_is_resumed_here_by_its_path(
    shared_url: str, tmp_path: Path, workers: list[Worker], open_engine: Any
) -> None:
    run_id = str(uuid.uuid4())
    starter = Worker("start", shared_url, run_id, "top", str(tmp_path))
    workers.append(starter)
    assert (await starter.line())["status"] == "suspended"
    engine = await open_engine(shared_url, register)
    run = await engine.create_run("top", run_id=run_id)
    info = await engine.get_run(run_id)
    assert info.suspended == [("review", "legal", "approval")]
    done = await run.resume("signed", step=("review", "legal", "approval"))
    assert (done.status, done.output) == ("succeeded", {"review": "signed"})
    for r in (await engine.list_runs()).runs:
        assert r.status == "succeeded" and (await engine.check_replay(r.run_id)).ok


@pytest.mark.parametrize("how", ["--give-up", "--close-mid-step"])
async def test_a_live_process_that_stopped_executing_a_run_leaves_it_claimable_at_once(
    shared_url: str, tmp_path: Path, workers: list[Worker], open_engine: Any, how: str
) -> None:
    """Defect 3, two processes: the caller gave up, or its engine closed, and the
    process lives on; recover() elsewhere claims the run without waiting for a lease."""
    run_id = f"stopped-{uuid.uuid4().hex[:8]}"
    args = ["start", shared_url, run_id, "gated", str(tmp_path), how]
    if how == "--give-up":
        args.append("0.5")
    worker = Worker(*args)
    workers.append(worker)
    said = await worker.line()
    assert said == {"error": "TimeoutError" if how == "--give-up" else "EngineClosed"}
    engine = await open_engine(shared_url, register, lease_seconds=3600)
    deadline = time.monotonic() + 10
    while (claimed := await engine.recover()) == []:  # the release is written just after
        assert time.monotonic() < deadline, "the run was never released"
        await asyncio.sleep(0.05)
    assert claimed == [run_id]
    assert worker.proc.poll() is None  # its process is alive all along
    assert (await engine.wait(run_id, timeout=10)).status == "succeeded"
    assert await engine.verify(run_id)

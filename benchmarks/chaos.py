"""``python -m benchmarks.chaos``: worker processes killed with ``kill -9`` at random
moments, then the database restarted under load; afterwards, nothing is lost,
duplicated or stranded.

On a PostgreSQL server of its own (started in a temporary folder, so the shared
server and other tests are not disturbed), it enqueues ``--runs`` runs of the
``chaos`` workflow (``benchmarks/chaos_app.py``: ``--steps`` steps, an event sent
by this process midway, a durable timer) to ``--workers`` ``durable worker``
processes, kills a random worker ``--kills`` times at random moments (starting a
new one each time) while it sends the events, then enqueues the last runs and
restarts the server as a crash would (``pg_ctl stop -m immediate``) while they
execute. Once every run settled (or ``--settle`` seconds passed), it checks,
against the logs and the steps' own records of their calls (the effects file):

- acknowledged appends lost: an enqueue or event this process was told was
  written and is not in the log, or a step that began after the step before it
  (so that step's result was acknowledged) whose result is not in the log;
- completed steps re-run: a step call that began after its result was recorded;
- steps recorded twice; runs stranded (not settled), or settled otherwise than
  succeeded with the output its steps and event add up to;
- chains that do not verify; listings (``list_runs``) that differ from the fold
  of the logs (``get_run``).

Prints the figures as JSON (``--out FILE`` writes them too) and exits 1 on any
violation. ``tests/test_chaos.py`` runs a short variant.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import durable
from benchmarks.chaos_app import register
from benchmarks.pg_instance import PgInstance

ROOT = Path(__file__).resolve().parent.parent
SETTLED = ("succeeded", "failed", "cancelled")


@dataclass
class Settings:
    runs: int = 50
    workers: int = 3
    kills: int = 200
    steps: int = 300
    concurrency: int = 4
    kill_age: tuple[float, float] = (0.8, 3.0)  # a worker's age when killed, drawn uniformly
    late_runs: int = 10  # enqueued just before the server restarts, so it restarts under load
    settle: float = 300.0
    seed: int = 0


@dataclass
class Chaos:
    """What this process did, and was told: the ground truth the logs are checked against."""

    settings: Settings
    url: str
    folder: Path
    rng: random.Random
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)
    born: list[float] = field(default_factory=list)  # when each worker was started
    enqueued: list[str] = field(default_factory=list)  # acknowledged enqueues
    sent: dict[str, int] = field(default_factory=dict)  # run -> the acknowledged event's n
    kills: int = 0
    killed: list[int] = field(default_factory=list)  # the pids killed
    started_workers: int = 0

    @property
    def effects(self) -> Path:
        return self.folder / "effects.log"

    def spawn(self, slot: int) -> None:
        log = (self.folder / f"worker-{slot}.log").open("ab")
        proc = subprocess.Popen(
            [sys.executable, "-m", "durable", "worker", "--app", "benchmarks.chaos_app:register",
             "--db", self.url, "--concurrency", str(self.settings.concurrency), "--grace", "0"],
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=log)
        log.close()
        self.started_workers += 1
        if slot < len(self.workers):
            self.workers[slot], self.born[slot] = proc, time.monotonic()
        else:
            self.workers.append(proc)
            self.born.append(time.monotonic())

    async def kill_one(self) -> None:
        """Kill a random worker once it reached a random age (it starts in about 0.4 s,
        then recovers the runs of the workers killed before it, claims and executes)."""
        slot = self.rng.randrange(len(self.workers))
        age = self.rng.uniform(*self.settings.kill_age)
        await asyncio.sleep(max(0.0, self.born[slot] + age - time.monotonic()))
        proc = self.workers[slot]
        proc.kill()  # kill -9
        proc.wait()
        self.kills += 1
        self.killed.append(proc.pid)
        self.spawn(slot)

    async def enqueue(self, client: durable.Engine, n: int) -> None:
        for _ in range(n):
            run_id = f"chaos-{len(self.enqueued):04d}"
            args = {"effects": str(self.effects), "steps": self.settings.steps}
            await retrying(lambda r=run_id, a=args: client.enqueue("chaos", a, run_id=r))
            self.enqueued.append(run_id)

    async def send_events(self, client: durable.Engine, run_ids: list[str],
                          gap: float) -> None:
        """Each run's event, at random moments: written by a process that executes nothing."""
        for run_id in self.rng.sample(run_ids, len(run_ids)):
            await asyncio.sleep(self.rng.uniform(0, gap))
            n = self.rng.randrange(1000)
            await retrying(lambda r=run_id, n=n: client.send_event(r, "go", {"n": n}))
            self.sent[run_id] = n


async def retrying(call: Any, attempts: int = 60) -> Any:
    """A call this process makes while the database may be restarting: tried again on a
    connection error (a retried append may then be written twice; the checks allow an
    event twice, since only the first is taken, and an enqueue is idempotent)."""
    for attempt in range(attempts):
        try:
            return await call()
        except (durable.RunNotFound, durable.RunEnded, ValueError, TypeError):
            raise
        except Exception:
            if attempt == attempts - 1:
                raise
            await asyncio.sleep(0.5)
    return None


async def unsettled(client: durable.Engine, run_ids: list[str]) -> list[str]:
    return [r for r in run_ids if (await client.get_run(r)).status not in SETTLED]


async def run(settings: Settings) -> dict[str, Any]:
    rng = random.Random(settings.seed)
    folder = Path(tempfile.mkdtemp(prefix="durable-chaos-"))
    pg = PgInstance()
    began = time.monotonic()
    figures: dict[str, Any] = {"settings": {**vars(settings), "kill_age": list(settings.kill_age)}}
    try:
        pg.start()
        chaos = Chaos(settings, pg.create_database("chaos"), folder, rng)
        async with durable.Engine(chaos.url) as client:
            register(client)
            await chaos.enqueue(client, settings.runs - settings.late_runs)
            for slot in range(settings.workers):
                chaos.spawn(slot)
            # Events come early: most reach a run before it waits (kept in its mailbox or
            # appended for its holder, and taken by the worker that executes it); one
            # that finds its run waiting continues it in this process.
            sender = asyncio.create_task(chaos.send_events(client, list(chaos.enqueued), 0.1))
            for _ in range(settings.kills):
                await chaos.kill_one()
            figures["kills_done_after_s"] = round(time.monotonic() - began, 1)
            figures["runs_unsettled_when_kills_ended"] = len(
                await retrying(lambda: unsettled(client, chaos.enqueued)))

            # The last runs, then the server restarted as a crash would while they execute.
            late = len(chaos.enqueued)
            await chaos.enqueue(client, settings.late_runs)
            await sender
            await asyncio.sleep(1.0)
            figures["runs_in_flight_at_restart"] = len(await unsettled(client, chaos.enqueued))
            down = time.monotonic()
            pg.restart("immediate")
            figures["server_down_s"] = round(time.monotonic() - down, 2)
            await chaos.send_events(client, chaos.enqueued[late:], 0.5)

            settle_from = time.monotonic()
            left = chaos.enqueued
            while left and time.monotonic() - settle_from < settings.settle:
                await asyncio.sleep(0.5)
                left = await retrying(lambda: unsettled(client, chaos.enqueued))
            figures["settled_after_restart_s"] = round(time.monotonic() - settle_from, 1)
        for proc in chaos.workers:
            proc.send_signal(signal.SIGTERM)
        for proc in chaos.workers:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
        figures.update(kills=chaos.kills, workers_started=chaos.started_workers)
        figures.update(await check(chaos))
    finally:
        pg.destroy()
        figures["seconds"] = round(time.monotonic() - began, 1)
        shutil.rmtree(folder, ignore_errors=True)
    return figures


async def check(chaos: Chaos) -> dict[str, Any]:
    """Compare the logs with what this process was told and what the steps recorded."""
    violations: list[str] = []
    begins: dict[tuple[str, str], list[float]] = {}
    here = 0  # step calls made by this process (a run it continued with its event)
    working: set[int] = set()  # the processes that began steps
    for line in chaos.effects.read_text().splitlines():
        _, run_id, step, _attempt, at, pid = line.split()
        begins.setdefault((run_id, step), []).append(float(at))
        here += int(pid) == os.getpid()
        working.add(int(pid))
    counts = {"kills_of_workers_that_began_steps": sum(p in working for p in chaos.killed),
              "recovered": 0, "claimed": 0, "step_calls": 0, "step_calls_by_the_sender": here,
              "steps_recorded": 0, "in_flight_steps_called_again": 0}
    async with durable.Engine(chaos.url) as looker:
        listed = {r.run_id: r for r in (await looker.list_runs(per_page=10_000)).runs}
        for run_id in chaos.enqueued:
            history = await looker.history(run_id)
            info = await looker.get_run(run_id)
            types = [e.type for e in history]
            counts["recovered"] += types.count("recovered")
            counts["claimed"] += types.count("claimed")
            done = {".".join(map(str, e.data["path"])): e for e in history
                    if e.type == "step_completed"}
            paths = [e.data["path"] for e in history if e.type == "step_completed"]
            counts["steps_recorded"] += len(paths)
            if len(paths) != len(done):
                violations.append(f"{run_id}: a step recorded twice")
            if info.status not in SETTLED:
                violations.append(f"{run_id}: stranded {info.status}")
            elif (info.status, info.output) != (
                    "succeeded", sum(range(chaos.settings.steps)) + chaos.sent.get(run_id, -10**6)):
                violations.append(f"{run_id}: settled {info.status} with {info.output!r}")
            sent = [e.data["data"] for e in history if e.type == "event_sent"]
            if run_id in chaos.sent and {"n": chaos.sent[run_id]} not in sent:
                violations.append(f"{run_id}: an acknowledged event is not in the log")
            for i in range(chaos.settings.steps):
                calls = begins.get((run_id, f"s{i}"), [])
                counts["step_calls"] += len(calls)
                counts["in_flight_steps_called_again"] += max(0, len(calls) - 1)
                recorded = done.get(f"s{i}")
                if recorded is not None and any(
                        at > recorded.timestamp.timestamp() for at in calls):
                    violations.append(f"{run_id}: s{i} ran again after its result was recorded")
                if i and begins.get((run_id, f"s{i}")) and f"s{i - 1}" not in done:
                    violations.append(f"{run_id}: s{i - 1}'s acknowledged result was lost")
            if not await looker.verify(run_id):
                violations.append(f"{run_id}: its chain does not verify")
        violations += await _listings_match(looker, chaos.enqueued, listed)
    return {**counts, "runs": len(chaos.enqueued), "violations": violations}


async def _listings_match(looker: durable.Engine, run_ids: list[str],
                          listed: dict[str, durable.RunInfo], wait: float = 30.0) -> list[str]:
    """``list_runs`` (the runs index, caught up in the background) equals the fold."""
    deadline = time.monotonic() + wait
    while True:
        wrong = []
        for run_id in run_ids:
            folded, row = await looker.get_run(run_id), listed.get(run_id)
            if row is None or (row.status, row.position, row.output) != (
                    folded.status, folded.position, folded.output):
                wrong.append(f"{run_id}: listed {row and (row.status, row.position)}, "
                             f"its log folds to {(folded.status, folded.position)}")
        if not wrong or time.monotonic() > deadline:
            return wrong
        await asyncio.sleep(0.5)
        listed = {r.run_id: r for r in (await looker.list_runs(per_page=10_000)).runs}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    d = Settings()
    for name in ("runs", "workers", "kills", "steps", "concurrency", "late_runs", "seed"):
        p.add_argument(f"--{name.replace('_', '-')}", type=int, default=getattr(d, name))
    p.add_argument("--settle", type=float, default=d.settle)
    p.add_argument("--out", type=Path, help="also write the figures to this file")
    args = p.parse_args()
    settings = Settings(**{k: v for k, v in vars(args).items() if k != "out"})
    figures = asyncio.run(run(settings))
    text = json.dumps(figures, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    sys.exit(1 if figures.get("violations") else 0)


if __name__ == "__main__":
    main()

"""Many engines on one store, driven at random (issue 7's state machine).

Two engines (and, in the slower variant, one more in another process) start
runs, answer suspensions (the right one, a stale one, one that never was, the
same one from two engines at once, two branches from two engines at once),
cancel, pause, crash (an engine closed mid-command; the other process killed
with SIGKILL) and recover. After every step:

1. no step path of a run has two ``step_completed``;
2. no event follows a terminal event;
3. every answer was applied once, or refused with nothing written (an answer
   cut short by a crash: at most once);
4. no completed step ran again (the steps' own records of their calls);
5. hot and cold agree: today's code replays every log read-only to what it says;
6. after ``recover()``, no run is ``running`` without a live engine executing it;
7. the listings equal the fold of the logs.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import signal
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, precondition, rule, run_state_machine_as_test

import durable
from durable.events import TERMINAL

ROOT = Path(__file__).resolve().parent.parent
WORKER = ROOT / "tests" / "process_worker.py"


def register_machine_workflows(engine: durable.Engine, effects: str) -> None:
    """Two branches that each wait for an answer and then run a step, then a last answer.
    Every step body appends ``run path attempt`` to ``effects``."""

    @engine.workflow("fork-join")
    async def fork_join(ctx: durable.Context, n: int) -> dict[str, Any]:
        async def branch(name: str) -> str:
            got = await ctx.suspend(name, {"n": n})

            async def work() -> str:
                with open(effects, "a") as f:
                    f.write(f"{ctx.run_id} work-{name} {ctx.attempt}\n")
                await asyncio.sleep(0.005)
                return f"{name}:{got}"

            return await ctx.step(f"work-{name}", work)

        x, y = await asyncio.gather(branch("a"), branch("b"))
        ok = await ctx.suspend("confirm", {"x": x, "y": y})
        return {"x": x, "y": y, "ok": ok}


class Closed(Exception):
    """The engine stopped (closed, killed) while the command ran."""


# -- engines, here or in another process -------------------------------------------------------
class Local:
    def __init__(self, url: str, effects: str) -> None:
        self.engine = durable.Engine(url)
        register_machine_workflows(self.engine, effects)

    async def open(self) -> None:
        await self.engine.open()

    async def call(self, op: str, **args: Any) -> Any:
        e = self.engine
        try:
            if op == "start":
                run = await e.create_run(args["workflow"], run_id=args["run_id"],
                                         resource_id=args["resource_id"])
                return msgspec.to_builtins(await run.start(args["input"]))
            if op == "resume":
                return msgspec.to_builtins(
                    await e.resume_run(args["run_id"], args["data"], args["step"]))
            if op == "cancel":
                return msgspec.to_builtins(await e.cancel_run(args["run_id"], "machine"))
            if op == "pause":
                return msgspec.to_builtins(await e.pause_run(args["run_id"]))
            if op == "recover":
                return await e.recover()
            if op == "executing":
                return e.executing()
        except durable.EngineClosed:
            raise Closed from None
        except RuntimeError as err:
            if "not open" in str(err):
                raise Closed from None
            raise
        raise AssertionError(op)

    async def crash(self) -> None:
        await self.engine.close()  # in this process the hardest stop is a close


class Remote:
    """An engine in another process (``process_worker.py serve``); crashes are SIGKILL."""

    def __init__(self, url: str, effects: str) -> None:
        self.url, self.effects = url, effects
        self.ids = itertools.count()
        self.waiting: dict[int, asyncio.Future[dict[str, Any]]] = {}

    async def open(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, str(WORKER), "serve", self.url, self.effects, cwd=ROOT,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        self.reader = asyncio.ensure_future(self._read())
        await self.call("executing")  # up and answering

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        while line := await self.proc.stdout.readline():
            reply = json.loads(line)
            fut = self.waiting.pop(reply["id"], None)
            if fut is not None and not fut.done():
                fut.set_result(reply)
        for fut in self.waiting.values():
            if not fut.done():
                fut.set_exception(Closed())

    async def call(self, op: str, **args: Any) -> Any:
        assert self.proc.stdin is not None
        request_id = next(self.ids)
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.waiting[request_id] = fut
        try:
            self.proc.stdin.write((json.dumps({"id": request_id, "op": op, "args": args})
                                   + "\n").encode())
            await self.proc.stdin.drain()
        except (BrokenPipeError, ConnectionResetError):
            raise Closed from None
        reply = await asyncio.wait_for(fut, 60)
        if "error" in reply:
            kind = reply["error"]["type"]
            if kind == "EngineClosed":
                raise Closed
            raise _remote_error(kind, reply["error"]["message"])
        return reply["ok"]

    async def crash(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        await self.proc.wait()
        await self.reader


def _remote_error(kind: str, message: str) -> Exception:
    cls = getattr(durable, kind, None)
    if isinstance(cls, type) and issubclass(cls, durable.DurableError):
        err = Exception.__new__(cls)
        Exception.__init__(err, message)
        return err
    return RuntimeError(f"{kind}: {message}")


# -- the machine ---------------------------------------------------------------------------
PICK = st.integers(0, 63)


class OwnershipMachine(RuleBasedStateMachine):
    url = ""
    remote = False

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.tmp = tempfile.TemporaryDirectory()
        self.effects = str(Path(self.tmp.name) / "effects.log")
        Path(self.effects).touch()
        self.tag = uuid.uuid4().hex[:8]
        self.resource = f"machine-{self.tag}"
        self.runs: list[str] = []
        self.tokens = itertools.count()
        self.answers: list[tuple[str, str, str]] = []  # (run, token, "ok" | "refused" | "cut")
        kinds = [Local, Local] + ([Remote] if self.remote else [])
        self.engines: list[Any] = [k(self.url, self.effects) for k in kinds]
        self.observer = durable.Engine(self.url, max_parked=0)  # reads, and replay checks
        register_machine_workflows(self.observer, self.effects)
        self.run_async(self._open())

    async def _open(self) -> None:
        for e in self.engines:
            await e.open()
        await self.observer.open()

    def run_async(self, coro: Any) -> Any:
        return self.loop.run_until_complete(asyncio.wait_for(coro, 120))

    def teardown(self) -> None:
        async def close() -> None:
            for e in self.engines:
                await e.crash()
            await self.observer.close()

        try:
            self.run_async(close())
        finally:
            self.loop.close()
            self.tmp.cleanup()

    # -- what the log says -----------------------------------------------------------------
    async def _open_paths(self, run_id: str) -> list[str]:
        info = await self.observer.get_run(run_id)
        return sorted(".".join(map(str, s.path)) for s in info.suspensions)

    async def _answered_paths(self, run_id: str) -> list[str]:
        return sorted({".".join(map(str, e.data["path"]))
                       for e in await self.observer.history(run_id) if e.type == "resumed"})

    async def _answer(self, engine: Any, run_id: str, step: str) -> str:
        token = f"t{next(self.tokens)}"
        try:
            await engine.call("resume", run_id=run_id, data=token, step=step)
            outcome = "ok"
        except durable.DurableError:
            outcome = "refused"
        except Closed:
            outcome = "cut"
        self.answers.append((run_id, token, outcome))
        return outcome

    # -- rules -----------------------------------------------------------------------------
    @rule(e=PICK, n=st.integers(0, 9))
    def start(self, e: int, n: int) -> None:
        run_id = f"{self.tag}-{len(self.runs)}"
        self.runs.append(run_id)
        engine = self.engines[e % len(self.engines)]
        self.run_async(engine.call("start", workflow="fork-join", run_id=run_id,
                                   resource_id=self.resource, input=n))
        self.check()

    @precondition(lambda self: self.runs)
    @rule(e=PICK, r=PICK, which=st.sampled_from(["right", "right", "stale", "unknown"]),
          k=PICK)
    def answer(self, e: int, r: int, which: str, k: int) -> None:
        run_id = self.runs[r % len(self.runs)]

        async def go() -> None:
            if which == "right":
                paths = await self._open_paths(run_id)
            elif which == "stale":
                paths = await self._answered_paths(run_id)
            else:
                paths = ["never-asked"]
            step = paths[k % len(paths)] if paths else "a"
            outcome = await self._answer(self.engines[e % len(self.engines)], run_id, step)
            # Nothing else runs meanwhile: an answer to a suspension the log holds open is
            # applied (whichever engine parked the run, or holds it), any other refused.
            if paths and which == "right":
                assert outcome == "ok", f"{run_id}: a valid answer to {step} was refused"
            elif paths or which == "unknown":
                assert outcome == "refused", f"{run_id}: a stale answer to {step} was taken"

        self.run_async(go())
        self.check()

    @precondition(lambda self: self.runs)
    @rule(e=PICK, r=PICK, order=st.sampled_from(["aab", "abb", "bab", "aba"]))
    def answer_in_turn(self, e: int, r: int, order: str) -> None:
        """Answer a run's suspensions one after another through engines in a given turn,
        so that one engine's parked copy goes stale while another moves the run on."""
        run_id = self.runs[r % len(self.runs)]

        async def go() -> None:
            for turn in order:
                paths = await self._open_paths(run_id)
                if not paths:
                    return
                engine = self.engines[(e + (turn == "b")) % len(self.engines)]
                outcome = await self._answer(engine, run_id, paths[0])
                assert outcome == "ok", f"{run_id}: a valid answer to {paths[0]} was refused"

        self.run_async(go())
        self.check()

    @precondition(lambda self: self.runs)
    @rule(r=PICK, same=st.booleans())
    def answer_from_two_engines_at_once(self, r: int, same: bool) -> None:
        """The same suspension twice (one wins), or both branches at once (both apply)."""
        run_id = self.runs[r % len(self.runs)]

        async def go() -> None:
            paths = await self._open_paths(run_id)
            if not paths:
                return
            pair = [paths[0], paths[0]] if same or len(paths) == 1 else paths[:2]
            await asyncio.gather(*(self._answer(self.engines[i], run_id, p)
                                   for i, p in enumerate(pair)))

        self.run_async(go())
        self.check()

    @precondition(lambda self: self.runs)
    @rule(e=PICK, r=PICK, cancel=st.booleans())
    def cancel_or_pause(self, e: int, r: int, cancel: bool) -> None:
        run_id = self.runs[r % len(self.runs)]
        engine = self.engines[e % len(self.engines)]

        async def go() -> None:
            try:
                result = await engine.call("cancel" if cancel else "pause", run_id=run_id)
            except Closed:
                return
            if cancel:
                assert result["status"] in TERMINAL

        self.run_async(go())
        self.check()

    @rule(e=PICK, r=PICK, delay=st.sampled_from([0.0, 0.002, 0.008, 0.02]))
    def crash(self, e: int, r: int, delay: float) -> None:
        """An engine stops mid-command: closed here, SIGKILLed in the other process."""
        i = e % len(self.engines)

        async def go() -> None:
            engine = self.engines[i]
            task = None
            if self.runs:
                run_id = self.runs[r % len(self.runs)]
                paths = await self._open_paths(run_id)
                if paths:
                    task = asyncio.ensure_future(self._answer(engine, run_id, paths[0]))
            await asyncio.sleep(delay)
            await engine.crash()
            if task is not None:
                await task
            fresh = type(engine)(self.url, self.effects)
            await fresh.open()
            self.engines[i] = fresh

        self.run_async(go())
        self.check()

    @rule(e=PICK)
    def recover(self, e: int) -> None:
        async def go() -> None:
            await self.engines[e % len(self.engines)].call("recover")
            # 6. every run left running now executes in a live engine
            executing: set[str] = set()
            for engine in self.engines:
                executing |= set(await engine.call("executing"))
            for run_id in self.runs:
                if (await self.observer.get_run(run_id)).status == "running":
                    head = await self.observer.store.read_head(run_id)
                    assert (head is not None and run_id in executing) or (
                        head is not None and head.status != "running"), (
                        f"{run_id} is running and no live engine executes it")

        self.run_async(go())
        self.check()

    # -- invariants --------------------------------------------------------------------------
    def check(self) -> None:
        self.run_async(self._check())

    async def _settled(self) -> None:
        """Runs recovered in the background reach their next suspension quickly."""
        for _ in range(500):
            busy = False
            for engine in self.engines:
                busy = busy or bool(await engine.call("executing"))
            if not busy:
                return
            await asyncio.sleep(0.01)
        raise AssertionError("engines kept executing")

    async def _check(self) -> None:
        await self._settled()
        effects = [line.split() for line in Path(self.effects).read_text().splitlines()]
        tokens: dict[str, int] = {}
        for run_id in self.runs:
            history = await self.observer.history(run_id)
            if not history:
                continue
            kinds = [e.type for e in history]
            # 1. one completion per step path
            done = [tuple(e.data["path"]) for e in history if e.type == "step_completed"]
            assert len(done) == len(set(done)), f"{run_id}: a step completed twice: {kinds}"
            # 2. nothing after a terminal event
            ends = [i for i, k in enumerate(kinds) if k in TERMINAL]
            assert not ends or ends[0] == len(kinds) - 1, f"{run_id}: events after the end"
            for e in history:
                if e.type == "resumed":
                    tokens[e.data["data"]] = tokens.get(e.data["data"], 0) + 1
            # 4. no completed step ran again
            for e in history:
                if e.type == "step_completed":
                    path = ".".join(map(str, e.data["path"]))
                    later = [a for r, p, a in effects if r == run_id and p == path
                             and int(a) > e.data["attempt"]]
                    assert not later, f"{run_id}: {path} ran again after it completed"
            # 5. hot and cold agree
            check = await self.observer.check_replay(run_id)
            assert check.ok, f"{run_id}: {check.error}"
        # 3. every answer applied once, or refused and not written
        for run_id, token, outcome in self.answers:
            n = tokens.get(token, 0)
            expected = {"ok": (1,), "refused": (0,), "cut": (0, 1)}[outcome]
            assert n in expected, f"{run_id}: answer {token} ({outcome}) is in the log {n}x"
        # 7. the listings are the fold of the logs
        from tests.test_projections import check_views

        await check_views(self.observer, self.resource, self.runs)


def machine_examples(default: int) -> int:
    return int(os.environ.get("DURABLE_MACHINE_EXAMPLES", str(default)))


def run_machine(url: str, *, remote: bool, examples: int, steps: int) -> None:
    machine = type("Machine", (OwnershipMachine,), {"url": url, "remote": remote})
    run_state_machine_as_test(
        machine,
        settings=settings(max_examples=examples, stateful_step_count=steps, deadline=None,
                          suppress_health_check=list(HealthCheck)),
    )


def test_engines_on_one_store_keep_every_invariant(shared_url: str) -> None:
    run_machine(shared_url, remote=False, examples=machine_examples(40), steps=25)


@pytest.mark.slow
def test_engines_in_two_processes_keep_every_invariant(shared_url: str) -> None:
    run_machine(shared_url, remote=True, examples=max(1, machine_examples(40) // 4), steps=20)

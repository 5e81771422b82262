"""A second process for the many-process tests: ``python tests/process_worker.py COMMAND ...``.

The workflows here are registered by the tests' own engines too (``register``), so
both processes run the same code. Steps wait on files (``GATE_DIR/NAME``) that
the test creates, and record each call in ``GATE_DIR/calls.log``, so a test can
hold a step open across processes and count calls in all of them.

Commands (each prints one JSON line on stdout):
  start URL RUN_ID WORKFLOW GATE_DIR [--give-up S] [--close-mid-step]
      start the run; with --give-up, the caller gives up after S seconds; with
      --close-mid-step, the engine is closed once a step waits on its gate. Then
      the process stays alive (so its pid is alive) until killed.
  resume URL RUN_ID STEP DATA_JSON
      resume the run (wherever it executes) and print the run once it settles.
  fork URL RUN_ID GATE_DIR
      the engine is made at import time; this process forks, the child opens it and
      starts a 'gated' run, and the parent prints the child's pid and stays alive.
  serve URL EFFECTS_FILE
      an engine taking commands as JSON lines on stdin ({"id", "op", "args"}), each
      answered on stdout ({"id", "ok"} or {"id", "error": {"type", "message"}}),
      commands running concurrently; for the state machine of tests/test_machine.py.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys
import time
from pathlib import Path
from typing import Any

import msgspec

import durable


def record(gate_dir: str, line: str) -> None:
    with open(Path(gate_dir) / "calls.log", "a") as f:
        f.write(line + "\n")


async def gate(gate_dir: str, name: str) -> None:
    record(gate_dir, f"waiting:{name}")
    while not (Path(gate_dir) / name).exists():
        await asyncio.sleep(0.02)


def register(engine: durable.Engine) -> None:
    @engine.workflow("two-questions")
    async def two(ctx: durable.Context, _: Any) -> dict[str, Any]:
        first = await ctx.suspend("first")
        second = await ctx.suspend("second")
        return {"first": first, "second": second}

    @engine.workflow("two-branches")
    async def two_branches(ctx: durable.Context, gate_dir: str) -> list[Any]:
        async def branch(name: str) -> Any:
            got = await ctx.suspend(name)

            async def work() -> str:
                record(gate_dir, f"work-{name}:{ctx.attempt}")
                if name == "a":
                    await gate(gate_dir, "open-a")
                return f"{name}:{got}"

            return await ctx.step(f"work-{name}", work)

        return list(await asyncio.gather(branch("a"), branch("b")))

    @engine.workflow("gated")
    async def gated(ctx: durable.Context, gate_dir: str) -> str:
        await ctx.step("first", lambda: record(gate_dir, "first"))

        async def slow() -> str:
            record(gate_dir, f"slow:{ctx.attempt}")
            if ctx.attempt == 0:
                await gate(gate_dir, "never")
            return "done"

        return await ctx.step("slow", slow)

    @engine.workflow("gated-event")  # an event may come while the step before its wait runs
    async def gated_event(ctx: durable.Context, gate_dir: str) -> Any:
        async def slow() -> str:
            await gate(gate_dir, "open-slow")
            return "slow"
        first = await ctx.step("slow", slow)
        return {"first": first, "got": await ctx.wait_for_event("got", "go")}

    engine.queue("narrow", concurrency=2)
    engine.queue("tenants", per_key=1)

    @engine.workflow("limited")  # records when its step starts and ends, in every process
    async def limited(ctx: durable.Context, args: list[str]) -> str:
        gate_dir, tag = args

        async def hold() -> str:
            record(gate_dir, f"start:{tag}")
            await asyncio.sleep(0.3)
            record(gate_dir, f"end:{tag}")
            return tag
        return await ctx.step("hold", hold)

    @engine.workflow("nap")
    async def nap(ctx: durable.Context, seconds: float) -> str:
        await ctx.sleep("nap", seconds)
        return "rested"

    @engine.workflow("fenced")  # which host ran each step, and whether its result came late
    async def fenced(ctx: durable.Context, gate_dir: str) -> str:
        host = socket.gethostname()
        await ctx.step("first", lambda: record(gate_dir, f"first:{host}"))

        async def slow() -> str:
            record(gate_dir, f"slow:{ctx.attempt}:{host}")
            if ctx.attempt == 0:
                await gate(gate_dir, "open-slow")
            record(gate_dir, f"slow-done:{ctx.attempt}:{host}")
            return host
        by = await ctx.step("slow", slow)
        await ctx.step("last", lambda: record(gate_dir, f"last:{host}"))
        return by

    @engine.workflow("approve-kid")
    async def approve_kid(ctx: durable.Context, _: Any) -> Any:
        return await ctx.suspend("approval", {"who": "legal"})

    @engine.workflow("middle")
    async def middle(ctx: durable.Context, _: Any) -> Any:
        return await ctx.child("legal", "approve-kid", None)

    @engine.workflow("top")
    async def top(ctx: durable.Context, _: Any) -> Any:
        return {"review": await ctx.child("review", "middle", None)}


async def start(url: str, run_id: str, workflow: str, gate_dir: str, give_up: float | None,
                close_mid_step: bool) -> None:
    engine = durable.Engine(url)
    register(engine)
    await engine.open()
    run = await engine.create_run(workflow, run_id=run_id)
    starting = asyncio.ensure_future(run.start(gate_dir))
    outcome: dict[str, Any]
    try:
        if close_mid_step:
            while "waiting:" not in _calls(gate_dir):
                await asyncio.sleep(0.02)
            await engine.close()
            try:
                await starting
            except durable.EngineClosed as e:
                outcome = {"error": type(e).__name__}
        else:
            outcome = {"status": (await asyncio.wait_for(starting, give_up)).status}
    except TimeoutError:
        outcome = {"error": "TimeoutError"}
    print(json.dumps(outcome), flush=True)
    await asyncio.sleep(3600)  # stay alive: the pid must not look dead


def _calls(gate_dir: str) -> str:
    path = Path(gate_dir) / "calls.log"
    return path.read_text() if path.exists() else ""


async def resume(url: str, run_id: str, step: str, data: Any) -> None:
    async with durable.Engine(url) as engine:
        register(engine)
        result = await engine.resume_run(run_id, data, step)
        print(msgspec.json.encode(result).decode(), flush=True)


# For the two-host test: workers whose lease lapses in seconds (`durable worker --app
# tests.process_worker:SHORT_LEASE --db URL` keeps the engine's options).
SHORT_LEASE = durable.Engine("memory://", lease_seconds=3.0)
register(SHORT_LEASE)

# Made at import time, as API.md's example does; opened in whichever process uses it.
FORKED_ENGINE = durable.Engine(os.environ.get("DURABLE_FORK_URL", "memory://"))
register(FORKED_ENGINE)


def fork(run_id: str, gate_dir: str) -> None:
    pid = os.fork()
    if pid == 0:  # the child: a worker of a pre-forking server
        async def child() -> None:
            async with FORKED_ENGINE:
                run = await FORKED_ENGINE.create_run("gated", run_id=run_id)
                await run.start(gate_dir)

        asyncio.run(child())
        os._exit(0)
    print(json.dumps({"child": pid}), flush=True)
    time.sleep(3600)


async def serve(url: str, effects: str) -> None:
    from tests.test_machine import register_machine_workflows

    engine = durable.Engine(url)
    register_machine_workflows(engine, effects)
    await engine.open()
    loop = asyncio.get_running_loop()
    lines: asyncio.Queue[str] = asyncio.Queue()

    def read() -> None:
        for line in sys.stdin:
            loop.call_soon_threadsafe(lines.put_nowait, line)
        loop.call_soon_threadsafe(lines.put_nowait, "")

    async def answer(request: dict[str, Any]) -> None:
        op, args = request["op"], request["args"]
        reply: dict[str, Any] = {"id": request["id"]}
        try:
            if op == "start":
                run = await engine.create_run(args["workflow"], run_id=args["run_id"],
                                              resource_id=args["resource_id"])
                result: Any = await run.start(args["input"])
            elif op == "resume":
                result = await engine.resume_run(args["run_id"], args["data"], args["step"])
            elif op == "cancel":
                result = await engine.cancel_run(args["run_id"], "machine")
            elif op == "pause":
                result = await engine.pause_run(args["run_id"])
            elif op == "recover":
                result = await engine.recover()
            elif op == "executing":
                result = engine.executing()
            else:
                raise ValueError(f"unknown op {op!r}")
            reply["ok"] = msgspec.to_builtins(result)
        except Exception as e:
            reply["error"] = {"type": type(e).__name__, "message": str(e)}
        print(json.dumps(reply), flush=True)

    asyncio.get_running_loop().run_in_executor(None, read)
    tasks = set()
    while line := await lines.get():
        task = asyncio.ensure_future(answer(json.loads(line)))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    await engine.close()


def main(argv: list[str]) -> None:
    command = argv[0]
    if command == "start":
        url, run_id, workflow, gate_dir = argv[1:5]
        give_up = float(argv[argv.index("--give-up") + 1]) if "--give-up" in argv else None
        asyncio.run(start(url, run_id, workflow, gate_dir, give_up, "--close-mid-step" in argv))
    elif command == "resume":
        url, run_id, step, data = argv[1:5]
        asyncio.run(resume(url, run_id, step, json.loads(data)))
    elif command == "serve":
        asyncio.run(serve(argv[1], argv[2]))
    elif command == "fork":
        fork(argv[2], argv[3])
    else:
        raise SystemExit(f"unknown command {command!r}")


if __name__ == "__main__":
    main(sys.argv[1:])

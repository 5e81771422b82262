"""A workflow process for the crash tests: run as ``python tests/crash_worker.py DB LOG RUN_ID``.

Step ``a`` completes; step ``b`` records that it started, then hangs until the
test kills this process with SIGKILL. Every step call is appended to LOG, so the
test can count calls across processes.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import durable


def make_engine(url: str, log_path: str) -> durable.Engine:
    engine = durable.Engine(url)

    def record(line: str) -> None:
        with open(log_path, "a") as f:
            f.write(line + "\n")
            f.flush()

    @engine.workflow("crashy")
    async def crashy(ctx: durable.Context, hang: bool) -> dict[str, Any]:
        def a() -> str:
            record("a")
            return "A"

        async def b() -> str:
            record(f"b:{ctx.attempt}")
            if hang and ctx.attempt == 0:
                await asyncio.sleep(3600)
            return "B"

        def c() -> str:
            record("c")
            return "C"

        return {"a": await ctx.step("a", a), "b": await ctx.step("b", b),
                "c": await ctx.step("c", c)}

    return engine


async def main(url: str, log_path: str, run_id: str) -> None:
    engine = make_engine(url, log_path)
    async with engine:
        run = await engine.create_run("crashy", run_id=run_id)
        await run.start(True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3]))

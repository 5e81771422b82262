"""The workflow ``python -m benchmarks.chaos`` runs in its worker processes
(``durable worker --app benchmarks.chaos_app:register``).

Each step writes a line to the effects file as it begins (``O_APPEND``: a line is
whole even when the process is killed right after), so the harness can tell, from
outside the database, which steps ran, how often, and when.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from typing import Any

import durable


def register(engine: durable.Engine) -> None:
    @engine.workflow("chaos")
    async def chaos(ctx: durable.Context, args: dict[str, Any]) -> int:
        effects, steps = args["effects"], args["steps"]
        total = 0

        async def work(i: int) -> int:
            line = f"begin {ctx.run_id} s{i} {ctx.attempt} {time.time():.6f} {os.getpid()}\n"
            fd = os.open(effects, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, line.encode())
            finally:
                os.close(fd)
            await asyncio.sleep(random.uniform(0.02, 0.2))  # a call to another service
            return i

        for i in range(steps):
            if i == steps // 3:  # an event sent by the harness, a process that executes nothing
                got = await ctx.wait_for_event("go", "go")
                total += int(got["n"])
            if i == 2 * steps // 3:  # a durable timer, fired by whichever worker is alive
                await ctx.sleep("nap", 0.2)
            total += await ctx.step(f"s{i}", work, i)
        return total

"""The workflows ``python -m benchmarks.workers`` runs in its worker processes
(``durable worker --app benchmarks.worker_app:register``)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import durable


def register(engine: durable.Engine) -> None:
    @engine.workflow("io")
    async def io(ctx: durable.Context, enqueued_at: float) -> dict[str, Any]:
        async def wait(i: int) -> float:
            started = time.time()
            await asyncio.sleep(0.02)  # a call to another service
            return started
        first = await ctx.step("a", wait, 0)
        await ctx.step("b", wait, 1)
        await ctx.step("c", wait, 2)
        return {"enqueued_at": enqueued_at, "first_step_at": first}

    @engine.workflow("trivial")
    async def trivial(ctx: durable.Context, enqueued_at: float) -> dict[str, Any]:
        first = await ctx.step("a", time.time)
        await ctx.step("b", lambda: 2)
        await ctx.step("c", lambda: 3)
        return {"enqueued_at": enqueued_at, "first_step_at": first}

"""The workflows the HTTP tests serve (``durable serve --app tests.http_app:register``)."""

from __future__ import annotations

import asyncio
from typing import Any

import durable
from durable.examples.orders import register as register_orders


def register(engine: durable.Engine) -> None:
    register_orders(engine)  # approve-order: price, a typed approval, ship or notify

    @engine.workflow("slow")
    async def slow(ctx: durable.Context, steps: int) -> int:
        """Steps of 0.2 s each: long enough to pause or cancel it in the middle."""
        async def tick(i: int) -> int:
            await asyncio.sleep(0.2)
            return i
        total = 0
        for i in range(steps):
            total += await ctx.step(f"tick-{i}", tick, i)
        return total

    @engine.workflow("echo")
    async def echo(ctx: durable.Context, value: Any) -> Any:
        return {"input": value, "state": dict(ctx.state)}

    @engine.workflow("reminder", webhook_secret="nudge-s3cret")
    async def reminder(ctx: durable.Context, _: Any) -> Any:
        """Waits for an answer and, beside it, on an hour's timer."""
        return await asyncio.gather(ctx.suspend("answer"), ctx.sleep("nudge", 3600))

    @engine.workflow("batches", webhook_secret="hook-s3cret")
    async def batches(ctx: durable.Context, regions: list[list[str]]) -> Any:
        """A for-each of regions, each a for-each of orders waiting for approval."""
        async def region(rctx: durable.Context, orders: list[str]) -> Any:
            async def order(octx: durable.Context, sku: str) -> Any:
                return await octx.suspend("approve", {"sku": sku})
            return await rctx.map("orders", order, orders)
        return await ctx.map("regions", region, regions)

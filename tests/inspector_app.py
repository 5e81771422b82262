"""The workflows the browser tests serve (``durable serve --app tests.inspector_app:register``)."""

from __future__ import annotations

from typing import Any

import durable
from durable.examples.orders import register as register_orders


def register(engine: durable.Engine) -> None:
    register_orders(engine)  # approve-order: waits for a typed Decision (input, with schema)

    @engine.workflow("expense")
    async def expense(ctx: durable.Context, claim: dict[str, Any]) -> dict[str, Any]:
        """An expense claim a manager approves or declines in the inbox."""
        checked = await ctx.step("check", lambda: {"amount": claim["amount"], "ok": True})
        ctx.set_state({"stage": "checked", "amount": checked["amount"]})
        answer = await ctx.request_approval("manager", action="pay", args=claim)
        ctx.set_state({"stage": "decided", "approved": answer.approved})
        if answer.approved:
            paid = await ctx.step("pay", lambda: {"paid": claim["amount"]})
            return {"status": "paid", **paid}
        return {"status": "declined", "reason": answer.reason}

    @engine.workflow("note")
    async def note(ctx: durable.Context, text: str) -> Any:
        """Shows ``text`` (anything a user typed) as its waiting payload."""
        return await ctx.suspend("read", {"text": text})

    @engine.workflow("long")
    async def long(ctx: durable.Context, steps: int) -> Any:
        for i in range(steps):
            await ctx.step("s", lambda i=i: i)
        return await ctx.suspend("done", {"steps": steps})

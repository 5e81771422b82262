"""The workflow ``python -m benchmarks.http`` serves: a step, a question, a step."""

from __future__ import annotations

from typing import Any

import durable


def register(engine: durable.Engine) -> None:
    @engine.workflow("ask")
    async def ask(ctx: durable.Context, _: Any) -> Any:
        await ctx.step("prepare", lambda: "ready")
        answer = await ctx.suspend("question", {"asks": "anything"})
        return await ctx.step("finish", lambda: answer)

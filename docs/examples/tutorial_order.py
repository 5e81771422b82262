"""The tutorial's order-approval workflow, with a small command line around it.

    python tutorial_order.py start SKU QTY        start a run; it stops at the approval
    python tutorial_order.py waiting              list the runs waiting for a manager
    python tutorial_order.py approve RUN_ID       resume a run with a yes
    python tutorial_order.py reject RUN_ID WHY    resume a run with a no
    python tutorial_order.py history RUN_ID       print a run's log and check its chain
    python tutorial_order.py recover              continue runs whose process died

Each command is a new Python process. The runs live in ``tutorial.db``.
See docs/tutorial.md.
"""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Any

import msgspec

import durable

engine = durable.Engine("sqlite:///tutorial.db")

PRICES = {"A-1": 10, "B-2": 25}


class Decision(msgspec.Struct):
    """What the manager sends back."""

    approved: bool
    reason: str | None = None


def compute_price(order: dict[str, Any]) -> int:
    return PRICES[order["sku"]] * order["qty"]


async def carrier_ship(order: dict[str, Any], key: str, attempt: int) -> str:
    """A stand-in for a carrier's API: it times out on the first attempt.

    With CARRIER=hang it hangs instead, so that you can kill the process.
    """
    if attempt == 0 and os.environ.get("CARRIER") == "hang":
        print(f"carrier: shipping {key}, no answer yet...", flush=True)
        await asyncio.sleep(3600)
    if attempt == 0:
        raise ConnectionError("carrier timed out")
    return f"TRACK-{order['sku']}-{key[:8]}"


@engine.workflow("approve-order", version="1")
async def approve_order(ctx: durable.Context, order: dict[str, Any]) -> dict[str, Any]:
    """Price an order, wait for a manager's decision, then ship it."""
    price = await ctx.step("price", compute_price, order)
    decision = await ctx.suspend("approval", {"price": price}, schema=Decision)
    if not decision.approved:
        return {"status": "rejected", "reason": decision.reason}

    async def ship() -> str:
        # The run id plus the step id is the same on every attempt: an idempotency key.
        return await carrier_ship(order, key=f"{ctx.run_id}/ship", attempt=ctx.attempt)

    tracking = await ctx.step("ship", ship, retries=3, backoff=0.5)
    return {"status": "shipped", "price": price, "tracking": tracking}


async def main(command: str, args: list[str]) -> None:
    async with engine:
        if command == "start":
            sku, qty = args
            run = await engine.create_run("approve-order", resource_id="customer-42")
            result = await run.start({"sku": sku, "qty": int(qty)})
            print(f"run {run.run_id}: {result.status}, waiting on {result.suspended}")
            print(f"payloads: {result.suspend_payloads}")

        elif command == "waiting":
            page = await engine.list_suspended_runs(workflow="approve-order")
            print(f"{page.total} run(s) waiting")
            for info in page.runs:
                since = f"{info.suspended_at:%H:%M:%S}"
                print(f"  {info.run_id}  {info.suspend_payloads}  since {since}")

        elif command in ("approve", "reject"):
            run_id = args[0]
            reason = args[1] if len(args) > 1 else None
            run = await engine.create_run("approve-order", run_id=run_id)
            result = await run.resume({"approved": command == "approve", "reason": reason})
            print(f"run {run_id}: {result.status}, output {result.output}")

        elif command == "history":
            run_id = args[0]
            for event in await engine.history(run_id):
                print(f"{event.position:>2} {event.type:<15} {event.data}")
            print("chain intact:", await engine.verify(run_id))

        elif command == "recover":
            claimed = await engine.recover()
            print(f"recovered {claimed}")
            for run_id in claimed:
                info = await engine.wait(run_id, timeout=60)
                print(f"run {run_id}: {info.status}, output {info.output}")

        else:
            raise SystemExit(__doc__)


if __name__ == "__main__":
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    try:
        asyncio.run(main(sys.argv[1], sys.argv[2:]))
    except durable.DurableError as e:
        raise SystemExit(f"error: {e}") from None

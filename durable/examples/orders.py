"""An order that waits for a person: price it, ask a manager, then ship or say no.

Run it end to end with ``durable demo``, or serve and drive it yourself::

    durable runs resume RUN_ID --data '{"approved": true}' --app durable.examples.orders:engine

``engine`` below is an :class:`durable.Engine` on the default store with the
workflow registered; ``register(engine)`` adds it to an engine of your own.
"""

from __future__ import annotations

from typing import Any

import msgspec

import durable

PRICES = {"A-1": 10, "B-2": 25, "C-3": 99}
"""Unit prices in whole currency units; unknown SKUs cost ``DEFAULT_PRICE``."""
DEFAULT_PRICE = 5


class Decision(msgspec.Struct):
    """What the approver sends back when resuming the run."""

    approved: bool
    reason: str | None = None


def compute_price(order: dict[str, Any]) -> int:
    """Unit price of the SKU times the quantity (at least 1)."""
    qty = max(int(order.get("qty", 1)), 1)
    return PRICES.get(str(order.get("sku")), DEFAULT_PRICE) * qty


def reserve_stock(order: dict[str, Any]) -> dict[str, Any]:
    """Pretend to reserve stock in a warehouse: returns a reservation record."""
    return {"sku": order.get("sku"), "qty": order.get("qty", 1), "warehouse": "main"}


async def ship(order: dict[str, Any], reservation: dict[str, Any]) -> dict[str, Any]:
    """Pretend to hand the parcel to a carrier (an async step, to show both kinds work)."""
    ref = f"SHIP-{order.get('sku')}-{reservation['qty']}"
    return {"carrier": "ACME Parcel", "tracking": ref}


def notify_rejection(order: dict[str, Any], reason: str | None) -> str:
    """Pretend to email the customer that the order was declined."""
    order_id = order.get("order_id", order.get("sku"))
    return f"told the customer that order {order_id} was declined: {reason or 'no reason given'}"


async def approve_order(ctx: durable.Context, order: dict[str, Any]) -> dict[str, Any]:
    """Price an order, wait for a manager's approval, then ship it or notify the customer."""
    price = await ctx.step("price", compute_price, order)
    decision: Decision = await ctx.suspend(
        "approval", {"price": price, "sku": order.get("sku")}, schema=Decision
    )
    if not decision.approved:
        note = await ctx.step("notify-rejection", notify_rejection, order, decision.reason)
        return {"status": "rejected", "price": price, "reason": decision.reason, "note": note}
    reservation = await ctx.step("reserve-stock", reserve_stock, order)
    shipment: dict[str, Any] = await ctx.step("ship", ship, order, reservation)
    return {"status": "shipped", "price": price, "tracking": shipment["tracking"]}


def register(engine: durable.Engine) -> None:
    """Register the ``approve-order`` workflow (version "1") on ``engine``."""
    engine.workflow("approve-order", version="1")(approve_order)


engine = durable.Engine()
"""The default engine (``$DURABLE_DATABASE_URL`` or ``sqlite:///durable.db``): opened by
whoever uses it, so importing this module does no I/O."""
register(engine)

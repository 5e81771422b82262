"""Invoices, with a bug to find: the time-travel guide's example (docs/time-travel.md).

Price the lines, add the tax of the customer's country, charge the customer,
then send the invoice (or tell them the payment was declined). The tax table
lacks Norway, so an order to Norway fails at ``add-tax``. Copy this file, run
it to start three invoices, then follow the guide to find the failure, try a
what-if, fix the table and check the fix against every stored run.

    python invoices.py          # three invoices on ./durable.db; one fails
"""

from __future__ import annotations

import asyncio
from typing import Any

import durable

PRICES = {"desk": 180, "lamp": 30, "chair": 60}
TAX_RATES = {"DE": 19, "FR": 20, "SE": 25}  # percent, by country

engine = durable.Engine()


def price_lines(order: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"sku": sku, "qty": qty, "amount": PRICES[sku] * qty}
            for sku, qty in order["lines"].items()]


def add_tax(lines: list[dict[str, Any]], country: str) -> dict[str, int]:
    net = sum(line["amount"] for line in lines)
    tax = net * TAX_RATES[country] // 100
    return {"net": net, "tax": tax, "gross": net + tax}


def charge(customer: str, total: dict[str, int]) -> dict[str, Any]:
    """Pretend to charge the customer's card: amounts over 1,000 are declined."""
    approved = total["gross"] <= 1000
    return {"approved": approved, "ref": f"PAY-{customer}-{total['gross']}" if approved else None}


def send_invoice(customer: str, total: dict[str, int], payment: dict[str, Any]) -> str:
    return f"invoice for {total['gross']} sent to {customer} (payment {payment['ref']})"


def tell_declined(customer: str) -> str:
    return f"told {customer} that the payment was declined"


@engine.workflow("invoice", version="1")
async def invoice(ctx: durable.Context, order: dict[str, Any]) -> dict[str, Any]:
    """Price, tax, charge, then invoice (or tell the customer it was declined)."""
    lines = await ctx.step("price-lines", price_lines, order)
    ctx.set_state({"stage": "priced", "net": sum(line["amount"] for line in lines)})
    total = await ctx.step("add-tax", add_tax, lines, order["country"])
    ctx.set_state({"stage": "taxed", **total})
    payment = await ctx.step("charge", charge, order["customer"], total)
    if not payment["approved"]:
        await ctx.step("tell-declined", tell_declined, order["customer"])
        return {"status": "declined", "gross": total["gross"]}
    note = await ctx.step("send-invoice", send_invoice, order["customer"], total, payment)
    return {"status": "invoiced", "gross": total["gross"], "note": note}


ORDERS: list[dict[str, Any]] = [
    {"customer": "anna", "country": "DE", "lines": {"desk": 1, "lamp": 2}},
    {"customer": "bjorn", "country": "NO", "lines": {"chair": 4}},
    {"customer": "chloe", "country": "FR", "lines": {"lamp": 1}},
]


async def main() -> None:
    async with engine:
        for order in ORDERS:
            run = await engine.create_run("invoice", resource_id=order["customer"])
            result = await run.start(order)
            print(f"{run.run_id}  {order['customer']:<6} {result.status}"
                  f"{'  ' + str(result.error) if result.error else ''}")


if __name__ == "__main__":
    asyncio.run(main())
